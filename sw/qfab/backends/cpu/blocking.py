"""Cache blocking: many fused blocks per pass over memory, on a cache-sized chunk of the state.

A *region* is a run of the program's blocks that together touch at most ``chunk_qubits``
qubits (its *local* qubits; a later block may join a region ahead of blocks it shares no qubit
with, since disjoint blocks commute: Qiskit Aer's ``blocking_qubits`` pass, section 1.1 of the
engine reference). Fixing every other (global) bit of the index leaves ``2**(n - chunk_qubits)``
chunks of ``2**chunk_qubits`` amplitudes each; a chunk is gathered into a contiguous buffer
split into real and imaginary parts, every block of the region runs on it while it sits in the
per-core cache, and it is scattered back. The gather is the qubit-reordering pass: high qubits
become low local bits of the buffer, so a pass over memory costs one read and one write per
region instead of per block, and the kernels run on unit-stride real arrays the compiler
vectorises (packed FMAs), whatever qubits the gates act on.

Inside the buffer the local bits are the region's qubits in ascending order, except that up to
:data:`LOW_PADS` qubits the region does not touch go to the lowest bits: every block then has
runs of at least ``2**LOW_PADS`` contiguous amplitudes for its vector lanes.

A block's qubits split into *select* qubits (every gate of the block that touches one is
block-diagonal in it: a control, or a diagonal gate) and *target* qubits. The block then
costs a ``2**t x 2**t`` product per amplitude group for each value of its select bits, not a
``2**k x 2**k`` one: a CNOT ladder step fused with a rotation costs what a 1-qubit gate does,
a diagonal block one multiply per amplitude.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qfab.backends.cpu import numba_cache  # noqa: F401  (must precede every @njit(cache=True))
from numba import njit, prange

from qfab.backends.cpu.kernels import insert_zeros

__all__ = ["Regions", "plan_regions", "LOW_PADS", "TILE"]

_opts = dict(cache=True, nogil=True, fastmath=True)

# Untouched qubits placed at the lowest local bits of a region's buffer, where there are any.
LOW_PADS = 3
# Vector lanes of the chunk kernels: consecutive amplitude groups processed together.
TILE = 16


@dataclass(frozen=True)
class Regions:
    """A program's blocks grouped into regions for one chunk size; ``arrays`` is what the
    numba drivers take (laid out by :func:`plan_regions`)."""

    arrays: tuple
    chunk_qubits: int
    num_regions: int
    entries: int


def _local_layout(touched: set[int], num_qubits: int, chunk_qubits: int) -> list[int]:
    """The qubit at each local bit of a region's buffer (local bit j holds qubit ``layout[j]``)."""
    untouched = [q for q in range(num_qubits) if q not in touched]
    pads = untouched[: max(0, chunk_qubits - len(touched))]
    low = pads[: min(LOW_PADS, len(pads))]
    rest = sorted(set(touched) | set(pads[len(low):]))
    return low + rest


def _spread_table(qubits: list[int]) -> np.ndarray:
    """``table[m]`` = the global index offset of local index ``m`` over ``qubits``."""
    table = np.zeros(1 << len(qubits), np.int64)
    for j, q in enumerate(qubits):
        table[1 << j: 2 << j] = table[: 1 << j] + (1 << q)
    return table


