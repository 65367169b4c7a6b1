"""Calibration of the FPGA's cost model, and the one driver rate a board prediction measures here.

The bit-accurate model: its host terms (call, instruction, amplitude, word) over 2 to 9 qubits,
one to four sets, values and parameter-shift gradients. A board or Verilator: call overhead
and time per cycle, after the link's share.
"""
from __future__ import annotations

import math
import time

import numpy as np
from qfab_hw import CoreParams

from qfab.backends.base import Job
from qfab.backends.calibration import benchmark_job, fit_parameters, timed_run
from qfab.backends.fpga.compiler import lower
from qfab.backends.fpga.costmodel import FPGACostModel
from qfab.backends.fpga.driver import expectation_program, state_program
from qfab.core.shift import shifted_circuit_count

__all__ = ["calibrate_fpga", "host_seconds_per_word", "program_circuits", "MAX_ROWS"]

MAX_ROWS = 4096  # parameter sets host_seconds_per_word assembles at most: bounds the time it takes


def calibrate_fpga(model: FPGACostModel, repeats: int) -> dict:
    """Time benchmark jobs on the model's device and fit: :attr:`~FPGACostModel.HOST_FEATURES`
    for the bit-accurate model, ``call_overhead_s`` and ``seconds_per_cycle`` otherwise."""
    rows, seconds = [], []
    if model.host_model:
        for n in (2, 4, 6, 8, 9):
            # values, and a parameter-shift gradient (a long program of short circuits)
            for batch, layers, gradient in ((1, 1, None), (1, 3, None), (4, 2, None), (2, 1, "parameter-shift")):
                job = benchmark_job(n, batch, layers=layers, gradient=gradient)
                rows.append(list(model.host_features(job)))
                seconds.append(timed_run(model.device, job, repeats))
        return fit_parameters(model.HOST_FEATURES, rows, seconds)
    for n in (2, 4, 6):
        for batch in (1, 4):
            job = benchmark_job(n, batch, layers=1)
            cycles, words = model.cycles_and_words(job)
            transfer = 8 * words / model.parameters["word_bytes_per_s"]
            rows.append([1.0, cycles])
            seconds.append(max(timed_run(model.device, job, repeats) - transfer, 1e-9))
    return fit_parameters(("call_overhead_s", "seconds_per_cycle"), rows, seconds)


def program_circuits(job: Job) -> int:
    """Circuits the program of ``job`` holds: every parameter set, each with its shifted
    circuits for a parameter-shift gradient of its observables."""
    shifted = shifted_circuit_count(job.circuit) if job.gradient == "parameter-shift" and job.observables else 0
    return job.batch * (1 + shifted)


def host_seconds_per_word(job: Job, params: CoreParams) -> float:
    """This host's time to assemble one program word of ``job``'s circuit on build ``params``,
    for as many parameter sets as the job's program holds circuits (up to :data:`MAX_ROWS`):
    the driver's work per word, its fixed costs spread over the program's size (so the price
    per word falls with it). What a board's driver costs per word, once scaled to its processor."""
    lowered, sums = lower(job.circuit), list(job.observables)
    rows = min(program_circuits(job), MAX_ROWS)
    thetas = np.random.default_rng(0).uniform(0, np.pi, (rows, job.circuit.num_parameters))

    def assemble(angles):
        return expectation_program(lowered, sums, angles, params) if sums else state_program(lowered, angles, params)

    assemble(thetas[:1])  # imports, caches
    best = math.inf
    for _ in range(3):  # the fastest of three: on a shared machine noise only adds time
        start = time.perf_counter()
        program = assemble(thetas)
        best = min(best, time.perf_counter() - start)
    return best / len(program.words)
