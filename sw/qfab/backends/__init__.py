"""qfab's backends: one package per kind of device, each bringing its kernels or driver, its
:class:`Device`, its cost model and its calibration, over the shared base (:mod:`.base`).

``get_device(name_or_device)`` resolves what the public functions' ``device=`` argument takes.
Importing this package imports no backend: ``qfab.backends.CPUDevice`` and the other device
classes load their package on first use.
"""
from __future__ import annotations

import importlib

from qfab.backends.base import (Capabilities, Device, DeviceCapabilityError, DeviceProfile, DeviceUnavailable,
                                InsufficientMemoryError, Job, JobResult, available_devices, best_gradient_method, device_kinds,
                                device_status, get_device, register_device)

__all__ = [
    "Capabilities", "Device", "DeviceCapabilityError", "DeviceProfile", "DeviceUnavailable", "InsufficientMemoryError", "Job", "JobResult",
    "CPUDevice", "FPGADevice", "GPUDevice", "MPIDevice", "QPU", "get_device", "available_devices", "device_status",
    "device_kinds", "register_device", "best_gradient_method",
]

# Device classes by the backend package that defines them, loaded on first use.
_DEVICE_CLASSES = {"CPUDevice": "cpu", "FPGADevice": "fpga", "GPUDevice": "gpu", "MPIDevice": "mpi", "QPU": "qpu"}


def __getattr__(name):
    if name in _DEVICE_CLASSES:
        return getattr(importlib.import_module(f"qfab.backends.{_DEVICE_CLASSES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
