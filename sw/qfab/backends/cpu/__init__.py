"""The CPU backend: qfab's numba state-vector simulator (fusion, kernels, programs, adjoint), its
device, cost model and calibration."""
from qfab.backends.cpu import numba_cache  # noqa: F401  (must precede every @njit(cache=True))
from qfab.backends.base import InsufficientMemoryError
from qfab.backends.cpu.device import CPUDevice
from qfab.backends.cpu.simulator import CPUEngine, fusion_width

__all__ = ["CPUEngine", "CPUDevice", "InsufficientMemoryError", "fusion_width"]
