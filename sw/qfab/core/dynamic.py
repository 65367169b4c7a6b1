"""Dynamic circuits: mid-circuit measurement, reset, ``initialize`` and classically controlled
blocks, as unitary segments between the events that are not unitary.

A :class:`DynamicCircuit` is what qfab runs when a Qiskit circuit is more than a unitary with
final measurements: its ``steps`` are :class:`Segment` (a unitary qfab :class:`Circuit`, whose
parameters are ``columns`` of the whole circuit's), :class:`Measure`, :class:`Reset` and
:class:`IfElse` (a condition on clbits and the two bodies' steps). Measurements that nothing
after them depends on (no later operation on their qubit, no later condition on or write to
their clbit) are ``final``: they need no branching, the last state's probabilities give them.
The executor (``qfab.backends.cpu.dynamic``) branches on the outcomes of the others.

Control flow: ``if_test`` / ``if_else`` (:class:`IfElse`), ``switch`` (:class:`Switch`: cases
by value, ``CASE_DEFAULT``), ``while_loop`` (:class:`While`, bounded by :data:`MAX_ITERATIONS`
at run time) on a clbit or a register; ``for_loop`` is unrolled here (its body once per index,
the loop parameter bound).
"""
from __future__ import annotations

from dataclasses import dataclass

from qiskit import QuantumCircuit
from qiskit.circuit import CASE_DEFAULT, ClassicalRegister, Clbit, Gate
from qiskit.circuit.library import StatePreparation

from qfab.core.frontend import UnsupportedInstruction, from_qiskit
from qfab.core.ir import Circuit, Measurement

__all__ = ["DynamicCircuit", "Segment", "Measure", "Reset", "IfElse", "Switch", "While", "is_dynamic",
           "dynamic_from_qiskit", "MAX_ITERATIONS"]

#: The most times a ``while_loop`` body runs on any branch before the run is refused.
MAX_ITERATIONS = 1000

_IGNORED = {"barrier", "delay", "id"}
#: Instructions that make a circuit dynamic by themselves (``initialize`` only on qubits that
#: are no longer |0>: on fresh ones it is its unitary state preparation).
_DYNAMIC = {"reset", "if_else", "while_loop", "for_loop", "switch_case", "box"}


@dataclass(frozen=True)
class Segment:
    circuit: Circuit
    columns: tuple[int, ...]  # the whole circuit's parameter index of each of the segment's


@dataclass(frozen=True)
class Measure:
    qubit: int
    clbit: int


@dataclass(frozen=True)
class Reset:
    qubit: int


@dataclass(frozen=True)
class IfElse:
    clbits: tuple[int, ...]  # the condition's bits, least significant first
    value: int
    true_steps: tuple
    false_steps: tuple


@dataclass(frozen=True)
class Switch:
    clbits: tuple[int, ...]
    cases: tuple  # ((values or None for the default, steps), ...) in the circuit's order


@dataclass(frozen=True)
class While:
    clbits: tuple[int, ...]
    value: int
    body: tuple


@dataclass(frozen=True)
class DynamicCircuit:
    num_qubits: int
    num_clbits: int
    parameters: tuple[str, ...]
    steps: tuple
    final: tuple[Measurement, ...]


def is_dynamic(qc: QuantumCircuit) -> bool:
    """Whether ``qc`` needs the dynamic executor: a reset, ``initialize``, control flow, or an
    operation on a qubit after its measurement."""
    measured, touched = set(), set()
    for instruction in qc.data:
        name = instruction.operation.name
        if name in _DYNAMIC:
            return True
        qubits = [qc.find_bit(q).index for q in instruction.qubits]
        if name == "measure":
            measured.update(qubits)
        elif name not in _IGNORED and measured.intersection(qubits):
            return True
        elif name == "initialize" and touched.intersection(qubits):
            return True
        if name not in _IGNORED:
            touched.update(qubits)
    return False


