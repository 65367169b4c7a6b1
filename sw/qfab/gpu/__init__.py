"""numba-cuda state-vector kernels and the engine that runs the CPU engine's fused programs on a GPU.

Importing this package imports numba-cuda (the optional ``gpu`` extra); ``qfab.devices.gpu``
imports it only once :func:`qfab.devices.gpu.gpu_status` has found a usable GPU (or the CUDA
simulator). See docs/gpu.md.
"""
from .engine import GPUEngine, check_gpu_memory, gpu_memory

__all__ = ["GPUEngine", "check_gpu_memory", "gpu_memory"]
