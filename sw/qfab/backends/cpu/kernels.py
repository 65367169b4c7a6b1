"""numba kernels over state vectors.

Every kernel exists as a serial core over a range of amplitude *groups* (a group is the
``2**k`` amplitudes a k-qubit block mixes) and a ``_par`` wrapper that splits the groups over
threads with ``prange``. Large states use the wrappers; batches of small states call the serial
cores from a ``prange`` over parameter sets instead, so threads never nest.

Block matrices use the block's sorted qubits as local bits (local bit ``j`` is qubit
``qubits[j]``); ``offsets[m]`` is the global index offset of local index ``m``.
"""
from __future__ import annotations

import numpy as np
from qfab.backends.cpu import numba_cache  # noqa: F401  (must precede every @njit(cache=True))
from numba import njit, prange

DENSE, DIAGONAL, MONOMIAL = 0, 1, 2

_opts = dict(cache=True, nogil=True, fastmath=False)


@njit(inline="always", **_opts)
def insert_zeros(g, qubits, k):
    """Index whose bits at the (ascending) ``qubits`` are zero and whose other bits spell ``g``."""
    i = g
    for j in range(k):
        t = qubits[j]
        i = ((i >> t) << (t + 1)) | (i & ((1 << t) - 1))
    return i


@njit(inline="always", **_opts)
def parity(v):
    v ^= v >> 32
    v ^= v >> 16
    v ^= v >> 8
    v ^= v >> 4
    v ^= v >> 2
    v ^= v >> 1
    return v & 1


# Work is split into at most this many chunks (enough to balance any common core count);
# a constant rather than numba.get_num_threads() so that the kernels can be cached on disk.
MAX_CHUNKS = 128


@njit(**_opts)
def num_chunks(groups):
    return max(1, min(groups, MAX_CHUNKS))


@njit(**_opts)
def monomial_pattern(mat, dim):
    """Column of the single non-zero in each row of a monomial (generalised permutation) matrix."""
    cols = np.empty(dim, dtype=np.int64)
    for r in range(dim):
        best = 0
        for c in range(1, dim):
            if abs(mat[r, c]) > abs(mat[r, best]):
                best = c
        cols[r] = best
    return cols


# Groups are processed in tiles: a tile's amplitudes are gathered into split real/imaginary
# buffers laid out [local index, group], so the matrix arithmetic runs along contiguous group
# lanes that the compiler vectorises, whatever the target qubits are.
TILE = 16


@njit(inline="always", **_opts)
def gather_tile(psi, qubits, k, offsets, g, count, idx, xre, xim):
    for j in range(count):
        idx[j] = insert_zeros(g + j, qubits, k)
    for m in range(1 << k):
        off = offsets[m]
        for j in range(count):
            v = psi[idx[j] + off]
            xre[m, j] = v.real
            xim[m, j] = v.imag


@njit(inline="always", **_opts)
def matvec_tile(mre, mim, xre, xim, yre, yim, dim):
    """y = M x for every lane of a tile, in real arithmetic."""
    for r in range(dim):
        for j in range(TILE):
            yre[r, j] = 0.0
            yim[r, j] = 0.0
        for c in range(dim):
            ar = mre[r, c]
            ai = mim[r, c]
            for j in range(TILE):
                yre[r, j] += ar * xre[c, j] - ai * xim[c, j]
                yim[r, j] += ar * xim[c, j] + ai * xre[c, j]


@njit(inline="always", **_opts)
def scatter_tile(psi, offsets, dim, count, idx, yre, yim):
    for m in range(dim):
        off = offsets[m]
        for j in range(count):
            psi[idx[j] + off] = yre[m, j] + 1j * yim[m, j]


@njit(**_opts)
def apply_one_qubit_range(psi, mat, t, g0, g1):
    """1-qubit gate on qubit ``t``: runs of ``2**t`` contiguous pairs, a vectorisable inner loop."""
    u00, u01, u10, u11 = mat[0, 0], mat[0, 1], mat[1, 0], mat[1, 1]
    if t == 0:
        for g in range(g0, g1):
            a = psi[2 * g]
            b = psi[2 * g + 1]
            psi[2 * g] = u00 * a + u01 * b
            psi[2 * g + 1] = u10 * a + u11 * b
        return
    stride = 1 << t
    g = g0
    while g < g1:
        low = g & (stride - 1)
        run = min(stride - low, g1 - g)
        base = ((g >> t) << (t + 1)) | low
        for i in range(base, base + run):
            a = psi[i]
            b = psi[i + stride]
            psi[i] = u00 * a + u01 * b
            psi[i + stride] = u10 * a + u11 * b
        g += run


