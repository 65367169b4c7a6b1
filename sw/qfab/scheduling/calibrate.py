"""``qfab calibrate``: short micro-benchmarks that fit each device's cost-model parameters.

Every model is linear in its parameters (``features . parameters``), so one least-squares fit
with non-negative coefficients (``scipy.optimize.nnls``) over a few timed jobs calibrates it:

- CPU: hardware-efficient circuits of 4 to 20 qubits (every knot of the time-per-byte curve),
  batches of 1 to 24 (threads over sets, kernels over amplitudes), values and adjoint gradients,
  fitting every linear term of :class:`~.costmodel.CPUCostModel` at once, and its adjoint
  backward weight by a line search over those fits;
- FPGA: the bit-accurate model's host terms (call, instruction, amplitude, word) over 2 to 9
  qubits; a board or Verilator: call overhead and time per cycle;
- others (:class:`~.costmodel.GenericCostModel`): call overhead and time per amplitude pass.

The profile is a JSON file per machine under the cache directory, with a schema version; a
profile of another version is ignored (the planner falls back to defaults) rather than misread.
"""
from __future__ import annotations

import datetime
import json
import socket
import time
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from qfab.backends import Device, Job, get_device
from qfab.scheduling.costmodel import CPUCostModel, FPGACostModel, GenericCostModel, cost_model_for
from qfab.scheduling.history import cache_dir

__all__ = ["calibrate", "ensure_calibrated", "load_profile", "profile_path", "benchmark_circuit", "PROFILE_SCHEMA"]

# 2: the CPU model's time per byte over the working set (byte_s_ws*, set_byte_s_ws*), launch, matrix
#    and backward_weight terms;
#    the FPGA bit-accurate model's host terms (instruction_s, amplitude_s, word_s)
PROFILE_SCHEMA = 4


def profile_path() -> Path:
    return cache_dir() / f"profile-{socket.gethostname()}.json"


def load_profile(path: Path | None = None) -> dict[str, dict]:
    """Calibrated parameters per device name; empty when there is no profile of this schema."""
    path = Path(path) if path else profile_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if data.get("schema") != PROFILE_SCHEMA:
        return {}
    return {name: entry["parameters"] for name, entry in data.get("devices", {}).items()}


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


def _cpu_jobs():
    """Jobs spanning every term of the CPU model: 4 to 20 qubits (each knot of the time-per-byte
    curve), single sets and batches (threads over sets, or kernels over amplitudes), values and
    adjoint gradients. Two layers, so the held-out checks (one and three layers) are not fits."""
    small = [benchmark_job(n, b, gradient=g) for n in (4, 6, 8, 10, 12, 13) for b in (1, 3, 24)
             for g in (None, "adjoint")]
    large = [benchmark_job(n, b, gradient=g) for n in (14, 16) for b in (1, 3) for g in (None, "adjoint")]
    return small + large + [benchmark_job(n, 1, gradient=g) for n in (18, 20) for g in (None, "adjoint")]


OUTLIER_RATIO = 1.5  # a time this far above the first fit is taken as disturbed (StarPU's 50 %)


def _fit_parameters(names, design, seconds) -> dict:
    """Non-negative least squares on relative error: each row divided by its time, so a 50 us
    call weighs as much as a 50 ms one; columns scaled to unit norm first (features span ten
    orders of magnitude, bytes against calls). Then once more without the rows measured over
    :data:`OUTLIER_RATIO` x the first fit: on a shared machine noise only adds time, and one
    disturbed sample pulls every parameter. Returns the fitted value per parameter name; one
    that no job exercised (an all-zero column) is left out, so the model keeps its default."""
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


BACKWARD_WEIGHTS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)  # the line search of CPUCostModel's backward_weight


def _fit_cpu(model: CPUCostModel, jobs, seconds) -> dict:
    """Least squares for each backward weight of :data:`BACKWARD_WEIGHTS`; the weight whose fit
    has the smallest median relative error wins (the adjoint's cost against a forward pass is
    the one term that does not enter the model linearly)."""
    seconds = np.asarray(seconds, float)
    best = None
    for weight in BACKWARD_WEIGHTS:
        model.parameters["backward_weight"] = weight
        rows = np.array([model.features(job) for job in jobs])
        fitted = _fit_parameters(model.FEATURES, rows, seconds)
        values = np.array([fitted.get(name, model.parameters[name]) for name in model.FEATURES])
        error = float(np.median(np.abs(rows @ values - seconds) / seconds))
        if best is None or error < best[0]:
            best = (error, {**fitted, "backward_weight": weight})
    return best[1]


