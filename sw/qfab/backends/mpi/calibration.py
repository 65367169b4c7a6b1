"""Calibration of the distributed model, collective over the launch.

The network's two rates come from timed exchanges of whole slices between rank pairs (over
shared memory on one machine: what "here" offers; a cluster's figures are given to a plan as
parameters); the local rates (call, bytes, flops) from benchmark jobs over the whole launch,
after the network's share (and the dense blocks' multiply-adds, at the CPU model's rate) of each is
taken off. Every rank times the same runs and takes the
slowest rank's time, so every rank fits the same numbers.
"""
from __future__ import annotations

import time

import numpy as np

from qfab.backends.calibration import benchmark_job, fit_parameters
from qfab.backends.mpi.costmodel import MPICostModel

__all__ = ["calibrate_mpi", "slowest_seconds", "EXCHANGE_SIZES", "LOCAL_QUBITS"]

#: Amplitudes of the slices exchanged to fit the network's latency and bandwidth.
EXCHANGE_SIZES = (1 << 8, 1 << 14, 1 << 18, 1 << 20)
#: Local qubits of the benchmark jobs: slices of 1 MiB (in cache) to 64 MiB (past the L3 cache).
LOCAL_QUBITS = (16, 19, 22)


def slowest_seconds(comm, action, repeats: int, warm: bool = True) -> float:
    """The fastest of ``repeats`` collective runs of ``action``, each timed as its slowest rank
    (after a warm run: compilation, page faults, shared-memory set-up; ``warm=False``: the caller
    has warmed it)."""
    from mpi4py import MPI

    if warm:
        action()
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        action()
        times.append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
    return float(min(times))


def calibrate_mpi(model: MPICostModel, repeats: int) -> dict:
    device = model.device
    engine = device.engine
    comm, fitted = engine.comm, {}
    if engine.size > 1:
        rows, seconds = [], []
        for size in EXCHANGE_SIZES:
            psi, other = np.zeros(size, np.complex128), np.empty(size, np.complex128)
            t = slowest_seconds(comm, lambda: engine.fetch(psi, engine.rank ^ 1, other), repeats)
            rows.append([1.0, 16.0 * size])
            seconds.append(t)
        fitted.update(fit_parameters(("network_latency_s", "network_byte_s"), rows, seconds))
    model.parameters.update(fitted)
    rows, seconds = [], []
    for local in LOCAL_QUBITS:
        for gradient in (None, "adjoint"):
            job = benchmark_job(local + engine.num_global, 1, gradient=gradient)
            t = slowest_seconds(comm, lambda: device.run([job]), repeats)
            features = dict(zip(model.FEATURES, model.features(job)))
            network = (features["network_latency_s"] * model.parameters["network_latency_s"]
                       + features["network_byte_s"] * model.parameters["network_byte_s"])
            flops = features["flop_s"] * model.parameters["flop_s"]
            rows.append([features["call_overhead_s"], features["byte_s"]])
            seconds.append(max(t - network - flops, 1e-6))
    # bytes and flops grow together over one family of circuits, so only one of the two rates is
    # fitted: the flop rate stays the CPU model's (fitted on this VM over varied block widths)
    fitted.update(fit_parameters(("call_overhead_s", "byte_s"), rows, seconds))
    return fitted
