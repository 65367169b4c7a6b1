"""Child processes run in their own process group and are ended with it on a timeout or an
interrupt, so no grandchild (a simulator, a tool) outlives its caller (issue 18)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest
from qfab_hw import processes

#: A child that starts `sleep 300` (its grandchild), writes the grandchild's pid, and waits on it.
SPAWNER = ("import subprocess, sys; p = subprocess.Popen(['sleep', '300']); "
           "open(sys.argv[1], 'w').write(str(p.pid)); p.wait()")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _grandchild(pid_file, timeout=10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text():
            return int(pid_file.read_text())
        time.sleep(0.02)
    raise AssertionError("the fake child never started its grandchild")


def _gone(pid: int, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_a_child_starts_in_its_own_process_group(tmp_path):
    child = processes.start([sys.executable, "-c", SPAWNER, str(tmp_path / "pid")])
    try:
        grandchild = _grandchild(tmp_path / "pid")
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
        assert os.getpgid(grandchild) == child.pid
    finally:
        processes.kill_group(child)
    assert _gone(grandchild)


def test_a_timed_out_child_s_grandchild_is_gone(tmp_path):
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        processes.run([sys.executable, "-c", SPAWNER, str(pid_file)], timeout=2)
    assert time.monotonic() - started < 30
    assert _gone(_grandchild(pid_file))


def test_an_interrupt_ends_the_child_s_group(tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    communicate = subprocess.Popen.communicate
    calls = []

    def interrupted(self, *args, **kwargs):  # the first wait is "interrupted by Ctrl-C"
        if not calls:
            calls.append(1)
            _grandchild(pid_file)
            raise KeyboardInterrupt
        return communicate(self, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "communicate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        processes.run([sys.executable, "-c", SPAWNER, str(pid_file)])
    assert _gone(_grandchild(pid_file))


def test_what_a_finished_child_left_running_is_ended(tmp_path):
    pid_file = tmp_path / "pid"
    daemon = ("import subprocess, sys; p = subprocess.Popen(['sleep', '300']); "
              "open(sys.argv[1], 'w').write(str(p.pid))")  # exits at once, its sleep left behind
    assert processes.run([sys.executable, "-c", daemon, str(pid_file)], timeout=30).returncode == 0
    assert _gone(_grandchild(pid_file))


def test_the_verilator_transport_s_timeout_leaves_no_grandchild(tmp_path, monkeypatch):
    """The transport's own path (no Verilator needed): its child is replaced by the fake spawner."""
    from qfab.backends.fpga import FPGATimeoutError, VerilatorTransport

    pid_file = tmp_path / "pid"
    start = processes.start
    monkeypatch.setattr(processes, "start",
                        lambda command, **options: start([sys.executable, "-c", SPAWNER, str(pid_file)], **options))
    transport = object.__new__(VerilatorTransport)
    transport._build_dir = tmp_path
    with pytest.raises(FPGATimeoutError, match="did not finish within 2 s"):
        transport.execute([0], 0, timeout_s=2)
    assert _gone(_grandchild(pid_file))
