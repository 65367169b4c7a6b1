"""Soak: the runtime under random device faults, slowdowns and NaN answers, over many plans.

    .venv/bin/python benchmarks/soak.py [--plans 300] [--seed 0]        (make soak)

Each plan (seeded): 1 to 4 jobs (2 to 5 qubits, batches of 1 to 40, values or adjoint gradients,
some waiting for an earlier job) over 2 to 4 paced devices (``benchmarks/adaptive.py``: the CPU
engine computes, a sleep makes up the device's declared time; some hold only 3 qubits), each but
one healthy device wrapped by ``qfab.testing.inject`` with random faults: a slowdown of 2x to 8x
from a random onset, a failure after 0 to 3 calls, NaN answers after 0 to 3 calls. Runs alternate
between the adaptive policy and the static plan. Every row is compared, bit for bit, with the CPU
engine's: a row missing or not finite is **lost**, a row with any number different is
**changed**; both must be 0 (the exit code says so). Reports plans run, faults injected (calls
slowed, calls failed, NaN answers), devices retired, chunks stolen, re-plans.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
os.environ.setdefault("QFAB_CACHE_DIR", tempfile.mkdtemp(prefix="qfab-soak-cache-"))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import qfab  # noqa: E402
from benchmarks.adaptive import PacedDevice, rows_lost_and_changed  # noqa: E402
from qfab.backends import get_device  # noqa: E402
from qfab.scheduling.calibrate import benchmark_circuit  # noqa: E402
from qfab.scheduling.history import History  # noqa: E402
from qfab.testing import inject  # noqa: E402

SECONDS_PER_AMPLITUDE = 1.5e-6  # a plan runs in a few tenths of a second: chunks of 20 ms to steal and re-plan


class NarrowPacedDevice(PacedDevice):
    """A paced device that holds 3 qubits: work moves only where it is accepted."""

    @property
    def capabilities(self):
        return qfab.backends.Capabilities(max_qubits=3)


def random_work(rng) -> qfab.Workload:
    work = qfab.Workload()
    for index in range(int(rng.integers(1, 5))):
        n = int(rng.integers(2, 6))
        circuit = benchmark_circuit(n, int(rng.integers(1, 3)))
        after = [int(rng.integers(0, index))] if index and rng.random() < 0.3 else []
        work.add(circuit, ["Z" + "I" * (n - 1), "X" * n],
                 rng.uniform(-np.pi, np.pi, (int(rng.integers(1, 41)), circuit.num_parameters)),
                 gradient=bool(rng.random() < 0.5), after=after)
    return work


def random_devices(rng) -> list:
    count = int(rng.integers(2, 5))
    healthy = int(rng.integers(0, count))
    made = []
    for k in range(count):
        kind = NarrowPacedDevice if k != healthy and rng.random() < 0.3 else PacedDevice
        device = kind(f"d{k}", SECONDS_PER_AMPLITUDE * float(rng.uniform(0.5, 2.0)))
        faults = {}
        if rng.random() < 0.6:
            faults.update(slowdown=float(rng.uniform(2.0, 8.0)), after_s=float(rng.uniform(0.0, 0.2)))
        if k != healthy:
            if rng.random() < 0.4:
                faults["fail_after"] = int(rng.integers(0, 4))
            if rng.random() < 0.3:
                faults["nan_after"] = int(rng.integers(0, 4))
        made.append(inject(device, **faults) if faults else device)
    return made


def reference(work) -> list[tuple[np.ndarray, np.ndarray | None]]:
    engine = get_device("cpu").engine
    out = []
    for item in work.items:
        job = item.job
        observables = list(job.observables)
        out.append((engine.expectation(job.circuit, observables, job.params),
                    engine.adjoint_gradient(job.circuit, observables, job.params) if job.gradient else None))
    return out


def soak(plans: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    totals = Counter()
    started = time.perf_counter()
    for index in tqdm(range(plans), desc="soak", unit="plan"):
        work = random_work(rng)
        expected = reference(work)
        devices = random_devices(rng)
        adapt = index % 2 == 0
        plan = qfab.plan(work, devices=devices, history=History(Path(tempfile.mkdtemp()) / "h.json"))
        try:
            result = qfab.run(plan, progress=False, save_history=False, adapt=adapt)
        except Exception as error:  # every row of the plan is lost; say why
            totals["errors"] += 1
            totals["lost"] += sum(item.job.batch for item in work.items)
            tqdm.write(f"plan {index}: {type(error).__name__}: {str(error)[:200]}")
            continue
        lost, changed = rows_lost_and_changed(result, expected)
        totals["lost"] += lost
        totals["changed"] += changed
        totals["rows"] += sum(item.job.batch for item in work.items)
        totals["adaptive plans" if adapt else "static plans"] += 1
        for device in devices:
            for fault, count in getattr(device, "faults", {}).items():
                totals[f"calls {fault}"] += count
        for mark in result.marks:
            totals[mark.kind] += 1
    totals["plans"] = plans
    totals["seconds"] = time.perf_counter() - started
    return dict(totals)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    totals = soak(args.plans, args.seed)
    faults = totals.get("calls slowed", 0) + totals.get("calls failed", 0) + totals.get("calls nan", 0)
    print(f"soak (seed {args.seed}): {totals['plans']} plans ({totals.get('adaptive plans', 0)} adaptive, "
          f"{totals.get('static plans', 0)} static), {totals.get('rows', 0)} rows, in {totals['seconds']:.0f} s")
    print(f"faults injected: {faults} ({totals.get('calls slowed', 0)} calls slowed, {totals.get('calls failed', 0)} "
          f"calls failed, {totals.get('calls nan', 0)} NaN answers); devices retired {totals.get('retired', 0)}, "
          f"tasks moved {totals.get('moved', 0)}, chunks stolen {totals.get('stolen', 0)}, "
          f"re-plans {totals.get('re-planned', 0)}")
    print(f"results lost: {totals.get('lost', 0)}, changed: {totals.get('changed', 0)}, runs that raised: "
          f"{totals.get('errors', 0)}")
    return 1 if totals.get("lost", 0) or totals.get("changed", 0) or totals.get("errors", 0) else 0


if __name__ == "__main__":
    sys.exit(main())
