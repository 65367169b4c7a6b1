"""The distributed engine's cost model, and the plan of a run on a cluster on paper.

A run costs, per parameter set and on every rank at once (ranks work in step, so one rank's
time is the run's): the local passes of the CPU programs over a ``2**L``-amplitude slice (bytes
read and written, and the dense blocks' multiply-adds), the exchanges of the swap schedule
(``2**k - 1`` messages of ``2**(L-k)`` amplitudes per exchange of ``k`` pairs, each paying the
network's latency and its bytes over its bandwidth, and a pack and an unpack in memory), and
the slices fetched whole for Pauli terms that flip global qubits. The counts come from the
same schedule and programs the engine runs (:func:`~.state.rank_program`, rank 0's), so a plan
for 36 or 40 qubits is computed without a state: only the rates are the machine's.

The rates are parameters: ``byte_s`` and ``flop_s`` (a rank's pass over its slice, fitted on
this machine), ``network_latency_s`` and ``network_byte_s`` (``1 / bandwidth``: calibrated
here over shared memory, given as the cluster's figures for a plan).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from qfab.backends.base import Job
from qfab.backends.costmodel import CostModel
from qfab.backends.cpu import kernels
from qfab.backends.mpi.state import DEFAULT_CHUNK_AMPLITUDES, RankProgram, cross_patterns, rank_program
from qfab.core.ir import Circuit

__all__ = ["MPICostModel", "PredictedTraffic", "predicted_traffic", "state_bytes_per_rank"]


@dataclass(frozen=True)
class PredictedTraffic:
    """What one rank sends in one job, by the schedule: exchanges (per vector), their messages
    (chunks included), their bytes, and whole slices fetched for Pauli terms on global qubits."""

    exchanges: int
    messages: int
    exchange_bytes: int
    fetches: int
    fetch_bytes: int


def _rank_program(circuit: Circuit, num_global: int) -> RankProgram:
    cache = circuit.__dict__.setdefault("_qfab_mpi_programs", {})
    if (num_global, 0) not in cache:
        cache[(num_global, 0)] = rank_program(circuit, num_global, 0)
    return cache[(num_global, 0)]


def _vectors_swapped(job: Job) -> int:
    """Vectors each swap of the schedule moves per set: the forward pass's ``psi``, then (for an
    adjoint gradient) ``psi`` and every ``lambda`` again on the way back."""
    return 1 + ((1 + len(job.observables)) if job.gradient == "adjoint" else 0)


def predicted_traffic(job: Job, num_global: int, chunk_amplitudes: int = DEFAULT_CHUNK_AMPLITUDES) -> PredictedTraffic:
    """The traffic the engine's counters (:class:`~qfab.backends.mpi.state.Traffic`) must show for ``job``."""
    rp = _rank_program(job.circuit, num_global)
    schedule, num_local = rp.schedule, rp.schedule.num_local
    vectors = _vectors_swapped(job) if (job.observables or job.want_state or job.shots) else 0
    chunks_per_part = [math.ceil(2 ** (num_local - s.pairs) / chunk_amplitudes) for s in schedule.swaps]
    messages = sum((2**s.pairs - 1) * c for s, c in zip(schedule.swaps, chunks_per_part))
    fetches = len(cross_patterns(job.observables, schedule.final_layout, num_local)) if job.observables else 0
    sets = job.batch
    return PredictedTraffic(sets * vectors * schedule.exchanges, sets * vectors * messages,
                   sets * vectors * schedule.bytes_per_rank(), sets * fetches, sets * fetches * 16 * 2**num_local)


def state_bytes_per_rank(job: Job, num_global: int, chunk_amplitudes: int = DEFAULT_CHUNK_AMPLITUDES) -> int:
    """Memory a rank holds for ``job``: its slice of ``psi``, each ``lambda`` (adjoint), a
    partner's slice and a scratch slice (Pauli terms on global qubits) and two message buffers."""
    num_local = job.circuit.num_qubits - num_global
    slice_bytes = 16 * 2**num_local
    vectors = 1 + (len(job.observables) if job.gradient == "adjoint" else 0)
    if num_global and job.observables:
        vectors += 2
    return vectors * slice_bytes + 2 * 16 * min(chunk_amplitudes, 2 ** max(num_local - 1, 0))


