"""qfab circuits back to Qiskit, with one parameter per gate angle, so hardware can shift each.

The gradient on hardware is :mod:`qfab.core.shift`'s: the exported circuit's parameters are the
angles of a :class:`~qfab.core.shift.ShiftPlan`, and the device runs the plan's shifted rows and
maps the estimates back with it. Controlled rotations are first written as two half-angle
rotations around CNOTs (``_two_term_form``), so every angle a QPU shifts obeys the two-term
rule: the four terms that a controlled rotation needs either way then carry weights 1/4 instead
of Anselmetti's (2 +- sqrt 2)/8, which makes the shot noise of its derivative 1.5x smaller in
variance, and the chain rule (slopes +-a/2) brings the two halves back to the parameter.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import UnitaryGate, get_standard_gate_name_mapping

from qfab.core.ir import Circuit, Operation, ParamRef
from qfab.core.shift import ShiftPlan, shift_plan

__all__ = ["ShiftableCircuit", "to_qiskit"]

_STANDARD = get_standard_gate_name_mapping()
_CONTROLLED_AXIS = {"crz": "rz", "cry": "ry", "crx": "rz"}  # crx: H-conjugated crz on the target
_H = _STANDARD["h"].to_matrix()
_CX = _STANDARD["cx"].to_matrix()  # qubits (control, target), control the least significant as in qfab


@dataclass(frozen=True)
class ShiftableCircuit:
    """A Qiskit circuit whose parameters are ``angles``, the angles of ``plan`` in order."""

    circuit: QuantumCircuit
    angles: ParameterVector
    plan: ShiftPlan


def _two_term_form(circuit: Circuit) -> Circuit:
    """The same circuit with every controlled rotation ``C-R(a theta + b)`` as
    ``R((a theta + b)/2) CX R(-(a theta + b)/2) CX`` on the target (``crx`` inside Hadamards):
    every rotation left has a two-term shift rule."""
    operations = []
    for op in circuit.operations:
        if op.name not in _CONTROLLED_AXIS:
            operations.append(op)
            continue
        control, target = op.qubits
        axis, ref = _CONTROLLED_AXIS[op.name], op.param
        half = [Operation(axis, (target,), param=ParamRef(ref.index, sign * ref.a / 2, sign * ref.b / 2),
                          source=op.source) for sign in (1.0, -1.0)]
        cx = Operation("cx", (control, target), matrix=_CX, source=op.source)
        body = [half[0], cx, half[1], cx]
        if op.name == "crx":
            h = Operation("h", (target,), matrix=_H, source=op.source)
            body = [h, *body, h]
        operations += body
    return Circuit(circuit.num_qubits, tuple(operations), circuit.parameters, circuit.global_phase,
                   circuit.measurements, circuit.num_clbits)


def _fixed_gate(name: str, matrix: np.ndarray):
    """The standard gate of that name when its matrix is the one given (keeps sx, ecr native)."""
    gate = _STANDARD.get(name)
    if gate is not None and not gate.params and gate.num_qubits == int(np.log2(len(matrix))):
        if np.allclose(gate.to_matrix(), matrix, atol=1e-12):
            return gate
    return UnitaryGate(matrix, check_input=False)


def to_qiskit(circuit: Circuit, measure: bool = False) -> ShiftableCircuit:
    """The qfab circuit as Qiskit gates, with controlled rotations in halves, with one parameter per angle;
    ``measure``: add its measurements (all qubits if none)."""
    plan = shift_plan(_two_term_form(circuit))
    angles = ParameterVector("angle", plan.num_angles)
    qubits = QuantumRegister(circuit.num_qubits, "q")
    qc = QuantumCircuit(qubits)
    for op in plan.circuit.operations:
        if op.param is not None:
            qc.append(type(_STANDARD[op.name])(angles[op.param.index]), list(op.qubits))
        else:
            qc.append(_fixed_gate(op.name, op.matrix), list(op.qubits))
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
    return ShiftableCircuit(qc, angles, plan)
