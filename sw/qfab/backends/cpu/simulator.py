"""The CPU engine: numba kernels behind statevector / expectation / gradient / sample.

Small states run one parameter set per thread (``prange`` over the batch, serial kernels);
large states run one parameter set at a time with each kernel split over threads. Which one is
chosen by :func:`runs_over_sets`; either way the numbers are the same.
"""
from __future__ import annotations

import numba
import numpy as np

from qfab.backends.base import InsufficientMemoryError
from qfab.backends.job import check_free_memory
from qfab.core.shift import parameter_shift
from qfab.core.ir import Circuit
from qfab.core.observables import PauliSum
from qfab.backends.cpu import program as prog
from qfab.backends.cpu.program import Program, compile_program
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
    """Qubits per fused block: wide blocks cut passes over large states, narrow ones keep
    per-parameter-set matrix building cheap for small states (see docs/performance.md)."""
    if num_qubits <= 6:
        return 2
    if num_qubits <= 12:
        return 3
    return 4


def check_memory(num_qubits: int, vectors: int, dtype, what: str) -> None:
    itemsize = np.dtype(dtype).itemsize
    check_free_memory(vectors * (2**num_qubits) * itemsize, f"{what} at n={num_qubits}",
                      f"{vectors} state vector(s) of {np.dtype(dtype).name} (2^{num_qubits} amplitudes x "
                      f"{itemsize} B each)")


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


def apply_global_phase(states: np.ndarray, circuit: Circuit, thetas: np.ndarray) -> None:
    """Multiply each row of ``states`` by the circuit's global phase at its parameters (kernels
    leave it out; Qiskit's Statevector carries it)."""
    phases = np.array([circuit.phase(t) for t in thetas])
    if np.any(phases != 0):
        states *= np.exp(1j * phases)[:, None].astype(states.dtype)


def _workers(batch: int) -> int:
    """Independent slices of a batch: a few per thread, so uneven slices still balance."""
    return max(1, min(batch, 4 * numba.get_num_threads()))


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


class CPUEngine:
    """Exact state-vector simulation on this machine's cores."""

    name = "cpu"

    def __init__(self, width: int | None = None):
        self.width = width

    def program(self, circuit: Circuit) -> Program:
        warm_up(CPUEngine)  # first use in this process: compile everything under the lock
        width = self.width or fusion_width(circuit.num_qubits)
        cache = circuit.__dict__.setdefault("_qfab_programs", {})
        if width not in cache:
            cache[width] = compile_program(circuit, width)
        return cache[width]

    def statevector(self, circuit: Circuit, thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch = thetas.shape[0]
        check_memory(circuit.num_qubits, batch, dtype, "statevector")
        program = self.program(circuit)
        out = np.empty((batch, 2**circuit.num_qubits), dtype)
        if runs_over_sets(circuit.num_qubits, batch, 1, np.dtype(dtype).itemsize):
            prog.forward_batch_over_sets(program.arrays, thetas, out)
        else:
            prog.forward_batch_over_amplitudes(program.arrays, thetas, out)
        apply_global_phase(out, circuit, thetas)
        return out

    def evolve(self, circuit: Circuit, thetas: np.ndarray, states: np.ndarray) -> None:
        """``states[b] <- U(thetas[b]) states[b]`` in place, global phase included: a unitary
        segment of a dynamic circuit applied to its branches (complex128 rows)."""
        program = self.program(circuit)
        prog.evolve_batch(program.arrays, np.ascontiguousarray(thetas, dtype=np.float64), states)
        apply_global_phase(states, circuit, thetas)

    def expectation(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch, n = thetas.shape[0], circuit.num_qubits
        program = self.program(circuit)
        x_all, z_all, pre_all, starts = pack_observables(sums)
        out = np.empty((batch, len(sums)))
        if runs_over_sets(n, batch, 1, np.dtype(dtype).itemsize):
            workers = _workers(batch)
            check_memory(n, workers, dtype, "expectation")
            work = np.empty((workers, 2**n), dtype)
            prog.expect_batch_over_sets(program.arrays, thetas, work, x_all, z_all, pre_all, starts, out)
        else:
            check_memory(n, 1, dtype, "expectation")
            psi = np.empty(2**n, dtype)
            prog.expect_batch_over_amplitudes(program.arrays, thetas, psi, x_all, z_all, pre_all, starts, out)
        return out

    def adjoint_gradient(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch, n = thetas.shape[0], circuit.num_qubits
        program = self.program(circuit)
        x_all, z_all, pre_all, starts = pack_observables(sums)
        grads = np.empty((batch, len(sums), circuit.num_parameters))
        vectors = 1 + len(sums)
        if runs_over_sets(n, batch, vectors, np.dtype(dtype).itemsize):
            workers = _workers(batch)
            check_memory(n, vectors * workers, dtype, "adjoint gradient")
            work = np.empty((workers, 2**n), dtype)
            lam_work = np.empty((workers, len(sums), 2**n), dtype)
            prog.gradient_batch_over_sets(program.arrays, thetas, work, lam_work, x_all, z_all, pre_all, starts, grads)
        else:
            check_memory(n, vectors, dtype, "adjoint gradient")
            psi = np.empty(2**n, dtype)
            lams = np.empty((len(sums), 2**n), dtype)
            prog.gradient_batch_over_amplitudes(program.arrays, thetas, psi, lams, x_all, z_all, pre_all, starts, grads)
        return grads

    def parameter_shift_gradient(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        return parameter_shift(circuit, sums, thetas, lambda c, s, rows: self.expectation(c, s, rows, dtype))

    def probabilities(self, circuit: Circuit, thetas: np.ndarray) -> np.ndarray:
        return np.abs(self.statevector(circuit, thetas)) ** 2
