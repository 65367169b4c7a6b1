"""Data encodings: circuits whose parameters are computed from a sample's features.

An :class:`Encoding` holds a Qiskit circuit with a ParameterVector ``x`` and a function that maps
a batch of feature rows to values of ``x``. For angle encodings that map is a scaling; for
amplitude encoding it computes the rotation angles of a state-preparation tree classically, so
the circuit itself stays the same for every sample and qfab simulates the batch in one call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector

__all__ = ["Encoding", "angle_encoding", "dense_angle_encoding", "amplitude_encoding", "build_encoding"]


@dataclass
class Encoding:
    """``qiskit_circuit`` prepares the data state from ``|0>``; ``angles(X)`` gives its parameters."""

    name: str
    num_qubits: int
    num_features: int
    qiskit_circuit: QuantumCircuit
    parameters: ParameterVector
    _angles: Callable[[np.ndarray], np.ndarray]

    def angles(self, features) -> np.ndarray:
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if features.shape[1] != self.num_features:
            raise ValueError(f"{self.name} encoding expects {self.num_features} features per sample, "
                             f"got {features.shape[1]}")
        return self._angles(features)


def angle_encoding(num_features: int, rotation: str = "ry", scale: float = np.pi) -> Encoding:
    """One qubit per feature, ``R(scale * x)``; with features in [0, 1] and scale pi, RY spans |0>..|1>."""
    x = ParameterVector("x", num_features)
    qc = QuantumCircuit(num_features)
    for q in range(num_features):
        getattr(qc, rotation)(x[q], q)
    return Encoding("angle", num_features, num_features, qc, x, lambda f: scale * f)


def dense_angle_encoding(num_features: int, scale: float = np.pi) -> Encoding:
    """Two features per qubit (LaRose & Coyle): RY(scale x_2q) then RZ(scale x_2q+1); half the qubits."""
    num_qubits = (num_features + 1) // 2
    padded = 2 * num_qubits
    x = ParameterVector("x", padded)
    qc = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        qc.ry(x[2 * q], q)
        qc.rz(x[2 * q + 1], q)

    def angles(features):
        out = np.zeros((features.shape[0], padded))
        out[:, :num_features] = scale * features
        return out

    return Encoding("dense_angle", num_qubits, num_features, qc, x, angles)


def amplitude_encoding(num_features: int) -> Encoding:
    """Real amplitudes: ``|x> / ||x||`` on ceil(log2 F) qubits (zero-padded), prepared by a binary
    tree of uniformly controlled RY rotations (Möttönen et al. 2004), each decomposed into RY and CX
    along a Gray code. The rotation angles depend on the data and are computed in ``angles``."""
    num_qubits = max(1, int(np.ceil(np.log2(num_features))))
    dim = 2 ** num_qubits
    qc = QuantumCircuit(num_qubits)
    x = ParameterVector("x", dim - 1)
    position = 0
    for target in range(num_qubits - 1, -1, -1):
        controls = list(range(target + 1, num_qubits))
        count = 2 ** len(controls)
        for j in range(count):
            qc.ry(x[position + j], target)
            if controls:
                # The control whose bit flips between Gray codes j and j+1 (wrapping to 0 at the end).
                changed = _gray(j) ^ _gray((j + 1) % count)
                qc.cx(controls[int(changed).bit_length() - 1], target)
        position += count
    walsh = {}
    for k in range(num_qubits):
        count = 2 ** k
        codes = np.array([_gray(j) for j in range(count)])
        parity = np.array([[bin(c & g).count("1") % 2 for g in codes] for c in range(count)])
        walsh[k] = (1 - 2 * parity).T / count  # theta = M^T alpha / 2^k with M[c, j] = (-1)^{c . gray(j)}

    def angles(features):
        amplitudes = np.zeros((features.shape[0], dim))
        amplitudes[:, :num_features] = features
        norms = np.linalg.norm(amplitudes, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("amplitude encoding of an all-zero feature vector is undefined")
        amplitudes = amplitudes / norms
        out = []
        for target in range(num_qubits - 1, -1, -1):
            k = num_qubits - 1 - target
            blocks = amplitudes.reshape(-1, 2 ** k, 2, 2 ** target)  # (B, control value, bit of target, lower bits)
            if target == 0:  # leaves keep their signs
                alpha = 2 * np.arctan2(blocks[..., 1, 0], blocks[..., 0, 0])
            else:
                lower = np.linalg.norm(blocks, axis=3)
                alpha = 2 * np.arctan2(lower[..., 1], lower[..., 0])
            out.append(alpha @ walsh[k].T)
        return np.concatenate(out, axis=1)

    return Encoding("amplitude", num_qubits, num_features, qc, x, angles)


def _gray(j: int) -> int:
    return j ^ (j >> 1)


def build_encoding(name: str, num_features: int, **options) -> Encoding:
    builders = {"angle": angle_encoding, "dense_angle": dense_angle_encoding, "amplitude": amplitude_encoding}
    if name not in builders:
        raise ValueError(f"unknown encoding {name!r}; choose from {sorted(builders)}")
    return builders[name](num_features, **options)
