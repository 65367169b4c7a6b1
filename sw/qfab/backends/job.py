"""What flows to and from every device: a :class:`Job` (a circuit over a batch of parameter
sets), its :class:`JobResult`, what a device declares it can do (:class:`Capabilities`) and what
its cost model reads (:class:`DeviceProfile`), and the errors a device raises before any work.

Below the :class:`~qfab.backends.base.Device` interface, so that the shared cost model and
calibration, which price and time jobs, sit between the two without an import circle.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import psutil

from qfab.core.ir import Circuit
from qfab.core.observables import PauliSum
from qfab.errors import CapacityError, DeviceError

__all__ = ["Capabilities", "DeviceProfile", "Job", "JobResult", "DeviceCapabilityError", "DeviceUnavailable",
           "InsufficientMemoryError", "check_free_memory", "MEMORY_SHARE"]

#: The share of the host's free memory a call may plan to fill (the rest: the interpreter, the
#: operating system, what the call's estimate leaves out).
MEMORY_SHARE = 0.9


class DeviceCapabilityError(CapacityError, ValueError):
    """The device cannot run this job (too many qubits, a gate it lacks, a method it lacks)."""


class InsufficientMemoryError(CapacityError, MemoryError):
    """Raised before allocating when the state vectors of a run would not fit in the device's free memory."""


def check_free_memory(need: int, what: str, detail: str) -> None:
    """Raise :class:`InsufficientMemoryError` before allocating when ``need`` bytes exceed
    :data:`MEMORY_SHARE` of the host's free memory: ``"{what} needs X GiB for {detail}, but only
    Y GiB of memory is free"``."""
    free = psutil.virtual_memory().available
    if need > MEMORY_SHARE * free:
        raise InsufficientMemoryError(f"{what} needs {need / 2**30:.2f} GiB for {detail}, but only "
                                      f"{free / 2**30:.2f} GiB of memory is free")


class DeviceUnavailable(DeviceError):
    """The device is not present here (missing package, no hardware), with the reason."""


@dataclass(frozen=True)
class Capabilities:
    max_qubits: int
    gates: frozenset[str] | None = None  # None: any unitary
    precisions: tuple[str, ...] = ("complex128",)
    exact: bool = True  # False: results carry shot noise
    gradient_methods: tuple[str, ...] = ("adjoint", "parameter-shift")  # the best first
    returns_state: bool = True

    @property
    def best_gradient_method(self) -> str | None:
        """The method ``gradient(..., method="best")`` uses here: the first one offered."""
        return self.gradient_methods[0] if self.gradient_methods else None


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
