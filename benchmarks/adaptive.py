"""The adaptive runtime against the static plan and against a plan that knew the faults.

    .venv/bin/python benchmarks/adaptive.py [--quick] [--out docs/scheduling.md] [--gantt DIR]

Devices: four **paced devices**, not sharing the host's timeline: each computes its rows on the
CPU engine (so every answer is the CPU's, comparable bit for bit) and then sleeps until its
declared cost-model time has passed (``GenericCostModel``: call overhead + passes x 2^n x its
seconds per amplitude, speeds 1 : 1 : 1.5 : 2). This 2-core machine has no two real devices that
run side by side (the CPU, the FPGA's model and the CUDA simulator all compute on the same
cores, and the planner gives them one timeline); sleeping is how an accelerator or a remote
device looks from the host: time passes, the cores stay free. Faults come from
``qfab.testing.inject`` (sleeping too), from 30 % of the static plan's predicted makespan on:

- **slowdowns**: ``p0`` 3x slower and ``p1`` 5x slower;
- **failure**: ``p0`` dies at the onset (the call it is running then raises when it returns: its
  work is lost, and nothing it is given later runs).

For each, three runs of the same mixed workload (5 jobs, 4 to 8 qubits, batches 60 to 500,
values and adjoint gradients): the static plan (``adapt=False``: failover only), the adaptive
runtime (the default), and an **oracle**: a static plan made knowing the faults (each device's
share is what it can do by the common finish time ``T`` at its faulted rates: all of its rate up
to the onset, 1/3 or 1/5 of it after, nothing after a failure; the failing device's share ends 5 %
before the onset so that its last call starts before it), run with the same injected devices.
Every run's rows are compared with a CPU-only run: rows lost (missing or not finite) and rows
changed (any number different) must both be 0. Writes the table between the ``adaptive`` markers
of ``docs/scheduling.md``.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
os.environ.setdefault("QFAB_CACHE_DIR", tempfile.mkdtemp(prefix="qfab-adaptive-cache-"))

import numpy as np  # noqa: E402
from scipy.optimize import brentq  # noqa: E402

import qfab  # noqa: E402
from qfab.backends import Capabilities, DeviceProfile, get_device  # noqa: E402
from qfab.backends.base import EngineDevice  # noqa: E402
from qfab.scheduling.calibrate import benchmark_circuit  # noqa: E402
from qfab.scheduling.history import History  # noqa: E402
from qfab.scheduling.planner import Task  # noqa: E402
from qfab.testing import inject  # noqa: E402

SPEEDS = {"p0": 1.0, "p1": 1.0, "p2": 1.5, "p3": 2.0}  # seconds per amplitude, relative
ONSET = 0.3  # faults begin at this share of the static plan's predicted makespan
SLOWDOWNS = {"p0": 3.0, "p1": 5.0}
FAILING = "p0"
GOAL = 1.25  # adaptive makespan / oracle makespan
MARKERS = ("<!-- adaptive:begin -->", "<!-- adaptive:end -->")


class PacedDevice(EngineDevice):
    """Computes on the CPU engine, then sleeps until its cost model's time for the call has passed."""

    def __init__(self, name: str, pass_seconds_per_amplitude: float, call_overhead_s: float = 1e-3):
        self.name, self.rate, self.overhead = name, pass_seconds_per_amplitude, call_overhead_s
        self.engine = get_device("cpu").engine

    @property
    def capabilities(self):
        return Capabilities(max_qubits=20)

    def profile(self):
        return DeviceProfile(self.name, {"pass_seconds_per_amplitude": self.rate, "call_overhead_s": self.overhead,
                                         "shares_host": False})

    def execute(self, job):
        start = time.perf_counter()
        result = super().execute(job)
        time.sleep(max(self.cost_model().predict(job) - (time.perf_counter() - start), 0.0))
        return result