def plan_regions(block_qubits, block_select, num_qubits: int, chunk_qubits: int) -> Regions:
    """Group blocks into regions of at most ``chunk_qubits`` local qubits (``chunk_qubits >=
    num_qubits``: one region, the whole state one chunk). A chunk holds at least the widest block."""
    chunk_qubits = min(max(chunk_qubits, max((len(q) for q in block_qubits), default=1)), num_qubits)
    whole = chunk_qubits == num_qubits
    limit = chunk_qubits if whole else max(max((len(q) for q in block_qubits), default=1), chunk_qubits - LOW_PADS)
    remaining = list(range(len(block_qubits)))
    regions: list[tuple[list[int], set[int]]] = []
    while remaining:
        members, touched, waiting, rest = [], set(), set(), []
        for b in remaining:
            qubits = set(block_qubits[b])
            if not qubits & waiting and len(touched | qubits) <= limit:
                members.append(b)
                touched |= qubits
            else:
                waiting |= qubits
                rest.append(b)
        regions.append((members, touched))
        remaining = rest

    half = chunk_qubits // 2
    kmax = max((len(q) for q in block_qubits), default=1)
    nr, ne = len(regions), len(block_qubits)
    r_start = np.zeros(nr + 1, np.int64)
    r_sorted = np.zeros((nr, chunk_qubits), np.int64)  # the local qubits, ascending (chunk base)
    r_lo = np.zeros((nr, 1 << half), np.int64)
    r_hi = np.zeros((nr, 1 << (chunk_qubits - half)), np.int64)
    e_block = np.zeros(ne, np.int64)
    e_k = np.zeros(ne, np.int64)
    e_t = np.zeros(ne, np.int64)
    e_zero = np.zeros((ne, kmax), np.int64)  # the block's local bits, ascending (group enumeration)
    e_run = np.zeros(ne, np.int64)
    e_sel_off = np.zeros((ne, 1 << kmax), np.int64)
    e_sel_idx = np.zeros((ne, 1 << kmax), np.int64)
    e_tgt_off = np.zeros((ne, 1 << kmax), np.int64)
    e_tgt_idx = np.zeros((ne, 1 << kmax), np.int64)
    e_mat = np.zeros(ne + 1, np.int64)  # offsets into the per-parameter-set sub-matrix buffer
    e = 0
    for r, (members, touched) in enumerate(regions):
        layout = _local_layout(touched, num_qubits, chunk_qubits)
        local_bit = {q: j for j, q in enumerate(layout)}
        r_sorted[r] = sorted(layout)
        r_lo[r] = _spread_table(layout[:half])
        r_hi[r] = _spread_table(layout[half:])
        r_start[r] = e
        for b in members:
            qubits = sorted(block_qubits[b])  # block-local bit j is qubits[j]
            select = [j for j in range(len(qubits)) if (block_select[b] >> j) & 1]
            target = [j for j in range(len(qubits)) if not (block_select[b] >> j) & 1]
            k, t = len(qubits), len(target)
            e_block[e], e_k[e], e_t[e] = b, k, t
            bits = sorted(local_bit[q] for q in qubits)
            e_zero[e, :k] = bits
            e_run[e] = 1 << bits[0]
            for part, off, idx in ((select, e_sel_off, e_sel_idx), (target, e_tgt_off, e_tgt_idx)):
                for m in range(1 << len(part)):
                    off[e, m] = sum(1 << local_bit[qubits[part[i]]] for i in range(len(part)) if (m >> i) & 1)
                    idx[e, m] = sum(1 << part[i] for i in range(len(part)) if (m >> i) & 1)
            e_mat[e + 1] = e_mat[e] + (1 << (k - t)) * (1 << (2 * t))
            e += 1
    r_start[nr] = e
    arrays = (r_start, r_sorted, r_lo, r_hi, e_block, e_k, e_t, e_zero, e_run,
              e_sel_off, e_sel_idx, e_tgt_off, e_tgt_idx, e_mat)
    return Regions(arrays=arrays, chunk_qubits=chunk_qubits, num_regions=nr, entries=ne)


# ----------------------------------------------------------------------------- chunk transfer


@njit(**_opts)
def chunk_base(rg, r, chunk):
    return insert_zeros(chunk, rg[1][r], rg[1].shape[1])


@njit(**_opts)
def gather(psi, rg, r, chunk, re, im):
    """The chunk's amplitudes into ``re``/``im`` in the region's local order."""
    lo, hi = rg[2][r], rg[3][r]
    base = chunk_base(rg, r, chunk)
    nlo = lo.shape[0]
    for h in range(hi.shape[0]):
        b = base + hi[h]
        o = h * nlo
        for m in range(nlo):
            v = psi[b + lo[m]]
            re[o + m] = v.real
            im[o + m] = v.imag


