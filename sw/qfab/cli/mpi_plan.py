"""``qfab mpi-plan``: how many nodes, and how long, for one state vector over MPI on a stated cluster.

The question issue 21 asks on paper before anyone books a cluster: for the QML ansatz (RY and RZ on
every qubit, then a CNOT ladder, per layer) of ``--qubits`` qubits, the smallest power-of-two launch
whose ranks hold the state in the nodes' memory, and the time the MPI cost model predicts (local
passes at this machine's calibrated rates, exchanges x bytes over the stated network, latency per
message) for a forward expectation and an adjoint gradient.
"""
from __future__ import annotations

import argparse

import numpy as np

__all__ = ["cli_main"]


def cli_main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="qfab mpi-plan", description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[36, 40])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--node-memory-gib", type=float, default=512.0)
    parser.add_argument("--ranks-per-node", type=int, default=4)
    parser.add_argument("--network-gbit", type=float, default=200.0, help="per node, e.g. 200 for HDR InfiniBand")
    parser.add_argument("--latency-us", type=float, default=2.0)
    args = parser.parse_args(argv)

    from qfab.backends import Job
    from qfab.backends.calibration import benchmark_circuit
    from qfab.backends.mpi import plan_cluster
    from qfab.core.observables import as_pauli_sums

    print(f"cluster: nodes of {args.node_memory_gib:g} GiB, {args.ranks_per_node} ranks a node, "
          f"{args.network_gbit:g} Gbit/s, {args.latency_us:g} us latency; local rates calibrated on this machine")
    print(f"{'qubits':>6} {'job':<17} {'ranks':>6} {'nodes':>6} {'GiB/rank':>9} {'exchanges':>9} {'GiB sent/rank':>13} "
          f"{'predicted':>10}")
    for n in args.qubits:
        circuit = benchmark_circuit(n, args.layers)
        sums, _ = as_pauli_sums(["I" * (n - 1) + "Z"], n)
        theta = np.zeros((1, circuit.num_parameters))
        for gradient in (None, "adjoint"):
            plan = plan_cluster(Job(circuit, theta, tuple(sums), gradient=gradient), args.node_memory_gib * 2**30,
                                args.ranks_per_node, args.network_gbit * 1e9 / 8, args.latency_us * 1e-6)
            print(f"{n:>6} {'adjoint gradient' if gradient else 'expectation':<17} {plan.ranks:>6} {plan.nodes:>6} "
                  f"{plan.bytes_per_rank / 2**30:>9.1f} {plan.exchanges:>9} {plan.bytes_sent_per_rank / 2**30:>13.1f} "
                  f"{plan.seconds:>9.0f}s")
    return 0
