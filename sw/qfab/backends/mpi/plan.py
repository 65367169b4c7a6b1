"""A distributed run planned on paper: how many ranks and nodes a job needs on a stated
cluster, and how long the cost model says it takes (``qfab.backends.mpi.plan_cluster``)."""
from __future__ import annotations

from dataclasses import dataclass

from qfab.backends.base import Job
from qfab.backends.mpi.costmodel import predicted_traffic, state_bytes_per_rank
from qfab.backends.mpi.device import MPIDevice
from qfab.errors import InputError

__all__ = ["ClusterPlan", "plan_cluster"]


@dataclass(frozen=True)
class ClusterPlan:
    """How many ranks (and nodes) a job needs on a stated cluster, and how long it takes."""

    num_qubits: int
    ranks: int
    nodes: int
    ranks_per_node: int
    bytes_per_rank: int
    exchanges: int
    bytes_sent_per_rank: int
    seconds: float
    breakdown: dict


def plan_cluster(job: Job, memory_per_node: float, ranks_per_node: int, network_bytes_per_s: float,
                 network_latency_s: float, max_nodes: int | None = None, parameters: dict | None = None,
                 memory_share: float = 0.9) -> ClusterPlan:
    """The smallest power-of-two launch whose ranks hold ``job`` in ``memory_share`` of each node's
    ``memory_per_node`` bytes (``ranks_per_node`` ranks a node), priced by :class:`MPICostModel`
    with the local rates of ``parameters`` (a calibration here) and the cluster's network."""
    if ranks_per_node < 1 or ranks_per_node & (ranks_per_node - 1):
        raise InputError(f"ranks_per_node must be a power of two, got {ranks_per_node}")
    n = job.circuit.num_qubits
    budget = memory_share * memory_per_node / ranks_per_node
    for num_global in range(0, n):
        need = state_bytes_per_rank(job, num_global)
        if need <= budget:
            break
    else:
        raise InputError(f"no launch holds {n} qubits in {memory_per_node / 2**30:.0f} GiB nodes")
    ranks = 2**num_global
    nodes = max(1, ranks // ranks_per_node)
    if max_nodes is not None and nodes > max_nodes:
        raise InputError(f"{n} qubits need {nodes} nodes of {memory_per_node / 2**30:.0f} GiB "
                         f"({ranks} ranks x {need / 2**30:.1f} GiB), more than the {max_nodes} given")
    model = MPIDevice(ranks=ranks).cost_model({**(parameters or {}), "ranks": ranks,
                                               "network_byte_s": 1.0 / network_bytes_per_s,
                                               "network_latency_s": network_latency_s})
    traffic = predicted_traffic(job, num_global, int(model.parameters["chunk_amplitudes"]))
    return ClusterPlan(n, ranks, nodes, min(ranks, ranks_per_node), need, traffic.exchanges,
                       traffic.exchange_bytes + traffic.fetch_bytes, model.predict(job), model.breakdown(job))
