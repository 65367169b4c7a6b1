#!/usr/bin/env python
"""qfab against qiskit-aer, qulacs and pennylane-lightning, in one run on one machine.

    .venv/bin/python benchmarks/run_all.py --write docs/performance.md     # full (make bench)
    .venv/bin/python benchmarks/run_all.py --quick                         # smoke run, small n

Rows (workload: ``benchmarks/workload.py``, 10-layer hardware-efficient ansatz, <Z_0>):
forward state vector, full gradient, gradients of a batch of parameter sets, peak memory of one
forward (fresh subprocess per simulator), plus this machine's memory bandwidth and the roofline
bound of one gate pass. Every peer result is checked against qfab's (1e-8) where both ran.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks import bandwidth, machine, measure, memory, peers, report, workload  # noqa: E402


@dataclass(frozen=True)
class Config:
    forward: tuple[int, ...] = (12, 16, 20, 22, 24)
    gradient: tuple[int, ...] = (12, 16, 20, 22)
    batch: tuple[int, ...] = (6, 10)
    batch_size: int = 1000
    memory_n: int = 24
    bandwidth_log2: int = 24
    roofline_n: int = 24
    budget_s: float = 40.0  # per cell: repeats stop once this much time is spent (at least one run)
    warmup_max_n: int = 20  # peers get an untimed warm-up call up to this n (qfab always)
    reference_max_n: int = 16  # also check against Qiskit's Statevector up to this n


FULL = Config()
QUICK = Config(forward=(4, 6, 8), gradient=(4, 6), batch=(3, 4), batch_size=16, memory_n=12,
               bandwidth_log2=20, roofline_n=8, budget_s=2.0)

ROWS = ("forward", "gradient", "batch", "memory", "bandwidth")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small smoke run (n <= 8, batch of 16); seconds, not minutes")
    p.add_argument("--write", metavar="PATH", help="write the markdown report there (plots go beside it)")
    p.add_argument("--json", metavar="PATH", help="also dump every measurement as JSON")
    p.add_argument("--sims", default=",".join(c.name for c in peers.ALL_ADAPTERS),
                   help="comma-separated simulators (default: %(default)s)")
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows (default: %(default)s)")
    p.add_argument("--budget", type=float, help="seconds per cell before repeats stop (default 40, quick 2)")
    p.add_argument("--pl-batch", choices=("device", "loop"), default="device",
                   help="lightning batch row: one dev.compute_derivatives over B tapes, or a loop of qml.grad")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    return p.parse_args(argv)


def run(args) -> dict:
    cfg = QUICK if args.quick else FULL
    if args.budget is not None:
        cfg = Config(**{**asdict(cfg), "budget_s": args.budget})
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    wanted = {s.strip() for s in args.sims.split(",") if s.strip()}
    started = time.time()
    results: dict = {
        "config": asdict(cfg), "quick": args.quick, "rows": rows,
        "command": machine.command_line(sys.argv), "started_utc": machine.utc_now(),
        "load_before": os.getloadavg(),
    }
    t_import = time.perf_counter()
    adapters = peers.make_adapters(wanted)
    results["import_s"] = time.perf_counter() - t_import
    for a in adapters:
        if a.name == "lightning":
            a.batch_mode = args.pl_batch
            if args.pl_batch == "loop":
                a.METHODS = {**a.METHODS, "batch": "Python loop of `qml.grad` (adjoint QNode) over the B parameter sets"}
    results["sims"] = {a.name: {"label": a.label, "available": a.available, "reason": a.reason,
                                "versions": a.versions() if a.available else {}, "methods": a.METHODS}
                       for a in adapters}
    results["machine"] = machine.describe()
    qfab = next((a for a in adapters if a.name == "qfab" and a.available), None)
    live = [a for a in adapters if a.available]

    # First qfab call in this process: numba compiles (or loads its on-disk cache).
    if qfab is not None:
        try:
            x = workload.random_params(4)
            t0 = time.perf_counter()
            qfab.forward(4, x)
            t1 = time.perf_counter()
            qfab.gradient(4, x)
            t2 = time.perf_counter()
            qfab.batch_gradient(4, workload.random_params(4, 4))
            t3 = time.perf_counter()
            results["qfab_first_call_s"] = {"statevector": t1 - t0, "gradient": t2 - t1, "batch gradient": t3 - t2}
            qfab.forget(4)
        except Exception as exc:  # noqa: BLE001
            results["qfab_first_call_s"] = {"error": f"{type(exc).__name__}: {exc}"}

    tasks = []
    if "bandwidth" in rows:
        tasks.append(("bandwidth", None))
    for row in ("forward", "gradient", "batch"):
        if row in rows:
            tasks += [(row, n) for n in getattr(cfg, row)]
    if "memory" in rows:
        tasks.append(("memory", cfg.memory_n))

    bar = tqdm(tasks, desc="bench", unit="cell", file=sys.stderr, dynamic_ncols=True)
    for row, n in bar:
        if row == "bandwidth":
            bar.set_postfix_str(f"memory bandwidth, 2^{cfg.bandwidth_log2} complex128")
            try:
                results["bandwidth"] = bandwidth.measure(cfg.bandwidth_log2)
            except Exception as exc:  # noqa: BLE001
                results["bandwidth"] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        if row == "memory":
            results["memory"] = {}
            for a in adapters:
                bar.set_postfix_str(f"peak memory n={n} {a.name}")
                results["memory"][a.name] = (memory.measure(a.name, n) if a.available
                                             else {"error": a.reason})
            continue
        results.setdefault(row, {})[str(n)] = run_row(row, n, cfg, qfab, live, bar)
        for a in live:
            a.forget(n)

    if qfab is not None and "forward" in results and str(cfg.roofline_n) in results["forward"]:
        results["fusion_plan"] = qfab.fusion_plan(cfg.roofline_n)
        qfab.forget(cfg.roofline_n)
    results["unavailable"] = {a.name: a.reason for a in adapters if not a.available}
    results["wall_s"] = time.time() - started
    results["load_after"] = os.getloadavg()
    return results


def run_row(row: str, n: int, cfg: Config, qfab, live, bar) -> dict:
    """Every simulator on one (row, n); qfab first so its output is the reference."""
    cells: dict = {}
    ref, ref_name = None, None
    order = ([qfab] if qfab is not None else []) + [a for a in live if a is not qfab]
    P = workload.num_parameters(n)
    for a in order:
        bar.set_postfix_str(f"{row} n={n} {a.name}")
        is_qfab = a is qfab
        warm = is_qfab or n <= cfg.warmup_max_n
        units = None
        try:
            a.prepare(n)
        except Exception as exc:  # noqa: BLE001
            cells[a.name] = measure.error_cell(exc)
            continue
        if row == "forward":
            x = workload.random_params(n)
            cell, out = measure.run_cell(lambda: a.forward(n, x), n, cfg.budget_s, warm)
            if out is not None:
                try:
                    out = a.state(out)
                except Exception as exc:  # noqa: BLE001
                    cell, out = measure.error_cell(exc), None
        elif row == "gradient":
            x = workload.random_params(n)
            if a.partial_gradient and not is_qfab:
                cell, out, units = measure.run_scalable(
                    lambda k: a.gradient(n, x, np.arange(k)), P, n, cfg.budget_s, "parameters")
            else:
                cell, out = measure.run_cell(lambda: a.gradient(n, x), n, cfg.budget_s, warm)
        else:
            X = workload.random_params(n, cfg.batch_size)
            if is_qfab:
                cell, out = measure.run_cell(lambda: a.batch_gradient(n, X), n, cfg.budget_s, True)
            else:
                cell, out, units = measure.run_scalable(
                    lambda b: a.batch_gradient(n, X[:b]), cfg.batch_size, n, cfg.budget_s, "parameter sets")
        if ref is None and out is not None:
            ref, ref_name = out, a.name
            if row == "forward" and n <= cfg.reference_max_n:
                measure.compare(cell, out, workload.reference_statevector(n, workload.random_params(n)),
                                "Qiskit Statevector")
        elif out is not None:
            measure.compare(cell, out, ref, ref_name)
        if units is not None:
            cell["units"] = units
        cells[a.name] = cell
        del out
    return cells


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run(args)
    text = report.render(results)
    if args.write:
        out_dir = os.path.dirname(os.path.abspath(args.write))
        os.makedirs(out_dir, exist_ok=True)
        if not args.no_plot:
            results["plots"] = report.plot(results, out_dir)
            text = report.render(results)
        with open(args.write, "w") as f:
            f.write(text)
        print(f"wrote {args.write}", file=sys.stderr)
    else:
        print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    bad = report.mismatches(results)
    for line in bad:
        print(f"MISMATCH: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
