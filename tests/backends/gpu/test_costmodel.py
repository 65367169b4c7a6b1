"""The GPU's cost model, without a GPU: the generic rates over the fused blocks its engine runs,
where the generic model (which knows no device's fusion) counts a pass per gate."""
from __future__ import annotations

import pytest

from qfab.backends.base import Capabilities, DeviceProfile, EngineDevice
from qfab.backends.calibration import benchmark_job
from qfab.backends.costmodel import GenericCostModel
from qfab.backends.cpu import CPUEngine
from qfab.backends.gpu.costmodel import GPUCostModel


class MeasuredEngineDevice(EngineDevice):
    """Stands in for GPUDevice: an engine that compiles the CPU's fused programs (as GPUEngine
    does) and the rates benchmarks/gpu.py would have measured."""

    name = "gpu-standin"

    def __init__(self):
        self.engine = CPUEngine()

    @property
    def capabilities(self):
        return Capabilities(max_qubits=20)

    def profile(self):
        return DeviceProfile(self.name, {"launch_overhead_s": 5e-6, "pass_seconds_per_amplitude": 1e-10,
                                         "bandwidth_GBps": None})


def test_the_gpu_model_counts_fused_blocks_at_the_measured_rates():
    device = MeasuredEngineDevice()
    job = benchmark_job(8, 4, gradient="adjoint")
    blocks = device.engine.program(job.circuit).num_blocks
    model = GPUCostModel(device, {"call_overhead_s": 2e-4})
    assert model.kind == "gpu" and model.circuit_passes(job.circuit) == blocks < len(job.circuit.operations)
    passes = blocks * (1 + 1) * 3  # one observable, a gradient's three sweeps
    expected = 2e-4 + 4 * passes * 2 ** 8 * 1e-10 + 4 * blocks * 5e-6
    assert model.predict(job) == pytest.approx(expected, rel=1e-12)
    generic = GenericCostModel(device)
    assert generic.circuit_passes(job.circuit) == len(job.circuit.operations)
