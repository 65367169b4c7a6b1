"""Point numba's on-disk cache at a folder keyed by the engine's source.

numba invalidates a cached function when *its own* file changes, not when a kernel it inlined
from another file does; a stale entry then runs old machine code against new arguments (a
crash, not an error). Keying the cache folder by a hash of every engine source file makes any
edit start a fresh cache. A user's own ``NUMBA_CACHE_DIR`` is respected.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
import platformdirs


def _source_digest() -> str:
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(Path(platformdirs.user_cache_dir("qfab")) / "numba" / _source_digest())