@njit(**_opts)
def scatter(psi, rg, r, chunk, re, im):
    lo, hi = rg[2][r], rg[3][r]
    base = chunk_base(rg, r, chunk)
    nlo = lo.shape[0]
    for h in range(hi.shape[0]):
        b = base + hi[h]
        o = h * nlo
        for m in range(nlo):
            psi[b + lo[m]] = re[o + m] + 1j * im[o + m]


# ----------------------------------------------------------------------------- sub-matrices


@njit(**_opts)
def fill_submatrices(rg, e, mat, adjoint, sub_re, sub_im):
    """Entry ``e``'s ``2**t x 2**t`` products, one per value of its select bits, from its block
    matrix ``mat`` (or from ``mat``'s adjoint: the block is block-diagonal in its select bits,
    so each product's adjoint is the adjoint's product)."""
    e_k, e_t, e_sel_idx, e_tgt_idx, e_mat = rg[5], rg[6], rg[10], rg[12], rg[13]
    dt = 1 << e_t[e]
    o = e_mat[e]
    for s in range(1 << (e_k[e] - e_t[e])):
        base = e_sel_idx[e, s]
        for r in range(dt):
            for c in range(dt):
                if adjoint:
                    v = np.conj(mat[base + e_tgt_idx[e, c], base + e_tgt_idx[e, r]])
                else:
                    v = mat[base + e_tgt_idx[e, r], base + e_tgt_idx[e, c]]
                sub_re[o] = v.real
                sub_im[o] = v.imag
                o += 1


# ----------------------------------------------------------------------------- chunk kernels


@njit(inline="always", **_opts)
def lane_indices(rg, e, g, count, idx):
    """Index (select and target bits zero) of each of ``count`` consecutive groups from ``g``."""
    k = rg[5][e]
    zero = rg[7][e]
    run = rg[8][e]
    if run >= TILE:
        first = insert_zeros(g, zero, k)
        for j in range(count):
            idx[j] = first + j
    else:
        for j in range(count):
            idx[j] = insert_zeros(g + j, zero, k)


# The run kernels index through slices of the chunk buffers: numba then drops its
# negative-index wraparound, and LLVM vectorises the lane loops (packed zmm/ymm FMAs; indexing
# the whole buffer at ``base + j`` compiles to scalar code).


@njit(inline="always", **_opts)
def one_target_run(re, im, i0, i1, m_re, m_im, o):
    """A 2x2 product on the ``TILE`` contiguous pairs ``(i0 + j, i1 + j)``, in registers."""
    a_r, a_i, b_r, b_i = m_re[o], m_im[o], m_re[o + 1], m_im[o + 1]
    c_r, c_i, d_r, d_i = m_re[o + 2], m_im[o + 2], m_re[o + 3], m_im[o + 3]
    p_r, p_i, q_r, q_i = re[i0:i0 + TILE], im[i0:i0 + TILE], re[i1:i1 + TILE], im[i1:i1 + TILE]
    for j in range(TILE):
        pr, pi, qr, qi = p_r[j], p_i[j], q_r[j], q_i[j]
        p_r[j] = a_r * pr - a_i * pi + b_r * qr - b_i * qi
        p_i[j] = a_r * pi + a_i * pr + b_r * qi + b_i * qr
        q_r[j] = c_r * pr - c_i * pi + d_r * qr - d_i * qi
        q_i[j] = c_r * pi + c_i * pr + d_r * qi + d_i * qr


