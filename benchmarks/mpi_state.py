#!/usr/bin/env python
"""One state vector over MPI ranks (device "mpi"): measured here on 1, 2 and 4 ranks, against the
swap schedule's traffic and the cost model's time, and the plan for 36 and 40 qubits on paper.

    .venv/bin/python benchmarks/mpi_state.py                     # n = 26 values, n = 22 gradients
    .venv/bin/python benchmarks/mpi_state.py --qubits 24 --gradient-qubits 20 --ranks 1 2

Per rank count, one launch (``qfab.backends.mpi.launch``; ranks oversubscribe the cores here):
the device calibrates its model in the launch (network: exchanges of whole slices over shared
memory; local: benchmark jobs of 14 to 20 local qubits), then times, on the slowest rank, one
expectation job (the 2-layer RY/RZ/CNOT ansatz, ``<Z_0> + <X_0 X_{n-1}>``: the second term
flips a global qubit, so it fetches a partner's slice) and one adjoint-gradient job, each after a
warm run. Each row gives the measured exchanges, messages and bytes a rank sent against the
schedule's prediction, and the measured seconds against the model's.

The plan: :func:`qfab.backends.mpi.plan_cluster` for the same jobs at n = 36 and 40 over a stated
cluster (``--node-memory-gib``, ``--ranks-per-node``, ``--network-gbit``, ``--latency-us``),
priced with the local rates the 1-rank launch fitted here.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from qfab.backends.calibration import benchmark_circuit
from qfab.backends.job import Job
from qfab.core.observables import as_pauli_sums

LAYERS = 2


def benchmark_jobs(n: int, gradient: bool) -> Job:
    circuit = benchmark_circuit(n, LAYERS)
    sums, _ = as_pauli_sums(["I" * (n - 1) + "Z", "X" + "I" * (n - 2) + "X"], n)
    params = np.random.default_rng(n).uniform(-np.pi, np.pi, (1, circuit.num_parameters))
    return Job(circuit, params, tuple(sums), gradient="adjoint" if gradient else None)


def worker(qubits: int, gradient_qubits: int) -> None:
    """Inside a launch: calibrate, then time each job (slowest rank) and print one JSON line."""
    from mpi4py import MPI

    from qfab.backends.mpi import MPIDevice
    from qfab.backends.mpi.calibration import slowest_seconds
    from qfab.backends.mpi.costmodel import predicted_traffic

    device = MPIDevice(spread="state")
    engine = device.engine
    start = time.perf_counter()
    fitted = device.calibrate(repeats=2)
    calibration_s = time.perf_counter() - start
    model = device.cost_model(fitted)
    rows = []
    for n, gradient in ((qubits, False), (gradient_qubits, True)):
        job = benchmark_jobs(n, gradient)
        device.run([benchmark_jobs(n - 4, gradient)])  # compiled, pages of the buffers touched
        seconds = slowest_seconds(engine.comm, lambda: device.run([job]), repeats=1, warm=False)
        measured = engine.traffic
        predicted = predicted_traffic(job, engine.num_global, device.chunk_amplitudes)
        rows.append({
            "n": n, "job": "adjoint gradient" if gradient else "expectation", "ranks": engine.size,
            "seconds": seconds, "predicted_s": model.predict(job), "breakdown": model.breakdown(job),
            "exchanges": [measured.exchanges, predicted.exchanges],
            "messages": [measured.messages, predicted.messages],
            "bytes": [measured.exchange_bytes + measured.fetch_bytes, predicted.exchange_bytes + predicted.fetch_bytes],
        })
    if engine.rank == 0:
        print("RESULT " + json.dumps({"ranks": engine.size, "parameters": fitted, "calibration_s": calibration_s,
                                      "rows": rows}), flush=True)
    MPI.COMM_WORLD.Barrier()


def plans(parameters: dict, options) -> list[dict]:
    from qfab.backends.mpi import plan_cluster

    out = []
    for n in (36, 40):
        for gradient in (False, True):
            job = benchmark_jobs(n, gradient)
            plan = plan_cluster(job, options.node_memory_gib * 2**30, options.ranks_per_node,
                                options.network_gbit * 1e9 / 8, options.latency_us * 1e-6, parameters=parameters)
            out.append({"n": n, "job": "adjoint gradient" if gradient else "expectation", "ranks": plan.ranks,
                        "nodes": plan.nodes, "gib_per_rank": plan.bytes_per_rank / 2**30,
                        "exchanges": plan.exchanges, "gib_sent_per_rank": plan.bytes_sent_per_rank / 2**30,
                        "seconds": plan.seconds, **plan.breakdown})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qubits", type=int, default=26, help="qubits of the expectation job")
    parser.add_argument("--gradient-qubits", type=int, default=22, help="qubits of the gradient job")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--node-memory-gib", type=float, default=512.0)
    parser.add_argument("--ranks-per-node", type=int, default=4)
    parser.add_argument("--network-gbit", type=float, default=200.0)
    parser.add_argument("--latency-us", type=float, default=2.0)
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        worker(options.qubits, options.gradient_qubits)
        return 0
    from qfab.backends.mpi import launch

    launches = []
    for ranks in options.ranks:
        done = launch(__file__, ranks, ("--worker", "--qubits", str(options.qubits),
                                        "--gradient-qubits", str(options.gradient_qubits)), capture=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode or not lines:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
        launches.append(json.loads(lines[0][len("RESULT "):]))
    print("| job | n | ranks | measured s | predicted s | exchanges (measured / schedule) | "
          "messages | MiB sent per rank (measured / schedule) |")
    print("|---|---|---|---|---|---|---|---|")
    for result in launches:
        for row in result["rows"]:
            print(f"| {row['job']} | {row['n']} | {row['ranks']} | {row['seconds']:.2f} | {row['predicted_s']:.2f} | "
                  f"{row['exchanges'][0]} / {row['exchanges'][1]} | {row['messages'][0]} / {row['messages'][1]} | "
                  f"{row['bytes'][0] / 2**20:.0f} / {row['bytes'][1] / 2**20:.0f} |")
    print()
    for result in launches:
        p = result["parameters"]
        print(f"calibrated on {result['ranks']} rank(s) in {result['calibration_s']:.0f} s: "
              + ", ".join(f"{k} = {v:.3g}" for k, v in sorted(p.items())))
    local = next(r for r in launches if r["ranks"] == min(options.ranks))["parameters"]
    paper = plans(local, options)
    print()
    print(f"Plan: nodes of {options.node_memory_gib:.0f} GiB, {options.ranks_per_node} ranks a node, "
          f"{options.network_gbit:.0f} Gbit/s, {options.latency_us:.0f} us latency; local rates of the "
          f"{min(options.ranks)}-rank launch here")
    print()
    print("| job | n | ranks | nodes | GiB per rank | exchanges | GiB sent per rank | local s | network s | total s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in paper:
        print(f"| {row['job']} | {row['n']} | {row['ranks']} | {row['nodes']} | {row['gib_per_rank']:.1f} | "
              f"{row['exchanges']} | {row['gib_sent_per_rank']:.1f} | {row['local_s']:.1f} | "
              f"{row['network_s']:.1f} | {row['seconds']:.1f} |")
    if options.json:
        with open(options.json, "w") as handle:
            json.dump({"launches": launches, "plans": paper, "options": vars(options)}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
