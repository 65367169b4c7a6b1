"""What every cost model shares, and the model of a device that brings none of its own.

A model predicts the seconds ``Device.run`` takes for one job. Every model has the same shape,
``call overhead + work``, because that is where time goes on every device qfab drives: a fixed
price per call (Python, a kernel launch, a DMA set-up, a queue) and a price per parameter set
proportional to what the hardware must move or compute. Each backend package brings its own
model (``backends/<kind>/costmodel.py``) and hands it out from ``Device.cost_model``; the
planner, the runtime and the co-design explorer only ever ask the device.

- :class:`CostModel`: the interface (``predict``, ``link_seconds``, ``expected_error``,
  ``gradient_floor``) and how parameters combine: defaults, then what the device's ``profile()``
  declares, then calibrated values.
- :class:`GenericCostModel`: ``Device.cost_model``'s default, priced from the rates a device
  declares in ``profile()``: ``call_overhead_s`` plus ``seconds_per_set`` or passes over the
  state x ``2**n`` x ``pass_seconds_per_amplitude``, one pass per gate (it knows no device's
  fusion; the GPU's model counts the fused blocks it runs).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from qfab.backends.job import Job
from qfab.core.ir import Circuit

if TYPE_CHECKING:  # annotations only: the Device interface sits above the models it hands out
    from qfab.backends.base import Device

__all__ = ["CostModel", "GenericCostModel", "transfer_bytes"]


def transfer_bytes(job: Job) -> int:
    """Bytes a job sends to a device and gets back: parameters in; values, gradients, states out."""
    batch, observables = job.batch, len(job.observables)
    out = batch * observables * 8
    if job.gradient:
        out += batch * observables * job.params.shape[1] * 8
    if job.want_state or job.shots:
        out += batch * (2 ** job.circuit.num_qubits) * np.dtype(job.dtype).itemsize
    return int(job.params.nbytes + out)


class CostModel:
    """Predicts ``Device.run`` seconds for one job from calibratable ``parameters``.

    ``parameters`` are :attr:`defaults`, overridden by the keys of :attr:`defaults` the device's
    profile declares, overridden by ``parameters`` (a calibration's fit). ``kind`` names the
    model in the calibration profile and in the history's record of which model a measured
    ratio divides.
    """

    kind = "generic"
    defaults: dict = {}

    def __init__(self, device: Device, parameters: dict | None = None):
        self.device = device
        self.parameters = {**self.defaults, **self.from_profile(device), **(parameters or {})}

    def from_profile(self, device: Device) -> dict:
        """The parameters ``device.profile()`` declares (the keys of :attr:`defaults` it sets)."""
        profile = device.profile().parameters
        return {key: profile[key] for key in self.defaults if profile.get(key) is not None}

    def predict(self, job: Job) -> float:
        raise NotImplementedError

    def link_seconds(self, job: Job) -> float:
        """Time to move the job's data to the device and back (zero for host memory)."""
        bandwidth = self.parameters.get("link_bytes_per_s")
        latency = self.parameters.get("link_latency_s", 0.0)
        return latency + (transfer_bytes(job) / bandwidth if bandwidth else 0.0)

    def expected_error(self, job: Job) -> float:
        """Worst error of a result against the exact value: 0 for double precision, the
        single-precision rounding for complex64, shot noise for sampled results, or what the
        device predicts itself through a ``predicted_error(circuit)`` method (a test double's
        declared error); the FPGA's and the QPU's models give their own laws."""
        estimate = getattr(self.device, "predicted_error", None)
        if callable(estimate):
            return float(estimate(job.circuit))
        if not self.device.capabilities.exact:
            return 1.0 / math.sqrt(job.shots or 1024)
        return 1e-6 if np.dtype(job.dtype) == np.complex64 else 1e-12

    def gradient_floor(self, circuit: Circuit, shots: int) -> float:
        """Standard deviation of a parameter-shift gradient component's error on the device,
        (f+ - f-)/2 of two independent errors: shot noise over ``shots`` for a sampling device,
        double-precision round-off otherwise. Below it a gradient cannot be told from noise."""
        if not self.device.capabilities.exact:
            return 1.0 / math.sqrt(2 * shots)
        return 1e-15


class GenericCostModel(CostModel):
    """Any device that declares its rates in ``profile()``: ``call_overhead_s`` plus per set
    either ``seconds_per_set`` or weighted passes x ``2**n`` x ``pass_seconds_per_amplitude``
    (plus ``launch_overhead_s`` per pass where declared); ``link_bytes_per_s``/``link_latency_s``
    for a device behind a bus or a network."""

    kind = "generic"
    defaults = {
        "call_overhead_s": 1e-3,
        "seconds_per_set": None,
        "pass_seconds_per_amplitude": 2e-9,
        "launch_overhead_s": None,
        "link_bytes_per_s": None,
        "link_latency_s": 0.0,
    }

    def circuit_passes(self, circuit: Circuit) -> int:
        """Passes over the state one application of ``circuit`` makes: one per gate, as a
        simulator without fusion makes them."""
        return len(circuit.operations)

    def amplitude_passes(self, job: Job) -> float:
        """Amplitudes the whole job touches, in passes: per set, each observable's and each
        gradient's (a forward, a backward and an un-apply sweep) passes over ``2**n``
        amplitudes. What ``pass_seconds_per_amplitude`` multiplies."""
        passes = self.circuit_passes(job.circuit) * (1 + len(job.observables)) * (3 if job.gradient else 1)
        return float(job.batch * passes * 2 ** job.circuit.num_qubits)

    def launch_seconds(self, job: Job) -> float:
        """The declared ``launch_overhead_s`` per pass of every set (zero where none is declared)."""
        return job.batch * (self.parameters["launch_overhead_s"] or 0.0) * self.circuit_passes(job.circuit)

    def predict(self, job: Job) -> float:
        p = self.parameters
        if p["seconds_per_set"] is not None:
            return p["call_overhead_s"] + job.batch * p["seconds_per_set"]
        return p["call_overhead_s"] + self.amplitude_passes(job) * p["pass_seconds_per_amplitude"] + self.launch_seconds(job)
