"""The CPU backend: qfab's numba state-vector simulator (fusion, kernels, programs, adjoint), its
device, cost model and calibration.

Importing the package imports no numba (:mod:`.small`: a new process's first small jobs run
without it); the engine's names load on first use."""
from qfab.backends.job import InsufficientMemoryError

__all__ = ["CPUEngine", "CPUDevice", "InsufficientMemoryError", "fusion_width"]

_LAZY = {"CPUEngine": "qfab.backends.cpu.simulator", "fusion_width": "qfab.backends.cpu.simulator",
         "CPUDevice": "qfab.backends.cpu.device"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
