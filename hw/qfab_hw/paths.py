"""Where the hardware package keeps its files: data shipped inside the package, caches outside it.

* :data:`DATA_DIR` (``qfab_hw/data``) holds the board files (``board_configs/*.toml``) and the
  overlay manifest with its Vivado flow (``bitstreams/``). They are package data, so an installed
  wheel has them; in a source checkout the top-level ``board_configs/`` and ``bitstreams/`` are
  links to these folders.
* :func:`cache_dir`: generated builds (Verilator executables, yosys runs, Vivado projects) go to
  the user's cache folder (``platformdirs.user_cache_dir("qfab")``, or ``$QFAB_CACHE_DIR``),
  never into the package or the source tree.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

__all__ = ["DATA_DIR", "cache_dir", "build_tag", "cached_result"]

DATA_DIR = Path(__file__).resolve().parent / "data"


def cache_dir(*parts: str) -> Path:
    """``$QFAB_CACHE_DIR`` or the user cache folder of qfab, joined with ``parts`` (not created)."""
    override = os.environ.get("QFAB_CACHE_DIR")
    if override:
        root = Path(override)
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("qfab"))
    return root.joinpath(*parts)


#: Short names of the ``CoreParams`` fields in a build's folder name; a field not named here still
#: goes in, under its own name.
FIELD_TAGS = {"max_qubits": "q", "lanes": "l", "width": "w", "max_params": "p", "param_depth": "d",
              "program_depth": "i", "adjoint": "adj"}


def build_tag(params) -> str:
    """A build's name in cache folders, from every field of ``params`` (a ``CoreParams``), so two
    builds never share a folder: e.g. ``q8-l8-w18-p1024-d8192-i4096-adj1``."""
    return "-".join(f"{FIELD_TAGS.get(f.name, f.name)}{int(value) if isinstance(value, bool) else value}"
                    for f in fields(params) for value in [getattr(params, f.name)])


def cached_result(path: Path, key: str, stamp: str) -> dict | None:
    """The JSON result a tool run left in ``path``, if its ``key`` field is ``stamp`` (the hash
    of what it was made from); None when absent or made from something else."""
    if not path.exists():
        return None
    cached = json.loads(path.read_text())
    return cached if cached.get(key) == stamp else None
