"""Hardware-efficient ansatz that follows a backend's coupling map and native gates.

Instead of routing a generic ansatz onto the hardware (SWAPs, each three two-qubit gates), the
entangling gates are placed only on couplers of a connected set of good qubits, as the native
two-qubit gate in a direction the Target offers, and the single-qubit layer is the native
``rz · sx · rz``. The circuit then maps onto those qubits with no routing at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.transpiler import Target

from qfab.backends.qpu.circuits import ShiftableCircuit, to_qiskit
from qfab.backends.qpu.mapping import MappedCircuit, estimated_success_probability, gate_error, map_circuit

# The hardware-aware toolkit in one place: these ansätze, and the mapping they are made for.
__all__ = ["HardwareAnsatz", "hardware_efficient_ansatz", "good_connected_qubits", "logical_ansatz",
           "MappedCircuit", "map_circuit", "estimated_success_probability", "ShiftableCircuit", "to_qiskit"]

_TWO_QUBIT_NATIVE = ("ecr", "cz", "cx")


@dataclass(frozen=True)
class HardwareAnsatz:
    circuit: QuantumCircuit  # logical circuit; logical qubit i belongs on physical_qubits[i]
    physical_qubits: tuple[int, ...]
    couplers: tuple[tuple[int, int], ...]  # physical (control-side, target-side) pairs used
    two_qubit_gate: str


def _coupler_error(target: Target, gate: str, a: int, b: int) -> tuple[float, tuple[int, int]] | None:
    """Error and direction of the best-calibrated native gate between ``a`` and ``b``."""
    options = [(gate_error(target, gate, pair), pair) for pair in ((a, b), (b, a)) if pair in (target[gate] or {})]
    return min(options) if options else None


def good_connected_qubits(target: Target, num_qubits: int, gate: str) -> tuple[list[int], list[tuple[int, int]]]:
    """A connected set of ``num_qubits`` qubits and a spanning tree of couplers between them,
    grown greedily from each qubit by the cheapest (coupler + readout) error, best set kept.
    Couplers with error 1 (dead) are never used."""
    neighbours: dict[int, list[int]] = {q: [] for q in range(target.num_qubits)}
    for a, b in (target[gate] or {}):
        neighbours[a].append(b)
    readout = [gate_error(target, "measure", (q,)) for q in range(target.num_qubits)]
    best = None
    for start in range(target.num_qubits):
        chosen, tree, cost = [start], [], readout[start]
        while len(chosen) < num_qubits:
            frontier = []
            for a in chosen:
                for b in neighbours[a] + [c for c in range(target.num_qubits) if a in neighbours[c]]:
                    if b in chosen:
                        continue
                    coupler = _coupler_error(target, gate, a, b)
                    if coupler is not None and coupler[0] < 1.0:
                        frontier.append((coupler[0] + readout[b], b, coupler[1]))
            if not frontier:
                break
            step, qubit, pair = min(frontier)
            chosen.append(qubit)
            tree.append(pair)
            cost += step
        if len(chosen) == num_qubits and (best is None or cost < best[0]):
            best = (cost, chosen, tree)
    if best is None:
        raise ValueError(f"the backend has no connected set of {num_qubits} qubits with working {gate} couplers")
    return best[1], best[2]


def hardware_efficient_ansatz(backend, num_qubits: int, layers: int = 2) -> HardwareAnsatz:
    """``layers`` of (``rz · sx · rz`` on every qubit, native 2-qubit gate on every tree coupler),
    then a final rotation layer; ``2 · num_qubits · (layers + 1)`` parameters."""
    target = backend if isinstance(backend, Target) else backend.target
    gate = next((g for g in _TWO_QUBIT_NATIVE if g in target.operation_names), None)
    if gate is None:
        raise ValueError(f"no native two-qubit gate among {_TWO_QUBIT_NATIVE} in {sorted(target.operation_names)}")
    physical, tree = good_connected_qubits(target, num_qubits, gate)
    logical = {p: i for i, p in enumerate(physical)}
    theta = ParameterVector("θ", 2 * num_qubits * (layers + 1))
    circuit = QuantumCircuit(num_qubits, name=f"hea_{gate}_{num_qubits}x{layers}")
    native = get_standard_gate_name_mapping()[gate]
    angles = iter(theta)

    def rotation_layer():
        for q in range(num_qubits):
            circuit.rz(next(angles), q)
            circuit.sx(q)
            circuit.rz(next(angles), q)

    for _ in range(layers):
        rotation_layer()
        for a, b in tree:
            circuit.append(native, [logical[a], logical[b]])
    rotation_layer()
    return HardwareAnsatz(circuit, tuple(physical), tuple(tree), gate)


def logical_ansatz(num_qubits: int, layers: int = 3) -> QuantumCircuit:
    """RY·RZ on every qubit and a CZ chain per layer, written without the hardware in mind: the
    circuit that layout and routing must map, to compare with :func:`hardware_efficient_ansatz`
    (``qfab.qml``'s hardware-efficient ansatz on a linear chain)."""
    from qfab.qml.ansatz import hardware_efficient

    return hardware_efficient(num_qubits, layers).qiskit_circuit

