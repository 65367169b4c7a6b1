"""The GPU's cost model: the generic rates, over the fused blocks the GPU runs.

The GPU runs the CPU backend's fused program (``GPUEngine.program``), one kernel launch per
block over every state of a chunk, so a job costs the call, then per set a pass over ``2**n``
amplitudes and a launch per block (weighted for observables and gradients as in
:class:`~qfab.backends.costmodel.GenericCostModel`), at the rates ``benchmarks/gpu.py``
measured (``GPUDevice.profile``) or calibration fits.
"""
from __future__ import annotations

from qfab.backends.costmodel import GenericCostModel
from qfab.core.ir import Circuit

__all__ = ["GPUCostModel"]


class GPUCostModel(GenericCostModel):
    """:class:`GenericCostModel` with a pass per fused block of the program the device's engine
    runs (``device.engine.program``), not per gate."""

    kind = "gpu"

    def circuit_passes(self, circuit: Circuit) -> int:
        """Fused blocks of the program the GPU engine runs for ``circuit``."""
        return self.device.engine.program(circuit).num_blocks
