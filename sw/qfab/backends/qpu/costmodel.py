"""The QPU's cost model: the device's own estimate of queue, latency and shots, and its error."""
from __future__ import annotations

from qfab.backends.base import Job
from qfab.backends.costmodel import CostModel

__all__ = ["QPUCostModel"]


class QPUCostModel(CostModel):
    """The QPU's own estimate: queue + latency + runs x shots x (rep delay + readout + depth);
    nothing to calibrate (the backend's calibration data is its profile). ``device`` is a
    :class:`~qfab.backends.qpu.QPU`."""

    kind = "qpu"

    def predict(self, job: Job) -> float:
        return float(self.device.estimated_seconds(job.circuit, job.batch, job.shots, bool(job.gradient)))

    def expected_error(self, job: Job) -> float:
        """The hardware's error on the mapped circuit (1 - estimated success probability)."""
        return float(self.device.expected_error(job.circuit))
