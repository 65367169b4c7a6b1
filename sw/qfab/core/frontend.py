"""Qiskit → qfab IR.

Fixed gates (all parameters bound) keep their exact matrix, whatever their size, so nothing is
approximated. A gate with free parameters stays symbolic when it is one of qfab's rotations with
an angle affine in one parameter; any other parametric standard gate (``u``, ``cu``, ``r``,
``xx_plus_yy``…) is translated by Qiskit's basis translator into rotations, with the global
phase that translation introduces kept.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Gate, ParameterExpression
from qiskit.circuit.library import StatePreparation
from qiskit.quantum_info import Operator

from qfab.core import gates
from qfab.core.ir import Circuit, Measurement, Operation, ParamRef
from qfab.errors import InputTypeError, OpenQASMError, UnsupportedInstructionError

__all__ = ["from_qiskit", "load_qasm", "UnsupportedInstruction", "OpenQASMError"]

_ALIASES = {"u1": "p", "cu1": "cp"}
_IGNORED = {"barrier", "delay", "id"}
_TRANSLATION_BASIS = sorted(gates.ROTATION_KINDS) + ["x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "cx", "cz", "swap"]


class UnsupportedInstruction(UnsupportedInstructionError):
    """An instruction qfab cannot simulate, named with its position in the circuit."""


def _describe(position: int, name: str) -> str:
    return f"instruction {position} ({name!r})"


def _free_parameters(value) -> set:
    return set(value.parameters) if isinstance(value, ParameterExpression) else set()


def _linear_terms(expr, index_of, where: str) -> tuple[float, tuple[tuple[int, float], ...]]:
    """Split ``expr`` into ``constant + sum(coefficient * parameter)``; refuse anything else."""
    if not isinstance(expr, ParameterExpression):
        return float(expr), ()
    terms = []
    for parameter in sorted(expr.parameters, key=lambda p: index_of[p]):
        slope = expr.gradient(parameter)
        if _free_parameters(slope):
            raise UnsupportedInstruction(
                f"{where}: parameter expression {expr} is not affine in {parameter} (d/d{parameter} = {slope})"
            )
        terms.append((index_of[parameter], float(np.real(complex(slope)))))
    constant = complex(expr.bind({p: 0 for p in expr.parameters}))
    if abs(constant.imag) > 1e-12 or any(abs(np.imag(complex(expr.gradient(p)))) > 1e-12 for p in expr.parameters):
        raise UnsupportedInstruction(f"{where}: parameter expression {expr} is complex")
    return constant.real, tuple(terms)


def _fixed_matrix(operation, where: str) -> np.ndarray:
    try:
        return np.asarray(Operator(operation).data, dtype=np.complex128)
    except Exception as err:  # Qiskit raises several types for gates without a matrix
        raise UnsupportedInstruction(f"{where}: gate has no matrix ({err})") from err


class _Translator:
    def __init__(self, qc: QuantumCircuit):
        self.qc = qc
        self.parameters = list(qc.parameters)
        self.index_of = {p: i for i, p in enumerate(self.parameters)}
        self.operations: list[Operation] = []
        self.phase_constant = 0.0
        self.phase_terms: dict[int, float] = {}
        self.measured: dict[int, int] = {}  # qubit -> position of its measurement
        self.measurements: list[Measurement] = []
        self.touched: set[int] = set()  # qubits an operation acted on (initialize needs |0> ones)

    def add_phase(self, expr, where: str) -> None:
        constant, terms = _linear_terms(expr, self.index_of, where)
        self.phase_constant += constant
        for index, coefficient in terms:
            self.phase_terms[index] = self.phase_terms.get(index, 0.0) + coefficient

    def translate(self) -> Circuit:
        self.add_phase(self.qc.global_phase, "global phase")
        for position, instruction in enumerate(self.qc.data):
            qubits = tuple(self.qc.find_bit(q).index for q in instruction.qubits)
            clbits = tuple(self.qc.find_bit(c).index for c in instruction.clbits)
            self.instruction(position, instruction.operation, qubits, clbits)
        return Circuit(
            num_qubits=self.qc.num_qubits,
            operations=tuple(self.operations),
            parameters=tuple(p.name for p in self.parameters),
            global_phase=(self.phase_constant, tuple(sorted(self.phase_terms.items()))),
            measurements=tuple(self.measurements),
            num_clbits=self.qc.num_clbits,
        )

    def instruction(self, position: int, operation, qubits, clbits) -> None:
        name = operation.name
        where = _describe(position, name)
        if name in _IGNORED:
            return
        if name == "measure":
            qubit = qubits[0]
            if qubit in self.measured:
                raise UnsupportedInstruction(f"{where}: qubit {qubit} is measured twice (first at instruction {self.measured[qubit]})")
            self.measured[qubit] = position
            self.measurements.append(Measurement(qubit, clbits[0]))
            return
        if name == "reset":
            raise UnsupportedInstruction(f"{where}: reset is not unitary; qfab simulates unitary circuits with final measurements")
        if name == "initialize" and not self.touched.intersection(qubits):
            # on qubits still in |0>, initialize's resets do nothing: it is its state preparation
            operation = StatePreparation(operation.params)
            name = operation.name
        if not isinstance(operation, Gate) or clbits:
            raise UnsupportedInstruction(
                f"{where}: classical control and other non-gate instructions are not supported"
            )
        for qubit in qubits:
            if qubit in self.measured:
                raise UnsupportedInstruction(
                    f"{where}: mid-circuit measurement: acts on qubit {qubit} after its measurement "
                    f"at instruction {self.measured[qubit]}"
                )
        self.touched.update(qubits)
        self.gate(position, operation, qubits, where)

    def gate(self, position: int, operation, qubits, where: str) -> None:
        free = set().union(*(_free_parameters(p) for p in operation.params)) if operation.params else set()
        name = _ALIASES.get(operation.name, operation.name)
        if not free:
            self.operations.append(Operation(name, qubits, matrix=_fixed_matrix(operation, where), source=position))
            return
        if name in gates.ROTATION_KINDS and len(operation.params) == 1:
            constant, terms = _linear_terms(operation.params[0], self.index_of, where)
            # exp(-i(a+b)/2 G) = exp(-ia/2 G) exp(-ib/2 G): an angle linear in several parameters
            # (as translation of e.g. cu(a, b, ...) produces) becomes one rotation per parameter.
            for number, (index, slope) in enumerate(terms):
                offset = constant if number == 0 else 0.0
                self.operations.append(Operation(name, qubits, param=ParamRef(index, slope, offset), source=position))
            return
        self.decompose(position, operation, qubits, where)

    def decompose(self, position: int, operation, qubits, where: str) -> None:
        single = QuantumCircuit(operation.num_qubits)
        single.append(operation, range(operation.num_qubits))
        try:
            translated = transpile(single, basis_gates=_TRANSLATION_BASIS, optimization_level=0)
        except Exception as err:
            raise UnsupportedInstruction(f"{where}: cannot be expressed in qfab's rotations ({err})") from err
        self.add_phase(translated.global_phase, where)
        for inner in translated.data:
            inner_qubits = tuple(qubits[translated.find_bit(q).index] for q in inner.qubits)
            inner_name = _ALIASES.get(inner.operation.name, inner.operation.name)
            if inner_name in _IGNORED:
                continue
            self.gate(position, inner.operation, inner_qubits, where)


def from_qiskit(qc: QuantumCircuit) -> Circuit:
    """Translate a Qiskit circuit; parameters keep the order of ``qc.parameters``."""
    if not isinstance(qc, QuantumCircuit):
        raise InputTypeError(f"from_qiskit expects a qiskit.QuantumCircuit, got {type(qc).__name__}")
    return _Translator(qc).translate()


# Where Qiskit's parsers put the position: "<input>:5,0: ..." (OpenQASM 2), "4,0: ..." (Qiskit's
# OpenQASM 3 importer), "L4:C0: ..." (the OpenQASM 3 reference lexer).
_POSITION = re.compile(r"^\s*(?:<input>:)?L?(\d+)[,:]C?(\d+):\s*(.*)$", re.S)


def _parse_problem(err: BaseException) -> str:
    """One line saying what is wrong where, from whatever a Qiskit parser raised."""
    text = " ".join(str(err).split())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":  # QiskitError quotes its message
        text = text[1:-1]
    match = _POSITION.match(text)
    if match:
        return f"line {match[1]}, column {match[2]}: {match[3]}"
    # The OpenQASM 3 parser bails out with an empty message; the token it stopped at is in the cause.
    cause = err
    while cause is not None:
        for candidate in (cause, *getattr(cause, "args", ())):
            token = getattr(candidate, "offendingToken", None)
            if token is not None:
                shown = "end of file" if token.text == "<EOF>" else repr(token.text)
                return f"line {token.line}, column {token.column}: syntax error at {shown}"
        cause = cause.__cause__ or cause.__context__
    if isinstance(err, IndexError):
        return f"an index is out of range for its register ({text or 'index out of range'})"
    return text or f"{type(err).__name__} (no details given by the parser)"


def load_qasm(path: str | Path) -> Circuit:
    """Load an OpenQASM 2 or 3 file through Qiskit's own parsers.

    A missing file raises ``FileNotFoundError``; anything else wrong with the file (a directory,
    not text, a syntax error, an unknown gate, a wrong arity, an index out of range, an undefined
    parameter) raises :class:`~qfab.errors.OpenQASMError` naming the file and the position."""
    path = Path(path)
    if path.is_dir():
        raise OpenQASMError(f"{path} is a directory, not an OpenQASM file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise OpenQASMError(f"{path} is not an OpenQASM text file (byte {err.start} is not UTF-8)") from err
    header = text.lstrip().split(";", 1)[0]
    version = 3 if "OPENQASM 3" in header else 2
    try:
        if version == 3:
            from qiskit import qasm3

            qc = qasm3.loads(text)
        else:
            from qiskit import qasm2

            qc = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except Exception as err:  # the parsers raise many types (QASM2Error, QASM3ParsingError, CircuitError, IndexError)
        raise OpenQASMError(f"{path}: not a valid OpenQASM {version} program: {_parse_problem(err)}") from err
    try:
        return from_qiskit(qc)
    except UnsupportedInstruction as err:
        raise UnsupportedInstruction(f"{path}: {err}") from err
    except ValueError as err:  # e.g. a program without qubits
        raise OpenQASMError(f"{path}: {err}") from err
