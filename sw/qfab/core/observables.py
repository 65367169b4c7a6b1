"""Pauli-sum observables in the form the kernels read.

Qiskit writes a Pauli as ``(-i)^q Z^z X^x``, so it acts on a basis state as
``P|j> = (-i)^q (-1)^popcount((j XOR x) AND z) |j XOR x>``; storing ``x``, ``z`` and the
complex prefactor per term lets a kernel evaluate ``<psi|O|psi>`` in one read of the state,
with no copy of the state per term.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from qfab.errors import InputError, InputTypeError

__all__ = ["PauliSum", "as_pauli_sums"]


@dataclass(frozen=True)
class PauliSum:
    num_qubits: int
    x_masks: np.ndarray  # int64 (T,)
    z_masks: np.ndarray  # int64 (T,)
    prefactors: np.ndarray  # complex128 (T,): coefficient * (-i)^q
    hermitian: bool

    @classmethod
    def from_sparse_pauli_op(cls, op: SparsePauliOp) -> "PauliSum":
        op = op.simplify(atol=0)
        x_bits = op.paulis.x.astype(np.int64)
        z_bits = op.paulis.z.astype(np.int64)
        weights = np.int64(1) << np.arange(op.num_qubits, dtype=np.int64)
        num_y = np.sum(x_bits & z_bits, axis=1)
        # Qiskit's public phase leaves out the (-i) that each Y contributes to q.
        prefactors = op.coeffs.astype(np.complex128) * (-1j) ** ((op.paulis.phase + num_y) % 4)
        return cls(
            num_qubits=op.num_qubits,
            x_masks=np.ascontiguousarray(x_bits @ weights),
            z_masks=np.ascontiguousarray(z_bits @ weights),
            prefactors=np.ascontiguousarray(prefactors),
            hermitian=bool(np.allclose(op.coeffs.imag, 0.0)),
        )


def as_pauli_sums(obs, num_qubits: int) -> tuple[list[PauliSum], bool]:
    """Normalise ``obs`` (one operator or a list) to PauliSums; also say whether a list was given."""
    many = isinstance(obs, (list, tuple))
    items = list(obs) if many else [obs]
    if not items:
        raise InputError("no observable given")
    sums = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            try:
                item = SparsePauliOp(item)
            except Exception as err:  # Qiskit's QiskitError for a label that is not a Pauli string
                raise InputError(f"observable {position} {item!r} is not a Pauli label (letters I, X, Y, Z): {err}") from err
        if not isinstance(item, SparsePauliOp):
            try:
                item = SparsePauliOp(item)
            except Exception as err:
                raise InputTypeError(f"observable {position} is a {type(item).__name__}; give a qiskit SparsePauliOp") from err
        if not np.all(np.isfinite(item.coeffs)):  # else NaN results, or a NaN read as "not Hermitian"
            raise InputError(f"observable {position} has a coefficient that is NaN or infinite: "
                             f"{item.coeffs[~np.isfinite(item.coeffs)][0]}")
        if item.num_qubits != num_qubits:
            raise InputError(f"observable {position} acts on {item.num_qubits} qubits, the circuit has {num_qubits}")
        sums.append(PauliSum.from_sparse_pauli_op(item))
    return sums, many
