"""ADAPT-style ansatz growth (Grimsley et al. 2019, qubit-ADAPT) with a hardware price on each candidate.

Instead of fixing a deep ansatz and hoping its gradients do not vanish, grow it: at every step
append the pool operator ``exp(-i phi P / 2)`` whose gradient at ``phi = 0`` is largest, re-optimise
all angles, and stop when no candidate's gradient reaches ``gradient_tolerance``. All candidates are
scored with one adjoint call: they are appended together at angle zero, where each is the identity,
so the gradient with respect to each one equals its gradient if it were appended alone.

Candidates are ranked by ``|gradient| / (1 + hardware_weight * two_qubit_gates)``, where the two-qubit
gate count is what the operator costs on the target (``2 * (weight - 1)`` CX/CZ for a Pauli string on
neighbouring qubits, plus routing SWAPs off the coupling map), so a cheap operator with almost the
same gradient wins on hardware. With ``fpga`` (an :class:`~qfab.backends.fpga.FPGADevice`, or ``True``
for the default core) that price is also multiplied by the core time the candidate adds on the FPGA,
from the device's cost model (``FPGACostModel.cycles_and_words``: the program the driver assembles,
each fused gate one pass over the state, so a two-qubit string compiled to four passes costs ~4x a
one-qubit rotation), normalised by the cheapest candidate: the score is gradient per unit of FPGA time, in
units of the cheapest candidate's time, so the cheapest candidate's score is its gradient.
With a ``target_device`` (a qfab device such as the FPGA, or its
name) only candidates whose gates the device supports are offered, and the circuit must fit its
qubit limit. Angles that end near zero with a negligible gradient are pruned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp
from scipy.optimize import minimize

from qfab import api
from qfab.core.frontend import from_qiskit
from qfab.core.ir import Circuit

from qfab.qml.ansatz import pauli_rotation

__all__ = ["qubit_adapt_pool", "two_qubit_gate_cost", "fpga_cycles", "supported_candidates", "AdaptResult", "adapt",
           "prune_operators"]


def qubit_adapt_pool(num_qubits: int, coupling_map: Sequence[tuple[int, int]] | None = None) -> list[str]:
    """Real-amplitude qubit-ADAPT pool: Y_i and the odd-Y two-qubit strings on coupled pairs."""
    edges = coupling_map if coupling_map is not None else [(q, q + 1) for q in range(num_qubits - 1)]
    labels = []
    for q in range(num_qubits):
        labels.append(_label({q: "Y"}, num_qubits))
    for a, b in edges:
        for pa, pb in (("X", "Y"), ("Y", "X"), ("Z", "Y"), ("Y", "Z")):
            labels.append(_label({a: pa, b: pb}, num_qubits))
    return labels


def supported_candidates(pool: Sequence[str], target_device) -> list[str]:
    """The pool operators whose compiled gates ``target_device`` supports; refuse a circuit wider than it."""
    from qfab.backends import get_device

    capabilities = get_device(target_device).capabilities
    num_qubits = len(pool[0]) if pool else 0
    if num_qubits > capabilities.max_qubits:
        raise ValueError(f"{num_qubits} qubits exceed the target device's limit of {capabilities.max_qubits}")
    if capabilities.gates is None:
        return list(pool)
    kept = []
    for label in pool:
        qc = QuantumCircuit(len(label))
        pauli_rotation(qc, SparsePauliOp(label), ParameterVector("p", 1)[0])
        if {op.name for op in from_qiskit(qc).operations} <= capabilities.gates:
            kept.append(label)
    return kept


def _label(letters: dict[int, str], num_qubits: int) -> str:
    return "".join(letters.get(q, "I") for q in reversed(range(num_qubits)))


def two_qubit_gate_cost(label: str, coupling_map: Sequence[tuple[int, int]] | None = None) -> int:
    """Two-qubit gates for ``exp(-i phi P/2)``: a CX ladder of 2(w - 1) gates, plus 3 CX per SWAP
    (there and back) for every hop off the coupling map beyond the first."""
    support = [len(label) - 1 - i for i, ch in enumerate(label) if ch != "I"]
    if len(support) < 2:
        return 0
    cost = 2 * (len(support) - 1)
    if coupling_map is not None:
        import networkx as nx

        graph = nx.Graph(list(coupling_map))
        for a, b in zip(support, support[1:]):
            hops = nx.shortest_path_length(graph, a, b)
            cost += 2 * 3 * (hops - 1)
    return cost


def fpga_cycles(pool: Sequence[str], fpga=None) -> np.ndarray:
    """Core cycles each candidate ``exp(-i phi P/2)`` adds to a circuit on the FPGA: the cost
    model's cycles for a circuit of the candidate alone minus those of the empty circuit (which
    cancels the state initialisation and read-out every circuit pays anyway)."""
    from qfab.backends.base import Job
    from qfab.backends.fpga import FPGADevice

    model = (fpga if fpga not in (None, True) else FPGADevice()).cost_model()
    num_qubits = len(pool[0]) if len(pool) else 0

    def cycles(qc: QuantumCircuit) -> int:
        circuit = from_qiskit(qc)
        return model.cycles_and_words(Job(circuit, np.zeros((1, circuit.num_parameters)), want_state=True))[0]

    empty = cycles(QuantumCircuit(num_qubits))
    out = []
    for label in pool:
        qc = QuantumCircuit(num_qubits)
        pauli_rotation(qc, SparsePauliOp(label), ParameterVector("p", 1)[0])
        out.append(cycles(qc) - empty)
    return np.array(out, dtype=float)


@dataclass
class AdaptResult:
    operators: list[str]
    theta: np.ndarray
    energies: list[float]
    history: list[dict] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def circuit(self, num_qubits: int) -> QuantumCircuit:
        return _build(self.operators, num_qubits)[0]


def _build(operators: Sequence[str], num_qubits: int, initial: QuantumCircuit | None = None):
    qc = QuantumCircuit(num_qubits) if initial is None else initial.copy()
    vector = ParameterVector("a", len(operators))
    for label, parameter in zip(operators, vector):
        pauli_rotation(qc, SparsePauliOp(label), parameter)
    return qc, vector


def _columns(circuit: Circuit, vector) -> np.ndarray:
    index = {name: i for i, name in enumerate(circuit.parameters)}
    return np.array([index[p.name] for p in vector], dtype=np.int64)


def adapt(observable: SparsePauliOp, pool: Sequence[str] | None = None, max_operators: int = 20,
          gradient_tolerance: float = 1e-3, hardware_weight: float = 0.0,
          coupling_map: Sequence[tuple[int, int]] | None = None, initial_state: QuantumCircuit | None = None,
          prune_tolerance: float = 1e-4, device="cpu", target_device=None, fpga=None) -> AdaptResult:
    """Minimise ``<observable>`` by growing the circuit one pool operator at a time; ``device`` runs
    the simulations, ``target_device`` (optional) is where the grown circuit must run, ``fpga``
    (optional) prices each candidate by its FPGA core time."""
    n = observable.num_qubits
    pool = list(pool) if pool is not None else qubit_adapt_pool(n, coupling_map)
    if target_device is not None:
        pool = supported_candidates(pool, target_device)
    prices = np.array([two_qubit_gate_cost(p, coupling_map) for p in pool], dtype=float)
    cycles = fpga_cycles(pool, fpga) if fpga is not None and fpga is not False else None
    time_factor = cycles / max(cycles.min(), 1.0) if cycles is not None else np.ones(len(pool))
    operators: list[str] = []
    theta = np.zeros(0)
    energies: list[float] = []
    history: list[dict] = []
    pruned: list[str] = []
    for _ in range(max_operators):
        qc, vector = _build(operators + pool, n, initial_state)
        circuit = from_qiskit(qc)
        columns = _columns(circuit, vector)
        params = np.zeros(circuit.num_parameters)
        params[columns[: len(operators)]] = theta
        gradients = np.abs(api.gradient(circuit, observable, params, device=device)[columns[len(operators):]])
        scores = gradients / ((1 + hardware_weight * prices) * time_factor)
        best = int(np.argmax(scores))
        if gradients[best] < gradient_tolerance:
            break
        operators.append(pool[best])
        theta = np.append(theta, 0.0)
        theta, energy = _optimise(operators, theta, observable, initial_state, device)
        energies.append(energy)
        history.append({"operator": pool[best], "gradient": float(gradients[best]),
                        "two_qubit_gates": int(prices[best]), "energy": energy,
                        **({"fpga_cycles": int(cycles[best])} if cycles is not None else {})})
        operators, theta, dropped = prune_operators(operators, theta, observable, initial_state, prune_tolerance, device)
        pruned += dropped
    return AdaptResult(operators, theta, energies, history, pruned)


def _optimise(operators, theta, observable, initial_state, device):
    qc, vector = _build(operators, observable.num_qubits, initial_state)
    circuit = from_qiskit(qc)
    columns = _columns(circuit, vector)

    def full(t):
        params = np.zeros(circuit.num_parameters)
        params[columns] = t
        return params

    def energy(t):
        return float(api.expectation(circuit, observable, full(t), device=device))

    def jacobian(t):
        return api.gradient(circuit, observable, full(t), device=device)[columns]

    found = minimize(energy, theta, jac=jacobian, method="BFGS", options={"gtol": 1e-8})
    return found.x, float(found.fun)


def prune_operators(operators, theta, observable, initial_state, tolerance, device):
    """Drop operators whose angle stays ~0 with ~0 gradient: they only add gates."""
    if len(operators) < 2:
        return operators, theta, []
    qc, vector = _build(operators, observable.num_qubits, initial_state)
    circuit = from_qiskit(qc)
    columns = _columns(circuit, vector)
    params = np.zeros(circuit.num_parameters)
    params[columns] = theta
    gradient = api.gradient(circuit, observable, params, device=device)[columns]
    wrapped = np.angle(np.exp(1j * theta))  # angles modulo 2 pi
    keep = ~((np.abs(wrapped) < tolerance) & (np.abs(gradient) < tolerance))
    dropped = [op for op, k in zip(operators, keep) if not k]
    return [op for op, k in zip(operators, keep) if k], theta[keep], dropped
