"""The CPU engine: numba kernels behind statevector / expectation / gradient / sample.

Small states run one parameter set per thread (``prange`` over the batch, serial kernels);
large states run one parameter set at a time with each kernel split over threads. Which one is
chosen by ``_over_sets``; either way the numbers are the same.
"""
from __future__ import annotations

import numba
import numpy as np
import psutil

from ..gradients import parameter_shift
from ..ir import Circuit
from ..observables import PauliSum
from . import program as prog
from .program import Program, compile_program
from .warmup import warm_up

__all__ = ["CPUEngine", "InsufficientMemoryError", "fusion_width", "apply_global_phase"]

_DTYPES = {np.dtype(np.complex128): np.complex128, np.dtype(np.complex64): np.complex64}

# Largest state (in qubits) simulated one-parameter-set-per-thread; above it, kernels split the
# amplitudes over threads. Measured by benchmarks/fusion_width.py on the 2-core reference machine.
_SETS_PARALLEL_MAX_QUBITS = 13


class InsufficientMemoryError(MemoryError):
    """Raised before allocating when the state vectors of a run would not fit in free memory."""


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
    need = vectors * (2**num_qubits) * itemsize
    free = psutil.virtual_memory().available
    if need > 0.9 * free:
        raise InsufficientMemoryError(
            f"{what} at n={num_qubits} needs {need / 2**30:.2f} GiB for {vectors} state vector(s) of "
            f"{np.dtype(dtype).name} (2^{num_qubits} amplitudes x {itemsize} B each), but only "
            f"{free / 2**30:.2f} GiB of memory is free"
        )


def _pack(sums: list[PauliSum]):
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


def _over_sets(num_qubits: int, batch: int) -> bool:
    return num_qubits <= _SETS_PARALLEL_MAX_QUBITS and batch >= min(2, numba.get_num_threads())


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
        if _over_sets(circuit.num_qubits, batch):
            prog.forward_batch_over_sets(program.arrays, thetas, out)
        else:
            prog.forward_batch_over_amplitudes(program.arrays, thetas, out)
        apply_global_phase(out, circuit, thetas)
        return out

    def expectation(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch, n = thetas.shape[0], circuit.num_qubits
        program = self.program(circuit)
        x_all, z_all, pre_all, starts = _pack(sums)
        out = np.empty((batch, len(sums)))
        if _over_sets(n, batch):
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
        x_all, z_all, pre_all, starts = _pack(sums)
        grads = np.empty((batch, len(sums), circuit.num_parameters))
        vectors = 1 + len(sums)
        if _over_sets(n, batch):
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
