"""qfab's CPU state-vector engine (numba)."""
from . import _numba_cache  # noqa: F401  (must precede every @njit(cache=True))
from .cpu import CPUEngine, InsufficientMemoryError, fusion_width

__all__ = ["CPUEngine", "InsufficientMemoryError", "fusion_width"]
