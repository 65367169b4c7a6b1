"""The CPU engine as a qfab device.

The engine (numba) starts on the first job that needs it; until then small jobs run in numpy
(:mod:`.small`), so a process whose first call is small never waits for numba's start."""
from __future__ import annotations

import os
import time

import numpy as np
import psutil

from qfab.backends.base import Capabilities, DeviceProfile, EngineDevice, Job, JobResult
from qfab.backends.cpu import small


#: How long a reading of the free memory stands (a planner asks for capabilities many times
#: per call; psutil reads /proc each time).
MEMORY_READING_S = 0.5
_memory_reading = (float("-inf"), 0)


def _available_memory() -> int:
    global _memory_reading
    taken, free = _memory_reading
    if time.monotonic() - taken > MEMORY_READING_S:
        free = psutil.virtual_memory().available
        _memory_reading = (time.monotonic(), free)
    return free


class CPUDevice(EngineDevice):
    name = "cpu"

    def __init__(self, width: int | None = None):
        self.width = width
        self._engine = None

    @property
    def engine(self):
        """The numba engine, started (imported, its kernels loaded or compiled) on first use."""
        if self._engine is None:
            from qfab.backends.cpu.simulator import CPUEngine

            self._engine = CPUEngine(self.width)
        return self._engine

    def execute(self, job: Job) -> JobResult:
        """A small job in numpy while the engine has not started; everything else on the engine."""
        if self._engine is None and small.is_small(job):
            return small.execute(job)
        return super().execute(job)

    @property
    def capabilities(self) -> Capabilities:
        free = _available_memory()
        return Capabilities(
            max_qubits=int(np.log2(0.9 * free / 16)),  # one complex128 state vector in free memory
            precisions=("complex128", "complex64"),
        )

    def check(self, job: Job) -> None:
        """Refuse, with the numbers, a job whose vectors do not fit in free memory."""
        vectors = (job.batch if job.want_state or job.shots else 0) + (1 if job.observables else 0)
        if job.gradient == "adjoint":
            vectors += len(job.observables)
        what = "adjoint gradient" if job.gradient == "adjoint" else "statevector" if job.want_state else "simulation"
        small.check_memory(job.circuit.num_qubits, vectors, job.dtype, what)
        super().check(job)

    def profile(self) -> DeviceProfile:
        import numba

        return DeviceProfile(self.name, {"cores": os.cpu_count(), "threads": numba.get_num_threads(), "shares_host": True})

    def cost_model(self, parameters: dict | None = None) -> CPUCostModel:
        """The engine's model: passes, flops, launches and calls of the program it compiles."""
        from qfab.backends.cpu.costmodel import CPUCostModel

        return CPUCostModel(self, parameters)

    def calibrate(self, repeats: int = 3) -> dict:
        """Every term of :class:`CPUCostModel`, fitted on 48 timed jobs of 4 to 20 qubits."""
        from qfab.backends.cpu.calibration import calibrate_cpu

        _ = self.engine  # calibration times the engine, never the small-job path
        return calibrate_cpu(self.cost_model(), repeats)
