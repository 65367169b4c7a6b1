"""What the primitives and the backend share: translating each circuit once, and running jobs."""
from __future__ import annotations

import weakref
from collections.abc import Mapping

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterExpression
from qiskit.exceptions import QiskitError
from qiskit.primitives.containers.bindings_array import BindingsArray

from qfab.backends import Job, JobResult, get_device
from qfab.core.dynamic import dynamic_from_qiskit, is_dynamic
from qfab.core.frontend import UnsupportedInstruction, from_qiskit
from qfab.core.inputs import real_values
from qfab.core.ir import Circuit
from qfab.errors import InputError, InputTypeError

class Prepared:
    """A Qiskit circuit as qfab runs it, and how to turn its parameter rows into qfab's.

    qfab differentiates rotations whose angle is affine in one parameter. A gate whose angle is
    any other expression (``zz_feature_map`` writes ``2(π - x0)(π - x1)``) gets a parameter of
    its own, whose value each row computes from the expression; the others keep theirs.
    """

    def __init__(self, circuit: QuantumCircuit, content=None):
        self.content = content if content is not None else fingerprint(circuit)
        self.original = list(circuit.parameters)
        self.expressions: dict[Parameter, ParameterExpression] = {}
        #: A circuit with mid-circuit measurements, resets, ``initialize`` or classical control
        #: runs as a :class:`~qfab.core.dynamic.DynamicCircuit` (samplers only); ``circuit`` is
        #: then None.
        self.dynamic = dynamic_from_qiskit(circuit) if is_dynamic(circuit) else None
        if self.dynamic is not None:
            self.circuit, self.columns, self.derived = None, list(range(len(self.original))), []
            return
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


def _value_key(value):
    """A hashable stand-in for an instruction parameter that compares fast: numbers as they are,
    parameters and expressions by text and parameter identity, arrays (unitary and initialize
    data) by dtype, shape and bytes, a control-flow block by its own fingerprint."""
    if isinstance(value, QuantumCircuit):
        return fingerprint(value)
    if isinstance(value, ParameterExpression):
        # as text with its parameters' identities: comparing expressions themselves is symbolic
        # (milliseconds for a circuit), comparing strings is not
        return ("expr", str(value), tuple(sorted((p.name, p.uuid.int) for p in value.parameters)))
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


def fingerprint(circuit: QuantumCircuit) -> tuple:
    """Everything in ``circuit`` that its translation depends on: per instruction the operation's
    name and parameters, its qubit and clbit indices (and condition, if any), then the width
    and the global phase. Two circuits with equal fingerprints translate alike, so a cached
    translation is valid exactly while the fingerprint is unchanged."""
    qubit = {bit: index for index, bit in enumerate(circuit.qubits)}
    clbit = {bit: index for index, bit in enumerate(circuit.clbits)}
    rows = []
    for instruction in circuit.data:
        operation = instruction.operation
        rows.append((
            operation.name,
            tuple(_value_key(v) for v in operation.params),
            tuple(qubit[q] for q in instruction.qubits),
            tuple(clbit[c] for c in instruction.clbits),
            repr(getattr(operation, "condition", None)),
        ))
    return (circuit.num_qubits, circuit.num_clbits, _value_key(circuit.global_phase), tuple(rows))


# QuantumCircuit is unhashable (it defines __eq__), so the cache is keyed by id and each entry
# is dropped when its circuit is garbage-collected, before the id can be reused.
_PREPARED: dict[int, Prepared] = {}


def prepared(circuit: QuantumCircuit) -> Prepared:
    """:class:`Prepared` for ``circuit``, remembered per circuit object and re-made whenever
    the circuit's content changed since (:func:`fingerprint`: an in-place
    ``assign_parameters``, a replaced or appended instruction, a new global phase).

    qiskit-machine-learning sends the same circuit object in every call (and in hundreds of
    PUBs per call), so translating it once matters; the fingerprint costs a walk over the
    instructions, a small part of a translation.
    """
    key = id(circuit)
    content = fingerprint(circuit)
    cached = _PREPARED.get(key)
    if cached is None:
        weakref.finalize(circuit, _PREPARED.pop, key, None)
    if cached is None or cached.content != content:
        cached = _PREPARED[key] = Prepared(circuit, content)
    return cached


def static_prepared(circuit: QuantumCircuit) -> Prepared:
    """:func:`prepared` for a circuit that must be one unitary with final measurements (the
    estimators' and gradients'), refusing a dynamic one."""
    preparation = prepared(circuit)
    if preparation.dynamic is not None:
        raise UnsupportedInstruction(
            f"circuit {circuit.name!r} has mid-circuit measurements, resets or classical control: its "
            "expectation values and gradients are not those of one state; sample it (SamplerV2, QfabBackend)")
    return preparation


def translated(circuit: QuantumCircuit) -> Circuit:
    """The qfab circuit of a Qiskit circuit whose parameters qfab takes as they are."""
    return static_prepared(circuit).circuit


def coerce_pubs(pubs, coerce, default, primitive: str, values_at: int) -> list:
    """``pubs`` through Qiskit's ``coerce`` (``EstimatorPub.coerce`` or ``SamplerPub.coerce``, with
    the run's ``default`` precision or shots), every problem a qfab error naming the PUB before any
    work: Qiskit's own ``TypeError``/``ValueError`` become :class:`~qfab.errors.InputTypeError` /
    :class:`~qfab.errors.InputError` (still a ``TypeError``/``ValueError``), and what Qiskit lets
    through is refused too: parameter values (element ``values_at`` of a tuple PUB) that are
    complex, boolean or text (Qiskit casts them to float, dropping imaginary parts), NaN or
    infinite."""
    if isinstance(pubs, QuantumCircuit):
        raise InputError(f"{primitive}.run() takes a list of PUBs; wrap a single circuit as [(circuit, ...)]")
    try:
        pubs = list(pubs)
    except TypeError as err:
        raise InputTypeError(f"{primitive}.run() takes a list of PUBs, got {type(pubs).__name__}") from err
    coerced = []
    for index, pub in enumerate(pubs):
        where = f"{primitive} PUB {index}"
        if isinstance(pub, (tuple, list)) and len(pub) > values_at:
            values = pub[values_at]
            if values is not None and not isinstance(values, (BindingsArray, Mapping)):
                real_values(values, f"{where}: parameter values")
        try:
            pub = coerce(pub, default)
        except TypeError as err:
            raise InputTypeError(f"{where}: {err}") from err
        except (ValueError, QiskitError) as err:
            raise InputError(f"{where}: {err}") from err
        values = pub.parameter_values.as_array(pub.circuit.parameters)
        if not np.all(np.isfinite(values)):
            raise InputError(f"{where}: parameter values contain NaN or infinity "
                             f"(at index {tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])})")
        coerced.append(pub)
    return coerced


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
        from qfab.scheduling.fastpath import run_jobs as run_where_planned

        return run_where_planned(jobs)
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
