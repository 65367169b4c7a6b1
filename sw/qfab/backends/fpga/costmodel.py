"""The FPGA core's cost model: cycles at a clock plus words over a link, or the host's time for the
bit-accurate model; and the rates of a board that is not attached.

On a board a job costs the core's cycles (``qfab_hw.model.cycles``, counted on the program the
driver assembles) at the PL clock, the PS-PL transfer of its program words and result beats,
and the driver's time on the board's processor per call and per word. :func:`board_rates` gives
those for any board config (``qfab_hw.boards``), so the model prices a build as that board
would run it before the board exists; the figures it cannot measure here (the driver on the
board's processor, one DMA round trip) are assumptions, named below.
"""
from __future__ import annotations

import math

from qfab_hw.boards import Board

from qfab.backends.base import Job
from qfab.backends.costmodel import CostModel
from qfab.backends.fpga.compiler import predicted_expectation_error
from qfab.core.ir import Circuit

__all__ = ["FPGACostModel", "board_rates", "PS_SLOWDOWN", "BOARD_CALL_OVERHEAD_S", "DMA_EFFICIENCY"]

#: How much slower the board's processor runs the (pure Python) driver than this host:
#: Cortex-A9 at 650 MHz (Zynq-7000) and Cortex-A53 at 1.2-1.5 GHz (Zynq UltraScale+) against a
#: current x86 core. Assumed, not measured: no board was available.
PS_SLOWDOWN = {"zynq7": 10.0, "zynq_ultra_ps_e": 5.0}

#: One DMA round trip from Python on the board (two ``transfer`` calls, two ``wait``), assumed.
BOARD_CALL_OVERHEAD_S = 300e-6

#: Fraction of the HP port's theoretical bandwidth reached (fpga-codesign reference, section 2.2:
#: 83 % on Zynq-7000, 75 % on a ZCU102).
DMA_EFFICIENCY = {"xc7": 0.83, "xcup": 0.75}


def board_rates(board: Board, host_seconds_per_word: float) -> dict:
    """:class:`FPGACostModel` parameters of the core on ``board``: a cycle at its PL clock, its HP
    port at :data:`DMA_EFFICIENCY`, one DMA round trip per call, and the driver's time per word
    on its processor (``host_seconds_per_word``, this host's, times :data:`PS_SLOWDOWN`)."""
    return {"seconds_per_cycle": 1.0 / (board.pl_mhz * 1e6), "call_overhead_s": BOARD_CALL_OVERHEAD_S,
            "word_bytes_per_s": board.bandwidth_mb_s * 1e6 * DMA_EFFICIENCY[board.family],
            "driver_seconds_per_word": host_seconds_per_word * PS_SLOWDOWN[board.ps], "set_overhead_s": 0.0}


class FPGACostModel(CostModel):
    """An FPGA core: on a board, ``call_overhead_s + cycles x seconds_per_cycle + 8 B x (words +
    beats) / link rate + (words + beats) x driver time per word``; for the bit-accurate model
    (transport ``"model"``), host seconds.

    Cycles come from the core's closed form per instruction (INIT, one pass per fused gate of
    ``pairs / lanes`` issue cycles plus its coefficient words and the drain, one reduction per
    Pauli term) summed over the program the driver assembles, per parameter set and measurement
    basis; a parameter-shift gradient runs ``1 + 2 x rotations`` circuits.
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
    (:func:`board_rates`, with the driver's ``host_seconds_per_word`` measured here) whatever
    its transport is.
    """

    kind = "fpga"
    HOST_FEATURES = ("host_call_overhead_s", "instruction_s", "amplitude_s", "word_s")
    defaults = {
        "call_overhead_s": 2e-3,
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
                 host_seconds_per_word: float = 0.0):
        self.board = board
        rates = board_rates(board, host_seconds_per_word) if board is not None else {}
        super().__init__(device, {**rates, **(parameters or {})})

    @property
    def host_model(self) -> bool:
        """Whether the job runs on the bit-accurate numpy model (priced by :attr:`HOST_FEATURES`)
        rather than on a board or an RTL simulation (priced by cycles and words)."""
        return self.board is None and self.device.profile().parameters.get("transport") == "model"

    def cycles_and_words(self, job: Job) -> tuple[int, int]:
        """Core cycles and 64-bit words moved (program in, beats out) for the whole job, counted
        on the program the driver assembles (``FPGADevice.program_counts``): each fused gate at
        its own instruction's cycles and coefficient words, so exact rather than a bound."""
        cycles, words, beats = self.device.program_counts(job)
        return cycles, words + beats

    def host_features(self, job: Job) -> tuple[float, float, float, float]:
        """(calls, instructions, amplitudes touched, words) for the bit-accurate model, in the
        order of :attr:`HOST_FEATURES`: counted on the assembled program (fused gates, basis
        changes, reads), every instruction but END touching the whole state."""
        n = max(job.circuit.num_qubits, self.device.params.min_qubits)
        instructions = self.device.program_instructions(job)
        _, words = self.cycles_and_words(job)
        return 1.0, float(instructions), float((instructions - 1) * 2 ** n), float(words)

    def breakdown(self, job: Job) -> dict[str, float]:
        """Where the predicted seconds go; the parts add up to :meth:`predict`. On a board or an
        RTL simulation: ``core_s`` the cycles at the clock, ``link_s`` the words over the PS-PL
        link, ``driver_s`` the calls, the sets and the driver's time per word. For the
        bit-accurate model: ``core_s`` its instructions and amplitudes, ``link_s`` zero,
        ``driver_s`` the call and the words the driver assembles and the model unpacks."""
        p = self.parameters
        if self.host_model:
            calls, instructions, amplitudes, words = self.host_features(job)
            return {"core_s": instructions * p["instruction_s"] + amplitudes * p["amplitude_s"], "link_s": 0.0,
                    "driver_s": calls * p["host_call_overhead_s"] + words * p["word_s"]}
        cycles, words = self.cycles_and_words(job)
        return {"core_s": cycles * p["seconds_per_cycle"], "link_s": 8 * words / p["word_bytes_per_s"],
                "driver_s": p["call_overhead_s"] + job.batch * p["set_overhead_s"] + words * p["driver_seconds_per_word"]}

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
