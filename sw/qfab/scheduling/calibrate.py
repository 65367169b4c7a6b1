"""``qfab calibrate``: each device fits its own cost model, and this machine's profile keeps the fits.

``calibrate(devices)`` asks every device for its fit (``Device.calibrate``: short timed
micro-benchmarks and a non-negative least-squares fit, :mod:`qfab.backends.calibration`; the
CPU's in ``qfab.backends.cpu.calibration``, the FPGA's in ``qfab.backends.fpga.calibration``,
nothing for a QPU, which prices itself) and writes what they return.

The profile is a JSON file per machine under the cache directory, with a schema version; a
profile of another version is ignored (the planner falls back to defaults) rather than misread. A
profile that fails validation (truncated, not JSON, fields of the wrong shape or type, NaN or
infinite parameters) is moved aside with a warning (:mod:`qfab.scheduling.cachefiles`), and
defaults, or a recalibration by :func:`ensure_calibrated`, take over. Writes are atomic.
"""
from __future__ import annotations

import datetime
import math
import socket
import warnings
from pathlib import Path

from qfab.backends import get_device
from qfab.backends.calibration import benchmark_circuit, benchmark_job, timed_run
from qfab.errors import CacheFileWarning
from qfab.scheduling.cachefiles import (check, equal_to, finite_number, mapping_of, of_schema, read_cache, text,
                                        write_cache)
from qfab.scheduling.history import cache_dir

__all__ = ["calibrate", "ensure_calibrated", "load_profile", "profile_path", "benchmark_circuit", "benchmark_job",
           "timed_run", "PROFILE_SCHEMA"]

# 2: the CPU model's time per byte over the working set (byte_s_ws*, set_byte_s_ws*), launch, matrix
#    and backward_weight terms;
#    the FPGA bit-accurate model's host terms (instruction_s, amplitude_s, word_s)
# 5: the generic model's pass is one per gate (it no longer borrows the CPU's fusion), so a fitted
#    pass_seconds_per_amplitude of another device means another thing; the GPU's model is its own
PROFILE_SCHEMA = 5


# What a profile of this schema holds: every device's model kind and its fitted parameters (finite numbers).
_PROFILE = check({"schema": equal_to(PROFILE_SCHEMA),
                  "devices": mapping_of(check({"kind": text, "parameters": mapping_of(finite_number())}))},
                 {"host": text, "created": text})


def _read_profile(path: Path) -> dict | None:
    """The profile at ``path`` if it is of this schema and valid; a corrupt one is moved aside."""
    return read_cache(path, _PROFILE, current=lambda data: of_schema(data, PROFILE_SCHEMA), what="calibration profile", fallback="the cost models' defaults take over until `qfab calibrate`")


def profile_path() -> Path:
    return cache_dir() / f"profile-{socket.gethostname()}.json"


def load_profile(path: Path | None = None) -> dict[str, dict]:
    """Calibrated parameters per device name; empty when there is no profile of this schema."""
    data = _read_profile(Path(path) if path else profile_path())
    if data is None:
        return {}
    return {name: entry["parameters"] for name, entry in data["devices"].items()}


def calibrate(devices=None, path: Path | None = None, repeats: int = 3) -> Path:
    """Fit each of ``devices``' cost model (names or Device objects; default: every available
    one) by ``device.calibrate(repeats)`` and write the profile; returns its path. Devices
    whose model has nothing to fit (a QPU prices itself) keep their defaults."""
    from qfab.backends import available_devices

    chosen = [get_device(d) for d in devices] if devices is not None else list(available_devices().values())
    entries = {}
    for device in chosen:
        fitted = {k: float(v) for k, v in device.calibrate(repeats).items()}
        bad = sorted(k for k, v in fitted.items() if not math.isfinite(v))
        if bad:
            warnings.warn(f"calibration of {device.name!r} fitted non-finite {', '.join(bad)}; "
                          "those keep the model's defaults", CacheFileWarning, stacklevel=2)
        entries[device.name] = {"kind": device.cost_model().kind,
                                "parameters": {k: v for k, v in fitted.items() if k not in bad}}
    path = Path(path) if path else profile_path()
    existing = _read_profile(path) or {}
    devices_entry = existing.get("devices", {})
    devices_entry.update(entries)
    return write_cache(path, {
        "schema": PROFILE_SCHEMA, "host": socket.gethostname(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "devices": devices_entry,
    })


def ensure_calibrated(devices=("cpu", "fpga"), repeats: int = 1) -> dict[str, dict]:
    """This machine's profile, calibrating ``devices`` first if it has none for them (a
    newcomer's first run: predictions compared with measurements need a calibrated model)."""
    if not set(devices) <= set(load_profile()):
        calibrate(list(devices), repeats=repeats)
    return load_profile()