@njit(inline="always", **_opts)
def two_target_run(re, im, base, tgt_off, m_re, m_im, o):
    """A 4x4 product on ``TILE`` contiguous groups from ``base``, in registers."""
    i0, i1, i2, i3 = base + tgt_off[0], base + tgt_off[1], base + tgt_off[2], base + tgt_off[3]
    r0, r1, r2, r3 = re[i0:i0 + TILE], re[i1:i1 + TILE], re[i2:i2 + TILE], re[i3:i3 + TILE]
    j0, j1, j2, j3 = im[i0:i0 + TILE], im[i1:i1 + TILE], im[i2:i2 + TILE], im[i3:i3 + TILE]
    a0r, a1r, a2r, a3r = m_re[o], m_re[o + 1], m_re[o + 2], m_re[o + 3]
    a0i, a1i, a2i, a3i = m_im[o], m_im[o + 1], m_im[o + 2], m_im[o + 3]
    b0r, b1r, b2r, b3r = m_re[o + 4], m_re[o + 5], m_re[o + 6], m_re[o + 7]
    b0i, b1i, b2i, b3i = m_im[o + 4], m_im[o + 5], m_im[o + 6], m_im[o + 7]
    c0r, c1r, c2r, c3r = m_re[o + 8], m_re[o + 9], m_re[o + 10], m_re[o + 11]
    c0i, c1i, c2i, c3i = m_im[o + 8], m_im[o + 9], m_im[o + 10], m_im[o + 11]
    d0r, d1r, d2r, d3r = m_re[o + 12], m_re[o + 13], m_re[o + 14], m_re[o + 15]
    d0i, d1i, d2i, d3i = m_im[o + 12], m_im[o + 13], m_im[o + 14], m_im[o + 15]
    for j in range(TILE):
        x0r, x0i, x1r, x1i = r0[j], j0[j], r1[j], j1[j]
        x2r, x2i, x3r, x3i = r2[j], j2[j], r3[j], j3[j]
        r0[j] = a0r * x0r - a0i * x0i + a1r * x1r - a1i * x1i + a2r * x2r - a2i * x2i + a3r * x3r - a3i * x3i
        j0[j] = a0r * x0i + a0i * x0r + a1r * x1i + a1i * x1r + a2r * x2i + a2i * x2r + a3r * x3i + a3i * x3r
        r1[j] = b0r * x0r - b0i * x0i + b1r * x1r - b1i * x1i + b2r * x2r - b2i * x2i + b3r * x3r - b3i * x3i
        j1[j] = b0r * x0i + b0i * x0r + b1r * x1i + b1i * x1r + b2r * x2i + b2i * x2r + b3r * x3i + b3i * x3r
        r2[j] = c0r * x0r - c0i * x0i + c1r * x1r - c1i * x1i + c2r * x2r - c2i * x2i + c3r * x3r - c3i * x3i
        j2[j] = c0r * x0i + c0i * x0r + c1r * x1i + c1i * x1r + c2r * x2i + c2i * x2r + c3r * x3i + c3i * x3r
        r3[j] = d0r * x0r - d0i * x0i + d1r * x1r - d1i * x1i + d2r * x2r - d2i * x2i + d3r * x3r - d3i * x3i
        j3[j] = d0r * x0i + d0i * x0r + d1r * x1i + d1i * x1r + d2r * x2i + d2i * x2r + d3r * x3i + d3i * x3r


