"""Measured times, kept per device and circuit signature, as StarPU's history models keep them.

After every run the runtime records ``(device, signature, batch, seconds, model prediction)``.
Predictions then come, in order of trust, from:

1. a **history bucket**: the mean of at least ``MIN_SAMPLES`` runs of the same signature and
   batch size (StarPU's ``HISTORY_BASED``; samples outside x1.5 of the mean are dropped, and the
   first sample of a signature is never kept: it pays compilation);
2. a **regression** ``t = a + b x batch`` over the signature's samples, once there are
   ``MIN_SAMPLES`` of them and the batch sizes spread (smallest < 90 % of largest: StarPU's
   ``REGRESSION_BASED`` rule);
3. the first-principles **model** scaled by the device's median measured/predicted ratio for
   that kind of job (values, or a gradient method), so a device that runs slower than modelled
   is priced as it runs.

The history is a JSON file per machine in the cache directory, written atomically; one that fails
validation (truncated, not JSON, of the wrong shape or types, NaN, infinite or negative times) is
moved aside with a warning and the history starts afresh (:mod:`qfab.scheduling.cachefiles`).
"""
from __future__ import annotations

import hashlib
import math
import os
import socket
import threading
from pathlib import Path

import numpy as np

from qfab.backends.base import Job
from qfab.scheduling.cachefiles import (check, equal_to, finite_number, integer_text, list_of, mapping_of, of_schema,
                                        optional, read_cache, text, write_cache)

__all__ = ["History", "signature", "cache_dir", "SCHEMA_VERSION", "MIN_SAMPLES", "SLOW_RATIO"]

SCHEMA_VERSION = 1
MIN_SAMPLES = 3  # StarPU waits for 10; qfab's runs are fewer and its kernels regular
OUTLIER_RATIO = 1.5  # StarPU_HISTORY_MAX_ERROR = 50 %
SLOW_RATIO = 2.0  # a device this much slower than predicted is flagged
RATIO_WINDOW = 50  # measured/predicted ratios kept per device


def cache_dir() -> Path:
    """``platformdirs.user_cache_dir("qfab")``, or ``$QFAB_CACHE_DIR`` (tests, shared clusters)."""
    import platformdirs

    path = Path(os.environ.get("QFAB_CACHE_DIR") or platformdirs.user_cache_dir("qfab"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def signature(job: Job) -> str:
    """The job's shape without its batch size: the circuit's gates and qubits, the observables'
    terms, the gradient method, what is returned and the precision (StarPU's footprint)."""
    circuit = job.circuit
    parts = [circuit.num_qubits, np.dtype(job.dtype).name, job.gradient, job.want_state, bool(job.shots)]
    parts += [(op.name, op.qubits, op.param is not None) for op in circuit.operations]
    parts += [(s.x_masks.tobytes(), s.z_masks.tobytes()) for s in job.observables]
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def _ratio_key(device: str, job: Job) -> str:
    return f"{device}|{job.gradient or 'values'}"


# device -> signature -> batch size -> seconds; ratios and their models per "device|kind"; signatures seen
_TIMES = list_of(finite_number(minimum=0.0))
_HISTORY = check({"schema": equal_to(SCHEMA_VERSION),
                  "samples": mapping_of(mapping_of(mapping_of(_TIMES, key=integer_text))),
                  "ratios": mapping_of(_TIMES),
                  "seen": mapping_of(list_of(text))},
                 {"ratio_models": mapping_of(optional(text)), "host": text})


class History:
    """Measured times per ``device -> signature -> batch``, plus each device's ratio of measured
    to modelled time. Thread-safe; ``save`` merges nothing, the last writer wins."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else cache_dir() / f"history-{socket.gethostname()}.json"
        self._lock = threading.Lock()
        self.samples: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.ratios: dict[str, list[float]] = {}
        self.ratio_models: dict[str, str] = {}  # which model (kind and parameters) each ratio list divides by
        self.seen: dict[str, list[str]] = {}
        data = read_cache(self.path, _HISTORY, current=lambda data: of_schema(data, SCHEMA_VERSION),
                          what="run history", fallback="predictions start again from the cost models")
        if data is not None:
            self.samples, self.ratios, self.seen = data["samples"], data["ratios"], data["seen"]
            self.ratio_models = data.get("ratio_models", {})

    def record(self, device: str, job: Job, seconds: float, modelled: float, model: str | None = None) -> None:
        """One measured run; ``model`` identifies the cost model that predicted ``modelled``: a
        ratio to another model (recalibrated, or changed with qfab) would correct the wrong thing,
        so the device's ratios start afresh when it changes."""
        if not (math.isfinite(seconds) and seconds >= 0):
            return  # a failed or corrupt timing: nothing to learn from, and JSON cannot hold it
        key = signature(job)
        with self._lock:
            seen = self.seen.setdefault(device, [])
            if key not in seen:  # the first run of a shape pays compilation: StarPU drops it too
                seen.append(key)
                return
            bucket = self.samples.setdefault(device, {}).setdefault(key, {}).setdefault(str(job.batch), [])
            if len(bucket) >= MIN_SAMPLES:
                mean = float(np.mean(bucket))
                if not mean / OUTLIER_RATIO <= seconds <= mean * OUTLIER_RATIO:
                    return
            bucket.append(float(seconds))
            if math.isfinite(modelled) and modelled > 0:
                key = _ratio_key(device, job)
                if self.ratio_models.get(key) != model:
                    self.ratios[key], self.ratio_models[key] = [], model
                ratios = self.ratios.setdefault(key, [])
                ratios.append(seconds / modelled)
                del ratios[:-RATIO_WINDOW]

    def predict(self, device: str, job: Job) -> tuple[float, str] | None:
        """(seconds, "history" | "regression") from measurements, or None if there are too few."""
        buckets = self.samples.get(device, {}).get(signature(job), {})
        bucket = buckets.get(str(job.batch), [])
        if len(bucket) >= MIN_SAMPLES:
            return float(np.mean(bucket)), "history"
        points = [(int(batch), t) for batch, times in buckets.items() for t in times]
        if len(points) >= MIN_SAMPLES:
            batches = np.array([b for b, _ in points], float)
            if batches.min() < 0.9 * batches.max():
                design = np.column_stack([np.ones_like(batches), batches])
                (intercept, slope), *_ = np.linalg.lstsq(design, np.array([t for _, t in points]), rcond=None)
                if slope > 0:
                    return float(max(intercept, 0.0) + slope * job.batch), "regression"
        return None

    def correction(self, device: str, job: Job, model: str | None = None) -> float:
        """Median measured/modelled ratio of the device's recent runs of the same kind (values,
        or a gradient by the same method: a model can be off differently for each) against the
        same ``model``; 1 with none."""
        key = _ratio_key(device, job)
        ratios = self.ratios.get(key) if self.ratio_models.get(key) == model else None
        return float(np.median(ratios)) if ratios else 1.0

    def save(self) -> Path:
        with self._lock:
            write_cache(self.path, {"schema": SCHEMA_VERSION, "host": socket.gethostname(),
                                      "samples": self.samples, "ratios": self.ratios, "ratio_models": self.ratio_models,
                                      "seen": self.seen})
        return self.path