def _calibrate_cpu(model: CPUCostModel, repeats: int) -> dict:
    jobs = _cpu_jobs()
    seconds = [timed_run(model.device, job, repeats if job.circuit.num_qubits < 18 else 1) for job in jobs]
    return _fit_cpu(model, jobs, seconds)


def _calibrate_fpga(model: FPGACostModel, repeats: int) -> dict:
    """The bit-accurate model: its host features over 2 to 9 qubits, one to four sets, values
    and parameter-shift gradients; a board
    or Verilator: call overhead and time per cycle after the link's share."""
    rows, seconds = [], []
    if model.host_model:
        for n in (2, 4, 6, 8, 9):
            # values, and a parameter-shift gradient (a long program of short circuits)
            for batch, layers, gradient in ((1, 1, None), (1, 3, None), (4, 2, None), (2, 1, "parameter-shift")):
                job = benchmark_job(n, batch, layers=layers, gradient=gradient)
                rows.append(list(model.host_features(job)))
                seconds.append(timed_run(model.device, job, repeats))
        return _fit_parameters(model.HOST_FEATURES, rows, seconds)
    for n in (2, 4, 6):
        for batch in (1, 4):
            job = benchmark_job(n, batch, layers=1)
            cycles, words = model.cycles_and_words(job)
            transfer = 8 * words / model.parameters["word_bytes_per_s"]
            rows.append([1.0, cycles])
            seconds.append(max(timed_run(model.device, job, repeats) - transfer, 1e-9))
    return _fit_parameters(("call_overhead_s", "seconds_per_cycle"), rows, seconds)


def _calibrate_generic(model: GenericCostModel, repeats: int) -> dict:
    if model.parameters.get("seconds_per_set") is not None:
        return {}  # the device declares its rate; nothing to fit
    rows, seconds = [], []
    for n, batch in ((4, 1), (8, 4), (12, 4)):
        job = benchmark_job(n, batch)
        model.parameters["call_overhead_s"], model.parameters["pass_seconds_per_amplitude"] = 0.0, 1.0
        rows.append([1.0, model.predict(job)])  # with these parameters, predict() is the amplitude-pass count
        seconds.append(timed_run(model.device, job, repeats))
    return _fit_parameters(("call_overhead_s", "pass_seconds_per_amplitude"), rows, seconds)


def calibrate(devices=None, path: Path | None = None, repeats: int = 3) -> Path:
    """Time micro-benchmarks on ``devices`` (names or Device objects; default: every available
    one), fit each cost model and write the profile; returns its path. Devices whose model has
    nothing to fit (a QPU prices itself) keep their defaults."""
    from qfab.backends import available_devices

    chosen = [get_device(d) for d in devices] if devices is not None else list(available_devices().values())
    entries = {}
    for device in chosen:
        model = cost_model_for(device)
        if isinstance(model, CPUCostModel):
            fitted = _calibrate_cpu(model, repeats)
        elif isinstance(model, FPGACostModel):
            fitted = _calibrate_fpga(model, repeats)
        elif isinstance(model, GenericCostModel):
            fitted = _calibrate_generic(model, repeats)
        else:
            fitted = {}
        entries[device.name] = {"kind": model.kind, "parameters": {k: float(v) for k, v in fitted.items()}}
    path = Path(path) if path else profile_path()
    existing = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            existing = {}
    devices_entry = existing.get("devices", {}) if existing.get("schema") == PROFILE_SCHEMA else {}
    devices_entry.update(entries)
    path.write_text(json.dumps({
        "schema": PROFILE_SCHEMA, "host": socket.gethostname(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "devices": devices_entry,
    }, indent=1, sort_keys=True))
    return path


def ensure_calibrated(devices=("cpu", "fpga"), repeats: int = 1) -> dict[str, dict]:
    """This machine's profile, calibrating ``devices`` first if it has none for them (a
    newcomer's first run: predictions compared with measurements need a calibrated model)."""
    if not set(devices) <= set(load_profile()):
        calibrate(list(devices), repeats=repeats)
    return load_profile()
