"""Calibration of the FPGA's cost model, and the one driver rate a board prediction measures here.

The bit-accurate model: its host terms (call, instruction, amplitude, word) over 2 to 9 qubits,
one to four sets, values and parameter-shift gradients. A board or Verilator: call overhead
and time per cycle, after the link's share. A board that is not here: the v2 driver's host
seconds per call and per word (:func:`driver_cost`), timed at the job's own size.
"""
from __future__ import annotations

import math
import time

from dataclasses import replace

import numpy as np
from qfab_hw import CoreParams, ErrorCode

from qfab.backends.base import Job
from qfab.backends.calibration import benchmark_job, fit_parameters, timed_run
from qfab.backends.fpga.costmodel import DriverCost, FPGACostModel
from qfab.backends.fpga.driver import CoreRun
from qfab.backends.fpga.transports import Transport
from qfab.core.shift import shifted_circuit_count

__all__ = ["calibrate_fpga", "driver_cost", "host_seconds_per_word", "program_circuits"]


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
    """Circuits v1's program of ``job`` held (every parameter set, each with its shifted circuits
    for a parameter-shift gradient): what a v1 step bound on the host, for comparisons."""
    shifted = shifted_circuit_count(job.circuit) if job.gradient == "parameter-shift" and job.observables else 0
    return job.batch * (1 + shifted)


class _ReplayTransport(Transport):
    """Answers every call at once with as many zero beats as it expects: the driver's host time
    without the core's (what a board's driver does around its DMA round trip)."""

    name = "replay"

    def __init__(self, params: CoreParams):
        self.params = params

    def execute(self, words, beats_expected, timeout_s) -> CoreRun:
        return CoreRun(np.zeros(beats_expected, dtype=np.uint64), ErrorCode.NONE, False, 0)


def driver_cost(job: Job, params: CoreParams, device_type, repeats: int = 15, scale: int = 4) -> DriverCost:
    """The v2 driver's host seconds per call and per word for ``job`` on build ``params``, timed
    here at the job's own size: ``FPGADevice.run`` (check, plan and program caches by
    structure, LOAD_PARAMS packing, run headers, decoding values and gradients) on a transport
    that answers instantly, the program resident (a training step after the first), each call
    on a new ``Circuit`` object as a training loop builds it. Two sizes -- the job's batch and
    ``scale`` times it -- give the line ``seconds = call_s + word_s x (words sent + beats
    back)``; each the fastest of ``repeats`` (on a shared machine noise only adds time). What a
    board's driver costs, once scaled to its processor (``costmodel.PS_SLOWDOWN``).
    ``device_type`` is ``FPGADevice`` (or a subclass): the device hands itself in, since it
    prices its driver with this module."""
    device = device_type(_ReplayTransport(params), params)
    points = []
    for batch in (job.batch, scale * job.batch):
        thetas = np.resize(np.asarray(job.params, dtype=np.float64), (batch, job.circuit.num_parameters))
        sized = replace(job, params=thetas)
        device.run([sized])  # imports, the structure's caches, the program made resident
        _, words, beats = device.program_counts(sized, resident=True)
        best = math.inf
        # a new Circuit object per call (without its cached structure key), built before the clock
        fresh = [replace(sized, circuit=replace(job.circuit)) for _ in range(repeats)]
        for step in fresh:
            start = time.perf_counter()
            device.run([step])
            best = min(best, time.perf_counter() - start)
        points.append((words + beats, best))
    (w0, t0), (w1, t1) = points
    word_s = max((t1 - t0) / (w1 - w0), 0.0) if w1 > w0 else 0.0
    return DriverCost(call_s=max(t0 - word_s * w0, 0.0), word_s=word_s)


def host_seconds_per_word(job: Job, params: CoreParams, device_type) -> DriverCost:
    """The driver's host cost for ``job`` on ``params`` (:func:`driver_cost`): per call and per
    word, measured at the job's size. The name is kept from v1, when the driver's whole cost
    was assembling program words; ``FPGACostModel`` and ``BoardFPGA`` take the result."""
    return driver_cost(job, params, device_type)
