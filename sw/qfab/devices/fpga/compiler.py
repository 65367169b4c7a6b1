"""qfab IR → gate programs for the FPGA core.

The core applies one (optionally controlled) single-qubit operation per pass: a 2×2 matrix on
the DSP lane, a diagonal, or the multiplier-free X and i^k paths. ``lower`` rewrites a circuit
into those operations once, keeping rotation angles symbolic: controlled rotations map
directly, two-qubit Pauli rotations become basis changes around ``CX·RZ·CX``, controlled-U
matrices are recognised, SWAP is three CX, and any other fixed multi-qubit gate goes through
Qiskit's synthesis into CX and single-qubit gates. ``assemble`` then binds one parameter set,
multiplies runs of uncontrolled single-qubit gates on a qubit into one matrix (one pass instead
of several), and emits the words.
"""
from __future__ import annotations

import cmath
import math
from dataclasses import dataclass

import numpy as np

from ... import gates
from ...ir import Circuit, ParamRef
from ...observables import PauliSum

__all__ = ["NativeOp", "LoweredCircuit", "lower", "assemble", "predicted_infidelity", "predicted_expectation_error",
           "measurement_groups"]

_H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
_SDG = np.diag([1, -1j])
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]
_TO_Z_BASIS = {"X": _H, "Y": _H @ _SDG, "Z": np.eye(2, dtype=complex)}  # A with A P A^dagger = Z
_SINGLE_QUBIT_ROTATIONS = {"rx", "ry", "rz", "p"}
_CONTROLLED_ROTATIONS = {"crx": "rx", "cry": "ry", "crz": "rz", "cp": "p"}
_PAULI_ROTATIONS = {"rxx": "XX", "ryy": "YY", "rzz": "ZZ", "rzx": "XZ"}  # label: qubit 1, qubit 0


@dataclass(frozen=True)
class NativeOp:
    """One core pass: ``matrix`` (fixed 2×2) or ``rotation`` (kind, ParamRef) on ``target``,
    applied where ``control`` is 1 when a control is given."""

    target: int
    control: int | None = None
    matrix: np.ndarray | None = None
    rotation: tuple[str, ParamRef] | None = None
    source: int = -1

    def bound(self, theta: np.ndarray) -> np.ndarray:
        if self.matrix is not None:
            return self.matrix
        kind, ref = self.rotation
        return gates.rotation_matrix(kind, ref.angle(theta))


@dataclass(frozen=True)
class LoweredCircuit:
    circuit: Circuit
    ops: tuple[NativeOp, ...]
    phase: float  # global phase the decompositions introduced (the core has none)


def _controlled_form(matrix: np.ndarray):
    """(control, target, U) if the 4×4 ``matrix`` is a controlled single-qubit gate, else None."""
    for control, target in ((0, 1), (1, 0)):
        idle = [i for i in range(4) if not (i >> control) & 1]
        active = [i for i in range(4) if (i >> control) & 1]
        if np.allclose(matrix[np.ix_(idle, idle)], np.eye(2), atol=1e-12) and np.allclose(
            matrix[np.ix_(idle, active)], 0, atol=1e-12
        ) and np.allclose(matrix[np.ix_(active, idle)], 0, atol=1e-12):
            return control, target, matrix[np.ix_(active, active)]
    return None


def _synthesise(matrix: np.ndarray, qubits: tuple[int, ...], source: int, ops: list) -> float:
    """Any fixed unitary via Qiskit into CX and single-qubit gates; returns the phase it adds."""
    from qiskit import QuantumCircuit, transpile
    from qiskit.circuit.library import UnitaryGate

    qc = QuantumCircuit(len(qubits))
    qc.append(UnitaryGate(matrix), range(len(qubits)))
    synthesised = transpile(qc, basis_gates=["u", "cx"], optimization_level=1)
    for instruction in synthesised.data:
        local = [synthesised.find_bit(q).index for q in instruction.qubits]
        if instruction.operation.name == "cx":
            ops.append(NativeOp(qubits[local[1]], qubits[local[0]], matrix=_X, source=source))
        else:
            ops.append(NativeOp(qubits[local[0]], matrix=np.asarray(instruction.operation.to_matrix()), source=source))
    return float(synthesised.global_phase)


def lower(circuit: Circuit) -> LoweredCircuit:
    ops: list[NativeOp] = []
    phase = 0.0
    for op in circuit.operations:
        q = op.qubits
        if op.param is not None:
            if op.name in _SINGLE_QUBIT_ROTATIONS:
                ops.append(NativeOp(q[0], rotation=(op.name, op.param), source=op.source))
            elif op.name in _CONTROLLED_ROTATIONS:
                ops.append(NativeOp(q[1], q[0], rotation=(_CONTROLLED_ROTATIONS[op.name], op.param), source=op.source))
            else:  # exp(-i a/2 P⊗Q) = (A⊗B)^dagger exp(-i a/2 Z⊗Z) (A⊗B)
                label = _PAULI_ROTATIONS[op.name]
                changes = [(q[0], _TO_Z_BASIS[label[1]]), (q[1], _TO_Z_BASIS[label[0]])]
                ops += [NativeOp(qubit, matrix=a, source=op.source) for qubit, a in changes]
                ops.append(NativeOp(q[1], q[0], matrix=_X, source=op.source))
                ops.append(NativeOp(q[1], rotation=("rz", op.param), source=op.source))
                ops.append(NativeOp(q[1], q[0], matrix=_X, source=op.source))
                ops += [NativeOp(qubit, matrix=a.conj().T, source=op.source) for qubit, a in changes]
        elif len(q) == 1:
            ops.append(NativeOp(q[0], matrix=op.matrix, source=op.source))
        elif len(q) == 2 and (form := _controlled_form(op.matrix)) is not None:
            control, target, u = form
            ops.append(NativeOp(q[target], q[control], matrix=u, source=op.source))
        elif len(q) == 2 and np.allclose(op.matrix, _SWAP, atol=1e-12):
            ops += [NativeOp(q[1], q[0], matrix=_X, source=op.source), NativeOp(q[0], q[1], matrix=_X, source=op.source),
                    NativeOp(q[1], q[0], matrix=_X, source=op.source)]
        else:
            phase += _synthesise(op.matrix, q, op.source, ops)
    return LoweredCircuit(circuit, tuple(ops), phase)


