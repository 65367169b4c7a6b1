"""Rotation gates that qfab keeps symbolic, and checks on fixed matrices.

Every rotation is ``U(angle) = exp(-i * angle / 2 * G)`` for a Hermitian generator ``G``; its
eigen-decomposition ``G = V diag(g) V^dagger`` is computed once here, so a kernel builds
``U = V diag(exp(-i angle g / 2)) V^dagger`` and ``dU/dangle = V diag(-i g/2 exp(..)) V^dagger``
exactly, for any of the kinds, from two small arrays. Local matrices use Qiskit's little-endian
convention: in a two-qubit gate on ``(q0, q1)``, ``q0`` is the least significant bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_I = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.diag([1.0, -1.0]).astype(complex)
_P1 = np.diag([0.0, 1.0]).astype(complex)


def _on(q1: np.ndarray, q0: np.ndarray) -> np.ndarray:
    """Two-qubit operator with ``q0`` on the least significant qubit."""
    return np.kron(q1, q0)


@dataclass(frozen=True)
class RotationKind:
    name: str
    code: int
    generator: np.ndarray

    @property
    def num_qubits(self) -> int:
        return int(np.log2(self.generator.shape[0]))

    @property
    def diagonal(self) -> bool:
        return bool(np.count_nonzero(self.generator - np.diag(np.diag(self.generator))) == 0)


_GENERATORS = {
    "rx": _X,
    "ry": _Y,
    "rz": _Z,
    "p": np.diag([0.0, -2.0]).astype(complex),  # P(a) = diag(1, e^{ia})
    "rxx": _on(_X, _X),
    "ryy": _on(_Y, _Y),
    "rzz": _on(_Z, _Z),
    "rzx": _on(_X, _Z),  # Qiskit's RZX: Z on the first qubit, X on the second
    "crx": _on(_X, _P1),  # control is the first qubit
    "cry": _on(_Y, _P1),
    "crz": _on(_Z, _P1),
    "cp": -2.0 * _on(_P1, _P1),
}

ROTATION_KINDS: dict[str, RotationKind] = {
    name: RotationKind(name, code, _GENERATORS[name]) for code, name in enumerate(sorted(_GENERATORS))
}

# Dense tables for the numba kernels, indexed by RotationKind.code; 1-qubit kinds use the
# top-left 2x2 corner.
KIND_DIM = np.array([ROTATION_KINDS[n].generator.shape[0] for n in sorted(_GENERATORS)], dtype=np.int64)
KIND_EIGVEC = np.zeros((len(_GENERATORS), 4, 4), dtype=np.complex128)
KIND_EIGVAL = np.zeros((len(_GENERATORS), 4), dtype=np.float64)
for _kind in ROTATION_KINDS.values():
    _vals, _vecs = np.linalg.eigh(_kind.generator)
    _d = _kind.generator.shape[0]
    KIND_EIGVEC[_kind.code, :_d, :_d] = _vecs
    KIND_EIGVAL[_kind.code, :_d] = _vals


def rotation_matrix(name: str, angle: float) -> np.ndarray:
    """``exp(-i angle/2 G)`` of rotation ``name`` (reference implementation in numpy)."""
    kind = ROTATION_KINDS[name]
    d = kind.generator.shape[0]
    vecs, vals = KIND_EIGVEC[kind.code, :d, :d], KIND_EIGVAL[kind.code, :d]
    return (vecs * np.exp(-0.5j * angle * vals)) @ vecs.conj().T


def rotation_derivative(name: str, angle: float) -> np.ndarray:
    """``d/dangle exp(-i angle/2 G) = -i/2 G exp(-i angle/2 G)``."""
    kind = ROTATION_KINDS[name]
    return -0.5j * kind.generator @ rotation_matrix(name, angle)


def check_unitary(matrix: np.ndarray, name: str, atol: float = 1e-8) -> None:
    """Refuse a non-unitary matrix, naming the gate and how far off it is."""
    dim = matrix.shape[0]
    deviation = float(np.max(np.abs(matrix.conj().T @ matrix - np.eye(dim))))
    if not np.isfinite(deviation) or deviation > atol:
        raise ValueError(
            f"matrix of gate {name!r} is not unitary: max |U^dagger U - I| = {deviation:.3g} (tolerance {atol:g})"
        )
