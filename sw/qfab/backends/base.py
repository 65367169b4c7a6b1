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
from dataclasses import dataclass, field

import numpy as np

from qfab.core.ir import Circuit
from qfab.core.observables import PauliSum

__all__ = ["Capabilities", "DeviceProfile", "Job", "JobResult", "Device", "EngineDevice", "DeviceCapabilityError",
           "DeviceUnavailable", "InsufficientMemoryError", "register_device", "device_kinds", "is_registered_instance", "get_device", "device_status", "available_devices"]


class DeviceCapabilityError(ValueError):
    """The device cannot run this job (too many qubits, a gate it lacks, a method it lacks)."""


class InsufficientMemoryError(MemoryError):
    """Raised before allocating when the state vectors of a run would not fit in the device's free memory."""


class DeviceUnavailable(RuntimeError):
    """The device is not present here (missing package, no hardware), with the reason."""


@dataclass(frozen=True)
class Capabilities:
    max_qubits: int
    gates: frozenset[str] | None = None  # None: any unitary
    precisions: tuple[str, ...] = ("complex128",)
    exact: bool = True  # False: results carry shot noise
    gradient_methods: tuple[str, ...] = ("adjoint", "parameter-shift")
    returns_state: bool = True


@dataclass(frozen=True)
class DeviceProfile:
    """What the cost model needs to predict a run's time before it starts.

    ``parameters["shares_host"]``: True when the device computes on this host's own cores (the
    CPU, and any simulated device: the FPGA's bit-accurate model or Verilator, the CUDA
    simulator, a local QPU simulator). Such devices slow each other down when they run at once,
    so the planner and the runtime give them one timeline; a real board, GPU or remote QPU
    leaves it out (False) and runs beside them.
    """

    name: str
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One unit of work: a circuit over a batch of parameter sets."""

    circuit: Circuit
    params: np.ndarray  # (B, P)
    observables: tuple[PauliSum, ...] = ()
    gradient: str | None = None  # None, "adjoint" or "parameter-shift"
    shots: int | None = None
    want_state: bool = False
    dtype: type = np.complex128
    seed: int | None = None

    @property
    def batch(self) -> int:
        return self.params.shape[0]


@dataclass
class JobResult:
    device: str
    seconds: float
    expectations: np.ndarray | None = None  # (B, K)
    gradients: np.ndarray | None = None  # (B, K, P)
    states: np.ndarray | None = None  # (B, 2**n)
    counts: list[dict] | None = None


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
        if obs:
            result.expectations = engine.expectation(circuit, obs, params, dtype=job.dtype)
            if job.gradient == "adjoint":
                result.gradients = engine.adjoint_gradient(circuit, obs, params, dtype=job.dtype)
            elif job.gradient == "parameter-shift":
                result.gradients = engine.parameter_shift_gradient(circuit, obs, params, dtype=job.dtype)
        return result


# The registry: a device kind's name -> "module:factory". Strings, so that naming a kind imports
# nothing; a backend's package is imported when its device is first made (the FPGA's pulls in
# Amaranth, the GPU's numba-cuda).
_FACTORIES: dict[str, str | type] = {
    "cpu": "qfab.backends.cpu.device:CPUDevice",
    "fpga": "qfab.backends.fpga.device:FPGADevice",
    "gpu": "qfab.backends.gpu.device:GPUDevice",
}
_INSTANCES: dict[str, Device] = {}


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


def _factory(name: str):
    factory = _FACTORIES[name]
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory


def get_device(device) -> Device:
    """The device ``device`` names (one instance per name), or ``device`` itself."""
    if isinstance(device, Device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a name or a qfab Device, got {type(device).__name__}")
    if device not in _FACTORIES:
        raise ValueError(f"unknown device {device!r}; available: {sorted(_FACTORIES)}")
    if device not in _INSTANCES:
        _INSTANCES[device] = _factory(device)()
    return _INSTANCES[device]


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
