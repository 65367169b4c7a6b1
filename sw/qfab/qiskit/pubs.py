"""What the primitives and the backend share: translating each circuit once, and running jobs."""
from __future__ import annotations

import weakref

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterExpression

from qfab.backends import Job, JobResult, get_device
from qfab.core.frontend import UnsupportedInstruction, from_qiskit
from qfab.core.ir import Circuit

class Prepared:
    """A Qiskit circuit as qfab runs it, and how to turn its parameter rows into qfab's.

    qfab differentiates rotations whose angle is affine in one parameter. A gate whose angle is
    any other expression (``zz_feature_map`` writes ``2(π - x0)(π - x1)``) gets a parameter of
    its own, whose value each row computes from the expression; the others keep theirs.
    """

    def __init__(self, circuit: QuantumCircuit):
        self.size = len(circuit.data)
        self.original = list(circuit.parameters)
        self.expressions: dict[Parameter, ParameterExpression] = {}
        try:
            self.circuit = from_qiskit(circuit)
            rewritten = circuit
        except UnsupportedInstruction:
            rewritten = self._own_parameters_for_nonaffine(circuit)
            self.circuit = from_qiskit(rewritten)
        position = {p: i for i, p in enumerate(self.original)}
        self.columns = [position.get(p, -1) for p in rewritten.parameters]
        self.derived = [(i, self.expressions[p]) for i, p in enumerate(rewritten.parameters) if p not in position]

    def _own_parameters_for_nonaffine(self, circuit: QuantumCircuit) -> QuantumCircuit:
        rewritten = circuit.copy_empty_like()
        for instruction in circuit.data:
            params = []
            for value in instruction.operation.params:
                if isinstance(value, ParameterExpression) and value.parameters and not _affine(value):
                    fresh = Parameter(f"_qfab_angle_{len(self.expressions)}")
                    self.expressions[fresh] = value
                    value = fresh
                params.append(value)
            operation = instruction.operation
            if params != list(operation.params):
                operation = operation.copy()
                operation.params = params
            rewritten.append(operation, instruction.qubits, instruction.clbits)
        return rewritten

    def rows(self, values: np.ndarray) -> np.ndarray:
        """``(B, P)`` values of the user's parameters -> ``(B, P')`` values of qfab's."""
        values = np.asarray(values, dtype=np.float64)
        if not self.derived:
            return np.ascontiguousarray(values)
        out = np.empty((len(values), len(self.columns)))
        for target, source in enumerate(self.columns):
            if source >= 0:
                out[:, target] = values[:, source]
        for target, expression in self.derived:
            used = list(expression.parameters)
            where = [self.original.index(p) for p in used]
            for row, row_values in enumerate(values):
                out[row, target] = float(expression.bind(dict(zip(used, row_values[where]))))
        return out


def _affine(expression: ParameterExpression) -> bool:
    return all(not getattr(expression.gradient(p), "parameters", set()) for p in expression.parameters)


# QuantumCircuit is unhashable (it defines __eq__), so the cache is keyed by id and each entry
# is dropped when its circuit is garbage-collected, before the id can be reused.
_PREPARED: dict[int, Prepared] = {}


def prepared(circuit: QuantumCircuit) -> Prepared:
    """:class:`Prepared` for ``circuit``, remembered per circuit object.

    qiskit-machine-learning sends the same circuit object in every call (and in hundreds of
    PUBs per call), so translating it once matters; the instruction count guards against a
    circuit that was appended to after it was first seen.
    """
    key = id(circuit)
    cached = _PREPARED.get(key)
    if cached is None:
        weakref.finalize(circuit, _PREPARED.pop, key, None)
    if cached is None or cached.size != len(circuit.data):
        cached = _PREPARED[key] = Prepared(circuit)
    return cached


def translated(circuit: QuantumCircuit) -> Circuit:
    """The qfab circuit of a Qiskit circuit whose parameters qfab takes as they are."""
    return prepared(circuit).circuit


def pub_rows(pub) -> np.ndarray:
    """A PUB's parameter values as ``(rows, P)`` in ``circuit.parameters`` order (one row for
    a PUB without parameter values)."""
    count = int(np.prod(pub.parameter_values.shape, dtype=np.int64))
    values = pub.parameter_values.as_array(pub.circuit.parameters)
    return values.reshape(count, pub.circuit.num_parameters)


def run_jobs(device, jobs: list[Job]) -> list[JobResult]:
    """Run jobs on ``device``: ``"auto"`` lets qfab's planner place (and split) them over every
    available device; a name such as ``"cpu"`` or a :class:`qfab.backends.Device` runs them there."""
    if isinstance(device, str) and device == "auto":
        from qfab.scheduling import Workload, plan, run

        return list(run(plan(Workload.from_jobs(jobs)), progress=False))
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
