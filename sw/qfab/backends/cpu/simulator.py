"""The CPU engine: numba kernels behind statevector / expectation / gradient / sample.

Small states run one parameter set per thread (``prange`` over the batch, serial kernels);
large states run one parameter set at a time with each kernel split over threads. Which one is
chosen by :func:`runs_over_sets`; either way the numbers are the same.
"""
from __future__ import annotations

import numba
import numpy as np

from qfab.backends.base import InsufficientMemoryError
from qfab.core.shift import parameter_shift
from qfab.core.ir import Circuit
from qfab.core.observables import PauliSum
from qfab.backends.cpu import numba_cache  # noqa: F401  (must precede every @njit(cache=True))
from qfab.backends.cpu import program as prog
from qfab.backends.cpu.program import Program, compile_program
from qfab.backends.cpu.small import apply_global_phase, check_memory
from qfab.backends.cpu.warmup import warm_up

__all__ = ["CPUEngine", "fusion_width", "apply_global_phase", "runs_over_sets",
           "pack_observables", "check_memory", "InsufficientMemoryError"]

_DTYPES = {np.dtype(np.complex128): np.complex128, np.dtype(np.complex64): np.complex64}

# States of up to this many qubits run one parameter set per thread when a batch has a set for
# every thread, however many states a set needs (per-region launches dominate small states).
_SETS_PARALLEL_MAX_QUBITS = 13


def _per_core_cache_bytes() -> int:
    """The per-core (L2) cache from sysfs; 1 MiB, the reference VM's, if unreadable."""
    try:
        text = open("/sys/devices/system/cpu/cpu0/cache/index2/size").read().strip()
    except OSError:
        return 1 << 20
    return int(text.rstrip("KM")) * {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)


PER_CORE_CACHE_BYTES = _per_core_cache_bytes()


def fusion_width(num_qubits: int) -> int:
    """Qubits per fused block. Cache blocking (:mod:`.blocking`) makes a pass over memory per
    region, not per block, so past 12 qubits blocks are as narrow as the register kernels'
    4x4 products (2 qubits: a quarter of a 4-qubit block's flops per amplitude, measured 1.4x
    faster at n = 20 and 3.5x at n = 14, one thread); up to 12, 3 qubits keep the per-set
    matrix building of large batches cheap (see docs/performance.md)."""
    if num_qubits <= 6 or num_qubits > 12:
        return 2
    return 3


def unblocked_fusion_width(num_qubits: int) -> int:
    """Qubits per fused block where a pass over memory is made per block, not per region (the
    GPU's kernels, a dynamic circuit's ``evolve``): wider blocks, fewer passes."""
    if num_qubits <= 6:
        return 2
    if num_qubits <= 12:
        return 3
    return 4


def pack_observables(sums: list[PauliSum]):
    """Pauli sums as the flat arrays the kernels read: (x masks, z masks, prefactors, term starts)."""
    starts = np.zeros(len(sums) + 1, np.int64)
    starts[1:] = np.cumsum([len(s.x_masks) for s in sums])
    return (
        np.concatenate([s.x_masks for s in sums]),
        np.concatenate([s.z_masks for s in sums]),
        np.concatenate([s.prefactors for s in sums]),
        starts,
    )


def runs_over_sets(num_qubits: int, batch: int, vectors: int = 1, itemsize: int = 16) -> bool:
    """Whether a batch runs one parameter set per thread (serial kernels, one parallel region per
    call) rather than one set at a time with every kernel split over threads (a region per block).

    Sets run per thread while the ``vectors`` states a set works on fit a core's own cache, and
    for states of up to 13 qubits whenever there are sets for every thread. In the cache a
    thread streams its own states; splitting instead pays a region per block and shares the
    cache traffic. Measured on the 2-core VM (1 MiB L2): a single set serially is 1.2-4.5x
    faster up to 14 qubits (forward) and 12 (adjoint), on a par at 16, 0.8x for a 16-qubit
    adjoint gradient (two states, 2 MiB); 8 sets per thread are 2.2-2.6x faster at 14 qubits,
    1.6-2.2x at 15, 1.6x for 16-qubit states."""
    fits = vectors * itemsize * 2**num_qubits <= PER_CORE_CACHE_BYTES
    if batch < min(2, numba.get_num_threads()):
        return fits
    return num_qubits <= _SETS_PARALLEL_MAX_QUBITS or fits


