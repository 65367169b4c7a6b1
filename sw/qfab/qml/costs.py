"""Costs as ``C(theta) = offset + <psi(theta)| observable |psi(theta)>``, global and local versions.

Cerezo et al. 2021 showed that the *same* objective written with a global observable (the
projector onto the target state) has exponentially vanishing gradients even for shallow
circuits, while its local version (the average over qubits of the one-qubit projectors) does
not for log-depth circuits. Both are exposed here with their observables, so the trainability
tools can compare them and users can inspect what is measured.

The global projector ``|b><b|`` is a sum of ``2**n`` Pauli strings. Up to
``max_expanded_qubits`` qubits the cost goes through qfab's adjoint gradient with that sum;
beyond, it is evaluated from statevector batches as ``1 - |<b|psi>|^2`` and differentiated by shifting
the requested parameters (:func:`qfab.core.shift.shift_parameters`, all shifted rows in one batch),
which needs only one amplitude per state.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from qfab import api
from qfab.core.ir import Circuit
from qfab.core.shift import shift_parameters

__all__ = ["Cost", "global_fidelity_cost", "local_fidelity_cost", "pauli_cost", "global_pauli_cost", "local_pauli_cost",
           "projector_observable", "build_cost", "cost_values"]

@dataclass
class Cost:
    """``offset + <observable>``. ``projector_bits`` marks the global fidelity cost ``1 - |<b|psi>|^2``
    (little-endian bit string), which has a state-based evaluation for large n."""

    name: str
    num_qubits: int
    offset: float
    locality: str  # "global" or "local"
    pauli_observable: SparsePauliOp | None = None
    projector_bits: str | None = None
    max_expanded_qubits: int = 10

    @cached_property
    def observable(self) -> SparsePauliOp:
        """The observable as a Pauli sum (for the global projector: ``-|b><b|``, 2**n terms)."""
        if self.pauli_observable is not None:
            return self.pauli_observable
        return -projector_observable(self.projector_bits)

    @property
    def state_based(self) -> bool:
        return self.projector_bits is not None and self.num_qubits > self.max_expanded_qubits

    @cached_property
    def diagonal(self) -> np.ndarray | None:
        """``C`` as a function of the basis state (``offset`` included), when the observable is a sum of
        Z-strings (every cost built here), else ``None``. With it one batch of state vectors gives
        every such cost at once as ``|psi|^2 @ diagonal``, with no Pauli-sum pass per cost; the
        projector needs one entry, so it never goes through its ``2**n``-term expansion."""
        size = 2**self.num_qubits
        if self.projector_bits is not None:
            out = np.full(size, self.offset)
            out[int(self.projector_bits, 2)] -= 1.0
            return out
        op = self.observable.simplify()
        if np.any(op.paulis.x):
            return None
        weights = np.int64(1) << np.arange(self.num_qubits, dtype=np.int64)
        z_masks = op.paulis.z.astype(np.int64) @ weights
        basis = np.arange(size, dtype=np.int64)
        signs = 1.0 - 2.0 * (np.bitwise_count(basis[None, :] & z_masks[:, None]) & 1)
        return self.offset + np.real(op.coeffs) @ signs

    def value(self, circuit: Circuit, params, device="cpu") -> np.ndarray:
        if self.state_based:
            return cost_values([self], circuit, np.atleast_2d(params), device)[:, 0]
        return self.offset + api.expectation(circuit, self.observable, params, device=device)

    def gradient(self, circuit: Circuit, params, parameter_indices=None, device="cpu") -> np.ndarray:
        """dC/dparams over circuit parameters, (B, P) or (B, len(parameter_indices))."""
        params = np.atleast_2d(np.asarray(params, dtype=np.float64))
        if not self.state_based:
            grad = api.gradient(circuit, self.observable, params, device=device)
            return grad if parameter_indices is None else grad[:, parameter_indices]
        indices = range(circuit.num_parameters) if parameter_indices is None else parameter_indices
        shifts = shift_parameters(circuit, params, list(indices))
        values = cost_values([self], circuit, shifts.rows.reshape(-1, circuit.num_parameters), device)[:, 0]
        return shifts.gradients(values.reshape(shifts.rows.shape[:2]))


def cost_values(costs, circuit: Circuit, params: np.ndarray, device="cpu", max_bytes: float = 2e8) -> np.ndarray:
    """``(B, K)`` values of ``costs`` at each row of ``params``, with one forward pass per row.

    Costs with a :attr:`Cost.diagonal` (all of Z-type, the projector at any size) are read off one
    batch of state vectors, taken in chunks of at most ``max_bytes``; any other observable goes
    through ``api.expectation`` (a second pass, only for those)."""
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    out = np.empty((len(params), len(costs)))
    diagonal = [k for k, c in enumerate(costs) if c.diagonal is not None]
    others = [k for k, c in enumerate(costs) if c.diagonal is None]
    if others:
        values = api.expectation(circuit, [costs[k].observable for k in others], params, device=device)
        out[:, others] = np.array([costs[k].offset for k in others]) + values
    if diagonal:
        table = np.stack([costs[k].diagonal for k in diagonal], axis=1)  # (2**n, K')
        chunk = max(1, int(max_bytes // (16 * 2**circuit.num_qubits)))
        for start in range(0, len(params), chunk):
            states = np.atleast_2d(api.statevector(circuit, params[start: start + chunk], device=device))
            out[start: start + chunk, diagonal] = (np.abs(states) ** 2) @ table
    return out


def projector_observable(bits: str) -> SparsePauliOp:
    """``|b><b| = prod_q (I + s_q Z_q) / 2`` expanded into 2**n Pauli strings (bit string little-endian
    as Qiskit writes it: the last character is qubit 0)."""
    n = len(bits)
    op = SparsePauliOp("I" * n)
    for q in range(n):
        sign = 1.0 if bits[-1 - q] == "0" else -1.0
        z = SparsePauliOp.from_sparse_list([("Z", [q], sign)], n)
        op = (op @ (SparsePauliOp("I" * n) + z) * 0.5).simplify()
    return op


def global_fidelity_cost(num_qubits: int, target_bits: str | None = None, max_expanded_qubits: int = 10) -> Cost:
    """``1 - |<b|psi>|^2``: the global cost of preparing ``|b>`` (default ``|0...0>``)."""
    bits = target_bits or "0" * num_qubits
    return Cost("global_fidelity", num_qubits, 1.0, "global", projector_bits=bits,
                max_expanded_qubits=max_expanded_qubits)


def local_fidelity_cost(num_qubits: int, target_bits: str | None = None) -> Cost:
    """``1 - (1/n) sum_q <b_q|rho_q|b_q>``: Cerezo's local version of the same objective (zero exactly
    when the global one is)."""
    bits = target_bits or "0" * num_qubits
    terms = [("Z", [q], (-1.0 if bits[-1 - q] == "0" else 1.0) / (2 * num_qubits)) for q in range(num_qubits)]
    return Cost("local_fidelity", num_qubits, 0.5, "local",
                pauli_observable=SparsePauliOp.from_sparse_list(terms, num_qubits))


def pauli_cost(label: str, name: str | None = None, locality: str | None = None) -> Cost:
    """``<P>`` for one Pauli string (Qiskit order: last character is qubit 0)."""
    weight = sum(ch != "I" for ch in label)
    return Cost(name or f"pauli_{label}", len(label), 0.0, locality or ("local" if weight <= 2 else "global"),
                pauli_observable=SparsePauliOp(label))


def global_pauli_cost(num_qubits: int) -> Cost:
    """``<Z...Z>`` on every qubit."""
    return pauli_cost("Z" * num_qubits, "global_pauli", "global")


def local_pauli_cost(num_qubits: int) -> Cost:
    """``<Z_0 Z_1>`` (McClean's observable), or ``<Z_0>`` on one qubit."""
    label = "I" * (num_qubits - 2) + "ZZ" if num_qubits >= 2 else "Z"
    return pauli_cost(label, "local_pauli", "local")


_COSTS = {
    "global_fidelity": global_fidelity_cost, "local_fidelity": local_fidelity_cost,
    "global_pauli": global_pauli_cost, "local_pauli": local_pauli_cost,
}


def build_cost(name: str, num_qubits: int) -> Cost:
    """A cost by name: ``global_fidelity``, ``local_fidelity``, ``global_pauli``, ``local_pauli``."""
    if name not in _COSTS:
        raise ValueError(f"unknown cost {name!r}; choose from {sorted(_COSTS)}")
    return _COSTS[name](num_qubits)
