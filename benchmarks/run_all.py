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

from tqdm import tqdm  # noqa: E402

from benchmarks import machine, measure, memory, peers, report, worker, workload  # noqa: E402


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
    warmup_max_n: int = 16  # peers get an untimed warm-up call up to this n (qfab always)
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
    for row in ("forward", "gradient", "batch"):
        p.add_argument(f"--{row}-n", metavar="N,N,...", help=f"override the qubit counts of the {row} row")
    p.add_argument("--batch-size", type=int, help="override B of the batch row (default 1000, quick 16)")
    p.add_argument("--memory-n", type=int, help="override n of the peak-memory row (default 24, quick 12)")
    p.add_argument("--pl-batch", choices=("device", "loop"), default="device",
                   help="lightning batch row: one dev.compute_derivatives over B tapes, or a loop of qml.grad")
    p.add_argument("--qulacs-forward", choices=("parametric", "fused"), default="parametric",
                   help="qulacs forward row: ParametricQuantumCircuit as is, or a bound circuit fused by "
                        "QuantumCircuitOptimizer (build + fusion timed)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    return p.parse_args(argv)


def run(args) -> dict:
    cfg = QUICK if args.quick else FULL
    overrides = {"budget_s": args.budget, "batch_size": args.batch_size, "memory_n": args.memory_n}
    for row in ("forward", "gradient", "batch"):
        if getattr(args, f"{row}_n"):
            overrides[row] = tuple(int(x) for x in getattr(args, f"{row}_n").split(","))
    cfg = Config(**{**asdict(cfg), **{k: v for k, v in overrides.items() if v is not None}})
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    wanted = [c.name for c in peers.ALL_ADAPTERS if c.name in {s.strip() for s in args.sims.split(",")}]
    timeout = 180.0 if args.quick else 900.0
    common = {"budget_s": cfg.budget_s, "batch_size": cfg.batch_size, "pl_batch": args.pl_batch,
              "qulacs_forward": args.qulacs_forward}
    started = time.time()
    results: dict = {
        "config": asdict(cfg), "quick": args.quick, "rows": rows,
        "command": machine.command_line(sys.argv), "started_utc": machine.utc_now(),
        "load_before": os.getloadavg(), "machine": machine.describe(),
    }
    tasks = [("info", s, None) for s in wanted]
    if "qfab" in wanted:
        tasks.append(("first_call", "qfab", None))
    if "bandwidth" in rows:
        tasks.append(("bandwidth", None, None))
    for row in ("forward", "gradient", "batch"):
        if row in rows:
            tasks += [(row, s, n) for n in getattr(cfg, row) for s in wanted]
    if "memory" in rows:
        tasks += [("memory", s, cfg.memory_n) for s in wanted]

    sims: dict = {}
    refs: dict = {}  # (row, n) -> (name, output) of the first simulator that produced one (qfab first)
    bar = tqdm(tasks, desc="bench", unit="task", file=sys.stderr, dynamic_ncols=True)
    for kind, sim, n in bar:
        bar.set_postfix_str(f"{kind} {sim or ''} {'' if n is None else f'n={n}'}".strip())
        if kind == "info":
            info, _ = worker.spawn({"task": "info", "sim": sim, **common}, timeout)
            if "label" not in info:  # the import itself crashed the worker
                info = {"label": sim, "available": False, "reason": info.get("error", "?"), "versions": {},
                        "methods": {}, "partial_gradient": False}
            sims[sim] = info
            continue
        if kind == "first_call":
            if sims["qfab"]["available"]:
                results["qfab_first_call_s"], _ = worker.spawn({"task": "first_call", "sim": "qfab", **common}, timeout)
            continue
        if kind == "bandwidth":
            results["bandwidth"], _ = worker.spawn({"task": "bandwidth", "log2": cfg.bandwidth_log2}, timeout)
            continue
        if kind == "memory":
            results.setdefault("memory", {})[sim] = (memory.measure(sim, n, timeout) if sims[sim]["available"]
                                                      else {"error": sims[sim]["reason"]})
            continue
        cells = results.setdefault(kind, {}).setdefault(str(n), {})
        if not sims[sim]["available"]:
            cells[sim] = measure.error_cell(ImportError(sims[sim]["reason"])) | {"error": sims[sim]["reason"]}
            continue
        spec = {"task": "cell", "sim": sim, "row": kind, "n": n, **common,
                "warmup": sim == "qfab" or n <= cfg.warmup_max_n,
                "fusion_plan": kind == "forward" and n == cfg.roofline_n}
        cell, out = worker.spawn(spec, timeout)
        for key in ("times", "runs", "time", "extrapolated", "check", "check_ref"):
            cell.setdefault(key, None if key not in ("times", "runs") else ([] if key == "times" else 0))
        if cell.get("fusion_plan") is not None:
            results["fusion_plan"] = cell.pop("fusion_plan")
        key = (kind, n)
        if out is not None:
            if key not in refs:
                refs[key] = (sim, out)
                if kind == "forward" and n <= cfg.reference_max_n:
                    measure.compare(cell, out, workload.reference_statevector(n, workload.random_params(n)),
                                    "Qiskit Statevector")
            else:
                measure.compare(cell, out, refs[key][1], refs[key][0])
        cells[sim] = cell
        del out
        if all(s in cells for s in wanted):
            refs.pop(key, None)  # free the reference (256 MiB at n = 24)
    results["sims"] = sims
    results["unavailable"] = {s: i["reason"] for s, i in sims.items() if not i["available"]}
    results["wall_s"] = time.time() - started
    results["load_after"] = os.getloadavg()
    return results


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
