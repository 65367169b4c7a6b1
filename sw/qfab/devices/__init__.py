"""qfab devices: one small interface (:class:`Device`), one class per kind of hardware.

``get_device(name_or_device)`` resolves what the public functions' ``device=`` argument takes.
"""
from __future__ import annotations

from .base import (Capabilities, Device, DeviceCapabilityError, DeviceProfile, DeviceUnavailable, Job,
                   JobResult)
from .cpu import CPUDevice
from .qpu import QPU  # wraps a Qiskit backend, so built by the caller: QPU(backend)
from .fpga import FPGADevice
from .gpu import GPUDevice

__all__ = [
    "Capabilities", "Device", "DeviceCapabilityError", "DeviceProfile", "DeviceUnavailable", "Job", "JobResult",
    "CPUDevice", "FPGADevice", "get_device", "available_devices", "device_status",
]

_FACTORIES = {"cpu": CPUDevice, "fpga": FPGADevice, "gpu": GPUDevice}
_INSTANCES: dict[str, Device] = {}


def get_device(device) -> Device:
    if isinstance(device, Device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a name or a qfab Device, got {type(device).__name__}")
    if device not in _FACTORIES:
        raise ValueError(f"unknown device {device!r}; available: {sorted(_FACTORIES)}")
    if device not in _INSTANCES:
        _INSTANCES[device] = _FACTORIES[device]()
    return _INSTANCES[device]


def device_status() -> dict[str, tuple[Device | None, str]]:
    """Every known device: the device, or None with the reason it is unavailable here."""
    status = {}
    for name in _FACTORIES:
        try:
            status[name] = (get_device(name), "available")
        except DeviceUnavailable as err:
            status[name] = (None, str(err))
    return status


def available_devices() -> dict[str, Device]:
    return {name: device for name, (device, _) in device_status().items() if device is not None}
