"""``qfab calibrate``: each device fits its own cost model, and this machine's profile keeps the fits.

``calibrate(devices)`` asks every device for its fit (``Device.calibrate``: short timed
micro-benchmarks and a non-negative least-squares fit, :mod:`qfab.backends.calibration`; the
CPU's in ``qfab.backends.cpu.calibration``, the FPGA's in ``qfab.backends.fpga.calibration``,
nothing for a QPU, which prices itself) and writes what they return.

The profile is a JSON file per machine under the cache directory, with a schema version; a
profile of another version is ignored (the planner falls back to defaults) rather than misread.
"""
from __future__ import annotations

import datetime
import json
import socket
from pathlib import Path

from qfab.backends import get_device
from qfab.backends.calibration import benchmark_circuit, benchmark_job, timed_run
from qfab.scheduling.history import cache_dir

__all__ = ["calibrate", "ensure_calibrated", "load_profile", "profile_path", "benchmark_circuit", "benchmark_job",
           "timed_run", "PROFILE_SCHEMA"]

# 2: the CPU model's time per byte over the working set (byte_s_ws*, set_byte_s_ws*), launch, matrix
#    and backward_weight terms;
#    the FPGA bit-accurate model's host terms (instruction_s, amplitude_s, word_s)
# 5: the generic model's pass is one per gate (it no longer borrows the CPU's fusion), so a fitted
#    pass_seconds_per_amplitude of another device means another thing; the GPU's model is its own
PROFILE_SCHEMA = 5


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


def calibrate(devices=None, path: Path | None = None, repeats: int = 3) -> Path:
    """Fit each of ``devices``' cost model (names or Device objects; default: every available
    one) by ``device.calibrate(repeats)`` and write the profile; returns its path. Devices
    whose model has nothing to fit (a QPU prices itself) keep their defaults."""
    from qfab.backends import available_devices

    chosen = [get_device(d) for d in devices] if devices is not None else list(available_devices().values())
    entries = {}
    for device in chosen:
        fitted = device.calibrate(repeats)
        entries[device.name] = {"kind": device.cost_model().kind,
                                "parameters": {k: float(v) for k, v in fitted.items()}}
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
