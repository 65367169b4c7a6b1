"""Hardware-aware mapping: a logical circuit onto a backend's qubits, chosen by calibration data.

qfab's layout is Qiskit's level-3 preset pipeline, whose VF2Layout picks an isomorphic subgraph
by the Target's error rates before routing and whose VF2PostLayout re-picks the qubits after
routing (the mapomatic method), run for a few transpiler seeds, keeping the mapping with the
highest estimated success probability. The trivial layout (virtual qubit i on physical qubit i,
then routing) is the baseline it is compared with.

The estimated success probability (ESP) is Π(1 - error) over every instruction of the mapped
circuit and the readout of every measured qubit, with the errors the Target reports. An error
of 1 (a dead coupler in some calibration snapshots) makes the ESP 0, as it should.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import InstructionProperties, Target
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

__all__ = ["MappedCircuit", "map_circuit", "estimated_success_probability", "gate_error", "calibration_snapshot",
           "scale_errors", "LAYOUTS"]

LAYOUTS = ("noise_aware", "trivial")


def gate_error(target: Target, name: str, qubits: tuple[int, ...]) -> float:
    """The Target's reported error of ``name`` on ``qubits``, clipped to [0, 1]; 0 where it reports none."""
    if name not in target.operation_names:
        return 0.0
    properties = target[name].get(qubits) if target[name] is not None else None
    if properties is None or properties.error is None:
        return 0.0
    return float(min(max(properties.error, 0.0), 1.0))


def calibration_snapshot(target: Target) -> dict[tuple[str, tuple[int, ...]], tuple[float | None, float | None]]:
    """The Target's calibration as plain data: ``(error, duration)`` of every instruction on every
    qubit tuple. Two snapshots compare equal exactly when no reported error or duration changed,
    which is how a device notices a new calibration between jobs without trusting any timestamp."""
    snapshot = {}
    for name in target.operation_names:
        for qubits, properties in (target[name] or {}).items():
            if properties is not None and qubits is not None:
                snapshot[(name, tuple(qubits))] = (properties.error, properties.duration)
    return snapshot


def scale_errors(target: Target, qubits, factor: float, ceiling: float = 0.5) -> None:
    """Multiply, in place, the reported error of every instruction touching ``qubits`` by ``factor``
    (at most ``ceiling``; durations kept): a calibration that drifted on those qubits, for tests and
    demos of a device's drift handling on a fake backend."""
    qubits = set(qubits)
    for name in target.operation_names:
        for qargs, properties in list((target[name] or {}).items()):
            if qargs is None or properties is None or properties.error is None or not set(qargs) & qubits:
                continue
            target.update_instruction_properties(name, qargs, InstructionProperties(
                duration=properties.duration, error=min(properties.error * factor, ceiling)))


def estimated_success_probability(mapped: QuantumCircuit, target: Target, measured: list[int] | None = None) -> float:
    """Π(1 - error) over the mapped circuit's gates and measurements, plus the readout of
    ``measured`` physical qubits when the circuit has no measurements of its own (an estimator
    measures them all the same)."""
    log_success = 0.0
    has_measure = False
    for instruction in mapped.data:
        name = instruction.operation.name
        if name in ("barrier", "delay"):
            continue
        has_measure |= name == "measure"
        qubits = tuple(mapped.find_bit(q).index for q in instruction.qubits)
        error = gate_error(target, name, qubits)
        if error >= 1.0:
            return 0.0
        log_success += np.log1p(-error)
    if not has_measure:
        for qubit in measured or []:
            error = gate_error(target, "measure", (qubit,))
            if error >= 1.0:
                return 0.0
            log_success += np.log1p(-error)
    return float(np.exp(log_success))


@dataclass(frozen=True)
class MappedCircuit:
    """A logical circuit mapped onto hardware, with what the mapping costs."""

    logical: QuantumCircuit
    mapped: QuantumCircuit  # ISA circuit over all the backend's qubits
    layout: tuple[int, ...]  # physical qubit of each logical qubit at the start
    final_layout: tuple[int, ...]  # ... and at the end, after routing's swaps
    estimated_success: float
    two_qubit_gates: int
    depth: int
    method: str

    def observable(self, observable: SparsePauliOp) -> SparsePauliOp:
        """A logical observable on the physical qubits where the logical ones end up."""
        return observable.apply_layout(self.mapped.layout)

    def rescored(self, target: Target) -> MappedCircuit:
        """The same mapping with its estimated success probability on ``target``'s calibration now."""
        return replace(self, estimated_success=estimated_success_probability(self.mapped, target,
                                                                             list(self.final_layout)))

    def summary(self) -> dict:
        return {"method": self.method, "layout": list(self.layout), "estimated_success": self.estimated_success,
                "two_qubit_gates": self.two_qubit_gates, "depth": self.depth}


def _mapped(logical: QuantumCircuit, mapped: QuantumCircuit, target: Target, method: str) -> MappedCircuit:
    layout = mapped.layout
    initial = tuple(layout.initial_index_layout(filter_ancillas=True)) if layout else tuple(range(logical.num_qubits))
    final = tuple(layout.final_index_layout(filter_ancillas=True)) if layout else initial
    two_qubit = sum(1 for instruction in mapped.data
                    if instruction.operation.num_qubits == 2 and instruction.operation.name != "barrier")
    return MappedCircuit(
        logical=logical, mapped=mapped, layout=initial, final_layout=final,
        estimated_success=estimated_success_probability(mapped, target, list(final)),
        two_qubit_gates=two_qubit, depth=mapped.depth(lambda i: i.operation.name not in ("barrier",)),
        method=method,
    )


def map_circuit(circuit: QuantumCircuit, backend, layout: str = "noise_aware", seeds: int = 3,
                initial_layout: list[int] | None = None) -> MappedCircuit:
    """Map ``circuit`` onto ``backend`` (a BackendV2 or its Target).

    Args:
        layout: ``"noise_aware"`` (VF2Layout + VF2PostLayout at optimization level 3, best ESP
            over ``seeds`` transpiler seeds) or ``"trivial"`` (logical qubit i on physical i).
        initial_layout: physical qubits chosen by the caller (e.g. by
            :func:`qfab.qml.hardware.hardware_efficient_ansatz`); overrides ``layout``.
    """
    target = backend if isinstance(backend, Target) else backend.target
    if circuit.num_qubits > target.num_qubits:
        raise ValueError(f"the circuit has {circuit.num_qubits} qubits; the backend {target.num_qubits}")
    if initial_layout is not None:
        manager = generate_preset_pass_manager(optimization_level=1, target=target, initial_layout=initial_layout,
                                               seed_transpiler=0)
        return _mapped(circuit, manager.run(circuit), target, "given")
    if layout == "trivial":
        # A given initial layout also keeps VF2PostLayout from moving the qubits afterwards.
        manager = generate_preset_pass_manager(optimization_level=1, target=target,
                                               initial_layout=list(range(circuit.num_qubits)), seed_transpiler=0)
        return _mapped(circuit, manager.run(circuit), target, "trivial")
    if layout != "noise_aware":
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    candidates = []
    for seed in range(seeds):
        manager = generate_preset_pass_manager(optimization_level=3, target=target, seed_transpiler=seed)
        candidates.append(_mapped(circuit, manager.run(circuit), target, "noise_aware"))
    return max(candidates, key=lambda m: (m.estimated_success, -m.two_qubit_gates))