def chunk_qubits(num_qubits: int, vectors: int, workers: int) -> int:
    """Qubits of a cache-blocking chunk: the ``vectors`` chunk buffers a worker streams through
    (16 B per amplitude, real and imaginary parts) fill at most half the per-core cache, and
    there is a chunk for every worker."""
    fit = int(np.log2(PER_CORE_CACHE_BYTES / 2 / (16 * vectors)))
    spread = int(np.ceil(np.log2(workers))) if workers > 1 else 0
    return max(1, min(fit, num_qubits - spread))


class _Buffers:
    """A call's cache-blocking plan and scratch: the regions for its chunk size, the select-wise
    block products and the chunk buffers, per worker (over sets: each worker one whole state
    as a single chunk, serial kernels; over amplitudes: the workers share one set's chunks)."""

    def __init__(self, program: Program, num_qubits: int, workers: int, over_sets: bool, observables: int = 0):
        # chunks sized for the state alone, also in the adjoint's sweep (which streams every
        # lambda too): fewer regions outweigh the L2 spill, 5-15 % faster at n = 16-22 (measured)
        bits = num_qubits if over_sets else chunk_qubits(num_qubits, 1, workers)
        plan = program.regions(bits)
        self.regions = plan.arrays
        bits = plan.chunk_qubits
        chunks = 1 << (num_qubits - bits)
        workers = workers if over_sets else max(1, min(workers, chunks))
        sub = int(self.regions[13][-1])
        size = 1 << bits
        if over_sets:
            sub_re, sub_im = np.empty((workers, sub)), np.empty((workers, sub))
        else:
            sub_re, sub_im = np.empty(sub), np.empty(sub)
        self.forward = (sub_re, sub_im, np.empty((workers, size)), np.empty((workers, size)))
        # the adjoint's sweep also streams every observable's lambda through a chunk buffer
        self.gradient = self.forward + (np.empty((workers, observables, size)), np.empty((workers, observables, size)))


