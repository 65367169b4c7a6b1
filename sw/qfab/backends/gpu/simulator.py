"""The GPU engine: the CPU engine's fused program, run by numba-cuda kernels on one GPU.

The circuit is compiled and fused exactly as for the CPU (``CPUEngine.program``, cached on the
circuit), so both devices run the same blocks and must give the same numbers. Per chunk of the
batch, the host builds every block's small matrix for every parameter set (numba, in parallel)
and uploads them once; the states then stay on the GPU through all blocks, the expectation
reduction and the backward pass, and only expectations, gradients (and the small per-block
transition matrices of the adjoint method) come back, or the states when they are asked for.
"""
from __future__ import annotations

import math

import numpy as np
import psutil
from numba import cuda

from qfab.backends.cpu import CPUEngine
from qfab.backends.base import InsufficientMemoryError
from qfab.backends.cpu.simulator import pack_observables, apply_global_phase, check_memory
from qfab.backends.cpu.program import Program
from qfab.core.ir import Circuit
from qfab.core.observables import PauliSum
from qfab.backends.gpu import host
from qfab.backends.gpu.kernels import REDUCE_THREADS, for_dtype, pauli_expectations, transition_partials

__all__ = ["GPUEngine", "DeviceProgram", "gpu_memory", "check_gpu_memory"]

_DTYPES = {np.dtype(np.complex128): np.complex128, np.dtype(np.complex64): np.complex64}
# Threads per block of the element-wise kernels.
THREADS = 256
# A batch is cut into chunks of at most this many sets (the CUDA grid's y/z limit).
MAX_CHUNK = 65535
# Share of free GPU memory a chunk may fill; the rest is left for the CUDA context and scratch.
MEMORY_SHARE = 0.8
# Thread blocks the transition-matrix reduction aims for, over sets, observables and chunks.
TARGET_REDUCE_BLOCKS = 2048


def gpu_memory() -> tuple[int, int]:
    """(free, total) bytes of the current GPU. The CUDA simulator reports infinity, and its
    "GPU memory" is host memory, so there the host's available memory stands in."""
    free, total = cuda.current_context().get_memory_info()
    if not math.isfinite(free):
        free = total = psutil.virtual_memory().available
    return int(free), int(total)


def check_gpu_memory(num_qubits: int, vectors: int, dtype, what: str) -> None:
    """Refuse, before allocating, ``vectors`` state vectors that would not fit in free GPU memory
    (the wording of :func:`qfab.backends.cpu.simulator.check_memory`)."""
    itemsize = np.dtype(dtype).itemsize
    need = vectors * (2**num_qubits) * itemsize
    free, total = gpu_memory()
    if need > 0.9 * free:
        raise InsufficientMemoryError(
            f"{what} at n={num_qubits} needs {need / 2**30:.2f} GiB for {vectors} state vector(s) of "
            f"{np.dtype(dtype).name} (2^{num_qubits} amplitudes x {itemsize} B each), but only "
            f"{free / 2**30:.2f} GiB of the GPU's {total / 2**30:.2f} GiB is free"
        )


def _widest_block(program: Program) -> int:
    """Qubits of the program's widest block: block matrices are stored padded to that size."""
    return int(max(program.arrays[0], default=0))


