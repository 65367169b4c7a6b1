"""One measurement in a fresh interpreter, so that simulators never share a process.

``python -m benchmarks.worker SPEC_JSON OUT_DIR`` runs one task and writes ``OUT_DIR/cell.json``
(and ``OUT_DIR/out.npy``, the state or gradient to check, where there is one). Tasks:

* ``{"task": "info", "sim": S}``: availability, reason, versions and the API used per row;
* ``{"task": "first_call", "sim": "qfab"}``: qfab's first calls (numba compile or cache load);
* ``{"task": "cell", "sim": S, "row": forward|gradient|batch, "n": N, ...}``: one table cell;
* ``{"task": "bandwidth", "log2": K}``: the STREAM-like bandwidth measurement.

Separate processes keep one simulator's threads (OpenMP pools spinning after a run) and memory
away from the next one's timing, and turn a crash inside a simulator (say a segfault in
native code) into an "n/a" cell instead of the end of the benchmark.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def _adapter(sim: str, spec: dict):
    from benchmarks import peers

    adapter = {cls.name: cls for cls in peers.ALL_ADAPTERS}[sim]()
    if sim == "lightning":
        adapter.batch_mode = spec.get("pl_batch", "device")
        if adapter.batch_mode == "loop":
            adapter.METHODS = {**adapter.METHODS,
                               "batch": "Python loop of `qml.grad` (adjoint QNode) over the B parameter sets"}
    if sim == "qulacs" and spec.get("qulacs_forward", "parametric") == "fused":
        adapter.forward_mode = "fused"
        adapter.METHODS = {**adapter.METHODS, "forward": adapter.FUSED_METHOD}
    return adapter


def info(spec: dict) -> dict:
    a = _adapter(spec["sim"], spec)
    return {"label": a.label, "available": a.available, "reason": a.reason,
            "versions": a.versions() if a.available else {}, "methods": a.METHODS,
            "partial_gradient": a.partial_gradient}


def first_call(spec: dict) -> dict:
    from benchmarks import workload

    a = _adapter(spec["sim"], spec)
    if not a.available:
        return {"error": a.reason}
    x = workload.random_params(4)
    out = {}
    for name, fn in (("statevector", lambda: a.forward(4, x)), ("gradient", lambda: a.gradient(4, x)),
                     ("batch gradient", lambda: a.batch_gradient(4, workload.random_params(4, 4)))):
        t0 = time.perf_counter()
        fn()
        out[name] = time.perf_counter() - t0
    return out


def cell(spec: dict, out_dir: str) -> dict:
    from benchmarks import measure, workload

    sim, row, n = spec["sim"], spec["row"], int(spec["n"])
    a = _adapter(sim, spec)
    if not a.available:
        return measure.error_cell(ImportError(a.reason)) | {"error": f"not available: {a.reason}"}
    budget, warm, is_qfab = float(spec["budget_s"]), bool(spec["warmup"]), sim == "qfab"
    units = None
    try:
        a.prepare(n)
    except Exception as exc:  # noqa: BLE001
        return measure.error_cell(exc)
    if row == "forward":
        x = workload.random_params(n)
        result, out = measure.run_cell(lambda: a.forward(n, x), n, budget, warm)
        if out is not None:
            try:
                out = a.state(out)
            except Exception as exc:  # noqa: BLE001
                result, out = measure.error_cell(exc), None
    elif row == "gradient":
        x = workload.random_params(n)
        if a.partial_gradient and not is_qfab:
            result, out, units = measure.run_scalable(
                lambda k: a.gradient(n, x, np.arange(k)), workload.num_parameters(n), n, budget, "parameters")
        else:
            result, out = measure.run_cell(lambda: a.gradient(n, x), n, budget, warm)
    elif row == "batch":
        X = workload.random_params(n, int(spec["batch_size"]))
        if is_qfab:
            result, out = measure.run_cell(lambda: a.batch_gradient(n, X), n, budget, True)
        else:
            result, out, units = measure.run_scalable(
                lambda b: a.batch_gradient(n, X[:b]), len(X), n, budget, "parameter sets")
    else:
        raise ValueError(f"unknown row {row!r}")
    if units is not None:
        result["units"] = units
    if out is not None:
        np.save(os.path.join(out_dir, "out.npy"), np.asarray(out))
        result["out"] = "out.npy"
    if is_qfab and spec.get("fusion_plan"):
        result["fusion_plan"] = a.fusion_plan(n)
    return result


def bandwidth_task(spec: dict) -> dict:
    from benchmarks import bandwidth

    return bandwidth.measure(int(spec["log2"]))


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn(spec: dict, timeout: float, keep_out: bool = True) -> tuple[dict, np.ndarray | None]:
    """Run one task in a fresh interpreter; a crash or time-out comes back as ``{"error": ...}``."""
    import signal
    import subprocess
    import tempfile

    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="qfab-bench-") as tmp:
        try:
            proc = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "benchmarks.worker", json.dumps(spec), tmp], cwd=REPO,
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s", "time": None, "times": [], "runs": 0}, None
        path = os.path.join(tmp, "cell.json")
        if proc.returncode != 0 or not os.path.exists(path):
            if proc.returncode < 0:
                try:
                    why = f"crashed ({signal.Signals(-proc.returncode).name})"
                except ValueError:
                    why = f"killed by signal {-proc.returncode}"
            else:
                why = f"exit status {proc.returncode}"
            lines = [line.strip() for line in (proc.stderr or "").splitlines() if line.strip()]
            frames = [line for line in lines if line.startswith("File ")]  # faulthandler: innermost first
            tail = frames[:1] if proc.returncode < 0 and frames else lines[-1:]
            where = tail[0].replace(REPO + os.sep, "") if tail else ""
            if where.startswith("File "):  # faulthandler's 'File "PATH", line N in FUNC'
                where = "in " + where[5:].replace('"', "")
            return {"error": why + (f" {where[:200]}" if where else ""), "time": None, "times": [], "runs": 0}, None
        with open(path) as f:
            result = json.load(f)
        out = None
        if keep_out and result.get("out"):
            out = np.load(os.path.join(tmp, result["out"]))
        return result, out


def main(argv) -> int:
    spec = json.loads(argv[0])
    out_dir = argv[1]
    task = spec["task"]
    try:
        if task == "info":
            result = info(spec)
        elif task == "first_call":
            result = first_call(spec)
        elif task == "cell":
            result = cell(spec, out_dir)
        elif task == "bandwidth":
            result = bandwidth_task(spec)
        else:
            raise ValueError(f"unknown task {task!r}")
    except Exception as exc:  # noqa: BLE001 - reported as an n/a cell by the parent
        result = {"error": f"{type(exc).__name__}: {exc}"[:300], "time": None, "times": [], "runs": 0}
    with open(os.path.join(out_dir, "cell.json"), "w") as f:
        json.dump(result, f, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
