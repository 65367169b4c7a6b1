"""PennyLane tape -> qfab IR, and PennyLane observables -> qfab Pauli sums.

Wires: a tape whose wires are ``0..n-1`` (the device maps its labels first) puts wire ``i`` on
qfab qubit ``n - 1 - i``. qfab is little-endian (qubit 0 the least significant bit), PennyLane
big-endian (wire 0 the most significant), so with this map the index of an amplitude is the same
in both: qfab's state vector *is* PennyLane's, and a Pauli label's character ``i`` (Qiskit writes
qubit ``n-1`` first) acts on wire ``i``.

Operations: PennyLane's rotations that are qfab rotations stay symbolic, each with its own qfab
parameter (trainable or not, so that tapes that differ only in angles share one circuit and run
as one batch); ``GlobalPhase`` becomes a parameter-dependent global phase; any other gate with
a matrix on at most :data:`MAX_FIXED_WIRES` wires is a fixed matrix (when it has no trainable
data). Everything else is decomposed by PennyLane before it gets here (see the device's
``stopping_condition``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pennylane as qml
from qiskit.quantum_info import SparsePauliOp

from qfab.core import Circuit, Operation, ParamRef
from qfab.core.observables import as_pauli_sums
from qfab.errors import UnsupportedInstructionError

__all__ = ["ROTATIONS", "MAX_FIXED_WIRES", "TapeCircuit", "translate_tape", "pauli_op", "supported_operation",
           "differentiable_operation", "pauli_observable"]

#: PennyLane rotation -> qfab rotation kind; the angle conventions agree (``exp(-i a/2 G)``,
#: PhaseShift = diag(1, e^{ia})), and a controlled rotation's first wire is its control in both.
ROTATIONS = {
    "RX": "rx", "RY": "ry", "RZ": "rz", "PhaseShift": "p", "U1": "p",
    "CRX": "crx", "CRY": "cry", "CRZ": "crz", "ControlledPhaseShift": "cp",
    "IsingXX": "rxx", "IsingYY": "ryy", "IsingZZ": "rzz",
}
#: The widest fixed gate kept as a matrix; wider ones are decomposed by PennyLane.
MAX_FIXED_WIRES = 3
#: The widest gate without a decomposition still taken as a matrix.
MAX_OPAQUE_WIRES = 6
_SKIPPED = {"Identity", "Barrier"}
#: Qiskit's names for PennyLane's fixed gates (the name of a fixed qfab gate is a label only).
_FIXED_NAMES = {"PauliX": "x", "PauliY": "y", "PauliZ": "z", "Hadamard": "h", "S": "s", "T": "t", "SX": "sx",
                "CNOT": "cx", "CY": "cy", "CZ": "cz", "CH": "ch", "SWAP": "swap", "Toffoli": "ccx", "CSWAP": "cswap"}
#: The widest non-Pauli observable (Hermitian, Hadamard, Projector...) decomposed into Pauli words.
MAX_MATRIX_OBSERVABLE_WIRES = 3


def _requires_grad(op) -> bool:
    return any(qml.math.requires_grad(d) for d in op.data)


def supported_operation(op) -> bool:
    """Whether the translator takes ``op`` as it is (the device's decomposition stops here)."""
    name = op.name
    if name in ROTATIONS or name in _SKIPPED or name == "GlobalPhase":
        return True
    if not op.has_matrix or not op.wires:
        return False
    # a wider gate is decomposed, unless it has no decomposition (DoubleExcitationPlus...)
    return len(op.wires) <= MAX_FIXED_WIRES or (not op.has_decomposition and len(op.wires) <= MAX_OPAQUE_WIRES)


def differentiable_operation(op) -> bool:
    """Whether the adjoint gradient differentiates ``op`` as it is: a rotation, a global phase or
    a fixed gate with no trainable data."""
    name = op.name
    if name in ROTATIONS or name in _SKIPPED or name == "GlobalPhase":
        return True
    return supported_operation(op) and (op.num_params == 0 or not _requires_grad(op))


def _scalar(value) -> float:
    value = qml.math.unwrap(value)
    array = np.asarray(value)
    if array.ndim != 0:
        raise UnsupportedInstructionError(f"a broadcast parameter of shape {array.shape} reached the translator")
    return float(np.real(array))


#: Fixed gates without parameters, translated once: (name, qubits, hyperparameters) -> (Operation, key).
_FIXED_CACHE: dict = {}


@dataclass
class TapeCircuit:
    """One tape in qfab's terms: ``key`` is equal for tapes that differ only in their rotation
    angles (they share ``circuit``); ``values`` are this tape's qfab parameters; ``qfab_index[t]``
    the qfab parameter of tape parameter ``t`` (None for data inside a fixed matrix)."""

    key: tuple
    circuit: Circuit
    values: np.ndarray
    qfab_index: list


def translate_tape(tape, num_wires: int) -> TapeCircuit:
    """The operations of ``tape`` (wires ``0..num_wires-1``) as a qfab circuit."""
    operations, values, qfab_index, key, phase_terms = [], [], [], [], []
    for position, op in enumerate(tape.operations):
        name = op.name
        qubits = tuple(num_wires - 1 - int(w) for w in op.wires)
        if name in _SKIPPED:
            qfab_index.extend([None] * op.num_params)
            continue
        if name in ROTATIONS:
            index = len(values)
            values.append(_scalar(op.data[0]))
            qfab_index.append(index)
            kind = ROTATIONS[name]
            operations.append(Operation(kind, qubits, param=ParamRef(index), source=position))
            key.append((kind, qubits))
            continue
        if name == "GlobalPhase":  # exp(-i phi) on every wire
            index = len(values)
            values.append(_scalar(op.data[0]))
            qfab_index.append(index)
            phase_terms.append((index, -1.0))
            key.append(("phase",))
            continue
        if not supported_operation(op):
            raise UnsupportedInstructionError(
                f"operation {position} ({name} on wires {list(op.wires)}) is not supported by qfab: it is no qfab "
                f"rotation ({', '.join(sorted(ROTATIONS))}) and has no matrix on at most {MAX_FIXED_WIRES} wires"
            )
        # PennyLane's matrix is big-endian in op.wires; qfab's qubits[0] is the least significant
        # bit of its matrix: reversed wires make the two the same matrix.
        fixed_qubits = tuple(reversed(qubits))
        cache_key = (name, fixed_qubits, repr(op.hyperparameters)) if op.num_params == 0 else None
        cached = _FIXED_CACHE.get(cache_key) if cache_key is not None else None
        if cached is None:
            matrix = np.asarray(qml.math.unwrap(op.matrix()), dtype=np.complex128)
            if matrix.ndim != 2:
                raise UnsupportedInstructionError(f"operation {position} ({name}) is broadcast; expand it first")
            cached = (Operation(_FIXED_NAMES.get(name, name), fixed_qubits, matrix=matrix),
                      (name, fixed_qubits, matrix.tobytes()))
            if cache_key is not None and len(_FIXED_CACHE) < 4096:
                _FIXED_CACHE[cache_key] = cached
        operations.append(cached[0])
        qfab_index.extend([None] * op.num_params)
        key.append(cached[1])
    circuit = Circuit(num_qubits=num_wires, operations=tuple(operations),
                      parameters=tuple(f"p{i}" for i in range(len(values))),
                      global_phase=(0.0, tuple(phase_terms)))
    return TapeCircuit((num_wires, tuple(key)), circuit, np.asarray(values, dtype=np.float64), qfab_index)


def _matrix_sentence(obs):
    if not obs.has_matrix or len(obs.wires) > MAX_MATRIX_OBSERVABLE_WIRES:
        return None
    matrix = np.asarray(qml.math.unwrap(qml.matrix(obs)), dtype=np.complex128)
    if matrix.ndim != 2:
        return None
    return qml.pauli.pauli_sentence(qml.pauli_decompose(matrix, wire_order=obs.wires, pauli=True, check_hermitian=False))


def pauli_observable(obs):
    """``obs`` as a PennyLane PauliSentence, or None where it is none (and too wide to decompose)."""
    if obs is None:
        return None
    try:
        return qml.pauli.pauli_sentence(obs)
    except (ValueError, TypeError, AttributeError, NotImplementedError, qml.exceptions.PennyLaneDeprecationWarning):
        pass
    try:
        return _matrix_sentence(obs)
    except Exception:  # noqa: BLE001 - any failure means: not a Pauli sum qfab can take
        return None


def pauli_op(sentence, num_wires: int) -> SparsePauliOp:
    """A PauliSentence on wires ``0..n-1`` as a SparsePauliOp (label character ``i`` = wire ``i``)."""
    terms = []
    for word, coeff in sentence.items():
        label = ["I"] * num_wires
        for wire, pauli in word.items():
            label[int(wire)] = pauli
        terms.append(("".join(label), complex(qml.math.unwrap(coeff))))
    if not terms:
        terms = [("I" * num_wires, 0.0)]
    return SparsePauliOp.from_list(terms)


def pauli_sums(operators, num_wires: int):
    """qfab's PauliSums of SparsePauliOps (what a Job takes)."""
    sums, _ = as_pauli_sums(list(operators), num_wires)
    return tuple(sums)
