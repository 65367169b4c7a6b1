"""What the primitives and the backend share: translating each circuit once, and running jobs."""
from __future__ import annotations

import weakref

from qiskit import QuantumCircuit

from ..devices import Job, JobResult, get_device
from ..frontend import from_qiskit
from ..ir import Circuit

# QuantumCircuit is unhashable (it defines __eq__), so the cache is keyed by id and each entry
# is dropped when its circuit is garbage-collected, before the id can be reused.
_TRANSLATED: dict[int, tuple[int, Circuit]] = {}


def translated(circuit: QuantumCircuit) -> Circuit:
    """``from_qiskit(circuit)``, remembered per circuit object.

    qiskit-machine-learning sends the same circuit object in every call (and in hundreds of
    PUBs per call), so translating it once matters; the instruction count guards against a
    circuit that was appended to after it was first seen.
    """
    key, size = id(circuit), len(circuit.data)
    cached = _TRANSLATED.get(key)
    if cached is None:
        weakref.finalize(circuit, _TRANSLATED.pop, key, None)
    if cached is None or cached[0] != size:
        cached = (size, from_qiskit(circuit))
        _TRANSLATED[key] = cached
    return cached[1]


def run_jobs(device, jobs: list[Job]) -> list[JobResult]:
    """Run jobs on ``device`` (a name such as ``"cpu"``, or a :class:`qfab.devices.Device`)."""
    return get_device(device).run(jobs)


def without_idle_qubits(circuit: QuantumCircuit) -> QuantumCircuit:
    """The circuit on only the qubits its instructions touch, in their order; clbits kept.

    A circuit transpiled against a wide Target spans every physical qubit, though most are
    idle; simulating those would cost 2**width memory for nothing.
    """
    active = sorted({circuit.find_bit(q).index for instruction in circuit.data for q in instruction.qubits
                     if instruction.operation.name != "barrier"})
    if len(active) == circuit.num_qubits:
        return circuit
    position = {old: new for new, old in enumerate(active)}
    compact = QuantumCircuit(max(len(active), 1), circuit.num_clbits, name=circuit.name,
                             global_phase=circuit.global_phase, metadata=circuit.metadata)
    for instruction in circuit.data:
        qubits = [circuit.find_bit(q).index for q in instruction.qubits]
        if instruction.operation.name == "barrier":
            qubits = [q for q in qubits if q in position]
            if not qubits:
                continue
        compact.append(instruction.operation, [position[q] for q in qubits],
                       [circuit.find_bit(c).index for c in instruction.clbits])
    return compact
