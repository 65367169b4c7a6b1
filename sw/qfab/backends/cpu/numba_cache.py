"""Point numba's on-disk cache at a folder keyed by the engine's source, and serialise
compilation between processes.

numba invalidates a cached function when *its own* file changes, not when a kernel it inlined
from another file does; a stale entry then runs old machine code against new arguments (a
crash, not an error). Keying the cache folder by a hash of every engine source file makes any
edit start a fresh cache. A user's own ``NUMBA_CACHE_DIR`` is respected.

numba's cache is not safe for processes that compile *different* specialisations of a function
at the same time (test workers, benchmark workers): data files are numbered by their position
in an index that each process rewrites, so one process can load another's machine code for the
wrong signature. :func:`compile_lock` lets one process at a time compile (or load) every
specialisation qfab uses, in :func:`qfab.backends.cpu.warmup.warm_up`, before any other work.
Once one process has done so, the folder holds them all (:func:`mark_complete`): later processes
only read it, each loading what its calls need when they need it, so a new process's first
small call loads a few kernels, not every one (:func:`is_complete`).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

import numba
import platformdirs


# The files whose numba functions are cached (and whatever they inline from each other).
CACHED_SOURCES = ("blocking.py", "fusion.py", "kernels.py", "program.py", "simulator.py", "warmup.py")


def _source_digest() -> str:
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(Path(__file__).parent / name for name in CACHED_SOURCES):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


_DIGEST = _source_digest()
if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(Path(platformdirs.user_cache_dir("qfab")) / "numba" / _DIGEST)


def _folder() -> Path:
    return Path(numba.config.CACHE_DIR or platformdirs.user_cache_dir("qfab"))


def _complete_stamp() -> Path:
    # named by the sources' digest too: a user's own NUMBA_CACHE_DIR outlives an edit
    return _folder() / f".qfab-complete-{_DIGEST}"


def is_complete() -> bool:
    """Whether a process has compiled every specialisation into the cache folder."""
    return _complete_stamp().exists()


def mark_complete() -> None:
    _complete_stamp().touch()


@contextlib.contextmanager
def compile_lock():
    """An exclusive lock on the cache folder, held while this process compiles."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".qfab-compile.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