class CPUEngine:
    """Exact state-vector simulation on this machine's cores."""

    name = "cpu"

    def __init__(self, width: int | None = None):
        self.width = width

    def program(self, circuit: Circuit, unblocked: bool = False) -> Program:
        """The circuit's fused program (cached on it): the cache-blocked drivers' width, or
        :func:`unblocked_fusion_width` when ``unblocked`` (a pass per block)."""
        warm_up(CPUEngine)  # first use in this process: compile everything under the lock
        width = self.width or (unblocked_fusion_width if unblocked else fusion_width)(circuit.num_qubits)
        cache = circuit.__dict__.setdefault("_qfab_programs", {})
        if width not in cache:
            cache[width] = compile_program(circuit, width)
        return cache[width]

    def statevector(self, circuit: Circuit, thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch = thetas.shape[0]
        check_memory(circuit.num_qubits, batch, dtype, "statevector")
        program = self.program(circuit)
        n = circuit.num_qubits
        out = np.empty((batch, 2**n), dtype)
        if runs_over_sets(n, batch, 1, np.dtype(dtype).itemsize):
            # one whole-state chunk buffer per thread, not per slice: the slices run a thread each
            b = _Buffers(program, n, min(batch, numba.get_num_threads()), over_sets=True)
            prog.forward_blocked_over_sets(program.arrays, b.regions, thetas, out, *b.forward)
        else:
            b = _Buffers(program, n, numba.get_num_threads(), over_sets=False)
            prog.forward_blocked_over_amplitudes(program.arrays, b.regions, thetas, out, *b.forward)
        apply_global_phase(out, circuit, thetas)
        return out

    def evolve(self, circuit: Circuit, thetas: np.ndarray, states: np.ndarray) -> None:
        """``states[b] <- U(thetas[b]) states[b]`` in place, global phase included: a unitary
        segment of a dynamic circuit applied to its branches (complex128 rows; a pass per block,
        so the wider blocks of :func:`unblocked_fusion_width`)."""
        program = self.program(circuit, unblocked=True)
        prog.evolve_batch(program.arrays, np.ascontiguousarray(thetas, dtype=np.float64), states)
        apply_global_phase(states, circuit, thetas)

    def expectation(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch, n = thetas.shape[0], circuit.num_qubits
        program = self.program(circuit)
        x_all, z_all, pre_all, starts = pack_observables(sums)
        out = np.empty((batch, len(sums)))
        if runs_over_sets(n, batch, 1, np.dtype(dtype).itemsize):
            workers = min(batch, numba.get_num_threads())  # a state and a chunk buffer per thread
            check_memory(n, workers, dtype, "expectation")
            work = np.empty((workers, 2**n), dtype)
            b = _Buffers(program, n, workers, over_sets=True)
            prog.expect_blocked_over_sets(program.arrays, b.regions, thetas, work, x_all, z_all, pre_all, starts, out,
                                          *b.forward)
        else:
            check_memory(n, 1, dtype, "expectation")
            psi = np.empty(2**n, dtype)
            b = _Buffers(program, n, numba.get_num_threads(), over_sets=False)
            prog.expect_blocked_over_amplitudes(program.arrays, b.regions, thetas, psi, x_all, z_all, pre_all, starts,
                                                out, *b.forward)
        return out

    def adjoint_gradient(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128,
                         values: np.ndarray | None = None) -> np.ndarray:
        """Gradients ``(batch, observables, parameters)`` by the adjoint method; ``values``, if
        given ``(batch, observables)``, receives the expectation values the sweep computes on its
        way (a job that wants both then runs one forward per set, not two)."""
        dtype = _DTYPES[np.dtype(dtype)]
        batch, n = thetas.shape[0], circuit.num_qubits
        # the forward's blocks and regions: the backward sweep un-applies a region per pass over
        # psi and every lambda, each block's transition matrix summed while the chunk is in cache
        program = self.program(circuit)
        x_all, z_all, pre_all, starts = pack_observables(sums)
        grads = np.empty((batch, len(sums), circuit.num_parameters))
        values = np.empty((batch, len(sums))) if values is None else values
        vectors = 1 + len(sums)
        if runs_over_sets(n, batch, vectors, np.dtype(dtype).itemsize):
            workers = min(batch, numba.get_num_threads())  # a state, its lambdas and chunk buffers per thread
            check_memory(n, 2 * vectors * workers, dtype, "adjoint gradient")
            work = np.empty((workers, 2**n), dtype)
            lam_work = np.empty((workers, len(sums), 2**n), dtype)
            b = _Buffers(program, n, workers, over_sets=True, observables=len(sums))
            prog.gradient_blocked_over_sets(program.arrays, b.regions, thetas, work, lam_work, x_all, z_all, pre_all,
                                            starts, values, grads, *b.gradient)
        else:
            check_memory(n, vectors, dtype, "adjoint gradient")
            psi = np.empty(2**n, dtype)
            lams = np.empty((len(sums), 2**n), dtype)
            b = _Buffers(program, n, numba.get_num_threads(), over_sets=False, observables=len(sums))
            prog.gradient_blocked_over_amplitudes(program.arrays, b.regions, thetas, psi, lams, x_all, z_all, pre_all,
                                                  starts, values, grads, *b.gradient)
        return grads

    def parameter_shift_gradient(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        return parameter_shift(circuit, sums, thetas, lambda c, s, rows: self.expectation(c, s, rows, dtype))

    def probabilities(self, circuit: Circuit, thetas: np.ndarray) -> np.ndarray:
        return np.abs(self.statevector(circuit, thetas)) ** 2