@njit(**_opts)
def apply_entry_runs(rg, e, sub_re, sub_im, re, im, xr, xi, yr, yi):
    """:func:`apply_entry` for blocks whose lowest local bit leaves runs of at least ``TILE``
    contiguous groups: unit-stride lanes, 2x2 and 4x4 products in registers."""
    k, t = rg[5][e], rg[6][e]
    sel_off, tgt_off, zero = rg[9][e], rg[11][e], rg[7][e]
    dt = 1 << t
    groups = re.shape[0] >> k
    for g in range(0, groups, TILE):
        first = insert_zeros(g, zero, k)
        o = rg[13][e]
        for s in range(1 << (k - t)):
            base = first + sel_off[s]
            if dt == 1:
                ar, ai = sub_re[o], sub_im[o]
                v_r, v_i = re[base:base + TILE], im[base:base + TILE]
                for j in range(TILE):
                    vr, vi = v_r[j], v_i[j]
                    v_r[j] = ar * vr - ai * vi
                    v_i[j] = ar * vi + ai * vr
            elif dt == 2:
                one_target_run(re, im, base + tgt_off[0], base + tgt_off[1], sub_re, sub_im, o)
            elif dt == 4:
                two_target_run(re, im, base, tgt_off, sub_re, sub_im, o)
            else:
                for c in range(dt):
                    off = base + tgt_off[c]
                    xr[c, :] = re[off:off + TILE]
                    xi[c, :] = im[off:off + TILE]
                for r in range(dt):
                    y_r, y_i = yr[r], yi[r]
                    y_r[:] = 0.0
                    y_i[:] = 0.0
                    for c in range(dt):
                        ar = sub_re[o + r * dt + c]
                        ai = sub_im[o + r * dt + c]
                        x_r, x_i = xr[c], xi[c]
                        for j in range(TILE):
                            y_r[j] += ar * x_r[j] - ai * x_i[j]
                            y_i[j] += ar * x_i[j] + ai * x_r[j]
                for r in range(dt):
                    off = base + tgt_off[r]
                    re[off:off + TILE] = yr[r]
                    im[off:off + TILE] = yi[r]
            o += dt * dt


@njit(**_opts)
def apply_entry(rg, e, sub_re, sub_im, re, im, idx, xr, xi, yr, yi):
    """Entry ``e``'s block on a chunk buffer, ``TILE`` groups at a time, in real arithmetic."""
    if rg[8][e] >= TILE:
        apply_entry_runs(rg, e, sub_re, sub_im, re, im, xr, xi, yr, yi)
        return
    k, t = rg[5][e], rg[6][e]
    sel_off, tgt_off = rg[9][e], rg[11][e]
    dt = 1 << t
    groups = re.shape[0] >> k
    for g in range(0, groups, TILE):
        count = min(TILE, groups - g)
        lane_indices(rg, e, g, count, idx)
        o = rg[13][e]
        for s in range(1 << (k - t)):
            so = sel_off[s]
            if dt == 1:
                ar, ai = sub_re[o], sub_im[o]
                for j in range(count):
                    i = idx[j] + so
                    vr, vi = re[i], im[i]
                    re[i] = ar * vr - ai * vi
                    im[i] = ar * vi + ai * vr
                o += 1
                continue
            for c in range(dt):
                off = so + tgt_off[c]
                for j in range(count):
                    xr[c, j] = re[idx[j] + off]
                    xi[c, j] = im[idx[j] + off]
            for r in range(dt):
                for j in range(TILE):
                    yr[r, j] = 0.0
                    yi[r, j] = 0.0
                for c in range(dt):
                    ar = sub_re[o + r * dt + c]
                    ai = sub_im[o + r * dt + c]
                    for j in range(TILE):
                        yr[r, j] += ar * xr[c, j] - ai * xi[c, j]
                        yi[r, j] += ar * xi[c, j] + ai * xr[c, j]
            for r in range(dt):
                off = so + tgt_off[r]
                for j in range(count):
                    re[idx[j] + off] = yr[r, j]
                    im[idx[j] + off] = yi[r, j]
            o += dt * dt


@njit(inline="always", **_opts)
def dots1(y_r, y_i, x_r, x_i, count):
    """``sum_j conj(y[j]) x[j]`` over ``count`` contiguous amplitudes (scalar accumulators, which
    LLVM turns into packed ones: a long dot product runs at FMA speed)."""
    a_r = a_i = 0.0
    for j in range(count):
        a_r += y_r[j] * x_r[j] + y_i[j] * x_i[j]
        a_i += y_r[j] * x_i[j] - y_i[j] * x_r[j]
    return a_r, a_i


