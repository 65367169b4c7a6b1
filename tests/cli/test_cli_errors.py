"""Every malformed input to the command line ends with one line on stderr naming the problem and exit
code 2 (as ``qfab --help`` promises), never a traceback; ``qfab --debug`` shows the traceback."""
import subprocess
import sys

import pytest

from qfab.cli.main import main

QASM2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n'
QASM3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\n'

# name -> (program, words the one line must contain)
MALFORMED = {
    "qasm2 syntax error": (QASM2 + "h q[0]\ncx q[0],q[1];\n", ["OpenQASM 2", "line 5", "';'"]),
    "qasm2 unknown gate": (QASM2 + "foo q[0];\n", ["line 4", "'foo' is not defined"]),
    "qasm2 wrong arity": (QASM2 + "cx q[0];\n", ["'cx' takes 2 quantum arguments"]),
    "qasm2 missing angle": (QASM2 + "rx q[0];\n", ["RXGate", "missing 1 required positional argument: 'theta'"]),
    "qasm2 index out of range": (QASM2 + "h q[5];\n", ["index 5 is out-of-range"]),
    "qasm2 unbound parameter": (QASM2 + "rx(theta) q[0];\n", ["'theta' is not a parameter"]),
    "qasm2 duplicate qubits": (QASM2 + "cx q[0],q[0];\n", ["duplicate qubits"]),
    "qasm2 no qubits": ('OPENQASM 2.0;\ninclude "qelib1.inc";\n', ["at least one qubit"]),
    "qasm version 4": ("OPENQASM 4.0;\nqubit q;\n", ["can only handle OpenQASM 2.0"]),
    "qasm3 syntax error": (QASM3 + "h q[0]\n", ["OpenQASM 3", "syntax error", "line 5"]),
    "qasm3 unknown gate": (QASM3 + "foo q[0];\n", ["line 4", "gate 'foo' is not defined"]),
    "qasm3 wrong arity": (QASM3 + "cx q[0];\n", ["OpenQASM 3", "arguments does not match"]),
    "qasm3 index out of range": (QASM3 + "h q[5];\n", ["out of range"]),
    "qasm3 unbound parameter": (QASM3 + "rx(theta) q[0];\n", ["Undefined symbol 'theta'"]),
    "qasm3 reset": (QASM3 + "reset q[0];\n", ["instruction 0", "reset is not unitary"]),
    "binary garbage": (b"\x00\x01\xff\xfe garbage", ["not an OpenQASM text file"]),
}


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_openqasm_is_one_line_and_exit_code_2(tmp_path, capsys, name):
    program, words = MALFORMED[name]
    path = tmp_path / "bad.qasm"
    path.write_bytes(program if isinstance(program, bytes) else program.encode())
    assert main(["simulate", str(path)]) == 2
    line = _one_line(capsys)
    assert line.startswith("qfab simulate: ") and str(path) in line
    for word in words:
        assert word in line, line


def test_a_directory_or_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["simulate", str(tmp_path)]) == 2
    assert "is a directory" in _one_line(capsys)
    assert main(["simulate", str(tmp_path / "absent.qasm")]) == 2
    assert "no such file" in _one_line(capsys)


@pytest.mark.parametrize("params, words", [
    (None, ["1 free parameters ['theta']", "--params"]),
    ("1,x", ["--params '1,x'", "numbers separated by commas"]),
    ("nan", ["NaN or infinity", "'theta'"]),
    ("1,2", ["1 free parameters"]),
])
def test_unbound_or_bad_parameter_values_are_one_line(tmp_path, capsys, params, words):
    path = tmp_path / "param.qasm"
    path.write_text(QASM3 + "input float theta;\nrx(theta) q[0];\n")
    assert main(["simulate", str(path)] + (["--params", params] if params else [])) == 2
    line = _one_line(capsys)
    for word in words:
        assert word in line, line


def test_delegated_command_errors_are_one_line(tmp_path, capsys):
    assert main(["codesign", str(tmp_path / "absent.toml"), "--no-calibrate"]) == 2
    line = _one_line(capsys)
    assert line.startswith("qfab codesign: ") and "absent.toml" in line


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "bad.qasm"
    path.write_text(QASM2 + "foo q[0];\n")
    script = "import sys; from qfab.cli import main; sys.exit(main())"
    quiet = subprocess.run([sys.executable, "-c", script, "simulate", str(path)], capture_output=True, text=True)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    assert [line for line in quiet.stderr.splitlines() if line.startswith("qfab simulate: ")] == quiet.stderr.strip().splitlines()
    loud = subprocess.run([sys.executable, "-c", script, "--debug", "simulate", str(path)], capture_output=True, text=True)
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "OpenQASMError" in loud.stderr
    assert "--debug" in subprocess.run([sys.executable, "-c", script, "--help"], capture_output=True, text=True).stdout
