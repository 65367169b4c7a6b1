"""Child processes that never outlive their caller: each starts in its own process group (a new
session), and a timeout, an interrupt or any other error ends the whole group with SIGKILL, the
simulator or tool the child started included.

The Verilator transport (its cocotb child and the simulator that starts), yosys and Vivado run
through :func:`start` / :func:`run`; :func:`kill_group` is what ends them. A child in its own
session no longer gets the terminal's Ctrl-C, so the caller's ``KeyboardInterrupt`` ends it here.
"""
from __future__ import annotations

import os
import signal
import subprocess

__all__ = ["start", "run", "kill_group"]


def start(command, **options) -> subprocess.Popen:
    """``subprocess.Popen(command, **options)`` in a new session (its own process group)."""
    return subprocess.Popen(command, start_new_session=True, **options)


def kill_group(child: subprocess.Popen) -> None:
    """SIGKILL ``child``, its process group and any descendant that left the group, then reap it."""
    family = []
    try:
        import psutil

        family = psutil.Process(child.pid).children(recursive=True)
    except Exception:  # psutil absent, or the child is gone already: the group kill below suffices
        pass
    if hasattr(os, "killpg"):
        try:
            os.killpg(child.pid, signal.SIGKILL)  # start() made the child its group's leader
        except (ProcessLookupError, PermissionError):
            pass
    try:
        child.kill()
    except ProcessLookupError:
        pass
    for process in family:
        try:
            process.kill()
        except Exception:
            pass
    child.communicate()


def run(command, timeout: float | None = None, check: bool = False, **options) -> subprocess.CompletedProcess:
    """Like ``subprocess.run``, with the child in its own process group: on a timeout
    (``subprocess.TimeoutExpired``), an interrupt or any other exception the group is killed
    before the exception goes on; what the child left running when it exits is ended too."""
    child = start(command, **options)
    try:
        output, errors = child.communicate(timeout=timeout)
    except BaseException:
        kill_group(child)
        raise
    _end_stragglers(child)
    if check and child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command, output, errors)
    return subprocess.CompletedProcess(command, child.returncode, output, errors)


def _end_stragglers(child: subprocess.Popen) -> None:
    """SIGKILL whatever is left in a finished child's process group (daemons it started)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