@njit(**_opts)
def apply_two_qubit_range(psi, mat, qubits, offsets, g0, g1):
    """2-qubit gate: runs of contiguous groups below the lower qubit, the 4x4 product unrolled."""
    m = np.empty((4, 4), dtype=psi.dtype)
    for r in range(4):
        for c in range(4):
            m[r, c] = mat[r, c]
    o1, o2, o3 = offsets[1], offsets[2], offsets[3]
    stride = 1 << qubits[0]
    g = g0
    while g < g1:
        low = g & (stride - 1)
        run = min(stride - low, g1 - g)
        base = insert_zeros(g, qubits, 2)
        for i in range(base, base + run):
            a0 = psi[i]
            a1 = psi[i + o1]
            a2 = psi[i + o2]
            a3 = psi[i + o3]
            psi[i] = m[0, 0] * a0 + m[0, 1] * a1 + m[0, 2] * a2 + m[0, 3] * a3
            psi[i + o1] = m[1, 0] * a0 + m[1, 1] * a1 + m[1, 2] * a2 + m[1, 3] * a3
            psi[i + o2] = m[2, 0] * a0 + m[2, 1] * a1 + m[2, 2] * a2 + m[2, 3] * a3
            psi[i + o3] = m[3, 0] * a0 + m[3, 1] * a1 + m[3, 2] * a2 + m[3, 3] * a3
        g += run


@njit(**_opts)
def apply_block_range(psi, mat, kind, qubits, k, offsets, g0, g1):
    """Apply a k-qubit block matrix to groups ``g0..g1`` of ``psi`` in place."""
    dim = 1 << k
    if kind == DIAGONAL:
        diag = np.empty(dim, dtype=psi.dtype)
        for m in range(dim):
            diag[m] = mat[m, m]
        for g in range(g0, g1):
            base = insert_zeros(g, qubits, k)
            for m in range(dim):
                psi[base + offsets[m]] *= diag[m]
        return
    if kind == MONOMIAL:
        buf = np.empty(dim, dtype=psi.dtype)
        cols = monomial_pattern(mat, dim)
        factors = np.empty(dim, dtype=psi.dtype)
        for r in range(dim):
            factors[r] = mat[r, cols[r]]
        for g in range(g0, g1):
            base = insert_zeros(g, qubits, k)
            for m in range(dim):
                buf[m] = psi[base + offsets[m]]
            for r in range(dim):
                psi[base + offsets[r]] = factors[r] * buf[cols[r]]
        return
    if k == 1:
        apply_one_qubit_range(psi, mat, qubits[0], g0, g1)
        return
    if k == 2:
        apply_two_qubit_range(psi, mat, qubits, offsets, g0, g1)
        return
    mre = np.ascontiguousarray(mat.real)
    mim = np.ascontiguousarray(mat.imag)
    idx = np.zeros(TILE, np.int64)
    xre = np.zeros((dim, TILE))
    xim = np.zeros((dim, TILE))
    yre = np.zeros((dim, TILE))
    yim = np.zeros((dim, TILE))
    for g in range(g0, g1, TILE):
        count = min(TILE, g1 - g)
        gather_tile(psi, qubits, k, offsets, g, count, idx, xre, xim)
        matvec_tile(mre, mim, xre, xim, yre, yim, dim)
        scatter_tile(psi, offsets, dim, count, idx, yre, yim)