@njit(inline="always", **_opts)
def dots2(y_r, y_i, x0r, x0i, x1r, x1i, count):
    """:func:`dots1` against two ``x`` at once: ``y`` is read once for both."""
    a0r = a0i = a1r = a1i = 0.0
    for j in range(count):
        yr, yi = y_r[j], y_i[j]
        a0r += yr * x0r[j] + yi * x0i[j]
        a0i += yr * x0i[j] - yi * x0r[j]
        a1r += yr * x1r[j] + yi * x1i[j]
        a1i += yr * x1i[j] - yi * x1r[j]
    return a0r, a0i, a1r, a1i


@njit(**_opts)
def reduce_entry_runs(rg, e, phi_re, phi_im, lam_re, lam_im, out):
    """:func:`reduce_entry` on runs of at least ``TILE`` contiguous groups: per run, each row's
    products with every column are dot products over the run (y read once per pair of columns),
    summed in registers; the lanes are added up once per run, not once per ``TILE`` groups."""
    k, t = rg[5][e], rg[6][e]
    sel_off, sel_idx, tgt_off, tgt_idx, zero, run = rg[9][e], rg[10][e], rg[11][e], rg[12][e], rg[7][e], rg[8][e]
    dt = 1 << t
    groups = phi_re.shape[0] >> k
    for g in range(0, groups, run):
        first = insert_zeros(g, zero, k)
        for s in range(1 << (k - t)):
            so, si = first + sel_off[s], sel_idx[s]
            for o in range(lam_re.shape[0]):
                for r in range(dt):
                    ro = so + tgt_off[r]
                    y_r, y_i = lam_re[o, ro:ro + run], lam_im[o, ro:ro + run]
                    row = si + tgt_idx[r]
                    c = 0
                    while c + 1 < dt:
                        c0, c1 = so + tgt_off[c], so + tgt_off[c + 1]
                        a0r, a0i, a1r, a1i = dots2(y_r, y_i, phi_re[c0:c0 + run], phi_im[c0:c0 + run],
                                                   phi_re[c1:c1 + run], phi_im[c1:c1 + run], run)
                        out[o, row, si + tgt_idx[c]] += a0r + 1j * a0i
                        out[o, row, si + tgt_idx[c + 1]] += a1r + 1j * a1i
                        c += 2
                    if c < dt:
                        c0 = so + tgt_off[c]
                        a_r, a_i = dots1(y_r, y_i, phi_re[c0:c0 + run], phi_im[c0:c0 + run], run)
                        out[o, row, si + tgt_idx[c]] += a_r + 1j * a_i


@njit(**_opts)
def reduce_entry(rg, e, phi_re, phi_im, lam_re, lam_im, out, idx):
    """``out[o, r, c] += sum_g conj(lam_o[g, r]) phi[g, c]`` over the chunk, for the entries
    ``r``, ``c`` with equal select bits (the only ones a block-diagonal block's gradient reads;
    block-local indices)."""
    if rg[8][e] >= TILE:
        reduce_entry_runs(rg, e, phi_re, phi_im, lam_re, lam_im, out)
        return
    k, t = rg[5][e], rg[6][e]
    sel_off, sel_idx, tgt_off, tgt_idx = rg[9][e], rg[10][e], rg[11][e], rg[12][e]
    dt = 1 << t
    groups = phi_re.shape[0] >> k
    for g in range(0, groups, TILE):
        count = min(TILE, groups - g)
        lane_indices(rg, e, g, count, idx)
        for s in range(1 << (k - t)):
            so, si = sel_off[s], sel_idx[s]
            for o in range(lam_re.shape[0]):
                lr, li = lam_re[o], lam_im[o]
                for r in range(dt):
                    ro = so + tgt_off[r]
                    for c in range(dt):
                        co = so + tgt_off[c]
                        acc_r = 0.0
                        acc_i = 0.0
                        for j in range(count):
                            yr, yi = lr[idx[j] + ro], li[idx[j] + ro]
                            xr, xi = phi_re[idx[j] + co], phi_im[idx[j] + co]
                            acc_r += yr * xr + yi * xi
                            acc_i += yr * xi - yi * xr
                        out[o, si + tgt_idx[r], si + tgt_idx[c]] += acc_r + 1j * acc_i


