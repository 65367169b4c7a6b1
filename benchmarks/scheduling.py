"""Figures for the scheduler: prediction error after calibration, makespans, per-task overhead.

    python benchmarks/scheduling.py [--quick] [--out docs/scheduling.md]

1. Calibrates the CPU and FPGA (bit-accurate model) devices into a fresh cache directory, then
   predicts and measures a varied set of circuits (qubits, layers, batch, gradient or not): the
   median absolute relative error per device.
2. A mixed workload (4 to 22 qubits, batches 1 to 1000), after two training runs that fill the
   history: the measured makespan of the plan, of
   the best single device and of a round-robin split (job i on device i mod D, skipping devices
   that cannot run it), in one run.
3. Per-task scheduling overhead (wall time minus device time, per task) for tiny tasks, with the
   local runtime and through a Dask LocalCluster on loopback.

Writes the table into the "Measured" section of ``docs/scheduling.md``.
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QFAB_CACHE_DIR", tempfile.mkdtemp(prefix="qfab-bench-cache-"))

import qfab  # noqa: E402
from qfab.backends import get_device  # noqa: E402
from qfab.scheduling.calibrate import benchmark_job, calibrate, load_profile, timed_run  # noqa: E402
from qfab.scheduling.history import History  # noqa: E402
from qfab.scheduling.planner import Estimator  # noqa: E402

DEVICES = ["cpu", "fpga"]


def prediction_errors(quick: bool, verbose: bool = False) -> dict[str, tuple[float, float, int]]:
    """(median, 95th percentile of |predicted - measured| / measured, cases) per device, from the
    calibrated models alone (an empty history); ``verbose`` prints every case."""
    estimator = Estimator([get_device(d) for d in DEVICES], load_profile(), History(Path(tempfile.mkdtemp()) / "h.json"))
    rng = np.random.default_rng(7)
    cases = {
        "cpu": [(n, b, layers, g) for n in (5, 9, 13, 17, 20) for b in (1, 7, 60) for layers in (1, 3)
                for g in (None, "adjoint") if not (n >= 17 and b > 1 and (g or n == 20))],
        "fpga": [(n, b, layers, None) for n in (3, 5, 7) for b in (1, 3) for layers in (1, 2)],
    }
    errors = {}
    for name, grid in cases.items():
        if quick:
            grid = grid[::3]
        device = get_device(name)
        relative = []
        for n, batch, layers, gradient in grid:
            job = benchmark_job(n, batch, layers, gradient, seed=int(rng.integers(1 << 30)))
            predicted = estimator.predict(name, job)[0]
            seconds = timed_run(device, job, repeats=1 if n >= 17 else 3)
            relative.append(abs(predicted - seconds) / seconds)
            if verbose:
                print(f"{name} n={n:2d} batch={batch:3d} layers={layers} gradient={gradient!s:8} "
                      f"predicted {predicted * 1e3:9.3f} ms measured {seconds * 1e3:9.3f} ms ({(predicted - seconds) / seconds:+.0%})")
        errors[name] = (float(np.median(relative)), float(np.percentile(relative, 95)), len(relative))
    return errors


def mixed_workload(quick: bool) -> qfab.Workload:
    from qfab.scheduling.calibrate import benchmark_circuit

    shapes = [(4, 1000, True), (6, 500, False), (8, 200, True), (10, 100, False), (12, 50, True),
              (14, 20, False), (16, 8, False), (18, 4, False), (20, 2, False), (22, 1, False)]
    if quick:
        shapes = [(n, max(1, b // 10), g) for n, b, g in shapes if n <= 16]
    rng = np.random.default_rng(11)
    work = qfab.Workload()
    for n, batch, gradient in shapes:
        circuit = benchmark_circuit(n, 2)
        work.add(circuit, "Z" + "I" * (n - 1), rng.uniform(-np.pi, np.pi, (batch, circuit.num_parameters)), gradient=gradient,
                 accuracy=1e-3)  # the mixed workload accepts the FPGA model's fixed-point error
    return work


def round_robin(plan_on_all):
    """Job i to device i mod D (the next that can run it), whole batches, same estimator; devices
    on the host's cores on one timeline, as the runtime runs them."""
    from qfab.scheduling.planner import Task

    names = list(plan_on_all.devices)
    resource = plan_on_all.resources
    free = dict.fromkeys(resource.values(), 0.0)
    tasks = []
    for index, item in enumerate(plan_on_all.workload.items):
        usable = [n for n in names if n not in plan_on_all.excluded[index]]
        name = next(n for k in range(len(names)) if (n := names[(index + k) % len(names)]) in usable)
        seconds = plan_on_all.estimator.predict(name, item.job_for(plan_on_all.devices[name]))[0]
        start = free[resource[name]]
        tasks.append(Task(len(tasks), index, (0, item.job.batch), name, start, start + seconds, "model"))
        free[resource[name]] += seconds
    return type(plan_on_all)(plan_on_all.workload, plan_on_all.devices, tasks, plan_on_all.estimator, plan_on_all.graph,
                             plan_on_all.excluded, plan_on_all.whole_job)


