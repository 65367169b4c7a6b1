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

import os
from pathlib import Path

__all__ = ["DATA_DIR", "cache_dir"]

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
