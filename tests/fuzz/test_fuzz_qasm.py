"""Fuzzing the OpenQASM frontend (``qfab.load_qasm``, the command line's loader): random token
streams and mutated valid programs. The property: a circuit that is correct (its state is
Qiskit's for the same text) or an :class:`~qfab.errors.OpenQASMError` / other
:class:`~qfab.errors.InputError` naming the file, never another exception."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, strategies as st

import qfab
from qfab.errors import InputError
from tests.fuzz.fuzzing import fuzz_settings

VALID = [
    """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
h q[0];
cx q[0],q[1];
rz(pi/4) q[2];
u3(0.1,0.2,0.3) q[1];
ccx q[0],q[1],q[2];
barrier q;
measure q -> c;
""",
    """OPENQASM 2.0;
include "qelib1.inc";
gate pair(theta) a, b { ry(theta) a; cz a, b; }
qreg q[2];
x q[1];
pair(pi/3) q[0], q[1];
sdg q[0];
""",
    """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
rx(0.5) q[1];
c = measure q;
""",
]

TOKENS = ["OPENQASM", "2.0", "3.0", ";", "include", '"qelib1.inc"', '"stdgates.inc"', "qreg", "creg", "qubit",
          "bit", "q", "c", "[", "]", "0", "1", "2", "7", "-1", "h", "x", "cx", "rz", "u3", "ccx", "measure", "->",
          "=", "(", ")", ",", "pi", "/", "*", "gate", "{", "}", "theta", "reset", "if", "==", "barrier", "input",
          "float", "angle", "\n", " ", "1e400", "nan", "ü"]

EXPECTED = (InputError,)  # OpenQASMError and UnsupportedInstructionError are InputErrors


def _load(text: str):
    with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
        path = Path(folder) / "program.qasm"
        path.write_text(text, encoding="utf-8")
        try:
            circuit = qfab.load_qasm(path)
        except EXPECTED as err:
            assert str(path) in str(err) and str(err).strip(), err
            return None
        return circuit


def _check_correct(text: str, circuit) -> None:
    """A program that loads is Qiskit's program: same qubits, and (without parameters or
    measurements, at most 6 qubits) the same state."""
    from qiskit import qasm2, qasm3
    from qiskit.quantum_info import Statevector

    version3 = "OPENQASM 3" in text.lstrip().split(";", 1)[0]
    qc = qasm3.loads(text) if version3 else qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    assert circuit.num_qubits == qc.num_qubits
    if circuit.num_parameters == 0 and not circuit.measurements and qc.num_qubits <= 6:
        ours = qfab.statevector(circuit, np.zeros(0))
        np.testing.assert_allclose(ours, Statevector(qc).data, atol=1e-9)


def _mutate(text: str, data) -> str:
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        kind = data.draw(st.sampled_from(["delete", "insert", "replace_digit", "duplicate_line", "drop_line",
                                          "swap_lines"]), label="kind")
        lines = text.split("\n")
        if kind == "delete" and text:
            at = data.draw(st.integers(0, len(text) - 1), label="at")
            span = data.draw(st.integers(1, 6), label="span")
            text = text[:at] + text[at + span:]
        elif kind == "insert":
            at = data.draw(st.integers(0, len(text)), label="at")
            text = text[:at] + data.draw(st.sampled_from(TOKENS), label="token") + text[at:]
        elif kind == "replace_digit":
            digits = [i for i, ch in enumerate(text) if ch.isdigit()]
            if digits:
                at = data.draw(st.sampled_from(digits), label="digit")
                text = text[:at] + data.draw(st.sampled_from("0123459"), label="new") + text[at + 1:]
        elif kind == "duplicate_line":
            at = data.draw(st.integers(0, len(lines) - 1), label="line")
            text = "\n".join(lines[:at + 1] + [lines[at]] + lines[at + 1:])
        elif kind == "drop_line":
            at = data.draw(st.integers(0, len(lines) - 1), label="line")
            text = "\n".join(lines[:at] + lines[at + 1:])
        elif kind == "swap_lines" and len(lines) > 1:
            a, b = data.draw(st.integers(0, len(lines) - 1)), data.draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
    return text


FUZZ = fuzz_settings(60)


@FUZZ
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=40), header=st.sampled_from(["", "OPENQASM 2.0;\n",
                                                                                       "OPENQASM 3.0;\n"]))
def test_random_token_streams_load_or_fail_with_a_qfab_error(tokens, header):
    text = header + " ".join(tokens)
    circuit = _load(text)
    if circuit is not None:
        _check_correct(text, circuit)


@FUZZ
@given(base=st.sampled_from(VALID), data=st.data())
def test_mutated_valid_programs_load_correctly_or_fail_with_a_qfab_error(base, data):
    text = _mutate(base, data)
    circuit = _load(text)
    if circuit is not None:
        _check_correct(text, circuit)


def test_the_valid_programs_load_and_are_correct():
    for text in VALID:
        circuit = _load(text)
        assert circuit is not None, text
        _check_correct(text, circuit)


@fuzz_settings(30)
@given(blob=st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_with_a_qfab_error(blob):
    with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
        path = Path(folder) / "program.qasm"
        path.write_bytes(blob)
        try:
            qfab.load_qasm(path)
        except EXPECTED:
            pass