class _Builder:
    def __init__(self, qc: QuantumCircuit):
        self.qc = qc
        self.index_of = {p.name: i for i, p in enumerate(qc.parameters)}

    def segment(self, pending: QuantumCircuit) -> Segment:
        circuit = from_qiskit(pending)
        return Segment(circuit, tuple(self.index_of[name] for name in circuit.parameters))

    def walk(self, block: QuantumCircuit, qubit_map: dict, clbit_map: dict) -> list:
        """The steps of ``block``, its bits mapped to the whole circuit's indices."""
        steps = []
        pending = QuantumCircuit(self.qc.num_qubits)

        def flush():
            nonlocal pending
            if pending.data:
                steps.append(self.segment(pending))
                pending = QuantumCircuit(self.qc.num_qubits)

        for position, instruction in enumerate(block.data):
            operation, name = instruction.operation, instruction.operation.name
            qubits = [qubit_map[q] for q in instruction.qubits]
            clbits = [clbit_map[c] for c in instruction.clbits]
            where = f"instruction {position} ({name!r})"
            if name in _IGNORED:
                continue
            if name == "measure":
                flush()
                steps.append(Measure(qubits[0], clbits[0]))
            elif name == "reset":
                flush()
                steps.append(Reset(qubits[0]))
            elif name == "initialize":
                flush()
                steps.extend(Reset(q) for q in qubits)
                pending.append(StatePreparation(operation.params), qubits)
            elif name == "if_else":
                flush()
                steps.append(self.if_else(operation, instruction, qubit_map, clbit_map, where))
            elif name == "switch_case":
                flush()
                steps.append(self.switch(operation, instruction, qubit_map, clbit_map, where))
            elif name == "while_loop":
                flush()
                bits, value = self.condition(operation.condition, clbit_map, where)
                (body,) = self.bodies(operation, instruction, qubit_map, clbit_map)
                steps.append(While(bits, value, body))
            elif name == "for_loop":
                flush()
                indexset, parameter, block = operation.params
                for index in indexset:
                    bound = block.assign_parameters({parameter: index}) if parameter is not None else block
                    inner_qubits = dict(zip(bound.qubits, (qubit_map[q] for q in instruction.qubits)))
                    inner_clbits = dict(zip(bound.clbits, (clbit_map[c] for c in instruction.clbits)))
                    steps.extend(self.walk(bound, inner_qubits, inner_clbits))
            elif isinstance(operation, Gate) and not clbits:
                pending.append(operation, qubits)
            else:
                raise UnsupportedInstruction(
                    f"{where}: not supported in dynamic circuits (qfab runs measure, reset, initialize, "
                    "if_test / if_else, switch, while_loop and for_loop on clbits or registers)")
        flush()
        return steps

    def target_bits(self, target, clbit_map, where: str) -> tuple[int, ...]:
        """A condition's or a switch's clbits, least significant first."""
        if isinstance(target, Clbit):
            return (clbit_map[target],)
        if isinstance(target, ClassicalRegister):
            return tuple(self.qc.find_bit(bit).index for bit in target)
        raise UnsupportedInstruction(f"{where}: conditions on classical expressions are not supported; "
                                     "condition on a clbit or a register")

    def condition(self, condition, clbit_map, where: str) -> tuple[tuple[int, ...], int]:
        if not isinstance(condition, tuple):  # a classical expression (qiskit.circuit.classical.expr)
            raise UnsupportedInstruction(f"{where}: conditions on classical expressions are not supported; "
                                         "condition on a clbit or a register")
        target, value = condition
        return self.target_bits(target, clbit_map, where), int(value)

    def bodies(self, operation, instruction, qubit_map, clbit_map) -> list[tuple]:
        """Each block of a control-flow operation as steps on the whole circuit's bits."""
        bodies = []
        for body in operation.blocks:
            inner_qubits = dict(zip(body.qubits, (qubit_map[q] for q in instruction.qubits)))
            inner_clbits = dict(zip(body.clbits, (clbit_map[c] for c in instruction.clbits)))
            bodies.append(tuple(self.walk(body, inner_qubits, inner_clbits)))
        return bodies

    def if_else(self, operation, instruction, qubit_map, clbit_map, where: str) -> IfElse:
        bits, value = self.condition(operation.condition, clbit_map, where)
        bodies = self.bodies(operation, instruction, qubit_map, clbit_map)
        return IfElse(bits, value, bodies[0], bodies[1] if len(bodies) > 1 else ())

    def switch(self, operation, instruction, qubit_map, clbit_map, where: str) -> Switch:
        bits = self.target_bits(operation.target, clbit_map, where)
        bodies = self.bodies(operation, instruction, qubit_map, clbit_map)
        cases = []
        for (values, _), steps in zip(operation.cases_specifier(), bodies):
            default = any(v is CASE_DEFAULT for v in values)
            cases.append((None if default else tuple(int(v) for v in values), steps))
        return Switch(bits, tuple(cases))


def _split_final(steps: list) -> tuple[list, list[Measurement]]:
    """Top-level measurements that nothing after them depends on, taken out of ``steps``."""
    final, kept = [], []
    for position, step in enumerate(steps):
        if isinstance(step, Measure) and not _depends_later(steps[position + 1:], step):
            final.append(Measurement(step.qubit, step.clbit))
        else:
            kept.append(step)
    return kept, final


def _depends_later(later: list, measure: Measure) -> bool:
    for step in later:
        if isinstance(step, Segment) and any(measure.qubit in op.qubits for op in step.circuit.operations):
            return True
        if isinstance(step, (Measure, Reset)) and step.qubit == measure.qubit:
            return True
        if isinstance(step, Measure) and step.clbit == measure.clbit:
            return True
        if isinstance(step, (IfElse, Switch, While)):
            return True  # a condition may read the clbit and its bodies may touch the qubit
    return False


def dynamic_from_qiskit(qc: QuantumCircuit) -> DynamicCircuit:
    """Translate a dynamic Qiskit circuit; parameters keep the order of ``qc.parameters``."""
    builder = _Builder(qc)
    steps = builder.walk(qc, {q: i for i, q in enumerate(qc.qubits)}, {c: i for i, c in enumerate(qc.clbits)})
    steps, final = _split_final(steps)
    return DynamicCircuit(qc.num_qubits, qc.num_clbits, tuple(p.name for p in qc.parameters), tuple(steps),
                          tuple(final))
