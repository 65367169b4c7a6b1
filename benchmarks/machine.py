"""What machine and software a benchmark ran on."""
from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from importlib import metadata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ("qfab", "numpy", "numba", "qiskit", "qiskit-aer", "qulacs", "pennylane", "pennylane-lightning")


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def command_line(argv) -> str:
    exe = sys.executable
    rel = os.path.relpath(exe, REPO)
    exe = rel if not rel.startswith("..") else exe
    script = os.path.relpath(os.path.abspath(argv[0]), REPO) if argv and argv[0].endswith(".py") else "benchmarks/run_all.py"
    return " ".join([exe, script, *map(shlex.quote, argv[1:])])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return " ".join(x for x in ("avx2", "fma", "avx512f") if x in flags) or "none of avx2/fma/avx512f"
    except OSError:
        pass
    return "unknown"


def describe() -> dict:
    out = {
        "cpu": _cpu_model(),
        "simd": _cpu_flags(),
        "logical_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "unset"),
    }
    try:
        import psutil

        out["physical_cores"] = psutil.cpu_count(logical=False)
        out["memory_GiB"] = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:  # noqa: BLE001
        pass
    try:
        import numba

        out["numba_threads"] = numba.get_num_threads()
    except Exception:  # noqa: BLE001
        pass
    versions = {}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    out["versions"] = versions
    return out
