"""A device kind from outside qfab: joined by ``register_device`` and priced only by the cost model
it brings (``Device.cost_model``), as a third-party backend would be. The planner and the
co-design explorer must take it without knowing its type."""
from __future__ import annotations

import contextlib

from qfab.backends import Capabilities, Device, DeviceUnavailable, Job, JobResult, get_device, register_device
from qfab.backends.cpu import CPUDevice
from qfab.backends.costmodel import CostModel

KIND = "fixed-rate-test"
CALL_S, SET_S = 1e-3, 2e-3  # what its model charges: per call, per parameter set


class FixedRateModel(CostModel):
    """Charges ``call_overhead_s + batch x seconds_per_set``, and nothing for the link."""

    kind = "fixed-rate"
    defaults = {"call_overhead_s": CALL_S, "seconds_per_set": SET_S}

    def predict(self, job: Job) -> float:
        return self.parameters["call_overhead_s"] + job.batch * self.parameters["seconds_per_set"]


class FixedRateDevice(Device):
    """Exact results (through the CPU engine), a profile that declares nothing, its own model."""

    name = KIND

    def __init__(self):
        self._cpu = CPUDevice()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(max_qubits=12)

    def cost_model(self, parameters: dict | None = None) -> FixedRateModel:
        return FixedRateModel(self, parameters)

    def execute(self, job: Job) -> JobResult:
        result = self._cpu.execute(job)
        result.device = self.name
        return result


def _gone():
    raise DeviceUnavailable(f"{KIND} was registered for one test only")


@contextlib.contextmanager
def registered_fixed_rate():
    """:data:`KIND` registered for the ``with`` block, its device yielded. A registry keeps its
    kinds, so afterwards the kind stays known but unavailable (no other test plans on it)."""
    register_device(KIND, FixedRateDevice)
    try:
        yield get_device(KIND)
    finally:
        register_device(KIND, _gone)
