"""qfab IR → gate programs for the FPGA core.

The core applies one (optionally controlled) single-qubit operation per pass: a 2×2 matrix on
the DSP lane, a diagonal, or the multiplier-free X and i^k paths. ``lower`` rewrites a circuit
into those operations once, keeping rotation angles symbolic: controlled rotations map
directly, two-qubit Pauli rotations become basis changes around ``CX·RZ·CX``, controlled-U
matrices are recognised, SWAP is three CX, and any other fixed multi-qubit gate goes through
Qiskit's synthesis into CX and single-qubit gates. ``gate_words`` then binds a whole batch of
parameter sets at once: runs of uncontrolled single-qubit gates on a qubit become one matrix (one
pass instead of several), each pass takes the cheapest core operation its matrix allows, and the
words of every set come out of array operations. Which ops form a pass depends only on the
circuit, so that part (:class:`GatePlan`) is worked out once per lowered circuit.

Instruction set v2 keeps the rotations symbolic on chip as well: :func:`stored_program` turns a
lowered circuit and one measurement into the program the core stores once per circuit structure
(INIT; fixed gates as v1 instructions, uncontrolled fixed runs on a qubit fused into one pass; each
rotation occurrence a ``GATE_ROT`` reading its angle from the parameter memory; the measurement as
basis-change passes and ``OBS`` terms, ``READ_EXPZ`` readouts or ``READ_STATE``; END), so a call
only sends parameters (driver.py). :func:`structure_key` is what that program depends on.
"""
from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from qfab_hw import Assembler, CoreParams
from qfab_hw.program import Instruction, Opcode, gate_instruction_words

from qfab.core import gates
from qfab.core.ir import Circuit, ParamRef
from qfab.core.observables import PauliSum

__all__ = ["NativeOp", "LoweredCircuit", "GatePlan", "lower", "gate_words", "predicted_infidelity",
           "predicted_expectation_error", "measurement_groups", "StructureKey", "structure_key", "Measurement",
           "StoredProgram", "stored_program", "weight_scale"]

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


@dataclass(frozen=True)
class LoweredCircuit:
    circuit: Circuit
    ops: tuple[NativeOp, ...]
    phase: float  # global phase the decompositions introduced (the core has none)

    @cached_property
    def plan(self) -> GatePlan:
        """The passes and their binding order (v1), kept with the lowered circuit (which the
        driver caches per circuit structure) so that repeated calls only bind angles."""
        return GatePlan(self.ops)

    @cached_property
    def rotation_refs(self) -> tuple[ParamRef, ...]:
        """The angle of every rotation occurrence, in program order (a stored program's
        occurrence j, the j-th GATE_ROT)."""
        return tuple(op.rotation[1] for op in self.ops if op.rotation is not None)

    @cached_property
    def rotation_affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Parameter index, ``a`` and ``b`` of every rotation occurrence, as arrays: a batch's
        angles are ``thetas[:, index] * a + b``."""
        refs = self.rotation_refs
        return (np.array([r.index for r in refs], dtype=np.int64), np.array([r.a for r in refs], dtype=np.float64),
                np.array([r.b for r in refs], dtype=np.float64))

    @cached_property
    def affine_fits(self) -> bool:
        """Whether every slope ``a`` fits GATE_ROT's Q4.28 scale ([-8, 8)), so that the stored
        program can read the circuit's own parameters."""
        return all(-8.0 <= ref.a < 8.0 for ref in self.rotation_refs)

    @cached_property
    def range_limited(self) -> np.ndarray:
        """Parameters with a non-integer slope somewhere: the core takes every parameter word mod
        4π, which a non-integer ``a`` does not commute with, so their values must lie in
        [-2π, 2π) (hw/README.md, "wrap rule")."""
        return np.array(sorted({ref.index for ref in self.rotation_refs if ref.a != round(ref.a)}), dtype=np.int64)


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


