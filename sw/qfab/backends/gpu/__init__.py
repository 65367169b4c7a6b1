"""The GPU backend: numba-cuda state-vector kernels (``kernels``, ``host``), the simulator that runs
the CPU backend's fused programs on a GPU (``simulator``), and its device.

Importing this package does not import numba-cuda (the optional ``gpu`` extra): the device
imports the simulator only once :func:`gpu_status` has found a usable GPU (or the CUDA
simulator). See docs/gpu.md.
"""
from qfab.backends.gpu.device import GPUDevice, gpu_status, load_profile_parameters, profile_path

__all__ = ["GPUDevice", "gpu_status", "profile_path", "load_profile_parameters"]
