"""qfab circuits back to Qiskit, with one parameter per gate angle, so hardware can shift each.

Parameter shift on hardware moves one gate's angle at a time by ±π/2; a parameter used by
several gates gets its derivative by the chain rule over its occurrences. Every occurrence
here is a rotation whose generator has eigenvalues ±1 (or a phase gate, whose two eigenvalues
differ by 2), so the two-term rule is exact for each: controlled rotations, whose generator has
three eigenvalues, are written as two half-angle rotations around CNOTs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import UnitaryGate, get_standard_gate_name_mapping

from qfab.core.ir import Circuit

__all__ = ["ShiftableCircuit", "to_qiskit"]

_STANDARD = get_standard_gate_name_mapping()
_CONTROLLED_AXIS = {"crz": "rz", "cry": "ry", "crx": "rz"}  # crx: H-conjugated crz on the target


@dataclass(frozen=True)
class Occurrence:
    """Gate angle ``slope * theta[index] + offset`` of one occurrence parameter."""

    index: int
    slope: float
    offset: float


@dataclass(frozen=True)
class ShiftableCircuit:
    """A Qiskit circuit whose parameters are ``angles`` (one per gate), and their sources."""

    circuit: QuantumCircuit
    angles: ParameterVector
    occurrences: tuple[Occurrence, ...]

    def angle_values(self, theta: np.ndarray) -> np.ndarray:
        """``(B, P)`` qfab parameters -> ``(B, M)`` gate angles."""
        theta = np.atleast_2d(theta)
        index = np.array([o.index for o in self.occurrences], dtype=np.int64)
        slope = np.array([o.slope for o in self.occurrences])
        offset = np.array([o.offset for o in self.occurrences])
        return theta[:, index] * slope + offset

    def chain_rule(self, angle_derivatives: np.ndarray, num_parameters: int, squared: bool = False) -> np.ndarray:
        """``(..., M)`` derivatives by gate angle -> ``(..., P)`` by qfab parameter.

        ``squared``: propagate variances instead (independent runs: slopes squared).
        """
        out = np.zeros(angle_derivatives.shape[:-1] + (num_parameters,))
        for m, occurrence in enumerate(self.occurrences):
            weight = occurrence.slope ** 2 if squared else occurrence.slope
            out[..., occurrence.index] += weight * angle_derivatives[..., m]
        return out


def _fixed_gate(name: str, matrix: np.ndarray):
    """The standard gate of that name when its matrix is the one given (keeps sx, ecr native)."""
    gate = _STANDARD.get(name)
    if gate is not None and not gate.params and gate.num_qubits == int(np.log2(len(matrix))):
        if np.allclose(gate.to_matrix(), matrix, atol=1e-12):
            return gate
    return UnitaryGate(matrix, check_input=False)


def to_qiskit(circuit: Circuit, measure: bool = False) -> ShiftableCircuit:
    """The qfab circuit as Qiskit gates; ``measure``: add its measurements (all qubits if none)."""
    specs: list[tuple] = []  # (gate name, qubits, occurrence or None, matrix or None)
    for op in circuit.operations:
        if op.param is None:
            specs.append((op.name, op.qubits, None, op.matrix))
            continue
        ref = op.param
        if op.name in _CONTROLLED_AXIS:
            control, target = op.qubits
            axis = _CONTROLLED_AXIS[op.name]
            half = Occurrence(ref.index, ref.a / 2, ref.b / 2)
            minus_half = Occurrence(ref.index, -ref.a / 2, -ref.b / 2)
            if op.name == "crx":
                specs.append(("h", (target,), None, None))
            specs += [(axis, (target,), half, None), ("cx", (control, target), None, None),
                      (axis, (target,), minus_half, None), ("cx", (control, target), None, None)]
            if op.name == "crx":
                specs.append(("h", (target,), None, None))
        else:
            specs.append((op.name, op.qubits, Occurrence(ref.index, ref.a, ref.b), None))

    occurrences = tuple(spec[2] for spec in specs if spec[2] is not None)
    angles = ParameterVector("angle", len(occurrences))
    qubits = QuantumRegister(circuit.num_qubits, "q")
    qc = QuantumCircuit(qubits)
    count = 0
    for name, on, occurrence, matrix in specs:
        if occurrence is not None:
            qc.append(type(_STANDARD[name])(angles[count]), list(on))
            count += 1
        elif matrix is not None:
            qc.append(_fixed_gate(name, matrix), list(on))
        else:
            qc.append(_STANDARD[name], list(on))
    phase_constant, phase_terms = circuit.global_phase
    if not phase_terms:  # a parameter-dependent global phase is unobservable; drop it
        qc.global_phase = phase_constant
    if measure:
        pairs = ([(m.qubit, m.clbit) for m in circuit.measurements] if circuit.measurements
                 else [(q, q) for q in range(circuit.num_qubits)])
        clbits = ClassicalRegister(circuit.num_clbits if circuit.measurements else circuit.num_qubits, "c")
        qc.add_register(clbits)
        for qubit, clbit in pairs:
            qc.measure(qubit, clbit)
    return ShiftableCircuit(qc, angles, occurrences)
