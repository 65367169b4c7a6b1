"""Device "mpi" under real launches (``mpiexec -n 2`` and ``-n 4`` on this machine,
oversubscribed): random circuits against the single-process CPU engine (states, expectations,
adjoint gradients to 1e-10, sampling), each run's traffic against the swap schedule's
prediction, and the launches it must refuse. The checks run inside the launch
(``mpi_checks.py``, ``mpi_refusals.py``); these tests start them and read the outcome."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qfab.backends.job import DeviceUnavailable
from qfab.backends.mpi.launch import launch, launch_command, mpiexec_path
from qfab.errors import ConfigurationError

HERE = Path(__file__).parent
LAUNCH_TIMEOUT_S = 300

try:
    MPIEXEC = mpiexec_path()
except DeviceUnavailable as err:  # the `mpi` extra is not installed
    pytest.skip(f"no mpiexec: {err}", allow_module_level=True)


def _run(script: str, ranks: int, *args: str) -> subprocess.CompletedProcess:
    return launch(str(HERE / script), ranks, args, timeout=LAUNCH_TIMEOUT_S, capture=True)


@pytest.mark.parametrize("ranks, seed, circuits", [(2, 11, 3), (4, 12, 3)])
def test_distributed_runs_match_the_cpu_engine_and_the_schedule(ranks, seed, circuits):
    done = _run("mpi_checks.py", ranks, str(seed), str(circuits))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"checked {circuits} circuits on {ranks} ranks" in done.stdout, done.stdout + done.stderr


def test_a_launch_that_is_not_a_power_of_two_is_refused_on_every_rank():
    command = [MPIEXEC, "-n", "3", sys.executable, "-m", "mpi4py", str(HERE / "mpi_refusals.py"), "size"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    for rank in range(3):
        assert f"refused on rank {rank}: ConfigurationError" in done.stdout, done.stdout
    assert "this launch has 3: use mpiexec -n 2 or -n 4" in done.stdout


def test_a_missing_rank_times_out_in_the_handshake_instead_of_hanging():
    done = _run("mpi_refusals.py", 2, "missing")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused on rank 0: DeviceError" in done.stdout, done.stdout + done.stderr
    assert "not every one of the 2 ranks reached device 'mpi' within 1 s" in done.stdout
    assert "refused on rank 1" not in done.stdout


def test_a_launch_smaller_than_the_launcher_started_is_refused():
    done = _run("mpi_refusals.py", 2, "expected")
    assert done.returncode == 0, done.stdout + done.stderr
    for rank in range(2):
        assert f"rank {rank}: the launcher started 4 ranks (QFAB_MPI_RANKS) but 2 joined" in done.stdout, done.stdout


def test_the_launcher_refuses_a_rank_count_that_is_not_a_power_of_two():
    with pytest.raises(ConfigurationError, match="power of two.*got 6"):
        launch_command("script.py", 6)
    command, env = launch_command("script.py", 4)
    assert command[:3] == [MPIEXEC, "-n", "4"] and command[3:6] == [sys.executable, "-m", "mpi4py"]
    assert env["QFAB_MPI_RANKS"] == "4"
