"""The host (CPU) side of the GPU device: the small per-parameter-set matrix work.

Block matrices are ``2**k x 2**k`` (k <= 5) and the per-gate adjoint sweep works on matrices of
that size too, so both stay on the host, in numba, with the CPU engine's own helpers
(``program.block_matrix``, ``gate_matrix``, ``apply_to_rows``, ``embedded_trace``); the GPU
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
        for bi in range(b_nq.shape[0]):
            mat = prog.block_matrix(arrays, bi, thetas[b])
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
    for bi in range(b_nq.shape[0]):
        if b_kind[bi] == cpu_kernels.MONOMIAL:
            dim = 1 << b_nq[bi]
            out[bi, :dim] = cpu_kernels.monomial_pattern(prog.block_matrix(arrays, bi, theta), dim)


@njit(parallel=True, **_opts)
def block_gate_gradients(arrays, thetas, bi, trans, grads):
    """Add every gate of block ``bi``'s contribution to ``grads[b, o, p]``.

    ``trans[b, o]`` is the block-local transition matrix ``R[r, c] = sum_g conj(lambda[g, r])
    phi[g, c]`` taken at the block's output (reduced on the GPU). Walking the block's gates
    backwards, each gate moves from the "before" side of ``R`` to the "after" side, and a
    rotation's derivative is a trace against ``R`` in between: the CPU engine's adjoint sweep
    (``program.adjoint``), per parameter set.
    """
    b_gstart, b_gend = arrays[3], arrays[4]
    g_kind, g_nq, g_pos, g_param, g_a = arrays[8], arrays[9], arrays[10], arrays[11], arrays[12]
    num_obs = trans.shape[1]
    dim = 1 << arrays[0][bi]
    for b in prange(thetas.shape[0]):
        theta = thetas[b]
        local = np.ascontiguousarray(trans[b, :, :dim, :dim])
        for gi in range(b_gend[bi] - 1, b_gstart[bi] - 1, -1):
            u = prog.gate_matrix(arrays, gi, theta, False)
            u_adj = np.ascontiguousarray(u.conj().T)
            u_t = np.ascontiguousarray(u.T)
            for o in range(num_obs):
                prog.apply_to_rows(local[o].T, u_adj, g_pos[gi], g_nq[gi])  # R <- R conj(U)
            if g_kind[gi] >= 0:
                du = prog.gate_matrix(arrays, gi, theta, True)
                for o in range(num_obs):
                    grads[b, o, g_param[gi]] += 2.0 * g_a[gi] * prog.embedded_trace(du, local[o], g_pos[gi], g_nq[gi]).real
            for o in range(num_obs):
                prog.apply_to_rows(local[o], u_t, g_pos[gi], g_nq[gi])  # R <- U^T R