def _passes(ops: tuple[NativeOp, ...], rotations_alone: bool = False) -> list[tuple[int, int | None, list[int]]]:
    """``(target, control, op indices)`` of each core pass, in program order.

    A controlled op is a pass of its own, and so is every rotation with ``rotations_alone`` (a
    stored program's GATE_ROT). The other uncontrolled ops on a qubit since the last pass that
    touched it are one pass (their product), emitted when an op of a pass of its own involves
    the qubit, or at the end in qubit order.
    """
    passes, pending = [], {}

    def flush(qubit: int) -> None:
        if qubit in pending:
            passes.append((qubit, None, pending.pop(qubit)))

    for index, op in enumerate(ops):
        if op.control is None and not (rotations_alone and op.rotation is not None):
            pending.setdefault(op.target, []).append(index)
            continue
        flush(op.target)
        flush(op.control)
        passes.append((op.target, op.control, [index]))
    for qubit in sorted(pending):
        flush(qubit)
    return passes


class GatePlan:
    """What binding parameter sets needs that does not depend on the angles.

    The matrix of an uncontrolled pass is ``m_k @ ... @ (m_1 @ I)``; each product is taken in
    this order, one 2×2 matmul at a time, for every set, so the floating-point values (and hence
    the words) are exactly those of binding the sets one at a time. The leading constant ops of
    a pass are multiplied once, here (``starts``). The rest are applied in lock-step over all
    passes: step j multiplies the j-th remaining op of every pass that has one, as one batched
    matmul over passes and sets, so the Python work of a call grows with the longest run on a
    qubit, not with the number of gates. The matrices come from a table: the rotations (one
    vectorised ``rotation_matrix`` per kind) followed by the constants that follow a rotation.
    """

    def __init__(self, ops: tuple[NativeOp, ...]):
        passes = _passes(ops)
        self.targets = np.array([target for target, _, _ in passes], dtype=np.int64)
        self.controls = np.array([-1 if control is None else control for _, control, _ in passes], dtype=np.int64)
        by_kind: dict[str, list[int]] = {}
        for index, op in enumerate(ops):
            if op.rotation is not None:
                by_kind.setdefault(op.rotation[0], []).append(index)
        #: kind -> parameter index, a and b of ParamRef's angle ``a * theta[index] + b``, per op
        self.rotations = {kind: tuple(np.array([getattr(ops[i].rotation[1], name) for i in indices], dtype=dtype)
                                      for name, dtype in (("index", np.int64), ("a", np.float64), ("b", np.float64)))
                          for kind, indices in by_kind.items()}
        row = {index: r for r, index in enumerate(i for indices in by_kind.values() for i in indices)}
        constants = []
        self.starts = np.empty((len(passes), 2, 2), dtype=np.complex128)
        copies, remaining = [], []  # copies: controlled rotations, whose matrix is the op's own
        for p, (_, control, chain) in enumerate(passes):
            if control is not None and ops[chain[0]].matrix is None:
                copies.append((p, row[chain[0]]))
                chain = []
            elif control is not None:
                self.starts[p], chain = ops[chain[0]].matrix, []
            else:
                self.starts[p] = np.eye(2, dtype=complex)
                while chain and ops[chain[0]].matrix is not None:
                    self.starts[p] = ops[chain[0]].matrix @ self.starts[p]
                    chain = chain[1:]
            rows = []
            for index in chain:
                if ops[index].matrix is None:
                    rows.append(row[index])
                else:
                    rows.append(len(row) + len(constants))
                    constants.append(ops[index].matrix)
            remaining.append(rows)
        self.copies = tuple(np.array(column, dtype=np.int64) for column in zip(*copies)) if copies else None
        self.constants = np.array(constants, dtype=np.complex128).reshape(-1, 2, 2)
        self.steps = []
        for step in range(max(map(len, remaining), default=0)):
            active = [p for p, rows in enumerate(remaining) if len(rows) > step]
            self.steps.append((np.array(active, dtype=np.int64),
                               np.array([remaining[p][step] for p in active], dtype=np.int64)))

    def matrices(self, thetas: np.ndarray) -> np.ndarray:
        """The ``(passes, sets, 2, 2)`` matrices of the passes for each row of ``thetas``."""
        thetas = np.asarray(thetas, dtype=np.float64)
        sets = len(thetas)
        # ParamRef.angle's ``a * theta + b`` and rotation_matrix broadcast over (ops, sets): the
        # same floating-point operations, element by element, as for one angle at a time.
        table = [gates.rotation_matrix(kind, (thetas[:, index] * a + b).T[..., None, None])
                 for kind, (index, a, b) in self.rotations.items()]
        if len(self.constants):
            table.append(np.broadcast_to(self.constants[:, None], (len(self.constants), sets, 2, 2)))
        table = np.concatenate(table) if table else None
        matrices = np.empty((len(self.starts), sets, 2, 2), dtype=np.complex128)
        matrices[:] = self.starts[:, None]
        if self.copies is not None:
            matrices[self.copies[0]] = table[self.copies[1]]
        for passes, rows in self.steps:
            matrices[passes] = table[rows] @ matrices[passes]
        return matrices