class MPICostModel(CostModel):
    """``features(job) . parameters`` over the counts of the schedule and programs (module
    docstring); ``ranks`` is the launch's size (the device's, or the plan's)."""

    kind = "mpi"
    FEATURES = ("call_overhead_s", "byte_s", "flop_s", "network_latency_s", "network_byte_s")
    defaults = {  # fitted by benchmarks/mpi_state.py on the 2-core reference VM (see docs/mpi.md)
        "call_overhead_s": 2e-3,
        "byte_s": 2.6e-10,
        "flop_s": 1.9e-10,
        "network_latency_s": 2e-5,
        "network_byte_s": 1 / 2e9,
        "backward_weight": 3.5,
        "ranks": 1,
        "chunk_amplitudes": DEFAULT_CHUNK_AMPLITUDES,
    }

    def from_profile(self, device) -> dict:
        profile = device.profile().parameters
        return {key: profile[key] for key in ("ranks", "chunk_amplitudes") if profile.get(key)}

    @property
    def num_global(self) -> int:
        return int(self.parameters["ranks"]).bit_length() - 1

    def features(self, job: Job) -> tuple[float, ...]:
        rp = _rank_program(job.circuit, self.num_global)
        num_local = rp.schedule.num_local
        amplitudes, slice_bytes = 2**num_local, 16 * 2**num_local
        programs = [program for _, program in rp.steps if program is not None]
        blocks = sum(p.num_blocks for p in programs)
        dense = float(sum(2 ** len(q) for p in programs for kind, q in zip(p.block_kinds, p.block_qubits)
                          if kind == kernels.DENSE))
        observables, terms = len(job.observables), sum(len(s.x_masks) for s in job.observables)
        passes, flops = blocks + 0.5, dense  # the forward pass, after writing |0>
        if job.shots:
            passes += 1.0  # the probabilities
        if observables and job.gradient == "adjoint":
            backward = (1 + observables) * self.parameters["backward_weight"]
            passes += terms + backward * blocks
            flops += backward * dense
        elif observables:
            passes += 0.5 * terms
        traffic = predicted_traffic(Job(job.circuit, job.params[:1], job.observables, job.gradient, job.shots,
                                        job.want_state, job.dtype), self.num_global,
                                    int(self.parameters["chunk_amplitudes"]))
        copies = 2 * traffic.exchange_bytes  # pack and unpack of every part
        network_bytes = traffic.exchange_bytes + traffic.fetch_bytes
        messages = traffic.messages + traffic.fetches * math.ceil(amplitudes / self.parameters["chunk_amplitudes"])
        if job.want_state:  # rank 0 receives every slice, then reorders the whole state once
            network_bytes += (int(self.parameters["ranks"]) - 1) * slice_bytes
            copies += 2 * slice_bytes * int(self.parameters["ranks"])
        sets = job.batch
        return (1.0, sets * (2 * slice_bytes * passes + copies), sets * amplitudes * flops,
                float(sets * messages), float(sets * network_bytes))

    def predict(self, job: Job) -> float:
        return float(sum(f * self.parameters[name] for f, name in zip(self.features(job), self.FEATURES)))

    def breakdown(self, job: Job) -> dict:
        """Predicted seconds by term (what a plan reports: compute against network)."""
        f = dict(zip(self.FEATURES, self.features(job)))
        p = self.parameters
        return {"call_s": p["call_overhead_s"], "local_s": f["byte_s"] * p["byte_s"] + f["flop_s"] * p["flop_s"],
                "network_s": f["network_latency_s"] * p["network_latency_s"] + f["network_byte_s"] * p["network_byte_s"]}