# ----------------------------------------------------------------------------- drivers


@njit(**_opts)
def _scratch(rg):
    kmax = rg[7].shape[1]
    dim = 1 << kmax
    return (np.zeros(TILE, np.int64), np.zeros((dim, TILE)), np.zeros((dim, TILE)),
            np.zeros((dim, TILE)), np.zeros((dim, TILE)))


@njit(**_opts)
def run_region_chunks(psi, rg, r, sub_re, sub_im, re, im, c0, c1):
    """Region ``r`` on chunks ``c0..c1`` of ``psi``: gather, every block, scatter."""
    idx, xr, xi, yr, yi = _scratch(rg)
    for chunk in range(c0, c1):
        gather(psi, rg, r, chunk, re, im)
        for e in range(rg[0][r], rg[0][r + 1]):
            apply_entry(rg, e, sub_re, sub_im, re, im, idx, xr, xi, yr, yi)
        scatter(psi, rg, r, chunk, re, im)


@njit(parallel=True, **_opts)
def run_region_par(psi, rg, r, sub_re, sub_im, work_re, work_im):
    chunks = psi.shape[0] >> rg[1].shape[1]
    workers = work_re.shape[0]
    for w in prange(workers):
        run_region_chunks(psi, rg, r, sub_re, sub_im, work_re[w], work_im[w],
                          w * chunks // workers, (w + 1) * chunks // workers)


@njit(**_opts)
def evolve_blocked(psi, rg, sub_re, sub_im, work_re, work_im):
    """Every region in order (``sub_*`` filled for the forward direction); one worker's buffers
    means serial kernels (a batch running one parameter set per thread)."""
    for r in range(rg[0].shape[0] - 1):
        if work_re.shape[0] == 1:
            run_region_chunks(psi, rg, r, sub_re, sub_im, work_re[0], work_im[0], 0, psi.shape[0] >> rg[1].shape[1])
        else:
            run_region_par(psi, rg, r, sub_re, sub_im, work_re, work_im)


@njit(**_opts)
def backward_region_chunks(psi, lams, rg, r, sub_re, sub_im, reduce, re, im, lre, lim, out, c0, c1):
    """The adjoint's backward sweep of region ``r`` on chunks ``c0..c1``: per block, last first,
    the transition matrix of a block with a rotation (into ``out[entry - first]``), then the
    block un-applied (``sub_*`` hold the adjoints) on ``psi`` and on every ``lams[o]``."""
    idx, xr, xi, yr, yi = _scratch(rg)
    first, last = rg[0][r], rg[0][r + 1]
    for chunk in range(c0, c1):
        gather(psi, rg, r, chunk, re, im)
        for o in range(lams.shape[0]):
            gather(lams[o], rg, r, chunk, lre[o], lim[o])
        for e in range(last - 1, first - 1, -1):
            if reduce[rg[4][e]]:
                reduce_entry(rg, e, re, im, lre, lim, out[e - first], idx)
            apply_entry(rg, e, sub_re, sub_im, re, im, idx, xr, xi, yr, yi)
            for o in range(lams.shape[0]):
                apply_entry(rg, e, sub_re, sub_im, lre[o], lim[o], idx, xr, xi, yr, yi)
        scatter(psi, rg, r, chunk, re, im)
        for o in range(lams.shape[0]):
            scatter(lams[o], rg, r, chunk, lre[o], lim[o])


@njit(parallel=True, **_opts)
def backward_region_par(psi, lams, rg, r, sub_re, sub_im, reduce, work_re, work_im, lam_re, lam_im, partial):
    chunks = psi.shape[0] >> rg[1].shape[1]
    workers = work_re.shape[0]
    for w in prange(workers):
        backward_region_chunks(psi, lams, rg, r, sub_re, sub_im, reduce, work_re[w], work_im[w],
                               lam_re[w], lam_im[w], partial[w], w * chunks // workers, (w + 1) * chunks // workers)