@njit(parallel=True, **_opts)
def apply_block_par(psi, mat, kind, qubits, k, offsets):
    groups = psi.shape[0] >> k
    chunks = num_chunks(groups)
    for c in prange(chunks):
        apply_block_range(psi, mat, kind, qubits, k, offsets, c * groups // chunks, (c + 1) * groups // chunks)


@njit(**_opts)
def apply_block(psi, mat, kind, qubits, k, offsets, parallel):
    if parallel:
        apply_block_par(psi, mat, kind, qubits, k, offsets)
    else:
        apply_block_range(psi, mat, kind, qubits, k, offsets, 0, psi.shape[0] >> k)


# ----------------------------------------------------------------------------- adjoint sweep


@njit(**_opts)
def unapply_and_reduce_range(phi, lams, mat_adj, qubits, k, offsets, reduce, g0, g1, out):
    """One fused pass of the adjoint method over groups ``g0..g1``.

    Accumulates ``out[o, r, c] += conj(lam_o[r]) * phi[c]`` per group (the block-local
    transition matrix from which every gate of the block gets its gradient) when ``reduce``,
    and un-applies the block: ``phi <- B^dagger phi``, ``lam_o <- B^dagger lam_o``.
    """
    dim = 1 << k
    num_obs = lams.shape[0]
    x = np.empty(dim, dtype=phi.dtype)
    y = np.empty((num_obs, dim), dtype=phi.dtype)
    for g in range(g0, g1):
        base = insert_zeros(g, qubits, k)
        for m in range(dim):
            x[m] = phi[base + offsets[m]]
            for o in range(num_obs):
                y[o, m] = lams[o, base + offsets[m]]
        if reduce:
            for o in range(num_obs):
                for r in range(dim):
                    yr = np.conj(y[o, r])
                    for c in range(dim):
                        out[o, r, c] += yr * x[c]
        for r in range(dim):
            acc = mat_adj[r, 0] * x[0]
            for c in range(1, dim):
                acc += mat_adj[r, c] * x[c]
            phi[base + offsets[r]] = acc
        for o in range(num_obs):
            for r in range(dim):
                acc = mat_adj[r, 0] * y[o, 0]
                for c in range(1, dim):
                    acc += mat_adj[r, c] * y[o, c]
                lams[o, base + offsets[r]] = acc


@njit(parallel=True, **_opts)
def unapply_and_reduce_par(phi, lams, mat_adj, qubits, k, offsets, reduce):
    groups = phi.shape[0] >> k
    chunks = num_chunks(groups)
    dim = 1 << k
    partial = np.zeros((chunks, lams.shape[0], dim, dim), dtype=np.complex128)
    for c in prange(chunks):
        unapply_and_reduce_range(phi, lams, mat_adj, qubits, k, offsets, reduce,
                                 c * groups // chunks, (c + 1) * groups // chunks, partial[c])
    return partial.sum(axis=0)


@njit(**_opts)
def unapply_and_reduce(phi, lams, mat_adj, qubits, k, offsets, reduce, parallel):
    if parallel:
        return unapply_and_reduce_par(phi, lams, mat_adj, qubits, k, offsets, reduce)
    dim = 1 << k
    out = np.zeros((lams.shape[0], dim, dim), dtype=np.complex128)
    unapply_and_reduce_range(phi, lams, mat_adj, qubits, k, offsets, reduce, 0, phi.shape[0] >> k, out)
    return out


# ----------------------------------------------------------------------------- Pauli sums


@njit(**_opts)
def pauli_expectation_range(psi, x_masks, z_masks, prefactors, j0, j1):
    total = 0j
    for j in range(j0, j1):
        amp = psi[j]
        for t in range(x_masks.shape[0]):
            flipped = j ^ x_masks[t]
            term = prefactors[t] * np.conj(psi[flipped]) * amp
            if parity(flipped & z_masks[t]):
                total -= term
            else:
                total += term
    return total


@njit(parallel=True, **_opts)
def pauli_expectation_par(psi, x_masks, z_masks, prefactors):
    size = psi.shape[0]
    chunks = num_chunks(size)
    partial = np.zeros(chunks, dtype=np.complex128)
    for c in prange(chunks):
        partial[c] = pauli_expectation_range(psi, x_masks, z_masks, prefactors, c * size // chunks, (c + 1) * size // chunks)
    return partial.sum()


@njit(**_opts)
def pauli_expectation(psi, x_masks, z_masks, prefactors, parallel):
    """``<psi| sum_t c_t P_t |psi>`` in one read of ``psi``."""
    if parallel:
        return pauli_expectation_par(psi, x_masks, z_masks, prefactors)
    return pauli_expectation_range(psi, x_masks, z_masks, prefactors, 0, psi.shape[0])


@njit(**_opts)
def apply_pauli_sum_range(psi, out, x_masks, z_masks, prefactors, i0, i1):
    for i in range(i0, i1):
        acc = 0j
        for t in range(x_masks.shape[0]):
            term = prefactors[t] * psi[i ^ x_masks[t]]
            if parity(i & z_masks[t]):
                acc -= term
            else:
                acc += term
        out[i] = acc


@njit(parallel=True, **_opts)
def apply_pauli_sum_par(psi, out, x_masks, z_masks, prefactors):
    size = psi.shape[0]
    chunks = num_chunks(size)
    for c in prange(chunks):
        apply_pauli_sum_range(psi, out, x_masks, z_masks, prefactors, c * size // chunks, (c + 1) * size // chunks)


@njit(**_opts)
def apply_pauli_sum(psi, out, x_masks, z_masks, prefactors, parallel):
    """``out = (sum_t c_t P_t) psi``: the adjoint method's starting vector."""
    if parallel:
        apply_pauli_sum_par(psi, out, x_masks, z_masks, prefactors)
    else:
        apply_pauli_sum_range(psi, out, x_masks, z_masks, prefactors, 0, psi.shape[0])
