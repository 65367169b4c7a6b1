"""Small calls: what a 2-qubit expectation costs per call and on a new process's first call.

    .venv/bin/python benchmarks/latency.py [--calls 200] [--processes 5]

Per call: one ``EstimatorV2`` PUB (RY, CX, <ZZ>, one parameter set) with ``device="auto"`` (the
default) and ``device="cpu"``, against Qiskit's ``StatevectorEstimator``, and ``qfab.expectation``
against ``Statevector.expectation_value``, medians over ``--calls`` calls after one warm call each.
First call: in fresh interpreters (median of ``--processes``), the seconds of ``import qfab`` and of
the first ``qfab.expectation`` after it, with ``device="cpu"`` and ``"auto"``; numba's kernels come
from its on-disk cache (the first process of a new checkout compiles them and is left out).
Goal (issue 16): per call within 2x of Qiskit's estimator; the first call <= 0.5 s.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

FIRST_CALL = """
import time
t0 = time.perf_counter()
import qfab
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
t1 = time.perf_counter()
a = Parameter("a"); qc = QuantumCircuit(2); qc.ry(a, 0); qc.cx(0, 1)
qfab.expectation(qc, SparsePauliOp("ZZ"), [0.2], device="{device}")
print(t1 - t0, time.perf_counter() - t1)
"""


def first_call(device: str, processes: int) -> tuple[float, float]:
    subprocess.run([sys.executable, "-c", FIRST_CALL.format(device=device)], capture_output=True, check=True)  # fills caches
    runs = []
    for _ in range(processes):
        out = subprocess.run([sys.executable, "-c", FIRST_CALL.format(device=device)], capture_output=True, text=True, check=True)
        runs.append(tuple(float(v) for v in out.stdout.split()[-2:]))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def per_call(run, calls: int) -> float:
    run(0)
    times = []
    for i in range(calls):
        start = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(calls: int = 200, processes: int = 5) -> list[tuple[str, float, float | None]]:
    """Rows (what, seconds, Qiskit's seconds for the same or None)."""
    import numpy as np
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.primitives import StatevectorEstimator
    from qiskit.quantum_info import SparsePauliOp, Statevector

    import qfab
    from qfab.qiskit import EstimatorV2

    a = Parameter("a")
    qc = QuantumCircuit(2)
    qc.ry(a, 0)
    qc.cx(0, 1)
    zz = SparsePauliOp("ZZ")
    angles = np.linspace(0, np.pi, calls + 1)

    def pub(estimator):
        return lambda i: estimator.run([(qc, zz, [angles[i]])]).result()

    qiskit_pub = per_call(pub(StatevectorEstimator()), calls)
    qiskit_expectation = per_call(lambda i: Statevector(qc.assign_parameters([angles[i]])).expectation_value(zz), calls)
    rows = [("EstimatorV2 PUB, device='auto'", per_call(pub(EstimatorV2()), calls), qiskit_pub),
            ("EstimatorV2 PUB, device='cpu'", per_call(pub(EstimatorV2(device="cpu")), calls), qiskit_pub),
            ("qfab.expectation, device='auto'",
             per_call(lambda i: qfab.expectation(qc, zz, [angles[i]], device="auto"), calls), qiskit_expectation),
            ("qfab.expectation, device='cpu'",
             per_call(lambda i: qfab.expectation(qc, zz, [angles[i]], device="cpu"), calls), qiskit_expectation)]
    for device in ("cpu", "auto"):
        imported, first = first_call(device, processes)
        if device == "cpu":
            rows.append(("new process: import qfab", imported, None))
        rows.append((f"new process: first qfab.expectation, device='{device}'", first, None))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--processes", type=int, default=5)
    args = parser.parse_args(argv)
    import os

    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| call | qfab | Qiskit | qfab / Qiskit (goal ≤ 2) |\n|---|---|---|---|")
    for what, seconds, reference in measure(args.calls, args.processes):
        ratio = f"{seconds / reference:.2f}" if reference else "—"
        print(f"| {what} | {seconds * 1e3:.2f} ms | {'—' if reference is None else f'{reference * 1e3:.2f} ms'} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
