"""numba-cuda kernels over a batch of state vectors ``states[b, :]`` (one row per parameter set).

Same semantics as the CPU engine's kernels (``qfab.backends.cpu.kernels``): a k-qubit block mixes the
``2**k`` amplitudes of a *group*; its local bit ``j`` is qubit ``qubits[bi, j]`` (ascending) and
``offsets[bi, m]`` is the global offset of local index ``m``. One CUDA thread handles one
(parameter set, group), so a whole batch moves through a block in one launch and the states
never leave the GPU between blocks.

Kernels are built per state dtype (:func:`for_dtype`): complex64 states get complex64 matrices
and complex64 arithmetic (the point of single precision on a GPU), while every reduction
(expectations, adjoint transition matrices) accumulates in float64/complex128.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
from numba import complex64, complex128, cuda, float64

from qfab.backends.cpu.kernels import DIAGONAL, MONOMIAL

__all__ = ["MAX_BLOCK_QUBITS", "MAX_DIM", "REDUCE_THREADS", "for_dtype"]

# Widest block the kernels take: the gathered amplitudes live in a per-thread local array and the
# transition-matrix tile in shared memory, both sized at compile time.
MAX_BLOCK_QUBITS = 5
MAX_DIM = 1 << MAX_BLOCK_QUBITS
# Threads per block of the expectation reduction (a power of two, for the tree).
REDUCE_THREADS = 128


@cuda.jit(device=True)
def insert_zeros(g, qubits, k):
    """Index whose bits at the (ascending) ``qubits`` are zero and whose other bits spell ``g``
    (``engine.kernels.insert_zeros`` for the CUDA target: kernels cannot call CPU functions)."""
    i = g
    for j in range(k):
        t = qubits[j]
        i = ((i >> t) << (t + 1)) | (i & ((1 << t) - 1))
    return i


@cuda.jit(device=True)
def pauli_sign(bits):
    """(-1)^popcount(bits)."""
    return 1 - 2 * (cuda.popc(bits) & 1)


@cuda.jit
def transition_partials(phi, lams, qubits, offsets, bi, k, partial):
    """``partial[b, o, chunk, r, c]`` = sum over this chunk's groups of ``conj(lam_o[g, r]) phi[g, c]``.

    Grid ``(chunks, K, B)``, ``dim*dim`` threads; thread ``(r, c)`` owns one entry. Groups come
    in tiles of ``dim``: thread ``(t, m)`` loads local index ``m`` of the tile's group ``t`` into
    shared memory, so every amplitude is read from global memory once per observable.
    """
    dim = 1 << k
    groups = phi.shape[1] >> k
    chunk, o, b = cuda.blockIdx.x, cuda.blockIdx.y, cuda.blockIdx.z
    chunks = cuda.gridDim.x
    g0 = chunk * groups // chunks
    g1 = (chunk + 1) * groups // chunks
    r = cuda.threadIdx.x // dim
    c = cuda.threadIdx.x - r * dim
    tile_phi = cuda.shared.array((MAX_DIM, MAX_DIM), complex128)
    tile_lam = cuda.shared.array((MAX_DIM, MAX_DIM), complex128)
    acc = complex128(0)
    for start in range(g0, g1, dim):
        g = start + r  # this thread loads group r of the tile, local index c
        if g < g1:
            i = insert_zeros(g, qubits[bi], k) + offsets[bi, c]
            tile_phi[r, c] = phi[b, i]
            tile_lam[r, c] = lams[b, o, i]
        else:
            tile_phi[r, c] = 0
            tile_lam[r, c] = 0
        cuda.syncthreads()
        for t in range(dim):
            acc += tile_lam[t, r].conjugate() * tile_phi[t, c]
        cuda.syncthreads()
    partial[b, o, chunk, r, c] = acc


@cuda.jit
def pauli_expectations(states, x_masks, z_masks, prefactors, starts, out):
    """``out[b, o] += Re <psi_b| O_o |psi_b>`` over this thread block's share of the amplitudes.

    Grid ``(blocks, B)``, a power of two threads up to :data:`REDUCE_THREADS`: each thread
    strides over amplitudes, a shared-memory tree sums the block, and one atomic add per block
    and observable lands in ``out`` (so ``out`` must start at zero).
    """
    b = cuda.blockIdx.y
    size = states.shape[1]
    tid = cuda.threadIdx.x
    threads = cuda.blockDim.x
    partial = cuda.shared.array(REDUCE_THREADS, float64)
    for o in range(starts.shape[0] - 1):
        acc = 0.0
        for j in range(cuda.blockIdx.x * threads + tid, size, cuda.gridDim.x * threads):
            amp = complex128(states[b, j])
            for t in range(starts[o], starts[o + 1]):
                flipped = j ^ x_masks[t]
                term = prefactors[t] * complex128(states[b, flipped]).conjugate() * amp
                acc += pauli_sign(flipped & z_masks[t]) * term.real
        partial[tid] = acc
        cuda.syncthreads()
        width = threads // 2
        while width > 0:
            if tid < width:
                partial[tid] += partial[tid + width]
            cuda.syncthreads()
            width //= 2
        if tid == 0:
            cuda.atomic.add(out, (b, o), partial[0])
        cuda.syncthreads()


@functools.cache
def for_dtype(dtype) -> SimpleNamespace:
    """The state-vector kernels for states of ``dtype`` (complex64 or complex128)."""
    amplitude = complex128 if np.dtype(dtype) == np.complex128 else complex64

    @cuda.jit
    def zero_state(states):
        """``states[b] <- |0...0>`` for every set."""
        t = cuda.grid(1)
        size = states.shape[1]
        if t < states.shape[0] * size:
            states[t // size, t % size] = 1 if t % size == 0 else 0

    @cuda.jit
    def apply_block(rows, mats, kinds, qubits, offsets, cols, bi, k, rows_per_set, dagger):
        """``rows[i] <- B rows[i]`` (``B^dagger`` when ``dagger``) for block ``bi``, where ``B`` is
        ``mats[i // rows_per_set, bi]``: the matrix of the parameter set the row belongs to
        (several rows per set for the adjoint method's lambdas).

        DIAGONAL blocks scale amplitudes in place, MONOMIAL blocks permute them with phases
        (``cols[bi, r]``: the non-zero of row r), DENSE blocks gather the group and multiply.
        """
        dim = 1 << k
        groups = rows.shape[1] >> k
        t = cuda.grid(1)
        if t >= rows.shape[0] * groups:
            return
        row = t // groups
        base = insert_zeros(t - row * groups, qubits[bi], k)
        mat = mats[row // rows_per_set, bi]
        off = offsets[bi]
        kind = kinds[bi]
        if kind == DIAGONAL:
            for m in range(dim):
                d = mat[m, m]
                rows[row, base + off[m]] *= d.conjugate() if dagger else d
            return
        x = cuda.local.array(MAX_DIM, amplitude)
        for m in range(dim):
            x[m] = rows[row, base + off[m]]
        if kind == MONOMIAL:
            for r in range(dim):
                c = cols[bi, r]
                if dagger:  # row c of B^dagger holds conj(B[r, c]) at column r
                    rows[row, base + off[c]] = mat[r, c].conjugate() * x[r]
                else:
                    rows[row, base + off[r]] = mat[r, c] * x[c]
            return
        for r in range(dim):
            acc = amplitude(0)
            for c in range(dim):
                acc += (mat[c, r].conjugate() if dagger else mat[r, c]) * x[c]
            rows[row, base + off[r]] = acc

    @cuda.jit
    def apply_pauli_sums(states, x_masks, z_masks, prefactors, starts, lams):
        """``lams[b, o] <- O_o states[b]``: the adjoint method's starting vectors."""
        size = states.shape[1]
        num_obs = starts.shape[0] - 1
        t = cuda.grid(1)
        if t >= states.shape[0] * num_obs * size:
            return
        i = t % size
        o = (t // size) % num_obs
        b = t // (size * num_obs)
        acc = complex128(0)
        for term in range(starts[o], starts[o + 1]):
            acc += pauli_sign(i & z_masks[term]) * prefactors[term] * complex128(states[b, i ^ x_masks[term]])
        lams[b, o, i] = acc

    return SimpleNamespace(zero_state=zero_state, apply_block=apply_block, apply_pauli_sums=apply_pauli_sums)

