"""Start a script on ``ranks`` MPI ranks of this machine with the environment's own ``mpiexec``.

The PyPI ``mpich`` wheel puts ``mpiexec`` beside this interpreter (``<venv>/bin``), not on PATH
unless the environment is active, and a launcher of another MPI aborts the ranks at start-up;
so the launcher is looked up next to ``sys.executable`` first. The script runs under
``python -m mpi4py``, which aborts every rank when one raises (instead of leaving the others in
a collective), with ``QFAB_MPI_RANKS`` set (a smaller launch is refused) and numba's threads
shared out among the ranks.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from qfab.backends.mpi.device import EXPECTED_RANKS_VARIABLE
from qfab.backends.job import DeviceUnavailable
from qfab.errors import ConfigurationError

__all__ = ["mpiexec_path", "launch_command", "launch"]


def mpiexec_path() -> str:
    """The ``mpiexec`` of this environment (beside the interpreter), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec")
    if found is None:
        raise DeviceUnavailable(f"no mpiexec beside {sys.executable} or on PATH: pip install 'qfab[mpi]' "
                                f"(mpi4py and the mpich wheel)")
    return found


def launch_command(script: str, ranks: int, args: tuple[str, ...] = ()) -> tuple[list[str], dict]:
    """The command line and environment :func:`launch` runs."""
    if ranks < 1 or ranks & (ranks - 1):
        raise ConfigurationError(f"ranks must be a power of two (1, 2, 4, ...), got {ranks}")
    env = dict(os.environ)
    env[EXPECTED_RANKS_VARIABLE] = str(ranks)
    env.setdefault("NUMBA_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // ranks)))
    return [mpiexec_path(), "-n", str(ranks), sys.executable, "-m", "mpi4py", str(script), *args], env


def launch(script: str, ranks: int, args: tuple[str, ...] = (), timeout: float | None = None,
           capture: bool = False) -> subprocess.CompletedProcess:
    """Run ``script`` on ``ranks`` ranks and wait; the completed process (its output too with
    ``capture``)."""
    command, env = launch_command(script, ranks, args)
    return subprocess.run(command, env=env, timeout=timeout, capture_output=capture, text=True)
