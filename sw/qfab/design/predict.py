"""Predictions for one design point: time to train, numerical error, trainability on the device.

Time. One training step is one job: the mini-batch's values and gradients of the readout. The
planner (``qfab.scheduling.plan``) places and splits it over the point's devices with their
cost models, exactly as a real run would be planned, and the step's makespan times the steps
gives the training time. A board that is not here is a :class:`BoardFPGA`: the core's build
lowered and costed by ``FPGACostModel`` with the board's PL clock per cycle, and each program
word (and result beat) paying its PS-PL transfer at the practical fraction of the HP port's
bandwidth plus the driver's time to assemble or decode it on the board's processor (this
host's measured time per word scaled by :data:`PS_SLOWDOWN`, an assumption: no board is here).

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

import numpy as np
from qfab_hw import CoreParams
from qfab_hw.boards import Board

from qfab.backends.base import Job
from qfab.backends.fpga import FPGADevice
from qfab.backends.fpga.compiler import predicted_expectation_error
from qfab.backends.fpga.driver import expectation_program
from qfab.design.workload import CodesignWorkload, Variant

__all__ = ["BoardFPGA", "Trainability", "trainability", "gradient_floor", "host_seconds_per_word", "PS_SLOWDOWN",
           "BOARD_CALL_OVERHEAD_S", "DMA_EFFICIENCY"]

#: How much slower the board's processor runs the (pure Python) driver than this host:
#: Cortex-A9 at 650 MHz (Zynq-7000) and Cortex-A53 at 1.2-1.5 GHz (Zynq UltraScale+) against a
#: current x86 core. Assumed, not measured: no board was available.
PS_SLOWDOWN = {"zynq7": 10.0, "zynq_ultra_ps_e": 5.0}

#: One DMA round trip from Python on the board (two ``transfer`` calls, two ``wait``), assumed.
BOARD_CALL_OVERHEAD_S = 300e-6

#: Fraction of the HP port's theoretical bandwidth reached (fpga-codesign reference, section 2.2:
#: 83 % on Zynq-7000, 75 % on a ZCU102).
DMA_EFFICIENCY = {"xc7": 0.83, "xcup": 0.75}


def host_seconds_per_word(circuit, params: CoreParams, observable, rows: int = 4) -> float:
    """This host's time to assemble one program word of ``circuit`` measuring ``observable`` over
    ``rows`` parameter sets (the driver's work per word; its fixed costs spread over the program's size)."""
    from qfab.core.observables import as_pauli_sums

    lowered = FPGADevice("model", params).lowered(circuit)
    thetas = np.random.default_rng(0).uniform(0, np.pi, (rows, circuit.num_parameters))
    sums = as_pauli_sums(observable, circuit.num_qubits)[0]
    expectation_program(lowered, sums, thetas[:1], params)  # imports, caches
    best = math.inf
    for _ in range(3):  # the fastest of three: on a shared machine noise only adds time
        start = time.perf_counter()
        program = expectation_program(lowered, sums, thetas, params)
        best = min(best, time.perf_counter() - start)
    return best / len(program.words)


class BoardFPGA(FPGADevice):
    """The core of build ``params`` on ``board``, for prediction: its profile declares the board's
    clock and PS-PL link, so the planner's FPGA cost model prices it as that board would run."""

    def __init__(self, board: Board, params: CoreParams, host_word_seconds: float):
        super().__init__("model", params)
        self.board = board
        self.name = f"fpga[{board.key} {params.lanes}L W{params.width} Q{params.max_qubits}]"
        link = board.bandwidth_mb_s * 1e6 * DMA_EFFICIENCY[board.family]
        driver = host_word_seconds * PS_SLOWDOWN[board.ps]
        self._link_bytes_per_s, self._driver_seconds_per_word = link, driver
        # Every word crosses the link and passes through the driver on the PS: one rate for both.
        self._rates = {"kind": "fpga", "transport": f"board:{board.key}", "shares_host": False,
                       "seconds_per_cycle": 1.0 / (board.pl_mhz * 1e6), "call_overhead_s": BOARD_CALL_OVERHEAD_S,
                       "word_bytes_per_s": 8.0 / (8.0 / link + driver), "set_overhead_s": 0.0}

    def profile(self):
        profile = super().profile()
        profile.parameters.update(self._rates)
        return profile

    def breakdown(self, job: Job) -> dict[str, float]:
        """Where ``job``'s predicted time goes on the board: core cycles, PS-PL link, driver."""
        cycles, words, beats = self.program_counts(job)
        words += beats
        return {"core": cycles / (self.board.pl_mhz * 1e6), "link": 8 * words / self._link_bytes_per_s,
                "driver": words * self._driver_seconds_per_word, "call": BOARD_CALL_OVERHEAD_S}

    def run(self, jobs):
        raise RuntimeError(f"{self.name} is a prediction of a board that is not attached; build it first")


def gradient_floor(device, circuit, shots: int) -> float:
    """Standard deviation of a parameter-shift gradient component's error on ``device``:
    (f+ - f-)/2 of two independent errors of the expectation's rms."""
    if isinstance(device, FPGADevice):
        passes = len(device.lowered(circuit).ops)
        return predicted_expectation_error(passes, device.params.width, quantile=1.0) / math.sqrt(2)
    if not device.capabilities.exact:
        return 1.0 / math.sqrt(2 * shots)
    return 1e-15


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
