"""qfab's CPU state-vector engine (numba)."""
from .cpu import CPUEngine, InsufficientMemoryError, fusion_width

__all__ = ["CPUEngine", "InsufficientMemoryError", "fusion_width"]
