"""Calibration of the CPU's cost model: the jobs that exercise each of its terms, and its fit.

Hardware-efficient circuits of 4 to 20 qubits (every knot of the time-per-byte curve), batches
of 1 to 24 (threads over sets, kernels over amplitudes), values and adjoint gradients: every
linear term of :class:`~.costmodel.CPUCostModel` is fitted at once by least squares, and its
adjoint backward weight by a line search over those fits.
"""
from __future__ import annotations

import numpy as np

from qfab.backends.calibration import benchmark_job, fit_parameters, timed_run
from qfab.backends.cpu.costmodel import CPUCostModel

__all__ = ["calibration_jobs", "fit_cpu", "calibrate_cpu", "BACKWARD_WEIGHTS"]

BACKWARD_WEIGHTS = (0.6, 0.8, 1.0, 1.2, 1.5, 2.0)  # the line search of CPUCostModel's backward_weight


def calibration_jobs():
    """Jobs spanning every term of the CPU model: 4 to 20 qubits (each knot of the time-per-byte
    curve), single sets and batches (threads over sets, or kernels over amplitudes), values and
    adjoint gradients. Two layers, so the held-out checks (one and three layers) are not fits."""
    small = [benchmark_job(n, b, gradient=g) for n in (4, 6, 8, 10, 12, 13) for b in (1, 3, 24)
             for g in (None, "adjoint")]
    large = [benchmark_job(n, b, gradient=g) for n in (14, 16) for b in (1, 3) for g in (None, "adjoint")]
    return small + large + [benchmark_job(n, 1, gradient=g) for n in (18, 20) for g in (None, "adjoint")]


def fit_cpu(model: CPUCostModel, jobs, seconds) -> dict:
    """Least squares for each backward weight of :data:`BACKWARD_WEIGHTS`; the weight whose fit
    has the smallest median relative error wins (the adjoint's cost against a forward pass is
    the one term that does not enter the model linearly). ``model``'s backward weight is left at
    the last one tried."""
    seconds = np.asarray(seconds, float)
    best = None
    for weight in BACKWARD_WEIGHTS:
        model.parameters["backward_weight"] = weight
        rows = np.array([model.features(job) for job in jobs])
        fitted = fit_parameters(model.FEATURES, rows, seconds)
        values = np.array([fitted.get(name, model.parameters[name]) for name in model.FEATURES])
        error = float(np.median(np.abs(rows @ values - seconds) / seconds))
        if best is None or error < best[0]:
            best = (error, {**fitted, "backward_weight": weight})
    return best[1]


def calibrate_cpu(model: CPUCostModel, repeats: int) -> dict:
    """Time :func:`calibration_jobs` on the model's device (the largest once each) and fit."""
    jobs = calibration_jobs()
    seconds = [timed_run(model.device, job, repeats if job.circuit.num_qubits < 18 else 1) for job in jobs]
    return fit_cpu(model, jobs, seconds)