def _quarter_turns(matrix: np.ndarray) -> int | None:
    """k if ``matrix`` is diag(1, i^k) exactly, else None."""
    if abs(matrix[0, 1]) > 1e-12 or abs(matrix[1, 0]) > 1e-12 or abs(matrix[0, 0] - 1) > 1e-12:
        return None
    for k in range(4):
        if abs(matrix[1, 1] - 1j**k) < 1e-12:
            return k
    return None


def _emit(assembler, matrix: np.ndarray, target: int, control: int | None) -> None:
    """The cheapest core operation for ``matrix``: exact paths first, the DSP lane last."""
    if np.allclose(matrix, _X, atol=1e-12):
        assembler.x(target, control)
    elif (k := _quarter_turns(matrix)) is not None:
        if k:
            assembler.phase_quarter(k, target, control)
    elif abs(matrix[0, 1]) < 1e-12 and abs(matrix[1, 0]) < 1e-12:
        assembler.diagonal(matrix[0, 0], matrix[1, 1], target, control)
    else:
        assembler.unitary(matrix, target, control)


def assemble(lowered: LoweredCircuit, theta: np.ndarray, assembler) -> None:
    """Append the gates of one parameter set to ``assembler`` (after its INIT)."""
    pending: dict[int, np.ndarray] = {}

    def flush(qubit: int) -> None:
        if qubit in pending:
            _emit(assembler, pending.pop(qubit), qubit, None)

    for op in lowered.ops:
        matrix = op.bound(theta)
        if op.control is None:
            pending[op.target] = matrix @ pending.get(op.target, np.eye(2, dtype=complex))
            continue
        flush(op.target)
        flush(op.control)
        _emit(assembler, matrix, op.target, op.control)
    for qubit in sorted(pending):
        flush(qubit)


def measurement_groups(sums: list[PauliSum], num_qubits: int):
    """Group every Pauli term of ``sums`` by a shared measurement basis.

    Returns ``[(basis, [(observable, z_mask, coefficient), ...]), ...]`` where ``basis`` maps a
    qubit to 'X', 'Y' or 'Z' and each term's value is ``coefficient * <Z on z_mask>`` measured
    after rotating that basis to Z. Terms whose bases agree on every shared qubit share a group
    (greedy, in order), so a sum of commuting Z-strings costs one pass.
    """
    groups: list[tuple[dict[int, str], list]] = []
    for index, pauli_sum in enumerate(sums):
        for x, z, prefactor in zip(pauli_sum.x_masks, pauli_sum.z_masks, pauli_sum.prefactors):
            x, z = int(x), int(z)
            letters = {}
            for qubit in range(num_qubits):
                bx, bz = (x >> qubit) & 1, (z >> qubit) & 1
                if bx or bz:
                    letters[qubit] = "Y" if bx and bz else "X" if bx else "Z"
            coefficient = (prefactor * 1j ** bin(x & z).count("1")).real  # Hermitian string's coefficient
            for basis, members in groups:
                if all(basis.get(q, letter) == letter for q, letter in letters.items()):
                    basis.update(letters)
                    members.append((index, x | z, coefficient))
                    break
            else:
                groups.append((dict(letters), [(index, x | z, coefficient)]))
    return groups


def basis_change(basis: dict[int, str]):
    return [(qubit, _TO_Z_BASIS[letter]) for qubit, letter in sorted(basis.items()) if letter != "Z"]


def predicted_infidelity(num_qubits: int, passes: int, width: int) -> float:
    """The fixed-point error law measured for the core's model (docs/fpga.md):
    ``1 - F ≈ 0.17 · passes · 2^n · 2^(-2F)`` with round-to-nearest, F = width - 2."""
    return 0.17 * passes * 2.0**num_qubits * 2.0 ** (-2 * (width - 2))


#: rms error of a Pauli expectation over ``sqrt(passes) * 2^-F``, measured on the core's model
#: (W = 14, 16, 18; n = 4..10; 2..8 layers of the hardware-efficient ansatz): 0.30..0.47.
EXPECTATION_ERROR_CONSTANT = 0.4


def predicted_expectation_error(passes: int, width: int, quantile: float = 3.0) -> float:
    """Error of a Pauli expectation value computed by the core: ``quantile`` times its rms.

    Each pass rounds every amplitude to the LSB 2^-F; the errors add up as a random walk over
    the passes, and their projection on the observable's (unit-norm) direction does not grow with
    2^n, so the rms is ``0.4 * sqrt(passes) * 2^-F`` whatever the qubit count (docs/codesign.md),
    and three times that bounds 99.7 % of results."""
    return quantile * EXPECTATION_ERROR_CONSTANT * math.sqrt(passes) * 2.0 ** (-(width - 2))


def phase_factor(lowered: LoweredCircuit, theta: np.ndarray) -> complex:
    return cmath.exp(1j * (lowered.circuit.phase(theta) + lowered.phase))