_TOLERANCE = 1e-12
_X_TOLERANCE = _TOLERANCE + 1e-5 * np.abs(_X)  # np.allclose(m, X, atol=1e-12): rtol 1e-5 where X is 1
_QUARTER_TURNS = np.array([1j**k for k in range(4)])
_GATE_X, _GATE_PHASE4, _GATE_DIAG, _GATE_U = (int(o) for o in (Opcode.GATE_X, Opcode.GATE_PHASE4, Opcode.GATE_DIAG,
                                                               Opcode.GATE_U))


def cheapest_opcodes(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest core operation for each 2×2 matrix: exact paths first, the DSP lane last.

    Returns GATE_* opcodes and quarter turns. In order: X (within ``np.allclose``'s tolerances);
    diag(1, i^k), where k = 0 is the identity, which needs no pass at all (returned as
    GATE_PHASE4 with k = 0 for the caller to drop); a diagonal; else the full matrix. The choice
    is made from the values, for every parameter set separately, because an angle can make a
    rotation exact (rz(0) = I, p(π/2) = S, in parameter-shift rows too): such a set gets fewer
    words and cycles, the same as when it is bound on its own. The comparisons are those of the
    scalar rules this vectorises, so borderline values and NaN take the same path as before.
    """
    m00, m01, m10, m11 = (matrices[..., i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    is_x = (np.abs(matrices - _X) <= _X_TOLERANCE).all(axis=(-2, -1))
    off01, off10 = np.abs(m01), np.abs(m10)
    quarter_form = ~((off01 > _TOLERANCE) | (off10 > _TOLERANCE) | (np.abs(m00 - 1) > _TOLERANCE))
    matches = np.abs(m11[..., None] - _QUARTER_TURNS) < _TOLERANCE
    is_quarter = quarter_form & matches.any(axis=-1)
    is_diagonal = (off01 < _TOLERANCE) & (off10 < _TOLERANCE)
    opcodes = np.where(is_x, _GATE_X, np.where(is_quarter, _GATE_PHASE4, np.where(is_diagonal, _GATE_DIAG, _GATE_U)))
    return opcodes, np.where(is_quarter & ~is_x, matches.argmax(axis=-1), 0)  # argmax: the first k that matches


def gate_words(lowered: LoweredCircuit, thetas: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The gate instructions of every parameter set: ``(sets, passes, GATE_ROW_WORDS)`` uint64
    words and ``(sets, passes)`` word counts, 0 where a pass is the identity and is left out.

    Set b's gates are the first ``counts[b, p]`` words of each row ``words[b, p]``, in pass order.
    """
    plan = lowered.plan
    matrices = plan.matrices(thetas)
    opcodes, quarter = cheapest_opcodes(matrices)
    words, counts = gate_instruction_words(
        opcodes, plan.targets[:, None], plan.controls[:, None], quarter, matrices, width)
    counts[(opcodes == _GATE_PHASE4) & (quarter == 0)] = 0
    return words.transpose(1, 0, 2), counts.T


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


#: rms error of a Pauli expectation over ``sqrt(passes) * 2^-F`` (passes: the lowered ops),
#: measured on the core's model running the v2 stored program (W = 14, 16, 18; n = 4..8; 2..8
#: layers of the hardware-efficient ansatz; 60 sets each): 0.48..0.71, 0.57 pooled, and three
#: times 0.6 is the pooled errors' 99.7 % quantile. (v1 bound RY·RZ on the host into one pass per
#: qubit and measured 0.30..0.47; on chip every rotation is a pass of its own.)
EXPECTATION_ERROR_CONSTANT = 0.6


def predicted_expectation_error(passes: int, width: int, quantile: float = 3.0) -> float:
    """Error of a Pauli expectation value computed by the core: ``quantile`` times its rms.

    Each pass rounds every amplitude to the LSB 2^-F; the errors add up as a random walk over
    the passes, and their projection on the observable's (unit-norm) direction does not grow with
    2^n, so the rms is ``0.6 * sqrt(passes) * 2^-F`` whatever the qubit count (docs/codesign.md),
    and three times that bounds 99.7 % of results."""
    return quantile * EXPECTATION_ERROR_CONSTANT * math.sqrt(passes) * 2.0 ** (-(width - 2))


def phase_factor(lowered: LoweredCircuit, theta: np.ndarray) -> complex:
    return cmath.exp(1j * (lowered.circuit.phase(theta) + lowered.phase))


# ------------------------------------------------------------------ instruction set v2: stored programs

class StructureKey:
    """A circuit's structure as a dict key that hashes once: the driver looks it up several
    times per call, and a tuple would hash every operation each time."""

    __slots__ = ("parts", "_hash")

    def __init__(self, parts: tuple):
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return self is other or (isinstance(other, StructureKey) and self._hash == other._hash
                                 and self.parts == other.parts)


def structure_key(circuit: Circuit) -> StructureKey:
    """What lowering ``circuit`` and its stored programs depend on: the qubit and parameter
    counts, the global phase and every operation's name, qubits and angle (parameter index,
    ``a``, ``b``) or matrix. Equal for two ``Circuit`` objects built alike (a training loop that
    rebuilds its circuit each step), so they share one lowering and one resident program. Kept
    on the circuit object, which is immutable, so a call computes it once per object."""
    key = circuit.__dict__.get("_qfab_structure")
    if key is None:
        ops = tuple((op.name, op.qubits, op.param if op.param is not None else op.matrix.tobytes())
                    for op in circuit.operations)
        key = StructureKey((circuit.num_qubits, circuit.num_parameters, circuit.global_phase, ops))
        circuit.__dict__["_qfab_structure"] = key
    return key


@dataclass(frozen=True)
class Measurement:
    """How a stored program ends: ``kind`` "state" (READ_STATE), "readout" (one READ_EXPZ per
    mask) or "cost" (one OBS term per mask, ``weights`` its coefficients), after the passes that
    rotate ``basis`` (qubit, 'X' | 'Y' | 'Z') to Z."""

    kind: str
    basis: tuple[tuple[int, str], ...] = ()
    masks: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()


@dataclass(frozen=True, eq=False)
class StoredProgram:
    """A v2 program the core stores: ``words`` are the PROGRAM header and its N stored words
    (INIT ... END), sent as they are whenever the program is not resident."""

    words: np.ndarray  # uint64
    body: tuple[Instruction, ...]  # the stored instructions, END included (for the closed-form cycles)
    param_count: int  # 1 + the largest GATE_ROT index (what LOAD_PARAMS' P must cover)
    passes: int  # gate instructions of one replay (fixed passes and rotations)
    beats: int  # output beats of one set under RUN

    @property
    def stored_words(self) -> int:
        return len(self.words) - 1


def weight_scale(weights) -> float:
    """The power of two that brings the largest |weight| into [32, 64): OBS weights are Q8.24
    (|c| < 128), so any observable fits, and its weights keep their full 24 fraction bits of
    relative precision; the results are divided by it again (exactly). At most 2^60: weights
    below 2^-54 are lost to rounding either way, and their share of a value with them."""
    largest = max((abs(float(w)) for w in weights), default=0.0)
    return 1.0 if largest == 0.0 else math.ldexp(1.0, min(6 - math.frexp(largest)[1], 60))


def _fixed_pass(assembler: Assembler, matrix: np.ndarray, target: int, control: int | None) -> None:
    """A fixed pass as its cheapest core instruction (:func:`cheapest_opcodes`); the identity
    needs none."""
    opcodes, quarter = cheapest_opcodes(matrix[None])
    opcode, k = int(opcodes[0]), int(quarter[0])
    if opcode == _GATE_X:
        assembler.x(target, control)
    elif opcode == _GATE_PHASE4:
        if k:
            assembler.phase_quarter(k, target, control)
    elif opcode == _GATE_DIAG:
        assembler.diagonal(matrix[0, 0], matrix[1, 1], target, control)
    else:
        assembler.unitary(matrix, target, control)


def stored_program(lowered: LoweredCircuit, measurement: Measurement, params: CoreParams,
                   slots: str = "parameters") -> StoredProgram:
    """The stored program of ``lowered`` ending in ``measurement`` on build ``params``.

    ``slots`` says what the parameter memory holds: "parameters", the circuit's own (GATE_ROT
    carries the occurrence's index, ``a`` and ``b``, and RUN_SHIFT / RUN_ADJOINT apply the chain
    rule on chip), or "angles", one angle per rotation occurrence in program order (index j,
    a = 1, b = 0; the host computes ``a * theta + b`` and maps gradients back), for slopes beyond
    Q4.28 and values outside the wrap rule's range. qfab's RX, RY, RZ (``exp(-i angle/2 G)``) and
    P (``diag(1, e^(i angle))``) are exactly GATE_ROT's kinds, with no global phase between them;
    the Pauli rotations arrive here already as basis changes around CX·RZ·CX (:func:`lower`).
    """
    n_core = max(lowered.circuit.num_qubits, params.min_qubits)
    ops = lowered.ops + tuple(NativeOp(qubit, matrix=a) for qubit, a in basis_change(dict(measurement.basis)))
    body = Assembler(params.width).init(n_core)
    occurrence = 0
    for target, control, chain in _passes(ops, rotations_alone=True):
        if ops[chain[0]].rotation is not None:
            kind, ref = ops[chain[0]].rotation
            index, a, b = (occurrence, 1.0, 0.0) if slots == "angles" else (ref.index, ref.a, ref.b)
            body.rot(kind, target, index, a=a, b=b, control=control)
            occurrence += 1
            continue
        matrix = np.eye(2, dtype=complex)
        for index in chain:
            matrix = ops[index].matrix @ matrix
        _fixed_pass(body, matrix, target, control)
    passes = len(body.instructions) - 1
    qubits = [[q for q in range(n_core) if (mask >> q) & 1] for mask in measurement.masks]
    if measurement.kind == "state":
        body.read_state()
        beats = 2**n_core
    elif measurement.kind == "readout":
        for support in qubits:
            body.expect_z(support)
        beats = len(qubits)
    else:
        for support, weight in zip(qubits, measurement.weights):
            body.obs(support, weight)
        beats = 1
    body.stored_end()
    param_count = 1 + max((i.param for i in body.instructions if i.opcode == Opcode.GATE_ROT), default=-1)
    words = np.array(Assembler(params.width).program(body).words(), dtype=np.uint64)
    return StoredProgram(words, tuple(body.instructions), param_count, passes, beats)