def makespans(quick: bool, max_measured_s: float) -> list[tuple[str, float, float | None]]:
    work = mixed_workload(quick)
    # Two training runs of the plan: every circuit compiled and lowered once, and the history
    # (dropping each signature's first run) holds a measured/modelled ratio per device.
    for _ in range(2):
        qfab.run(qfab.plan(work, devices=DEVICES), progress=False)
    rows = []
    candidates = [("plan (cpu + fpga)", qfab.plan(work, devices=DEVICES))]
    for name in DEVICES:
        try:
            candidates.append((f"{name} alone", qfab.plan(work, devices=[name], split=False)))
        except qfab.backends.DeviceCapabilityError as err:
            rows.append((f"{name} alone", float("nan"), None, f"cannot run every job: {str(err)[:60]}"))
    candidates.append(("round-robin", round_robin(candidates[0][1])))
    for label, plan in candidates:
        run_it = plan.makespan <= max_measured_s
        wall = qfab.run(plan, progress=False, save_history=False).wall_s if run_it else None
        rows.append((label, plan.makespan, wall, "" if run_it else f"not run: predicted over {max_measured_s:.0f} s"))
    return rows


def overheads(tasks: int) -> dict[str, float]:
    from qfab.scheduling.calibrate import benchmark_circuit

    circuit = benchmark_circuit(2, 1)
    work = qfab.Workload()
    for _ in range(tasks):
        work.add(circuit, "ZI", np.zeros((1, circuit.num_parameters)), gradient=False)
    plan = qfab.plan(work, devices=["cpu"])
    qfab.run(plan, progress=False, save_history=False)
    result = qfab.run(plan, progress=False, save_history=False)
    device_s = sum(r.measured_s for rs in result.provenance for r in rs)
    figures = {"local": (result.wall_s - device_s) / tasks}
    try:
        import distributed
    except ImportError:
        return figures
    from qfab.scheduling.distributed import worker_resources

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None,
                                  resources=worker_resources(["cpu"])) as cluster, distributed.Client(cluster) as client:
        qfab.run(plan, cluster=client, progress=False, save_history=False)
        result = qfab.run(plan, cluster=client, progress=False, save_history=False)
    device_s = sum(r.measured_s for rs in result.provenance for r in rs)
    figures["dask (LocalCluster, loopback, in-process)"] = (result.wall_s - device_s) / tasks
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "scheduling.md")
    parser.add_argument("--max-measured-s", type=float, default=60.0, help="do not run schedules predicted longer")
    parser.add_argument("--verbose", action="store_true", help="print predicted and measured time of every case")
    args = parser.parse_args()
    load_start = os.getloadavg()
    start = time.perf_counter()
    profile = calibrate(DEVICES, repeats=1 if args.quick else 3)
    calibration_s = time.perf_counter() - start
    errors = prediction_errors(args.quick, args.verbose)
    spans = makespans(args.quick, args.max_measured_s)
    overhead = overheads(50 if args.quick else 200)
    load_end = os.getloadavg()
    lines = [f"Calibration: {calibration_s:.1f} s ({profile}). Load average (1, 5, 15 min) of the 2-core machine "
             f"at the start {', '.join(f'{x:.1f}' for x in load_start)}, at the end {', '.join(f'{x:.1f}' for x in load_end)}.", "",
             "| device | circuits | median abs error of predicted vs measured time | 95th percentile |", "|---|---|---|---|"]
    lines += [f"| {d} | {count} | {100 * e:.0f} % | {100 * p95:.0f} % |" for d, (e, p95, count) in errors.items()]
    lines += ["", "| mixed workload | predicted makespan | measured wall | note |", "|---|---|---|---|"]
    lines += [f"| {label} | {p:.3f} s | {'' if w is None else f'{w:.3f} s'} | {note} |" for label, p, w, note in spans]
    lines += ["", "| per-task scheduling overhead | ms/task |", "|---|---|"]
    lines += [f"| {k} | {1e3 * v:.2f} |" for k, v in overhead.items()]
    table = "\n".join(lines)
    print(table)
    if args.out.exists():
        text = args.out.read_text()
        marked = re.sub(r"(<!-- measured:begin -->\n).*?(\n<!-- measured:end -->)", lambda m: m.group(1) + table + m.group(2),
                        text, flags=re.S)
        args.out.write_text(marked)


if __name__ == "__main__":
    main()
