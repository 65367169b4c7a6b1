"""The FPGA core's cost model: cycles at a clock plus the PS-PL link plus the driver, or the
host's time for the bit-accurate model; and the rates of a board that is not attached.

A job is priced the way driver v2 runs it (``FPGADevice.program_counts``, ``driver.call_counts``):
the core's cycles are the closed forms of ``qfab_hw.model.cycles`` (the figures
``qfab_hw.model.step_cost`` gives) for the job's mode -- values on ``RUN``, a
``"parameter-shift"`` gradient on ``RUN_SHIFT``, an ``"adjoint"`` one on ``RUN_ADJOINT`` (a
build with ``adjoint=True``) -- at the PL clock. The link is the PS-PL DMA: one round trip per
call (set up, transfer and wait on both channels: ``dma_round_trip_s``) plus 8 B per word
actually sent (``LOAD_PARAMS`` and its angles, the ``RUN*`` headers, ``END``, and a ``PROGRAM``
only when the core does not hold it) and per beat received, at the port's practical rate. The
driver is the host's own work around that round trip: its measured time per call and per word
(``calibration.driver_cost``, timed at the job's own size), scaled to the board's processor. A
training step is priced with its program resident (``resident=True``, the default: every step
after the first finds it stored). :func:`board_rates` gives those rates for any board config
(``qfab_hw.boards``), so the model prices a build as that board would run it before the board
exists; the figures it cannot measure here (the driver on the board's processor, one DMA round
trip) are assumptions, named below. The clock is ``min(board clock, the clock the build closes
at)`` (``qfab_hw.pnr.closing_clock``): the board's PL clock unless the build's open
place-and-route figure, mapped to the board's family and speed grade, is below it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from qfab_hw import CoreParams
from qfab_hw.boards import Board
from qfab_hw.pnr import Clock, closing_clock

from qfab.backends.base import Job
from qfab.backends.costmodel import CostModel
from qfab.backends.fpga.compiler import predicted_expectation_error
from qfab.core.ir import Circuit

__all__ = ["FPGACostModel", "DriverCost", "board_rates", "board_clock", "link_bytes_per_s", "PS_SLOWDOWN", "BOARD_CALL_OVERHEAD_S", "DMA_EFFICIENCY"]

#: How much slower the board's processor runs the (pure Python) driver than this host:
#: Cortex-A9 at 650 MHz (Zynq-7000) and Cortex-A53 at 1.2-1.5 GHz (Zynq UltraScale+) against a
#: current x86 core. Assumed, not measured: no board was available.
PS_SLOWDOWN = {"zynq7": 10.0, "zynq_ultra_ps_e": 5.0}

#: One DMA round trip from Python on the board (two ``transfer`` calls, two ``wait``), assumed: the
#: link's latency per call, priced under ``link_s`` (rate ``dma_round_trip_s``), not the driver's.
BOARD_CALL_OVERHEAD_S = 300e-6

#: Fraction of the HP port's theoretical bandwidth reached (fpga-codesign reference, section 2.2:
#: 83 % on Zynq-7000, 75 % on a ZCU102).
DMA_EFFICIENCY = {"xc7": 0.83, "xcup": 0.75}


@dataclass(frozen=True)
class DriverCost:
    """The driver's host seconds per call (check, plan lookup, run headers, decoding set-up) and
    per word moved (angles packed into ``LOAD_PARAMS``, beats decoded) on this host
    (:func:`~qfab.backends.fpga.calibration.driver_cost` measures them)."""

    call_s: float = 0.0
    word_s: float = 0.0

    @classmethod
    def of(cls, driver: "DriverCost | float") -> "DriverCost":
        """A :class:`DriverCost`, or a bare time per word (no per-call part)."""
        return driver if isinstance(driver, DriverCost) else cls(0.0, float(driver))


def board_clock(board: Board, params: CoreParams | None = None) -> Clock:
    """The clock build ``params`` runs at on ``board``: ``min(board clock, the clock it closes
    at)`` from its measured open place-and-route (``qfab_hw.pnr.closing_clock``); the board's
    PL clock when no build is given."""
    if params is None:
        return Clock(board.pl_mhz, f"board clock {board.pl_mhz:g} MHz")
    return closing_clock(params, board)


def link_bytes_per_s(board: Board, clock_mhz: float) -> float:
    """The PS-PL port's practical rate: its width (``width_bits``, the board file's, which the
    overlay's Tcl builds) per cycle of the PL clock it runs at in the overlay, at most the port's
    theoretical ``bandwidth_mb_s``, times :data:`DMA_EFFICIENCY`."""
    theoretical = min(board.bandwidth_mb_s, board.width_bits / 8 * clock_mhz)
    return theoretical * 1e6 * DMA_EFFICIENCY[board.family]


def board_rates(board: Board, driver: DriverCost | float = 0.0, params: CoreParams | None = None) -> dict:
    """:class:`FPGACostModel` parameters of the core on ``board``: a cycle at the clock build
    ``params`` runs at there (:func:`board_clock`); the link: one DMA round trip per call
    (``dma_round_trip_s``, :data:`BOARD_CALL_OVERHEAD_S`) and its HP port (``width_bits`` at
    its ``bandwidth_mb_s``, from the board file) at :data:`DMA_EFFICIENCY`; the driver's host
    time per call (``call_overhead_s``) and per word on its processor (``driver``, this host's
    :class:`DriverCost` or a bare time per word, times :data:`PS_SLOWDOWN`)."""
    driver, slowdown = DriverCost.of(driver), PS_SLOWDOWN[board.ps]
    clock = board_clock(board, params)
    return {"seconds_per_cycle": 1.0 / (clock.mhz * 1e6),
            "dma_round_trip_s": BOARD_CALL_OVERHEAD_S,
            "word_bytes_per_s": link_bytes_per_s(board, clock.mhz),
            "call_overhead_s": driver.call_s * slowdown,
            "driver_seconds_per_word": driver.word_s * slowdown, "set_overhead_s": 0.0}


class FPGACostModel(CostModel):
    """An FPGA core: on a board, ``cycles x seconds_per_cycle`` (core) ``+ dma_round_trip_s + 8 B x
    (words + beats) / link rate`` (link) ``+ call_overhead_s + (words + beats) x driver time per
    word`` (driver); for the bit-accurate model (transport ``"model"``), host seconds.

    Cycles are the core's closed forms (``qfab_hw.model.cycles``) over the call driver v2 sends:
    ``LOAD_PARAMS``, then per stored program (one per measurement basis) ``RUN`` for values,
    ``RUN_SHIFT`` (the on-chip shift loop) or ``RUN_ADJOINT`` (the second bank) for the job's
    gradient, plus ``PROGRAM`` when the program is not resident; words are those the call
    sends and the beats it returns.
    ``seconds_per_cycle`` is one over the board's clock; under Verilator it is the host's time
    per simulated cycle (an RTL simulator's work is per clock), which calibration measures.

    The bit-accurate model is numpy on the host, not a clock: its time is a Python price per
    instruction (decode, a dozen numpy calls), a numpy price per amplitude each instruction
    touches (``2**n`` per gate, INIT and reduction) and a Python price per program word
    (assembled per set, unpacked by the model), plus the call. Those four are
    :attr:`HOST_FEATURES`, fitted by calibration; cycles x any clock would mispredict it by 2x
    across sizes (a 7-qubit gate costs 4x the cycles of a 5-qubit one, but not 4x the time).

    ``device`` is an :class:`~qfab.backends.fpga.FPGADevice`. With a ``board`` (a
    ``qfab_hw.boards.Board``) the model prices the device's build on that board
    (:func:`board_rates`, with the driver's :class:`DriverCost` measured here, or a bare time
    per word) whatever its transport is. ``resident``: whether the core already holds the
    job's program (True, the default: a training step after the first; False: the first call,
    which stores it; None: as the device's transport stands now).
    """

    kind = "fpga"
    HOST_FEATURES = ("host_call_overhead_s", "instruction_s", "amplitude_s", "word_s")
    defaults = {
        "call_overhead_s": 2e-3,  # the driver's per call (Verilator: the whole call, calibrated)
        "dma_round_trip_s": 0.0,  # the link's per call (a board: BOARD_CALL_OVERHEAD_S, see board_rates)
        "seconds_per_cycle": 1e-8,  # 100 MHz PL clock
        "word_bytes_per_s": 0.83 * 1200e6,  # HP port at the fraction reached in practice
        "driver_seconds_per_word": 0.0,  # a board's driver on its processor (see board_rates)
        "set_overhead_s": 0.0,
        # the bit-accurate model on a host (a fit on the 2-core reference VM)
        "host_call_overhead_s": 20e-6,
        "instruction_s": 30e-6,
        "amplitude_s": 10e-9,
        "word_s": 8e-6,
    }

    def __init__(self, device, parameters: dict | None = None, board: Board | None = None,
                 host_seconds_per_word: DriverCost | float = 0.0, resident: bool | None = True):
        self.board = board
        self.resident = resident
        #: The clock the build runs at on ``board`` and why (None without a board).
        self.clock = board_clock(board, device.params) if board is not None else None
        rates = board_rates(board, host_seconds_per_word, device.params) if board is not None else {}
        super().__init__(device, {**rates, **(parameters or {})})

    @property
    def host_model(self) -> bool:
        """Whether the job runs on the bit-accurate numpy model (priced by :attr:`HOST_FEATURES`)
        rather than on a board or an RTL simulation (priced by cycles and words)."""
        return self.board is None and self.device.profile().parameters.get("transport") == "model"

    def cycles_and_words(self, job: Job) -> tuple[int, int]:
        """Core cycles and 64-bit words moved (words sent, beats back) for the whole job, counted
        on the call driver v2 sends (``FPGADevice.program_counts`` with :attr:`resident`): the
        closed-form cycles of its LOAD_PARAMS, RUN / RUN_SHIFT / RUN_ADJOINT and any PROGRAM,
        so exact rather than a bound."""
        cycles, words, beats = self.device.program_counts(job, resident=self.resident)
        return cycles, words + beats

    def host_features(self, job: Job) -> tuple[float, float, float, float]:
        """(calls, instructions, amplitudes touched, words) for the bit-accurate model, in the
        order of :attr:`HOST_FEATURES`: the instructions the model executes over the state in
        v2's call (``FPGADevice.program_instructions``: every replay's INIT, gates, rotations,
        OBS terms and readouts, RUN_SHIFT's shifted replays, RUN_ADJOINT's backward passes and
        reductions), each touching the whole state, and the words the call sends and the beats
        it returns."""
        n = max(job.circuit.num_qubits, self.device.params.min_qubits)
        instructions = self.device.program_instructions(job, resident=self.resident)
        _, words = self.cycles_and_words(job)
        return 1.0, float(instructions), float(instructions * 2 ** n), float(words)

    def breakdown(self, job: Job) -> dict[str, float]:
        """Where the predicted seconds go; the parts add up to :meth:`predict`. On a board or an
        RTL simulation: ``core_s`` the cycles at the clock, ``link_s`` the PS-PL link (the DMA
        round trip per call and the words and beats at its rate), ``driver_s`` the driver's host
        time per call and per word on the board's processor. For the
        bit-accurate model: ``core_s`` its instructions and amplitudes, ``link_s`` zero,
        ``driver_s`` the call and the words the driver assembles and the model unpacks."""
        p = self.parameters
        if self.host_model:
            calls, instructions, amplitudes, words = self.host_features(job)
            return {"core_s": instructions * p["instruction_s"] + amplitudes * p["amplitude_s"], "link_s": 0.0,
                    "driver_s": calls * p["host_call_overhead_s"] + words * p["word_s"]}
        cycles, words = self.cycles_and_words(job)
        return self.parts(cycles, words, job.batch)

    def parts(self, cycles: int, words: int, sets: int = 0) -> dict[str, float]:
        """:meth:`breakdown` of one call from its counts: ``cycles`` of the core, ``words`` moved
        (sent and received), ``sets`` parameter sets (board or RTL simulation rates)."""
        p = self.parameters
        return {"core_s": cycles * p["seconds_per_cycle"],
                "link_s": p["dma_round_trip_s"] + 8 * words / p["word_bytes_per_s"],
                "driver_s": p["call_overhead_s"] + sets * p["set_overhead_s"] + words * p["driver_seconds_per_word"]}

    def predict(self, job: Job) -> float:
        return float(sum(self.breakdown(job).values()))

    def expected_error(self, job: Job) -> float:
        """The fixed-point law's error of an expectation value on this build (``predicted_error``)."""
        return float(self.device.predicted_error(job.circuit))

    def gradient_floor(self, circuit: Circuit, shots: int) -> float:
        """(f+ - f-)/2 of two independent fixed-point errors of the expectation's rms: the LSBs
        the build's width accumulates over the circuit's passes."""
        passes = len(self.device.lowered(circuit).ops)
        return predicted_expectation_error(passes, self.device.params.width, quantile=1.0) / math.sqrt(2)
