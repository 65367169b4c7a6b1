"""The one interface every qfab device implements, and the registry of device kinds.

A device declares what it can do (:class:`Capabilities`), takes a list of :class:`Job` s in
``run`` and returns one :class:`JobResult` per job, and exposes a :class:`DeviceProfile` that
the cost model reads. ``check`` refuses, before any work starts, a job the device cannot do,
with the reason.
"""
from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod

import numpy as np

from qfab.backends.calibration import fit_rates
from qfab.backends.costmodel import GenericCostModel
from qfab.backends.job import (Capabilities, DeviceCapabilityError, DeviceProfile, DeviceUnavailable,
                               InsufficientMemoryError, Job, JobResult)
from qfab.errors import InputError, InputTypeError

__all__ = ["Capabilities", "DeviceProfile", "Job", "JobResult", "Device", "EngineDevice", "DeviceCapabilityError",
           "DeviceUnavailable", "InsufficientMemoryError", "register_device", "device_kinds", "is_registered_instance", "get_device", "device_status", "available_devices",
           "best_gradient_method"]


class Device(ABC):
    name: str = "device"

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    def profile(self) -> DeviceProfile:
        return DeviceProfile(self.name)

    @property
    def shares_host(self) -> bool:
        """Whether this device computes on the host's cores (see :class:`DeviceProfile`)."""
        return bool(self.profile().parameters.get("shares_host", False))

    def check(self, job: Job) -> None:
        caps = self.capabilities
        circuit = job.circuit
        if circuit.num_qubits > caps.max_qubits:
            raise DeviceCapabilityError(
                f"device {self.name!r} holds at most {caps.max_qubits} qubits; the circuit has {circuit.num_qubits}"
            )
        if caps.gates is not None:
            for position, op in enumerate(circuit.operations):
                if op.name not in caps.gates:
                    raise DeviceCapabilityError(
                        f"device {self.name!r} has no gate {op.name!r} (operation {position}, from instruction "
                        f"{op.source}); it has {sorted(caps.gates)}"
                    )
        if job.gradient is not None and job.gradient not in caps.gradient_methods:
            raise DeviceCapabilityError(
                f"device {self.name!r} cannot compute gradients by {job.gradient!r}; it offers {list(caps.gradient_methods)}"
            )
        if np.dtype(job.dtype).name not in caps.precisions:
            raise DeviceCapabilityError(
                f"device {self.name!r} runs in {list(caps.precisions)}, not {np.dtype(job.dtype).name}"
            )
        if job.want_state and not caps.returns_state:
            raise DeviceCapabilityError(f"device {self.name!r} cannot return state vectors")

    def run(self, jobs: list[Job]) -> list[JobResult]:
        """Check every job first (so nothing starts when one cannot run), then run them in order."""
        for job in jobs:
            self.check(job)
        results = []
        for job in jobs:
            start = time.perf_counter()
            result = self.execute(job)
            result.seconds = time.perf_counter() - start
            results.append(result)
        return results

    @abstractmethod
    def execute(self, job: Job) -> JobResult: ...

    def cost_model(self, parameters: dict | None = None):
        """The model that predicts this device's ``run`` seconds (a
        :class:`qfab.backends.costmodel.CostModel`), with calibrated ``parameters`` (what
        :meth:`calibrate` returned) over its defaults. The planner, the runtime and the
        co-design explorer price a device only through this. Default: the
        :class:`~qfab.backends.costmodel.GenericCostModel` of the rates ``profile()`` declares;
        each backend returns its own."""
        return GenericCostModel(self, parameters)

    def calibrate(self, repeats: int = 3) -> dict:
        """Time short benchmark jobs here and fit :meth:`cost_model`'s parameters; returns them
        (what the calibration profile stores for this device). Default: the generic model's call
        overhead and time per amplitude pass (:func:`qfab.backends.calibration.fit_rates`), or
        nothing where the profile declares ``seconds_per_set``; a backend with its own model
        brings its own fit (or ``{}`` when, like a QPU, it prices itself)."""
        return fit_rates(Device.cost_model(self), repeats)

    def __repr__(self) -> str:
        return f"<qfab device {self.name}>"


