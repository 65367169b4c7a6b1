"""The CPU engine's cost model: what a job costs in passes over the state, flops, launches and calls.

Built on the program the engine runs (``CPUEngine.program``: the fused blocks), so it counts
exactly the work the engine will do; calibration (:mod:`.calibration`) fits its rates.
"""
from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np

from qfab.backends.base import Job
from qfab.backends.costmodel import CostModel
from qfab.backends.cpu import kernels
from qfab.backends.cpu.simulator import chunk_qubits, runs_over_sets
from qfab.core.shift import shifted_circuit_count

__all__ = ["CPUCostModel", "BYTE_KNOTS"]

# Working-set sizes (log2 bytes) at which the CPU model's time per byte is fitted; between two
# knots it is interpolated linearly in log2(working set), outside them held at the end value.
# 2**14 B: an L1-sized 10-qubit state; 2**18: 14 qubits, in the per-core L2; 2**21: 17 qubits,
# past L2; 2**24: 20 qubits, past what a shared L3 gives one process; beyond, DRAM.
BYTE_KNOTS = (14, 18, 21, 24)


def _knot_weights(working_bytes: float) -> list[float]:
    """Hat-function weights of ``working_bytes`` on :data:`BYTE_KNOTS` (they sum to one)."""
    x = math.log2(max(working_bytes, 1.0))
    knots = BYTE_KNOTS
    if x <= knots[0]:
        return [1.0] + [0.0] * (len(knots) - 1)
    if x >= knots[-1]:
        return [0.0] * (len(knots) - 1) + [1.0]
    weights = [0.0] * len(knots)
    for i in range(len(knots) - 1):
        if knots[i] <= x <= knots[i + 1]:
            t = (x - knots[i]) / (knots[i + 1] - knots[i])
            weights[i], weights[i + 1] = 1.0 - t, t
            break
    return weights


class CPUCostModel(CostModel):
    """``features(job) . parameters``: per call, per parameter set, per parallel kernel launch,
    per element of the small block matrices built per set, and per byte moved over the state,
    the time per byte depending on the working set (:data:`BYTE_KNOTS`).

    Where the time goes in the engine (``qfab.backends.cpu``), and why each term is there:

    - a fixed price per engine call (Python, argument packing, the numba dispatch; an adjoint
      job makes two calls: values, then the gradient);
    - states of at most 13 qubits, and larger ones while a set's states fit the per-core cache,
      run one parameter set per thread, serial kernels (the engine's ``runs_over_sets``), so
      sets cost ``ceil(batch / threads)`` rounds; larger states
      (and single sets) run one set at a time with every kernel a ``prange`` over chunks, which
      costs a launch per kernel (tens of microseconds: it dominates small states) and splits
      the bytes over the threads;
    - every block with a rotation has its ``2**k x 2**k`` matrix rebuilt per set, and the
      adjoint pass multiplies per gate into the transition matrices: flops on small matrices,
      not on the state;
    - each pass over the state reads and writes it; a dense k-qubit block also does ``2**k``
      multiply-adds per amplitude (``flop_s``: the compute Qiskit Aer's fused-gate cost table
      approximates, here its own term, so a wide block costs what it costs on this core rather
      than a fixed multiple of a pass); the time per byte is a measured curve over the working set
      (section 2.2 of the scheduling reference: one bandwidth mispredicts by 60 %), fitted at a
      few knots and interpolated in log2(bytes) between them (L1, L2, past L2, past L3), with
      its own curve for serial kernels over sets (the first three knots: sets run one per thread
      while a set's states fit the per-core cache).

    Every term is linear in a parameter, so calibration fits them all by least squares; the one
    shape parameter, ``backward_weight`` (the adjoint's backward sweep against a forward pass),
    by a line search around that fit. ``device`` is a :class:`~qfab.backends.cpu.CPUDevice`
    (its ``engine`` compiles the programs counted here).
    """

    kind = "cpu"
    #: The fitted parameters, in the order of :meth:`features`.
    FEATURES = ("call_overhead_s", "set_overhead_s", "launch_overhead_s", "matrix_element_s") + tuple(
        f"byte_s_ws{k}" for k in BYTE_KNOTS) + tuple(f"set_byte_s_ws{k}" for k in BYTE_KNOTS[:3]) + ("flop_s",)
    defaults = {  # calibrate() on the 2-core reference VM (load 2, OMP_WAIT_POLICY=passive)
        "call_overhead_s": 120e-6,
        "set_overhead_s": 13e-6,
        "launch_overhead_s": 13e-6,
        "matrix_element_s": 18e-9,
        "byte_s_ws14": 8e-10,
        "byte_s_ws18": 3.7e-10,
        "byte_s_ws21": 2.4e-10,
        "byte_s_ws24": 2.6e-10,
        "set_byte_s_ws14": 1.1e-10,
        "set_byte_s_ws18": 1.35e-10,
        "set_byte_s_ws21": 1.35e-10,  # sets per thread past 14 qubits (L2-sized states): a fit at load 1
        "flop_s": 1.9e-10,  # one complex multiply-add of a dense block, per amplitude
        # the adjoint's backward sweep against (1 + 2 x observables) forward passes' work in
        # cache: psi and every lambda un-applied, every transition matrix summed (not linear:
        # calibration picks it by a line search)
        "backward_weight": 1.0,
        "threads": os.cpu_count() or 1,
    }

    def from_profile(self, device) -> dict:
        """The device's thread count (the one rate its profile declares)."""
        profile = device.profile().parameters
        return {"threads": profile["threads"]} if profile.get("threads") else {}

    def features(self, job: Job) -> tuple[float, ...]:
        """The job's counts, one per entry of :attr:`FEATURES`: the prediction is their dot
        product with the parameters."""
        circuit = job.circuit
        engine = self.device.engine
        program = engine.program(circuit)  # the forward's (values, states, expectations)
        observables = len(job.observables)
        terms = sum(len(s.x_masks) for s in job.observables)
        itemsize = np.dtype(job.dtype).itemsize
        state_bytes = itemsize * 2 ** circuit.num_qubits
        threads = max(1, int(self.parameters["threads"]))
        rows = 1 + (shifted_circuit_count(circuit) if observables and job.gradient == "parameter-shift" else 0)
        vectors = 1 + observables if job.gradient == "adjoint" and observables else 1
        sets = job.batch * rows
        over_sets = runs_over_sets(circuit.num_qubits, sets, vectors, itemsize)
        forward = _forward_counts(program, circuit.num_qubits, over_sets, threads)
        calls = passes = cached = flops = launches = matrix = 0.0
        adjoint = bool(observables) and job.gradient == "adjoint"
        # the adjoint's sweep gives the expectation values too: no forward of their own
        forwards = (1 if job.want_state or job.shots else 0) + (1 if observables and not adjoint else 0)
        calls += forwards
        passes += forwards * forward.passes + (0.5 * terms if observables else 0.0)  # each term reads the state
        cached += forwards * forward.cached
        flops += forwards * forward.flops
        launches += forwards * forward.launches + (observables if observables else 0)
        matrix += forwards * forward.matrix
        if adjoint:
            # one call on the forward's program and regions: the forward, the values, each observable
            # applied into its lambda, then per region a read and write of psi and every lambda,
            # and per block psi and every lambda un-applied in cache with each lambda's
            # transition matrix summed (as many flops again as an un-apply)
            backward = (1 + 2 * observables) * self.parameters["backward_weight"]
            calls += 1
            passes += (2 + observables) * forward.passes + terms
            cached += (1 + backward) * forward.cached
            flops += (1 + backward) * forward.flops
            launches += 2 * forward.launches + observables
            matrix += forward.matrix * (2 + 2 * observables)
        elif observables and job.gradient == "parameter-shift":
            calls += 1
        amplitudes = 2 ** circuit.num_qubits
        if over_sets:  # one set per thread, serial kernels: no launches, full work per set
            rounds = math.ceil(sets / threads)
            launches, per_round_bytes, per_round_flops = 0.0, 2 * state_bytes * (passes + cached), amplitudes * flops
            per_round_cached = 0.0
        else:  # one set at a time, every kernel over all threads
            rounds = sets
            per_round_bytes = 2 * state_bytes * passes / threads
            per_round_cached = 2 * state_bytes * cached / threads
            per_round_flops = amplitudes * flops / threads
        weights = _knot_weights(vectors * state_bytes)
        moved = rounds * per_round_bytes
        # serial kernels on a thread's own state (over sets) stream faster than the same bytes
        # cut into chunks over threads: their own time per byte, at the two knots they reach
        chunked = [0.0 if over_sets else moved * w for w in weights]
        if per_round_cached:  # blocks run on chunks in the per-core cache: bytes at the chunk's size
            chunk_weights = _knot_weights(itemsize * 2 ** forward.chunk_qubits)
            chunked = [c + rounds * per_round_cached * w for c, w in zip(chunked, chunk_weights)]
        serial = [moved * w for w in weights[:3]] if over_sets else [0.0, 0.0, 0.0]
        serial[2] += sum(weights[3:]) * moved if over_sets else 0.0
        return (calls, float(rounds), rounds * launches, rounds * matrix, *chunked, *serial, rounds * per_round_flops)

    def predict(self, job: Job) -> float:
        return float(sum(f * self.parameters[name] for f, name in zip(self.features(job), self.FEATURES)))


