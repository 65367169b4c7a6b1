"""The host (CPU) side of the GPU device: the small per-parameter-set matrix work.

Block matrices are ``2**k x 2**k`` (k <= 5) and the per-gate adjoint sweep works on matrices of
that size too, so both stay on the host, in numba, with the CPU engine's own helpers
(``program.block_matrix``, ``block_gradients``); the GPU
only ever runs passes over state vectors. Nothing here imports numba-cuda.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from qfab.backends.cpu import kernels as cpu_kernels
from qfab.backends.cpu import program as prog

_opts = dict(cache=True, nogil=True)


@njit(parallel=True, **_opts)
def block_matrices(arrays, thetas, out):
    """``out[b, bi, :d, :d]`` = matrix of block ``bi`` at parameter set ``thetas[b]`` (d = 2**k)."""
    b_nq = arrays[0]
    for b in prange(thetas.shape[0]):
        scratch = prog.set_scratch(arrays)
        prog.load_set(arrays, thetas[b], scratch)
        for bi in range(b_nq.shape[0]):
            mat = prog.block_matrix(arrays, bi, scratch)
            dim = mat.shape[0]
            for r in range(dim):
                for c in range(dim):
                    out[b, bi, r, c] = mat[r, c]


@njit(**_opts)
def monomial_columns(arrays, theta, out):
    """``out[bi, r]``: column of the single non-zero in row ``r`` of every MONOMIAL block.

    The pattern is fixed by the gates (their entries are phases, never zero), so one parameter
    set decides it for all; the GPU then permutes with phases instead of a dense product.
    """
    b_nq, b_kind = arrays[0], arrays[5]
    scratch = prog.set_scratch(arrays)
    prog.load_set(arrays, theta, scratch)
    for bi in range(b_nq.shape[0]):
        if b_kind[bi] == cpu_kernels.MONOMIAL:
            dim = 1 << b_nq[bi]
            out[bi, :dim] = cpu_kernels.monomial_pattern(prog.block_matrix(arrays, bi, scratch), dim)


@njit(parallel=True, **_opts)
def block_gate_gradients(arrays, thetas, bi, trans, grads):
    """Add every gate of block ``bi``'s contribution to ``grads[b, o, p]``.

    ``trans[b, o]`` is the block-local transition matrix ``R[r, c] = sum_g conj(lambda[g, r])
    phi[g, c]`` taken at the block's output (reduced on the GPU); the CPU engine's
    ``program.block_gradients`` turns it into the gates' derivatives, per parameter set.
    """
    dim = 1 << arrays[0][bi]
    for b in prange(thetas.shape[0]):
        local = np.ascontiguousarray(trans[b, :, :dim, :dim])
        scratch = prog.set_scratch(arrays)
        prog.load_gates(arrays, thetas[b], scratch, arrays[3][bi], arrays[4][bi])
        prog.block_gradients(arrays, bi, local, grads[b], scratch)
