"""Measure which fusion width k is fastest per state size, the data behind ``engine.fusion_width``.

Runs the benchmark ansatz (10 layers of RY, RZ and a CNOT ladder) forward and with the adjoint
gradient at each width and n, one parameter set (large n) or a batch of 200 (small n), and
prints a markdown table with the fastest width marked.

    .venv/bin/python benchmarks/fusion_width.py [--sizes 6,10,14,18,20,22] [--write docs/fusion_width.md]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from qiskit.quantum_info import SparsePauliOp

import qfab
from qfab.backends.cpu import CPUEngine, fusion_width
from qfab.core.observables import PauliSum

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402
from workload import qiskit_ansatz  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="6,10,14,18,20,22")
    parser.add_argument("--widths", default="1,2,3,4,5")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    rows = ["| n | batch | k | blocks | forward (ms) | gradient (ms) |", "|---|---|---|---|---|---|"]
    for n in (int(x) for x in args.sizes.split(",")):
        circ = qfab.from_qiskit(qiskit_ansatz(n, 10))
        batch = 200 if n <= 13 else 1
        thetas = np.random.default_rng(n).uniform(-np.pi, np.pi, (batch, circ.num_parameters))
        obs = [PauliSum.from_sparse_pauli_op(SparsePauliOp("I" * (n - 1) + "Z"))]
        repeats = 5 if n <= 20 else 2
        results = []
        for width in (int(x) for x in args.widths.split(",")):
            engine = CPUEngine(width)
            forward = measure.median_time(lambda: engine.expectation(circ, obs, thetas), repeats)
            grad = measure.median_time(lambda: engine.adjoint_gradient(circ, obs, thetas), repeats)
            results.append((width, engine.program(circ).num_blocks, forward, grad))
            print(f"n={n} k={width} forward={forward * 1e3:.2f} ms gradient={grad * 1e3:.2f} ms", file=sys.stderr)
        best = min(results, key=lambda r: r[2] + r[3])[0]
        for width, blocks, forward, grad in results:
            mark = " **fastest**" if width == best else ""
            chosen = " (default)" if width == fusion_width(n) else ""
            rows.append(f"| {n} | {batch} | {width}{mark}{chosen} | {blocks} | {forward * 1e3:.2f} | {grad * 1e3:.2f} |")
    table = "\n".join(rows)
    print(table)
    if args.write:
        args.write.write_text("# Fusion width by state size\n\nCommand: `.venv/bin/python benchmarks/fusion_width.py`\n\n" + table + "\n")


if __name__ == "__main__":
    main()