class _Counts(NamedTuple):
    """Per parameter set: passes over the whole state, passes over in-cache chunks, dense
    multiply-adds per amplitude, kernel launches, matrix elements rebuilt, blocks, chunk qubits."""

    passes: float
    cached: float
    flops: float
    launches: float
    matrix: float
    blocks: int
    chunk_qubits: int


def _unblocked_counts(program) -> _Counts:
    """A pass over the state per block (a set run over its whole state in cache); per amplitude a dense
    k-qubit block multiplies by a ``2**k x 2**k`` matrix: ``2**k`` multiply-adds (diagonal and
    permutation blocks: one, in the pass itself)."""
    dense = float(sum(2 ** len(qubits) for kind, qubits in zip(program.block_kinds, program.block_qubits)
                      if kind == kernels.DENSE))
    # gates x matrix elements of the blocks rebuilt per set (those with a rotation)
    build = float(sum(int(gates) * 4 ** int(k) for gates, k, rotating in
                      zip(program.block_gate_counts, program.block_num_qubits, program.block_has_rotation)
                      if rotating))
    blocks = program.num_blocks
    return _Counts(blocks + 0.5, 0.0, dense, float(blocks), build, blocks, program.num_qubits)


def _forward_counts(program, num_qubits: int, over_sets: bool, threads: int) -> _Counts:
    """The cache-blocked forward (``CPUEngine.statevector``/``expectation``): over sets a set is
    one chunk per thread, a pass per block over a state in cache; otherwise a read and write of
    the whole state per region (plus writing |0>), every block of the region on chunks in the
    per-core cache, a parallel launch per region."""
    base = _unblocked_counts(program)
    if over_sets:
        return base
    plan = program.regions(chunk_qubits(num_qubits, 1, threads))
    return base._replace(passes=plan.num_regions + 0.5, cached=float(base.blocks), launches=float(plan.num_regions),
                         chunk_qubits=plan.chunk_qubits)
