"""The Verilator transport's process handling: a missing `hw` extra is named, and a timeout ends
the simulator cocotb started, not only the Python process above it."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil
import pytest
from qfab_hw import Assembler, CoreParams

from qfab.backends.fpga import FPGADevice, FPGAError, FPGATimeoutError, VerilatorTransport
from qfab_hw import processes
from qfab_hw.processes import kill_group


def test_without_the_hw_extra_the_verilator_transport_names_the_extra(monkeypatch):
    import qfab_hw.verilator as runner

    monkeypatch.setattr(runner, "TOOLS", {**runner.TOOLS, "qfab_no_such_simulator": "cocotbext-axi"})
    with pytest.raises(FPGAError, match=r"Verilator transport needs cocotbext-axi.*pip install 'qfab\[hw\]'"):
        FPGADevice("verilator", CoreParams(max_qubits=4))
    with pytest.raises(runner.MissingToolsError, match=r"qfab\[hw\]"):
        runner.require_tools()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_killing_the_child_ends_the_grandchildren():
    child = processes.start([sys.executable, "-c", "import subprocess, sys; "
                              "p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True); p.wait()"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    grandchild = int(child.stdout.readline())
    assert _alive(grandchild)
    kill_group(child)
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


@pytest.mark.verilator
@pytest.mark.xdist_group("verilator")
def test_a_simulation_past_its_timeout_leaves_no_simulator_behind(tmp_path, monkeypatch):
    from tests.backends.fpga.test_device import SIM_PARAMS  # the build the other RTL tests use

    transport = VerilatorTransport(SIM_PARAMS)
    transport.build_dir()
    program = Assembler(SIM_PARAMS.width).init(SIM_PARAMS.max_qubits)
    for _ in range(20_000):  # 2.6 M cycles, 46 s here: busy computing, not starved (cocotb's bus models run
        program.x(0)         # a few 10 k cycles a second here, so this needs far more than 10 s)
    words = program.end().words()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the program file, and so the simulator's env
    with pytest.raises(FPGATimeoutError, match="did not finish within 10 s"):
        transport.execute(words, beats_expected=0, timeout_s=10)  # the core stays busy
    mine = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("QFAB_PROGRAM", "").startswith(str(tmp_path)) and _alive(process.pid):
                mine.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    assert not mine, f"left running: {[(p.pid, p.name()) for p in mine]}"


@pytest.mark.verilator
@pytest.mark.xdist_group("verilator")
def test_a_truncated_program_is_reported_at_once_not_after_the_timeout():
    """The core takes in every word and waits for the rest of a payload that never comes: the
    bench sees it asking for words after the whole program went in and stops (it used to wait
    out the whole timeout)."""
    from tests.backends.fpga.test_device import ADJOINT_SIM_PARAMS

    transport = VerilatorTransport(ADJOINT_SIM_PARAMS)
    transport.build_dir()
    words = Assembler(ADJOINT_SIM_PARAMS.width).init(2).unitary(np.eye(2), 0).words()[:-2]  # 2 of 4 payload words
    start = time.monotonic()
    with pytest.raises(FPGAError, match=r"waits for more: a truncated program .* 0 of 2 output beats"):
        transport.execute(words, beats_expected=2, timeout_s=300)
    assert time.monotonic() - start < 60
