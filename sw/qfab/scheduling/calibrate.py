"""``qfab calibrate``: short micro-benchmarks that fit each device's cost-model parameters.

Every model is linear in its parameters (``features . parameters``), so one least-squares fit
with non-negative coefficients (``scipy.optimize.nnls``) over a few timed jobs calibrates it:

- CPU: hardware-efficient circuits in cache (4-12 qubits) and out of it (16-18), batches of 1 to
  64, fitting call overhead, per-set overhead and the two bandwidths;
- FPGA: small circuits on the device's transport, fitting call overhead and time per cycle;
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

from ..devices import Device, Job, get_device
from .costmodel import CPUCostModel, FPGACostModel, GenericCostModel, cost_model_for
from .history import cache_dir

__all__ = ["calibrate", "load_profile", "profile_path", "benchmark_circuit", "PROFILE_SCHEMA"]

PROFILE_SCHEMA = 1


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

    from ..frontend import from_qiskit

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
    from ..observables import as_pauli_sums

    circuit = benchmark_circuit(num_qubits, layers)
    sums, _ = as_pauli_sums("Z" + "I" * (num_qubits - 1), num_qubits)
    params = np.random.default_rng(seed).uniform(-np.pi, np.pi, (batch, circuit.num_parameters))
    return Job(circuit, params, tuple(sums), gradient=gradient)


def timed_run(device: Device, job: Job, repeats: int = 3) -> float:
    device.run([job])  # warm: compilation and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        device.run([job])
        times.append(time.perf_counter() - start)
    return float(np.min(times))  # the machine is shared: noise only ever adds time


def _cpu_jobs():
    return [benchmark_job(n, b, gradient=g) for n in (4, 8, 12) for b in (1, 16, 64) for g in (None, "adjoint")] + \
           [benchmark_job(n, b) for n in (16, 18) for b in (1, 2)]


def _fit(design: list[list[float]], seconds: list[float]) -> np.ndarray:
    """Non-negative least squares on relative error: each row divided by its time, so a 50 us
    call weighs as much as a 50 ms one."""
    design, seconds = np.asarray(design, float), np.asarray(seconds, float)
    weights = 1.0 / seconds
    coefficients, _ = nnls(design * weights[:, None], seconds * weights)
    return coefficients


def _calibrate_cpu(model: CPUCostModel, repeats: int) -> dict:
    rows, seconds = [], []
    for job in _cpu_jobs():
        rows.append(list(model.features(job)))
        seconds.append(timed_run(model.device, job, repeats))
    overhead, per_set, inv_cache, inv_dram = _fit(rows, seconds)
    fitted = {"call_overhead_s": overhead, "set_overhead_s": per_set}
    if inv_cache > 0:
        fitted["cache_bytes_per_s"] = 1.0 / inv_cache
    if inv_dram > 0:
        fitted["dram_bytes_per_s"] = 1.0 / inv_dram
    return fitted


def _calibrate_fpga(model: FPGACostModel, repeats: int) -> dict:
    rows, seconds = [], []
    for n in (2, 4, 6):
        for batch in (1, 4):
            job = benchmark_job(n, batch, layers=1)
            cycles, words = model.cycles_and_words(job)
            transfer = 8 * words / model.parameters["word_bytes_per_s"]
            rows.append([1.0, cycles])
            seconds.append(max(timed_run(model.device, job, repeats) - transfer, 1e-9))
    overhead, per_cycle = _fit(rows, seconds)
    return {"call_overhead_s": overhead, "seconds_per_cycle": per_cycle}


def _calibrate_generic(model: GenericCostModel, repeats: int) -> dict:
    if model.parameters.get("seconds_per_set") is not None:
        return {}  # the device declares its rate; nothing to fit
    rows, seconds = [], []
    for n, batch in ((4, 1), (8, 4), (12, 4)):
        job = benchmark_job(n, batch)
        model.parameters["call_overhead_s"], model.parameters["pass_seconds_per_amplitude"] = 0.0, 1.0
        rows.append([1.0, model.predict(job)])  # with these parameters, predict() is the amplitude-pass count
        seconds.append(timed_run(model.device, job, repeats))
    overhead, per_amplitude = _fit(rows, seconds)
    return {"call_overhead_s": overhead, "pass_seconds_per_amplitude": per_amplitude}


def calibrate(devices=None, path: Path | None = None, repeats: int = 3) -> Path:
    """Time micro-benchmarks on ``devices`` (names or Device objects; default: every available
    one), fit each cost model and write the profile; returns its path. Devices whose model has
    nothing to fit (a QPU prices itself) keep their defaults."""
    from ..devices import available_devices

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
