"""The command line: simulate against exact probabilities, errors as messages, info, demo."""
import subprocess
import sys

import numpy as np
import pytest

from qfab.cli.main import main

BELL = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'


def test_help_from_the_console_script():
    done = subprocess.run([sys.executable, "-m", "qfab.cli.main", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "simulate" in done.stdout and "demo" in done.stdout


def test_simulate_counts_follow_exact_probabilities(tmp_path, capsys):
    path = tmp_path / "bell.qasm"
    path.write_text(BELL)
    shots = 4000
    assert main(["simulate", str(path), "--shots", str(shots), "--seed", "3"]) == 0
    counts = dict(line.split() for line in capsys.readouterr().out.strip().splitlines())
    assert set(counts) == {"00", "11"}
    assert abs(int(counts["00"]) - shots / 2) < 5 * np.sqrt(shots / 4)


def test_simulate_prints_the_state_without_shots(tmp_path, capsys):
    path = tmp_path / "bell.qasm"
    path.write_text(BELL)
    assert main(["simulate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "|00>  +0.707107+0.000000j  p=0.500000" in out and "|11>" in out


@pytest.mark.parametrize(
    "text, message",
    [
        (BELL.replace("measure q -> c;", "measure q[0] -> c[0];\nx q[0];"), "mid-circuit measurement"),
        (None, "no such file"),
    ],
)
def test_simulate_errors_are_one_line_messages(tmp_path, capsys, text, message):
    path = tmp_path / "bad.qasm"
    if text is not None:
        path.write_text(text)
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_info_lists_devices_and_reasons(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "cpu    up to" in out and "fpga   up to 16 qubits" in out
    assert "gpu" in out


def test_demo_trains_what_recommend_chose(tmp_path, capsys):
    assert main(["demo", "--qubits", "4", "--layers", "1", "--epochs", "15", "--classes", "0,1", "--budget", "10",
                 "--report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    chosen = out.split("recommended: ")[1].split()[0]  # e.g. hea-L2-small_angle-local-angle
    ansatz, layers, initializer, cost, encoding = chosen.split("-")
    trained = out.split("trained the recommended set-up (")[1].split(")")[0]
    assert trained.startswith(f"{ansatz}, {layers[1:]} layer") and f"{initializer} init, {cost} cost, {encoding}" in trained
    accuracy = float(out.split("achieved: test accuracy ")[1].split("%")[0]) / 100
    forecast = float(out.split("forecast before training: ")[1].split("%")[0]) / 100
    assert accuracy >= 0.8 and 0.5 <= forecast <= 1.0
    assert (tmp_path / "demo_training.png").stat().st_size > 1000
    assert "<table" in (tmp_path / "recommend.html").read_text()
    page = (tmp_path / "index.html").read_text()
    assert "predicted makespan" in page and "demo_plan.png" in page and (tmp_path / "demo_plan.png").exists()
    assert "forecast test accuracy" in page and chosen in page

def test_mpi_plan_answers_nodes_and_time_for_a_stated_cluster(capsys):
    """The smallest power-of-two launch whose ranks hold the state in 90 % of a node's memory."""
    from qfab.backends import Job
    from qfab.backends.calibration import benchmark_circuit
    from qfab.backends.mpi.costmodel import state_bytes_per_rank
    from qfab.core.observables import as_pauli_sums

    assert main(["mpi-plan", "--qubits", "34", "--node-memory-gib", "256", "--ranks-per-node", "4"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["34"]]
    assert [r[1] for r in rows] == ["expectation", "adjoint"]
    circuit = benchmark_circuit(34, 2)
    sums, _ = as_pauli_sums(["I" * 33 + "Z"], 34)
    for row, gradient in zip(rows, (None, "adjoint")):
        job = Job(circuit, np.zeros((1, circuit.num_parameters)), tuple(sums), gradient=gradient)
        ranks = int(row[-6])
        g = ranks.bit_length() - 1
        assert ranks == 2**g and state_bytes_per_rank(job, g) <= 0.9 * 256 * 2**30 / 4 < state_bytes_per_rank(job, g - 1)
        assert int(row[-5]) == max(1, ranks // 4) and float(row[-1].rstrip("s")) > 0
