"""The benchmark workload: a hardware-efficient ansatz and its observable, as Qiskit objects.

Every simulator in the benchmark is handed *this* circuit (or a translation of it with the same
parameter order), so that states and gradients can be compared entry by entry.

Layer ``l`` (of ``layers``) on ``n`` qubits::

    RY(theta[2nl + q]) on every qubit q, then RZ(theta[2nl + n + q]) on every qubit q,
    then the CNOT ladder CX(0,1), CX(1,2), ..., CX(n-2,n-1).

Observable: Z on qubit 0 (Qiskit's little-endian qubit 0, the least significant bit).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYERS = 10


@dataclass(frozen=True)
class Gate:
    """One gate of the ansatz in a simulator-neutral form: ``("ry"|"rz", qubit, param_index)``
    or ``("cx", (control, target), None)``."""

    name: str
    qubits: tuple[int, ...]
    param: int | None = None


def num_parameters(n: int, layers: int = LAYERS) -> int:
    return 2 * n * layers


def ansatz_gates(n: int, layers: int = LAYERS) -> list[Gate]:
    """The ansatz as a flat gate list; ``param`` indexes the parameter vector (Qiskit's order)."""
    gates: list[Gate] = []
    for layer in range(layers):
        base = 2 * n * layer
        gates += [Gate("ry", (q,), base + q) for q in range(n)]
        gates += [Gate("rz", (q,), base + n + q) for q in range(n)]
        gates += [Gate("cx", (q, q + 1)) for q in range(n - 1)]
    return gates


def qiskit_ansatz(n: int, layers: int = LAYERS):
    """The ansatz as a ``qiskit.QuantumCircuit`` over one ``ParameterVector``.

    ``list(qc.parameters)`` equals the vector's order (checked), which is the order every
    adapter uses for parameters and gradients.
    """
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    theta = ParameterVector("theta", num_parameters(n, layers))
    qc = QuantumCircuit(n, name=f"hea_n{n}_l{layers}")
    for g in ansatz_gates(n, layers):
        if g.name == "ry":
            qc.ry(theta[g.param], g.qubits[0])
        elif g.name == "rz":
            qc.rz(theta[g.param], g.qubits[0])
        else:
            qc.cx(*g.qubits)
    if list(qc.parameters) != list(theta):
        raise AssertionError("qc.parameters is not in ParameterVector order")
    return qc


def observable(n: int):
    """Z on qubit 0 as a ``SparsePauliOp`` (Qiskit labels are written qubit n-1 ... qubit 0)."""
    from qiskit.quantum_info import SparsePauliOp

    return SparsePauliOp("I" * (n - 1) + "Z")


def random_params(n: int, batch: int | None = None, seed: int = 1234, layers: int = LAYERS) -> np.ndarray:
    """Uniform angles in [-pi, pi): shape ``(P,)`` or ``(batch, P)``."""
    rng = np.random.default_rng(seed + 1000 * n + (0 if batch is None else 7))
    shape = (num_parameters(n, layers),) if batch is None else (batch, num_parameters(n, layers))
    return rng.uniform(-np.pi, np.pi, shape)


def reference_statevector(n: int, params: np.ndarray, layers: int = LAYERS) -> np.ndarray:
    """Qiskit's ``Statevector`` of the bound ansatz (independent of every simulator measured)."""
    from qiskit.quantum_info import Statevector

    return Statevector(qiskit_ansatz(n, layers).assign_parameters(params)).data


def reference_expectation(n: int, params: np.ndarray, layers: int = LAYERS) -> float:
    psi = reference_statevector(n, params, layers)
    bit0 = np.arange(psi.size) & 1
    return float(np.sum(np.abs(psi) ** 2 * (1 - 2 * bit0)))


def reference_gradient(n: int, params: np.ndarray, layers: int = LAYERS) -> np.ndarray:
    """Parameter-shift gradient from Qiskit's ``Statevector`` (exact for RY/RZ; small n only)."""
    grad = np.empty(params.size)
    for j in range(params.size):
        plus, minus = params.copy(), params.copy()
        plus[j] += np.pi / 2
        minus[j] -= np.pi / 2
        grad[j] = 0.5 * (reference_expectation(n, plus, layers) - reference_expectation(n, minus, layers))
    return grad
