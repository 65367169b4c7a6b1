"""Predictions for one design point: time to train, numerical error, trainability on the device.

Time. One training step is one job: the mini-batch's values and gradients of the readout. The
planner (``qfab.scheduling.plan``) places and splits it over the point's devices with their
cost models, exactly as a real run would be planned, and the step's makespan times the steps
gives the training time. A board that is not here is a :class:`BoardFPGA`
(``qfab.backends.fpga.board``): the core's build lowered and costed by its ``FPGACostModel``
with the board's PL clock per cycle, and each program word (and result beat) paying its PS-PL
transfer at the practical fraction of the HP port's bandwidth plus the driver's time to
assemble or decode it on the board's processor (this host's measured time per word scaled by
:data:`PS_SLOWDOWN`, an assumption: no board is here).

Error. The worst predicted error of an expectation value among the devices the plan uses: the
fixed-point law of the core for the FPGA (``predicted_expectation_error``), shot noise for
sampled targets, round-off for the CPU.

Trainability. The QML diagnosis (``qfab.qml.trainability.scan``) samples the variance of
the gradient of the variant's ansatz under uniform initialisation at sizes up to the model's
(fitting the decay base beyond what is sampled). A device whose gradient error (fixed-point
LSBs accumulated over the passes, or shot noise) is larger than the gradient's spread cannot
tell the slope from noise: the point is flagged untrainable on it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from qfab.backends.fpga.board import BoardFPGA
from qfab.backends.fpga.calibration import host_seconds_per_word
from qfab.backends.fpga.costmodel import BOARD_CALL_OVERHEAD_S, DMA_EFFICIENCY, PS_SLOWDOWN
from qfab.design.workload import CodesignWorkload, Variant

# BoardFPGA, host_seconds_per_word and the board assumptions belong to the FPGA backend; they
# are named here too, where the co-design's predictions were first made public.
__all__ = ["BoardFPGA", "Trainability", "trainability", "gradient_floor", "host_seconds_per_word", "PS_SLOWDOWN",
           "BOARD_CALL_OVERHEAD_S", "DMA_EFFICIENCY"]


def gradient_floor(device, circuit, shots: int) -> float:
    """Standard deviation of a parameter-shift gradient component's error on ``device``, as its
    cost model gives it (``CostModel.gradient_floor``: the fixed-point law on an FPGA, shot
    noise on a sampling device, round-off otherwise)."""
    return device.cost_model().gradient_floor(circuit, shots)


@dataclass
class Trainability:
    """Sampled gradient variance of a variant at the model's size (measured or extrapolated)."""

    variant: Variant
    variance: float
    sampled_qubits: list[int]
    decay_base: float | None
    extrapolated: bool
    seconds: float
    points: list = field(default_factory=list)

    @property
    def gradient_std(self) -> float:
        return math.sqrt(max(self.variance, 0.0))


def trainability(workload: CodesignWorkload, variant: Variant, progress: bool = False,
                 max_sampled_qubits: int = 10) -> Trainability:
    """Gradient variance of ``variant`` for the workload's readout at the model's qubits."""
    from qfab.qml.ansatz import build_ansatz
    from qfab.qml.trainability import fit_decay, scan

    n = workload.qubits
    sizes = sorted({q for q in range(2, min(n, max_sampled_qubits) + 1, 2)} | ({n} if n <= max_sampled_qubits else set()))
    parameters = build_ansatz(variant.ansatz, 2, variant.layers).num_parameters
    start = time.perf_counter()
    result = scan(variant.ansatz, [workload.cost_name], sizes, [variant.layers], workload.trainability_samples,
                  inits=["uniform"], parameters=[0, parameters // 2], seed=workload.seed, progress=progress,
                  bootstrap=200, lie_max_qubits=0)
    seconds = time.perf_counter() - start
    points = result.select(cost=workload.cost_name)
    by_size = {p.num_qubits: p.variance for p in points}
    fit = fit_decay(list(by_size), list(by_size.values())) if len(by_size) > 1 and min(by_size.values()) > 0 else None
    if n in by_size:
        return Trainability(variant, by_size[n], sizes, fit.base if fit else None, False, seconds, points)
    if fit is None:
        raise ValueError(f"{variant.label}: cannot extrapolate the gradient variance to {n} qubits "
                         f"from {by_size}")
    return Trainability(variant, fit.prefactor * fit.base ** n, sizes, fit.base, True, seconds, points)