class EngineDevice(Device):
    """A device whose ``engine`` is a state-vector simulator with the CPU engine's methods
    (``statevector``, ``expectation``, ``adjoint_gradient`` and, where the device offers it,
    ``parameter_shift_gradient``); ``check`` has already refused any method it lacks."""

    engine = None

    def execute(self, job: Job) -> JobResult:
        engine, circuit, params, obs = self.engine, job.circuit, job.params, list(job.observables)
        result = JobResult(device=self.name, seconds=0.0)
        if job.want_state or job.shots:
            result.states = engine.statevector(circuit, params, dtype=job.dtype)
        if obs and job.gradient == "adjoint":  # the sweep's forward gives the values too
            result.expectations = np.empty((params.shape[0], len(obs)))
            result.gradients = engine.adjoint_gradient(circuit, obs, params, dtype=job.dtype, values=result.expectations)
        elif obs:
            result.expectations = engine.expectation(circuit, obs, params, dtype=job.dtype)
            if job.gradient == "parameter-shift":
                result.gradients = engine.parameter_shift_gradient(circuit, obs, params, dtype=job.dtype)
        return result


# The registry: a device kind's name -> "module:factory". Strings, so that naming a kind imports
# nothing; a backend's package is imported when its device is first made (the FPGA's pulls in
# Amaranth, the GPU's numba-cuda).
_FACTORIES: dict[str, str | type] = {
    "cpu": "qfab.backends.cpu.device:CPUDevice",
    "fpga": "qfab.backends.fpga.device:FPGADevice",
    "gpu": "qfab.backends.gpu.device:GPUDevice",
    "mpi": "qfab.backends.mpi.device:launched_device",
}
_INSTANCES: dict[str, Device] = {}

# Device's default cost model and its fit, named the same way: they are built on Device and Job
# (backends.costmodel and backends.calibration sit above this module), so they are imported
# when a device first asks for them, not by this module.


def register_device(name: str, factory) -> None:
    """Make ``device=name`` build ``factory()`` (a class or a ``"module:callable"`` string): how a
    backend outside qfab joins the planner, the runtime and calibration."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a device kind needs a non-empty name, got {name!r}")
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


def device_kinds() -> tuple[str, ...]:
    """The names ``get_device`` takes."""
    return tuple(_FACTORIES)


def _load(spec: str):
    """The object a ``"module:attribute"`` string names, its module imported now."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _factory(name: str):
    factory = _FACTORIES[name]
    return _load(factory) if isinstance(factory, str) else factory


def get_device(device) -> Device:
    """The device ``device`` names (one instance per name), or ``device`` itself."""
    if isinstance(device, Device):
        return device
    if not isinstance(device, str):
        raise InputTypeError(f"device must be a name or a qfab Device, got {type(device).__name__}")
    if device not in _FACTORIES:
        raise InputError(f"unknown device {device!r}; available: {sorted(_FACTORIES)}")
    if device not in _INSTANCES:
        _INSTANCES[device] = _factory(device)()
    return _INSTANCES[device]


def best_gradient_method(device) -> str:
    """What ``method="best"`` means on ``device`` (a name, a Device or ``"auto"``): its
    :attr:`Capabilities.best_gradient_method` (the adjoint wherever it has one: the CPU, the GPU,
    an FPGA build with bank B; an FPGA build without it, its on-chip shift loop; a QPU, the
    parameter-shift rule); ``"auto"``: the adjoint, which the planner's CPU always offers."""
    if isinstance(device, str) and device == "auto":
        return "adjoint"
    device = get_device(device)
    method = device.capabilities.best_gradient_method
    if method is None:
        raise ValueError(f"device {device.name!r} computes no gradients")
    return method


def is_registered_instance(device: Device) -> bool:
    """Whether ``device`` is the instance ``get_device(device.name)`` gives: then its name alone
    rebuilds it elsewhere (a Dask worker makes its own)."""
    return _INSTANCES.get(device.name) is device


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