def workload(scale: float) -> qfab.Workload:
    rng = np.random.default_rng(19)
    work = qfab.Workload()
    for n, batch, gradient in ((4, 500, True), (6, 300, False), (8, 120, True), (5, 400, False), (7, 60, True)):
        circuit = benchmark_circuit(n, 2)
        rows = max(4, int(batch * scale))
        work.add(circuit, ["Z" + "I" * (n - 1), "X" * n], rng.uniform(-np.pi, np.pi, (rows, circuit.num_parameters)),
                 gradient=gradient)
    return work


def devices(base: float, faults: dict[str, dict]) -> list:
    made = []
    for name, speed in SPEEDS.items():
        device = PacedDevice(name, base * speed)
        made.append(inject(device, **faults[name]) if name in faults else device)
    return made


def fault_options(case: str, onset_s: float) -> dict[str, dict]:
    if case == "slowdowns":
        return {name: {"slowdown": factor, "after_s": onset_s} for name, factor in SLOWDOWNS.items()}
    return {FAILING: {"after_s": onset_s, "fail_after": 0}}


def oracle_plan(plan, case: str, onset_s: float):
    """A static plan that knew the faults: the rows split so that every device ends at one ``T``
    at its faulted rate, filled job after job (job order, rows in order)."""
    lines = {}  # (job, device) -> (overhead, seconds per row) at the healthy rate
    for index, item in enumerate(plan.workload.items):
        for name, device in plan.devices.items():
            job = item.job_for(device)
            full = plan.estimator.predict(name, job)[0]
            half = plan.estimator.predict(name, replace(job, params=job.params[: job.batch // 2]))[0]
            per_row = (full - half) / (job.batch - job.batch // 2)
            lines[index, name] = (full - per_row * job.batch, per_row)
    work_units = sum(lines[i, "p0"][1] * item.job.batch for i, item in enumerate(plan.workload.items))  # p0-seconds

    def healthy_seconds(name: str, until: float) -> float:
        """Seconds of healthy work ``name`` gets through by ``until``."""
        if case == "failure" and name == FAILING:
            return min(until, 0.95 * onset_s)
        slow = SLOWDOWNS.get(name, 1.0) if case == "slowdowns" else 1.0
        return min(until, onset_s) + max(until - onset_s, 0.0) / slow

    def capacity(until: float) -> float:  # in p0-seconds of work
        return sum(healthy_seconds(name, until) / SPEEDS[name] for name in plan.devices)

    finish = brentq(lambda t: capacity(t) - work_units, 1e-6, 100 * plan.makespan + 100)
    budget = {name: healthy_seconds(name, finish) for name in plan.devices}
    tasks, clock = [], dict.fromkeys(plan.devices, 0.0)
    names = list(plan.devices)
    for index, item in enumerate(plan.workload.items):
        row = 0
        while row < item.job.batch:
            name = next((n for n in names if budget[n] - clock[n] > lines[index, n][0] + lines[index, n][1]), names[-1])
            overhead, per_row = lines[index, name]
            fits = int((budget[name] - clock[name] - overhead) / per_row)
            count = item.job.batch - row if name == names[-1] and fits < 1 else min(max(fits, 1), item.job.batch - row)
            seconds = overhead + per_row * count
            tasks.append(Task(len(tasks), index, (row, row + count), name, clock[name], clock[name] + seconds, "oracle"))
            clock[name] += seconds
            row += count
    return replace(plan, tasks=tasks)


def rows_lost_and_changed(result, expected) -> tuple[int, int]:
    """(rows lost, rows changed) of ``result`` (a RunResult) against ``expected``, each job's
    ``(expectations, gradients or None)``: a row is lost when it is missing or not finite, changed
    when any of its numbers differs."""
    lost = changed = 0
    for got, (values, gradients) in zip(result.results, expected):
        for mine, theirs in ((got.expectations, values), (got.gradients, gradients)):
            if theirs is None:
                continue
            if mine is None or mine.shape != theirs.shape:
                lost += theirs.shape[0]
                continue
            flat_mine, flat_theirs = mine.reshape(mine.shape[0], -1), theirs.reshape(theirs.shape[0], -1)
            finite = np.isfinite(flat_mine).all(axis=1)
            lost += int((~finite).sum())
            changed += int((finite & ~(flat_mine == flat_theirs).all(axis=1)).sum())
    return lost, changed


def measure(quick: bool, gantt_dir: Path | None) -> list[dict]:
    scale, base = (0.4, 0.6e-6) if quick else (1.0, 0.6e-6)
    work = workload(scale)
    cpu = qfab.run(qfab.plan(work, devices=["cpu"], history=History(Path(tempfile.mkdtemp()) / "h.json")),
                   progress=False, save_history=False)
    expected = [(r.expectations, r.gradients) for r in cpu.results]

    def fresh_plan(faults):
        return qfab.plan(work, devices=devices(base, faults), history=History(Path(tempfile.mkdtemp()) / "h.json"))

    predicted = fresh_plan({}).makespan
    onset_s = ONSET * predicted
    rows = []
    for case in ("slowdowns", "failure"):
        faults = fault_options(case, onset_s)
        runs = {}
        for label in ("static", "adaptive", "oracle"):
            plan = fresh_plan(faults)
            if label == "oracle":
                plan = oracle_plan(plan, case, onset_s)
            result = qfab.run(plan, progress=False, save_history=False, adapt=label == "adaptive")
            lost, changed = rows_lost_and_changed(result, expected)
            kinds = [m.kind for m in result.marks]
            runs[label] = {"wall": result.wall_s, "predicted": plan.makespan, "lost": lost, "changed": changed,
                           "tasks": sum(len(p) for p in result.provenance), "stolen": kinds.count("stolen"),
                           "replans": kinds.count("re-planned"), "retired": kinds.count("retired")}
            if gantt_dir is not None:
                gantt_dir.mkdir(parents=True, exist_ok=True)
                result.gantt(gantt_dir / f"adaptive-{case}-{label}.png")
        rows.append({"case": case, "healthy_plan_s": predicted, "onset_s": onset_s, **{k: v for k, v in runs.items()}})
    return rows


def render(rows: list[dict], command: str) -> str:
    lines = [f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average at the end "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}). Four paced devices (CPU engine + sleep to the cost "
             f"model's time), faults from {ONSET:.0%} of the healthy plan's predicted makespan "
             f"({rows[0]['healthy_plan_s']:.2f} s, onset {rows[0]['onset_s']:.2f} s).", "",
             "| case | static plan | adaptive | oracle (knew the faults) | adaptive / oracle | goal | adaptive: tasks, stolen, re-plans | rows lost / changed (static, adaptive, oracle) vs CPU-only |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        s, a, o = row["static"], row["adaptive"], row["oracle"]
        ratio = a["wall"] / o["wall"]
        case = {"slowdowns": f"p0 3x, p1 5x slower", "failure": f"{FAILING} fails"}[row["case"]]
        lines.append(f"| {case} | {s['wall']:.2f} s | {a['wall']:.2f} s | {o['wall']:.2f} s | {ratio:.2f}x | "
                     f"{'met' if ratio <= GOAL else 'MISSED'} (<= {GOAL}x) | {a['tasks']}, {a['stolen']}, {a['replans']} | "
                     f"{s['lost']}/{s['changed']}, {a['lost']}/{a['changed']}, {o['lost']}/{o['changed']} |")
    return "\n".join(lines)


def write(path: Path, text: str) -> None:
    doc = path.read_text()
    begin, end = MARKERS
    block = f"{begin}\n{text}\n{end}"
    if begin in doc:
        doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
    else:
        doc += f"\n{block}\n"
    path.write_text(doc)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller workload (seconds)")
    parser.add_argument("--out", type=Path, help="write the table into this markdown file (between the markers)")
    parser.add_argument("--gantt", type=Path, help="write each run's Gantt chart (PNG) into this directory")
    args = parser.parse_args(argv)
    rows = measure(args.quick, args.gantt)
    text = render(rows, "python benchmarks/adaptive.py" + (" --quick" if args.quick else ""))
    print(text)
    if args.out:
        write(args.out, text)
    bad = [r["case"] for r in rows for k in ("static", "adaptive", "oracle") if r[k]["lost"] or r[k]["changed"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