def _grid(total: int) -> tuple[int, int]:
    """(blocks, threads) covering ``total`` threads; small launches get small blocks."""
    threads = max(1, min(THREADS, total))
    return -(-total // threads), threads


class DeviceProgram:
    """A compiled program's block tables on the GPU, and the host arrays the kernels' launches need."""

    def __init__(self, program: Program):
        arrays = program.arrays
        self.program = program
        self.arrays = arrays
        self.block_sizes = arrays[0]
        self.parametric = arrays[7]
        self.dim = 1 << _widest_block(program)
        cols = np.zeros((program.num_blocks, self.dim), np.int64)
        host.monomial_columns(arrays, np.zeros(max(program.num_parameters, 1)), cols)
        self.kinds = cuda.to_device(arrays[5])
        self.qubits = cuda.to_device(arrays[1])
        self.offsets = cuda.to_device(arrays[2])
        self.cols = cuda.to_device(cols)

    def matrices(self, thetas: np.ndarray, dtype):
        """Every block's matrix for every set, on the GPU: ``(B, blocks, dim, dim)`` of ``dtype``."""
        mats = np.zeros((thetas.shape[0], self.program.num_blocks, self.dim, self.dim), np.complex128)
        host.block_matrices(self.arrays, np.ascontiguousarray(thetas), mats)
        return cuda.to_device(mats.astype(dtype, copy=False))


class GPUEngine:
    """Exact state-vector simulation on one CUDA GPU: the calls and numbers of ``CPUEngine``."""

    name = "gpu"

    def __init__(self):
        self._compiler = CPUEngine()  # compiles and caches the fused program the CPU runs too

    def program(self, circuit: Circuit) -> Program:
        # the CPU forward's narrow blocks pay off through cache blocking, which the GPU lacks:
        # it keeps the wider blocks of a pass per block
        return self._compiler.program(circuit, unblocked=True)

    def widest_block(self, circuit: Circuit) -> int:
        return _widest_block(self.program(circuit))

    # ------------------------------------------------------------------ batches in chunks

    @staticmethod
    def _chunks(program: Program, batch: int, vectors_per_set: int, dtype, what: str):
        """Slices of the batch whose states and block matrices fit in free GPU memory together;
        refuses, before anything is allocated, when not even one set's vectors fit."""
        n = program.num_qubits
        check_gpu_memory(n, vectors_per_set, dtype, what)
        dim = 1 << _widest_block(program)
        per_set = (vectors_per_set * 2**n + program.num_blocks * dim * dim) * np.dtype(dtype).itemsize
        size = max(1, min(batch, MAX_CHUNK, int(MEMORY_SHARE * gpu_memory()[0] // per_set)))
        return [slice(start, min(start + size, batch)) for start in range(0, batch, size)]

    def _forward(self, prog: DeviceProgram, thetas: np.ndarray, dtype):
        """The states ``U(theta_b)|0>`` (no global phase) on the GPU, and the block matrices."""
        kern = for_dtype(dtype)
        mats = prog.matrices(thetas, dtype)
        states = cuda.device_array((thetas.shape[0], 2**prog.program.num_qubits), dtype)
        blocks, threads = _grid(states.size)
        kern.zero_state[blocks, threads](states)
        for bi in range(prog.program.num_blocks):
            self.apply_block(kern, prog, states, mats, bi, rows_per_set=1, dagger=False)
        return states, mats

    @staticmethod
    def apply_block(kern, prog: DeviceProgram, rows, mats, bi: int, rows_per_set: int, dagger: bool):
        """Block ``bi`` (or its inverse) on every row of ``rows``, one launch over all of them."""
        k = int(prog.block_sizes[bi])
        blocks, threads = _grid(rows.shape[0] * (rows.shape[1] >> k))
        kern.apply_block[blocks, threads](rows, mats, prog.kinds, prog.qubits, prog.offsets, prog.cols,
                                          bi, k, rows_per_set, dagger)

    # ------------------------------------------------------------------ the public calls

    def statevector(self, circuit: Circuit, thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch = thetas.shape[0]
        check_memory(circuit.num_qubits, batch, dtype, "statevector")  # the host receives them all
        program = self.program(circuit)
        parts = self._chunks(program, batch, 1, dtype, "statevector")
        prog = DeviceProgram(program)
        out = np.empty((batch, 2**circuit.num_qubits), dtype)
        for part in parts:
            states, _ = self._forward(prog, thetas[part], dtype)
            states.copy_to_host(out[part])
        apply_global_phase(out, circuit, thetas)
        return out

    def expectation(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        program = self.program(circuit)
        parts = self._chunks(program, thetas.shape[0], 1, dtype, "expectation")
        prog = DeviceProgram(program)
        observables = [cuda.to_device(a) for a in pack_observables(sums)]
        out = np.empty((thetas.shape[0], len(sums)))
        for part in parts:
            states, _ = self._forward(prog, thetas[part], dtype)
            out[part] = self._expectations(states, observables, len(sums))
        return out

    @staticmethod
    def _expectations(states, observables, num_obs: int) -> np.ndarray:
        sets, size = states.shape
        threads = min(REDUCE_THREADS, size)  # both powers of two
        blocks = max(1, min(size // threads, TARGET_REDUCE_BLOCKS // sets))
        out = cuda.to_device(np.zeros((sets, num_obs)))
        pauli_expectations[(blocks, sets), threads](states, *observables, out)
        return out.copy_to_host()

    def adjoint_gradient(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128,
                         values: np.ndarray | None = None) -> np.ndarray:
        """The CPU engine's ``adjoint_gradient`` (``values`` filled by a separate expectation)."""
        if values is not None:
            values[:] = self.expectation(circuit, sums, thetas, dtype)
        dtype = _DTYPES[np.dtype(dtype)]
        program = self.program(circuit)
        parts = self._chunks(program, thetas.shape[0], 1 + len(sums), dtype, "adjoint gradient")
        prog = DeviceProgram(program)
        observables = [cuda.to_device(a) for a in pack_observables(sums)]
        grads = np.zeros((thetas.shape[0], len(sums), circuit.num_parameters))
        for part in parts:
            self._adjoint(prog, np.ascontiguousarray(thetas[part]), observables, len(sums), dtype, grads[part])
        return grads

    def _adjoint(self, prog: DeviceProgram, thetas, observables, num_obs: int, dtype, grads) -> None:
        """The CPU engine's adjoint method, with the passes over states on the GPU.

        Backwards over blocks: reduce the block-local transition matrix of a block with
        parameters on the GPU (read ``phi`` and every ``lambda`` once), bring back those few
        ``dim x dim`` numbers and let the host sweep the block's gates; then un-apply the block
        from ``phi`` and, in one launch, from every ``lambda``.
        """
        kern = for_dtype(dtype)
        phi, mats = self._forward(prog, thetas, dtype)
        sets, size = phi.shape
        lams = cuda.device_array((sets, num_obs, size), dtype)
        blocks, threads = _grid(lams.size)
        kern.apply_pauli_sums[blocks, threads](phi, *observables, lams)
        lam_rows = lams.reshape(sets * num_obs, size)
        for bi in range(prog.program.num_blocks - 1, -1, -1):
            if prog.parametric[bi]:
                k = int(prog.block_sizes[bi])
                dim = 1 << k
                tiles = -(-(size >> k) // dim)
                chunks = max(1, min(tiles, TARGET_REDUCE_BLOCKS // (sets * num_obs)))
                partial = cuda.device_array((sets, num_obs, chunks, dim, dim), np.complex128)
                transition_partials[(chunks, num_obs, sets), dim * dim](phi, lams, prog.qubits, prog.offsets, bi, k, partial)
                host.block_gate_gradients(prog.arrays, thetas, bi, partial.copy_to_host().sum(axis=2), grads)
            self.apply_block(kern, prog, phi, mats, bi, rows_per_set=1, dagger=True)
            self.apply_block(kern, prog, lam_rows, mats, bi, rows_per_set=num_obs, dagger=True)
