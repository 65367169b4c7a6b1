"""Peak memory of one forward state vector, one simulator per fresh subprocess.

``python -m benchmarks.memory SIM N`` prints one JSON line. In the child: import the simulator,
build the Qiskit circuit, run a warm-up forward at 4 qubits (numba compiles or loads its cache,
plugins load), take the baseline, prepare the simulator for ``N`` qubits, run one forward state
vector (the state stays referenced, the way a user holds it), and read the peak again. The delta
is the extra peak resident memory the run needed; for reference, one complex128 state vector at
``N`` qubits is ``2**N * 16`` bytes.

The peak is the kernel's resident-set high-water mark of this process image: ``VmHWM`` from
``/proc/self/status``, reset at the baseline by writing ``5`` to ``/proc/self/clear_refs`` (the
baseline is then the current ``VmRSS``). ``ru_maxrss`` is the fallback where ``/proc`` is missing;
it is not the first choice because Linux carries the *parent's* high-water mark into a child
across fork + exec, so in a child of a large harness process it reads the parent's size.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> tuple[int, str]:
    """Start a fresh high-water mark; return (baseline bytes, method)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        rss = _status_kib("VmRSS")
        if rss is not None:
            return rss * 1024, "VmHWM after clear_refs"
    except OSError:
        pass
    return _maxrss_bytes(), "ru_maxrss"


def _peak_bytes(method: str) -> int:
    if method.startswith("VmHWM"):
        return _status_kib("VmHWM") * 1024
    return _maxrss_bytes()


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(sim: str, n: int) -> dict:
    import gc

    from benchmarks import peers, workload

    adapter = {cls.name: cls for cls in peers.ALL_ADAPTERS}[sim]()
    if not adapter.available:
        return {"sim": sim, "n": n, "error": adapter.reason}
    adapter.state(adapter.forward(4, workload.random_params(4)))
    adapter.forget(4)
    params = workload.random_params(n)
    workload.qiskit_ansatz(n)
    gc.collect()
    base, method = _reset_peak()
    handle = adapter.forward(n, params)
    peak = _peak_bytes(method)
    del handle
    return {"sim": sim, "n": n, "baseline_MiB": base / 2**20, "peak_MiB": peak / 2**20,
            "delta_MiB": (peak - base) / 2**20, "state_MiB": 2**n * 16 / 2**20, "method": method}


def measure(sim: str, n: int, timeout: float = 900) -> dict:
    """Run :func:`child` in a fresh interpreter; errors come back as ``{"error": ...}``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", sim, str(n)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"sim": sim, "n": n, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"sim": sim, "n": n, "error": f"exit {proc.returncode}: {tail[0][:200]}"}


if __name__ == "__main__":
    try:
        print(json.dumps(child(sys.argv[1], int(sys.argv[2]))))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a table cell
        print(json.dumps({"sim": sys.argv[1], "n": int(sys.argv[2]), "error": f"{type(exc).__name__}: {exc}"}))
