"""The Verilator transport's process handling: a missing `hw` extra is named, and a timeout ends
the simulator cocotb started, not only the Python process above it."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import psutil
import pytest
from qfab_hw import Assembler, CoreParams

from qfab.backends.fpga import FPGADevice, FPGAError, FPGATimeoutError, VerilatorTransport
from qfab.backends.fpga.transports import _kill_tree


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
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                              "p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True); p.wait()"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    grandchild = int(child.stdout.readline())
    assert _alive(grandchild)
    _kill_tree(child)
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
    words = Assembler(SIM_PARAMS.width).init(2).words()  # no END: the core waits for more words
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the program file, and so the simulator's env
    with pytest.raises(FPGATimeoutError, match="did not finish within 30 s"):
        transport.execute(words, beats_expected=4, timeout_s=30)  # the core stays busy
    mine = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("QFAB_PROGRAM", "").startswith(str(tmp_path)) and _alive(process.pid):
                mine.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    assert not mine, f"left running: {[(p.pid, p.name()) for p in mine]}"
