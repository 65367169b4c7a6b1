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
   is priced as it runs; only runs modelled at :data:`RATIO_MIN_MODELLED_S` or more teach the
   ratio (a small call is its overheads, which the model does not claim to price).

The history is a JSON file per machine in the cache directory, written atomically; one that fails
validation (truncated, not JSON, of the wrong shape or types, NaN, infinite or negative times) is
moved aside with a warning and the history starts afresh (:mod:`qfab.scheduling.cachefiles`).

Small calls must not pay for the file: a process reads and validates it once and shares it
between every :class:`History` of the same path (read again only when another process changed
it), ``save`` writes at most every :data:`SAVE_INTERVAL_S` (and at exit), and the history is
bounded (:data:`SAMPLES_PER_BUCKET` runs per bucket, :data:`SIGNATURES_PER_DEVICE` shapes per
device, the oldest dropped), so the file stays a few tens of kB however long it is used.
"""
from __future__ import annotations

import atexit
import functools
import hashlib
import math
import os
import socket
import threading
import time
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
#: Runs modelled shorter than this teach no ratio: a small call's time is its fixed overheads
#: (threads, Python), and their ratio would rescale every large job's model (by 9x here once).
RATIO_MIN_MODELLED_S = 5e-3
SAMPLES_PER_BUCKET = 20  # the most recent runs kept per (device, signature, batch)
SIGNATURES_PER_DEVICE = 500  # shapes kept per device, the least recently first seen dropped
SAVE_INTERVAL_S = 2.0  # at most one write of a history file this often (the rest at exit)


def cache_dir() -> Path:
    """``platformdirs.user_cache_dir("qfab")``, or ``$QFAB_CACHE_DIR`` (tests, shared clusters)."""
    return _cache_dir(os.environ.get("QFAB_CACHE_DIR"))


@functools.lru_cache(maxsize=8)
def _cache_dir(override: str | None) -> Path:
    import platformdirs

    path = Path(override or platformdirs.user_cache_dir("qfab"))
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


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class _Shared:
    """One history file's contents in this process, shared by every History of its path."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.samples: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.ratios: dict[str, list[float]] = {}
        self.ratio_models: dict[str, str] = {}  # which model (kind and parameters) each ratio list divides by
        self.seen: dict[str, list[str]] = {}
        data = read_cache(path, _HISTORY, current=lambda data: of_schema(data, SCHEMA_VERSION),
                          what="run history", fallback="predictions start again from the cost models")
        if data is not None:
            self.samples, self.ratios, self.seen = data["samples"], data["ratios"], data["seen"]
            self.ratio_models = data.get("ratio_models", {})
            for device in list(self.seen):
                self.bound(device)
            for buckets in self.samples.values():
                for batches in buckets.values():
                    for bucket in batches.values():
                        del bucket[:-SAMPLES_PER_BUCKET]
        self.stat = _stat(path)  # the file as this process last read or wrote it
        self.saved_at = 0.0
        self.dirty = False

    def bound(self, device: str) -> None:
        """Forget a device's oldest shapes beyond :data:`SIGNATURES_PER_DEVICE`."""
        seen = self.seen.get(device, [])
        for key in seen[:-SIGNATURES_PER_DEVICE]:
            self.samples.get(device, {}).pop(key, None)
        del seen[:-SIGNATURES_PER_DEVICE]

    def write(self) -> None:
        with self.lock:
            write_cache(self.path, {"schema": SCHEMA_VERSION, "host": socket.gethostname(),
                                      "samples": self.samples, "ratios": self.ratios, "ratio_models": self.ratio_models,
                                      "seen": self.seen})
            self.stat, self.saved_at, self.dirty = _stat(self.path), time.monotonic(), False


_SHARED: dict[Path, _Shared] = {}
_SHARED_LOCK = threading.Lock()


def _shared(path: Path) -> _Shared:
    """This process's copy of the history at ``path``: read once, read again only if the file
    changed under it (another process wrote it, or it was replaced or removed)."""
    with _SHARED_LOCK:
        shared = _SHARED.get(path)
        if shared is None or _stat(path) != shared.stat:
            shared = _SHARED[path] = _Shared(path)
        return shared


@atexit.register
def _flush_all() -> None:
    """Write every history with runs recorded since its last write."""
    for shared in list(_SHARED.values()):
        if shared.dirty:
            try:
                shared.write()
            except OSError:  # a vanished cache directory at exit: nothing to keep it in
                pass


class History:
    """Measured times per ``device -> signature -> batch``, plus each device's ratio of measured
    to modelled time. Thread-safe; ``save`` merges nothing, the last writer wins. Every History
    of one path in a process shares its contents."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else cache_dir() / f"history-{socket.gethostname()}.json"
        self._shared = _shared(self.path)
        self._lock = self._shared.lock
        self.samples, self.ratios = self._shared.samples, self._shared.ratios
        self.ratio_models, self.seen = self._shared.ratio_models, self._shared.seen

    def record(self, device: str, job: Job, seconds: float, modelled: float, model: str | None = None) -> None:
        """One measured run; ``model`` identifies the cost model that predicted ``modelled``: a
        ratio to another model (recalibrated, or changed with qfab) would correct the wrong thing,
        so the device's ratios start afresh when it changes."""
        if not (math.isfinite(seconds) and seconds >= 0):
            return  # a failed or corrupt timing: nothing to learn from, and JSON cannot hold it
        key = signature(job)
        with self._lock:
            seen = self.seen.setdefault(device, [])
            self._shared.dirty = True
            if key not in seen:  # the first run of a shape pays compilation: StarPU drops it too
                seen.append(key)
                self._shared.bound(device)
                return
            bucket = self.samples.setdefault(device, {}).setdefault(key, {}).setdefault(str(job.batch), [])
            if len(bucket) >= MIN_SAMPLES:
                mean = float(np.mean(bucket))
                if not mean / OUTLIER_RATIO <= seconds <= mean * OUTLIER_RATIO:
                    return
            bucket.append(float(seconds))
            del bucket[:-SAMPLES_PER_BUCKET]
            if math.isfinite(modelled) and modelled >= RATIO_MIN_MODELLED_S:
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

    def save(self, force: bool = False) -> Path:
        """Write the file, unless it was written less than :data:`SAVE_INTERVAL_S` ago (then the
        runs wait for the next save or the process's exit); ``force``: now."""
        shared = self._shared
        if force or not shared.path.exists() or time.monotonic() - shared.saved_at >= SAVE_INTERVAL_S:
            shared.write()
        return self.path
