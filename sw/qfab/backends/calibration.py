"""What every backend's calibration shares: benchmark jobs, the timer, the least-squares fit, and
the generic model's fit.

Every cost model is linear in its parameters (``features . parameters``), so one least-squares
fit with non-negative coefficients (``scipy.optimize.nnls``) over a few timed jobs calibrates it.
Each backend picks its jobs and features (``backends/<kind>/calibration.py``) and calls
:func:`fit_parameters`; ``Device.calibrate`` runs it, and ``qfab.scheduling.calibrate`` stores
what it returns in this machine's profile.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from qfab.backends.job import Job
from qfab.backends.costmodel import GenericCostModel

if TYPE_CHECKING:  # annotations only: the Device interface sits above its calibration
    from qfab.backends.base import Device

__all__ = ["benchmark_circuit", "benchmark_job", "timed_run", "fit_parameters", "fit_rates", "OUTLIER_RATIO"]

OUTLIER_RATIO = 1.5  # a time this far above the first fit is taken as disturbed (StarPU's 50 %)


def benchmark_circuit(num_qubits: int, layers: int = 2):
    """RY and RZ on every qubit then a CNOT ladder, per layer: the shape QML ansatzes take."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    from qfab.core.frontend import from_qiskit

    theta = ParameterVector("t", 2 * num_qubits * layers)
    qc = QuantumCircuit(num_qubits)
    k = 0
    for _ in range(layers):
        for gate in (qc.ry, qc.rz):
            for q in range(num_qubits):
                gate(theta[k], q)
                k += 1
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
    return from_qiskit(qc)


def benchmark_job(num_qubits: int, batch: int, layers: int = 2, gradient: str | None = None, seed: int = 0) -> Job:
    """:func:`benchmark_circuit` over ``batch`` random parameter sets, measuring Z on one qubit."""
    from qfab.core.observables import as_pauli_sums

    circuit = benchmark_circuit(num_qubits, layers)
    sums, _ = as_pauli_sums("Z" + "I" * (num_qubits - 1), num_qubits)
    params = np.random.default_rng(seed).uniform(-np.pi, np.pi, (batch, circuit.num_parameters))
    return Job(circuit, params, tuple(sums), gradient=gradient)


def timed_run(device: Device, job: Job, repeats: int = 3, min_total_s: float = 0.2, max_repeats: int = 20,
              max_wall_s: float = 0.5, warm: bool = True) -> float:
    """The fastest of at least ``repeats`` runs after a warm one. A short job (its fastest run
    times the runs so far under ``min_total_s``) is repeated up to ``max_repeats`` times or
    ``max_wall_s``: on a shared machine noise only ever adds time, and it comes in bursts (a
    parallel region whose threads were descheduled waits a scheduler tick, 4 ms, against a
    0.2 ms job), so a short job needs many tries to see one undisturbed run. ``warm=False``:
    the caller has already run the job once."""
    if warm:
        device.run([job])  # warm: compilation and caches
    times = []
    while len(times) < repeats or (len(times) * min(times) < min_total_s and len(times) < max_repeats
                                   and sum(times) < max_wall_s):
        start = time.perf_counter()
        device.run([job])
        times.append(time.perf_counter() - start)
    return float(np.min(times))


def fit_parameters(names, design, seconds) -> dict:
    """Non-negative least squares on relative error: each row divided by its time, so a 50 us
    call weighs as much as a 50 ms one; columns scaled to unit norm first (features span ten
    orders of magnitude, bytes against calls). Then once more without the rows measured over
    :data:`OUTLIER_RATIO` x the first fit: on a shared machine noise only adds time, and one
    disturbed sample pulls every parameter. Returns the fitted value per parameter name; one
    that no job exercised (an all-zero column) is left out, so the model keeps its default."""
    from scipy.optimize import nnls  # scipy's import is slow, and only a calibration needs it

    design, seconds = np.asarray(design, float), np.asarray(seconds, float)
    norms = np.linalg.norm(design / seconds[:, None], axis=0)
    scale = np.where(norms > 0, norms, 1.0)

    def fit(rows):
        coefficients, _ = nnls(design[rows] / seconds[rows, None] / scale, np.ones(rows.sum()))
        return coefficients / scale

    keep = np.ones(len(seconds), bool)
    coefficients = fit(keep)
    calm = seconds <= OUTLIER_RATIO * (design @ coefficients)
    if calm.sum() >= max(len(names), len(seconds) // 2):
        coefficients = fit(calm)
    return {name: float(value) for name, value, norm in zip(names, coefficients, norms) if norm > 0}


def fit_rates(model: GenericCostModel, repeats: int) -> dict:
    """``call_overhead_s`` and ``pass_seconds_per_amplitude`` of a generic model (or one built on
    it, as the GPU's), from three benchmark jobs of 4 to 12 qubits, after the declared launch
    overheads; nothing when the device declares its ``seconds_per_set``."""
    if model.parameters.get("seconds_per_set") is not None:
        return {}
    rows, seconds = [], []
    for n, batch in ((4, 1), (8, 4), (12, 4)):
        job = benchmark_job(n, batch)
        rows.append([1.0, model.amplitude_passes(job)])
        seconds.append(max(timed_run(model.device, job, repeats) - model.launch_seconds(job), 1e-9))
    return fit_parameters(("call_overhead_s", "pass_seconds_per_amplitude"), rows, seconds)
