"""A fused circuit as flat arrays, and the numba drivers that run it.

``compile_program`` turns a :class:`~qfab.core.ir.Circuit` into a tuple of arrays (blocks, their
gates, fixed matrices, rotation tables) that numba functions can take as one argument. Blocks
whose gates are all fixed get their matrix once, here; blocks with rotations are rebuilt per
parameter set inside numba, from the rotation's eigen-decomposition, so a batch of thousands of
parameter sets never returns to Python.

The gradient is the adjoint method with fusion kept in the backward pass: at a block's output
the block-local transition matrix ``R[r, c] = sum_g conj(lambda[g, r]) phi[g, c]`` is summed
and the block un-applied from ``phi`` and every ``lambda``. Each gate's derivative then costs a
few ``2**k x 2**k`` products on ``R`` (moving the gate from the "before" to the "after" side),
not passes over the state. The CPU engine sweeps region by region (:func:`adjoint_blocked`:
a chunk of ``phi`` and of every ``lambda`` in cache, all the region's blocks on it);
:func:`adjoint_sweep`, a pass per block, is the MPI ranks' sweep over their slices.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from qfab.core import gates
from qfab.core.ir import Circuit
from qfab.backends.cpu import blocking, kernels
from qfab.backends.cpu.blocking import Regions, plan_regions
from qfab.backends.cpu.fusion import fuse

_opts = dict(cache=True, nogil=True)


@dataclass(frozen=True)
class Program:
    """A compiled circuit: ``arrays`` is what the numba drivers take (they read it by position,
    as :func:`compile_program` lays it out); everyone else reads the blocks through the named
    accessors below."""

    arrays: tuple
    num_qubits: int
    num_parameters: int
    num_blocks: int
    width: int
    block_qubits: tuple[tuple[int, ...], ...]
    block_kinds: tuple[int, ...]
    # per block, a mask over its block-local bits: the qubits every gate of the block is
    # block-diagonal in (controls, diagonal gates), which the chunk kernels do not mix
    block_select: tuple[int, ...] = ()
    region_plans: dict = field(default_factory=dict, compare=False, repr=False)

    def regions(self, chunk_qubits: int) -> Regions:
        """The blocks grouped for cache blocking with chunks of ``2**chunk_qubits`` amplitudes
        (planned once per chunk size)."""
        if chunk_qubits not in self.region_plans:
            self.region_plans[chunk_qubits] = plan_regions(self.block_qubits, self.block_select,
                                                           self.num_qubits, chunk_qubits)
        return self.region_plans[chunk_qubits]

    @property
    def block_num_qubits(self) -> np.ndarray:
        """Qubits of each fused block, ``k``: its matrix is ``2**k x 2**k``."""
        return self.arrays[0]

    @property
    def block_gate_counts(self) -> np.ndarray:
        """Gates fused into each block: a block with a rotation multiplies that many gate
        matrices into its own for every parameter set."""
        return self.arrays[4] - self.arrays[3]

    @property
    def block_has_rotation(self) -> np.ndarray:
        """Whether each block holds a rotation (then its matrix is rebuilt per parameter set;
        otherwise it was built once, at compile time)."""
        return self.arrays[7].astype(bool)


def _block_kind(matrices: list[np.ndarray]) -> int:
    """DIAGONAL if every gate is diagonal, MONOMIAL if every gate permutes with phases, else DENSE."""
    def off_diagonal(m):
        return np.count_nonzero(np.abs(m - np.diag(np.diag(m))) > 1e-14)

    if all(off_diagonal(m) == 0 for m in matrices):
        return kernels.DIAGONAL
    if all(np.all(np.count_nonzero(np.abs(m) > 1e-14, axis=1) == 1) for m in matrices):
        return kernels.MONOMIAL
    return kernels.DENSE


def _block_diagonal_in(matrix: np.ndarray, bit: int) -> bool:
    """Whether ``matrix`` never mixes amplitudes that differ in local bit ``bit``."""
    rows = np.arange(matrix.shape[0])
    mixes = ((rows[:, None] ^ rows[None, :]) >> bit) & 1
    return not np.any(np.abs(matrix[mixes == 1]) > 1e-14)


def _select_mask(gate_matrices: list[np.ndarray], gate_positions: list[list[int]], k: int) -> int:
    """Block-local bits in which every gate touching them is block-diagonal."""
    mask = (1 << k) - 1
    for matrix, positions in zip(gate_matrices, gate_positions):
        for j, p in enumerate(positions):
            if not _block_diagonal_in(matrix, j):
                mask &= ~(1 << p)
    return mask


def compile_program(circuit: Circuit, width: int) -> Program:
    ops = circuit.operations
    blocks = fuse(ops, circuit.num_qubits, width)
    kmax = max([len(b.qubits) for b in blocks], default=1)
    gmax = max([len(op.qubits) for op in ops], default=1)
    nb = len(blocks)
    b_nq = np.zeros(nb, np.int64)
    b_qubits = np.zeros((nb, kmax), np.int64)
    b_offsets = np.zeros((nb, 1 << kmax), np.int64)
    b_gstart = np.zeros(nb, np.int64)
    b_gend = np.zeros(nb, np.int64)
    b_kind = np.zeros(nb, np.int64)
    b_fixed = np.full(nb, -1, np.int64)
    b_param = np.zeros(nb, np.int64)
    ng = len(ops)
    g_kind = np.full(ng, -1, np.int64)
    g_nq = np.zeros(ng, np.int64)
    g_pos = np.zeros((ng, gmax), np.int64)
    g_param = np.full(ng, -1, np.int64)
    g_a = np.zeros(ng)
    g_b = np.zeros(ng)
    g_mat = np.full(ng, -1, np.int64)
    gate_mats: list[np.ndarray] = []
    gate_mat_size = 0
    block_mat_size = 0
    probe = np.random.default_rng(0).uniform(-np.pi, np.pi, circuit.num_parameters)
    slot = 0
    selects = []
    for bi, block in enumerate(blocks):
        qubits = sorted(block.qubits)
        local = {q: j for j, q in enumerate(qubits)}
        k = len(qubits)
        b_nq[bi] = k
        b_qubits[bi, :k] = qubits
        for m in range(1 << k):
            b_offsets[bi, m] = sum(((m >> j) & 1) << qubits[j] for j in range(k))
        b_gstart[bi] = slot
        for gi in block.gates:
            op = ops[gi]
            g_nq[slot] = len(op.qubits)
            g_pos[slot, : len(op.qubits)] = [local[q] for q in op.qubits]
            if op.param is not None:
                g_kind[slot] = gates.ROTATION_KINDS[op.name].code
                g_param[slot], g_a[slot], g_b[slot] = op.param.index, op.param.a, op.param.b
                b_param[bi] = 1
            else:
                g_mat[slot] = gate_mat_size
                gate_mats.append(op.matrix.ravel())
                gate_mat_size += op.matrix.size
            slot += 1
        b_gend[bi] = slot
        probed = [ops[gi].unitary(probe) for gi in block.gates]
        b_kind[bi] = _block_kind(probed)
        selects.append(_select_mask(probed, [[local[q] for q in ops[gi].qubits] for gi in block.gates], k))
        if not b_param[bi]:
            b_fixed[bi] = block_mat_size  # filled by _fill_fixed_blocks once the arrays exist
            block_mat_size += 1 << (2 * k)
    gate_buf = np.concatenate(gate_mats) if gate_mats else np.zeros(1, np.complex128)
    arrays = (
        b_nq, b_qubits, b_offsets, b_gstart, b_gend, b_kind, b_fixed, b_param,
        g_kind, g_nq, g_pos, g_param, g_a, g_b, g_mat,
        gate_buf, np.zeros(max(block_mat_size, 1), np.complex128),
        gates.KIND_EIGVEC, gates.KIND_EIGVAL,
    )
    _fill_fixed_blocks(arrays, np.zeros(max(circuit.num_parameters, 1)))
    return Program(
        arrays=arrays,
        num_qubits=circuit.num_qubits,
        num_parameters=circuit.num_parameters,
        num_blocks=nb,
        width=width,
        block_qubits=tuple(tuple(sorted(b.qubits)) for b in blocks),
        block_kinds=tuple(int(x) for x in b_kind),
        block_select=tuple(selects),
    )


# ----------------------------------------------------------------------------- small matrices


@njit(**_opts)
def apply_to_rows(mat, u, pos, gq):
    """``mat <- (u on local bits pos) @ mat`` for a block-local matrix (rows are local indices)."""
    dim = mat.shape[0]
    gdim = 1 << gq
    mask = 0
    for j in range(gq):
        mask |= 1 << pos[j]
    idx = np.empty(gdim, np.int64)
    col = np.empty(gdim, mat.dtype)
    for r in range(dim):
        if r & mask:
            continue
        for m in range(gdim):
            i = r
            for j in range(gq):
                if (m >> j) & 1:
                    i |= 1 << pos[j]
            idx[m] = i
        for c in range(mat.shape[1]):
            for m in range(gdim):
                col[m] = mat[idx[m], c]
            for m in range(gdim):
                acc = 0j
                for l in range(gdim):
                    acc += u[m, l] * col[l]
                mat[idx[m], c] = acc


@njit(**_opts)
def embedded_trace(u, mat, pos, gq):
    """``sum_{r,c} (u on local bits pos, identity elsewhere)[r, c] * mat[r, c]``."""
    dim = mat.shape[0]
    gdim = 1 << gq
    mask = 0
    for j in range(gq):
        mask |= 1 << pos[j]
    total = 0j
    for e in range(dim):
        if e & mask:
            continue
        for a in range(gdim):
            ra = e
            for j in range(gq):
                if (a >> j) & 1:
                    ra |= 1 << pos[j]
            for b in range(gdim):
                cb = e
                for j in range(gq):
                    if (b >> j) & 1:
                        cb |= 1 << pos[j]
                total += u[a, b] * mat[ra, cb]
    return total


@njit(**_opts)
def gate_matrix(arrays, gi, theta, derivative):
    """Matrix (or its derivative by the angle) of gate ``gi`` at parameters ``theta``."""
    g_kind, g_nq, g_param, g_a, g_b, g_mat, gate_buf = arrays[8], arrays[9], arrays[11], arrays[12], arrays[13], arrays[14], arrays[15]
    eigvec, eigval = arrays[17], arrays[18]
    dim = 1 << g_nq[gi]
    if g_kind[gi] < 0:
        return gate_buf[g_mat[gi]: g_mat[gi] + dim * dim].reshape((dim, dim))
    kind = g_kind[gi]
    angle = g_a[gi] * theta[g_param[gi]] + g_b[gi]
    out = np.zeros((dim, dim), np.complex128)
    for s in range(dim):
        phase = np.exp(-0.5j * angle * eigval[kind, s])
        if derivative:
            phase *= -0.5j * eigval[kind, s]
        for r in range(dim):
            vr = eigvec[kind, r, s] * phase
            for c in range(dim):
                out[r, c] += vr * np.conj(eigvec[kind, c, s])
    return out


@njit(**_opts)
def build_block(arrays, bi, theta):
    b_nq, b_gstart, b_gend, g_pos, g_nq = arrays[0], arrays[3], arrays[4], arrays[10], arrays[9]
    dim = 1 << b_nq[bi]
    mat = np.zeros((dim, dim), np.complex128)
    for r in range(dim):
        mat[r, r] = 1.0
    for gi in range(b_gstart[bi], b_gend[bi]):
        apply_to_rows(mat, gate_matrix(arrays, gi, theta, False), g_pos[gi], g_nq[gi])
    return mat


@njit(**_opts)
def block_matrix(arrays, bi, theta):
    b_nq, b_fixed, block_buf = arrays[0], arrays[6], arrays[16]
    if b_fixed[bi] < 0:
        return build_block(arrays, bi, theta)
    dim = 1 << b_nq[bi]
    return block_buf[b_fixed[bi]: b_fixed[bi] + dim * dim].reshape((dim, dim))


@njit(**_opts)
def _fill_fixed_blocks(arrays, theta):
    b_fixed, block_buf = arrays[6], arrays[16]
    for bi in range(b_fixed.shape[0]):
        if b_fixed[bi] >= 0:
            mat = build_block(arrays, bi, theta)
            block_buf[b_fixed[bi]: b_fixed[bi] + mat.size] = mat.ravel()


# ----------------------------------------------------------------------------- drivers


@njit(**_opts)
def evolve(arrays, theta, psi, parallel):
    """``psi <- U(theta) psi`` in place (without the global phase)."""
    b_nq, b_qubits, b_offsets, b_kind = arrays[0], arrays[1], arrays[2], arrays[5]
    for bi in range(b_nq.shape[0]):
        kernels.apply_block(psi, block_matrix(arrays, bi, theta), b_kind[bi], b_qubits[bi], b_nq[bi], b_offsets[bi], parallel)


@njit(**_opts)
def expectations(psi, x_all, z_all, pre_all, starts, out, parallel):
    for o in range(starts.shape[0] - 1):
        s, e = starts[o], starts[o + 1]
        out[o] = kernels.pauli_expectation(psi, x_all[s:e], z_all[s:e], pre_all[s:e], parallel).real


@njit(**_opts)
def adjoint_sweep(arrays, theta, psi, lams, grad, parallel):
    """The backward sweep: un-apply the program from ``psi`` and every ``lams[o]`` and *add* each
    parameter's gradient into ``grad`` (a distributed run sweeps one segment at a time, on
    one slice of the state, and sums the slices' gradients)."""
    b_nq, b_qubits, b_offsets, b_gstart, b_gend, b_param = arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], arrays[7]
    g_nq, g_pos, g_param, g_a, g_kind = arrays[9], arrays[10], arrays[11], arrays[12], arrays[8]
    num_obs = lams.shape[0]
    for bi in range(b_nq.shape[0] - 1, -1, -1):
        mat = block_matrix(arrays, bi, theta)
        mat_adj = np.ascontiguousarray(mat.conj().T)
        reduce = b_param[bi] == 1
        trans = kernels.unapply_and_reduce(psi, lams, mat_adj, b_qubits[bi], b_nq[bi], b_offsets[bi], reduce, parallel)
        if reduce:
            block_gradients(arrays, bi, theta, trans, grad)


@njit(**_opts)
def block_gradients(arrays, bi, theta, trans, grad):
    """Add block ``bi``'s gates' derivatives to ``grad[o, p]`` from its transition matrices
    ``trans[o]`` (taken at the block's output; consumed): walking the gates backwards, each
    moves from the "before" to the "after" side of ``R``, a rotation's derivative a trace
    against ``R`` in between."""
    b_gstart, b_gend = arrays[3], arrays[4]
    g_nq, g_pos, g_param, g_a, g_kind = arrays[9], arrays[10], arrays[11], arrays[12], arrays[8]
    num_obs = trans.shape[0]
    for gi in range(b_gend[bi] - 1, b_gstart[bi] - 1, -1):
        u = gate_matrix(arrays, gi, theta, False)
        u_adj = np.ascontiguousarray(u.conj().T)
        u_t = np.ascontiguousarray(u.T)
        for o in range(num_obs):
            apply_to_rows(trans[o].T, u_adj, g_pos[gi], g_nq[gi])  # R <- R conj(U): U leaves "before"
        if g_kind[gi] >= 0:
            du = gate_matrix(arrays, gi, theta, True)
            for o in range(num_obs):
                grad[o, g_param[gi]] += 2.0 * g_a[gi] * embedded_trace(du, trans[o], g_pos[gi], g_nq[gi]).real
        for o in range(num_obs):
            apply_to_rows(trans[o], u_t, g_pos[gi], g_nq[gi])  # R <- U^T R: U joins "after"




@njit(**_opts)
def evolve_batch(arrays, thetas, states):
    """Each row of ``states`` evolved in place by the row of ``thetas`` (dynamic circuits'
    branches: few rows, each a whole state, so the amplitudes run in parallel)."""
    for b in range(thetas.shape[0]):
        evolve(arrays, thetas[b], states[b], True)




# ----------------------------------------------------------------------------- cache-blocked drivers
#
# ``rg`` is a :class:`~qfab.backends.cpu.blocking.Regions`' arrays; ``sub_re``/``sub_im`` hold its
# entries' select-wise products (``Regions.arrays[13][-1]`` reals); ``work_re[w]``/``work_im[w]``
# are worker w's chunk buffers (one worker: serial kernels).


@njit(**_opts)
def fill_all_submatrices(arrays, rg, theta, adjoint, sub_re, sub_im):
    e_block = rg[4]
    for e in range(e_block.shape[0]):
        blocking.fill_submatrices(rg, e, block_matrix(arrays, e_block[e], theta), adjoint, sub_re, sub_im)


@njit(**_opts)
def forward_blocked(arrays, rg, theta, psi, sub_re, sub_im, work_re, work_im):
    """``psi <- U(theta)|0>`` (without the global phase), region by region."""
    fill_all_submatrices(arrays, rg, theta, False, sub_re, sub_im)
    psi[:] = 0
    psi[0] = 1
    blocking.evolve_blocked(psi, rg, sub_re, sub_im, work_re, work_im)


@njit(**_opts)
def adjoint_blocked(arrays, rg, theta, psi, lams, x_all, z_all, pre_all, starts, grad,
                    sub_re, sub_im, work_re, work_im, lam_re, lam_im):
    """:func:`adjoint`, region by region: one gather of ``psi`` and every ``lambda`` per region
    and chunk, then every block of the region (last first) reduced and un-applied in cache."""
    b_nq, b_param = arrays[0], arrays[7]
    num_obs = starts.shape[0] - 1
    workers = work_re.shape[0]
    parallel = workers > 1
    for o in range(num_obs):
        s, e = starts[o], starts[o + 1]
        kernels.apply_pauli_sum(psi, lams[o], x_all[s:e], z_all[s:e], pre_all[s:e], parallel)
    grad[:, :] = 0.0
    fill_all_submatrices(arrays, rg, theta, True, sub_re, sub_im)
    r_start, e_block = rg[0], rg[4]
    kdim = 1 << rg[7].shape[1]
    chunks = psi.shape[0] >> rg[1].shape[1]
    for r in range(r_start.shape[0] - 2, -1, -1):
        first, last = r_start[r], r_start[r + 1]
        partial = np.zeros((workers, last - first, num_obs, kdim, kdim), np.complex128)
        if parallel:
            blocking.backward_region_par(psi, lams, rg, r, sub_re, sub_im, b_param, work_re, work_im,
                                         lam_re, lam_im, partial)
        else:
            blocking.backward_region_chunks(psi, lams, rg, r, sub_re, sub_im, b_param, work_re[0], work_im[0],
                                            lam_re[0], lam_im[0], partial[0], 0, chunks)
        for e in range(first, last):
            bi = e_block[e]
            if b_param[bi]:
                dim = 1 << b_nq[bi]
                trans = np.zeros((num_obs, dim, dim), np.complex128)
                for w in range(workers):
                    trans += partial[w, e - first, :, :dim, :dim]
                block_gradients(arrays, bi, theta, trans, grad)


@njit(parallel=True, **_opts)
def forward_blocked_over_sets(arrays, rg, thetas, out, sub_re, sub_im, work_re, work_im):
    """One parameter set per thread, each a single chunk on serial kernels (worker w owns
    ``sub_*[w]``, ``work_*[w : w + 1]``)."""
    workers, batch = work_re.shape[0], thetas.shape[0]
    for w in prange(workers):
        for b in range(w * batch // workers, (w + 1) * batch // workers):
            forward_blocked(arrays, rg, thetas[b], out[b], sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1])


@njit(**_opts)
def forward_blocked_over_amplitudes(arrays, rg, thetas, out, sub_re, sub_im, work_re, work_im):
    for b in range(thetas.shape[0]):
        forward_blocked(arrays, rg, thetas[b], out[b], sub_re, sub_im, work_re, work_im)


@njit(parallel=True, **_opts)
def expect_blocked_over_sets(arrays, rg, thetas, work, x_all, z_all, pre_all, starts, out,
                             sub_re, sub_im, work_re, work_im):
    workers, batch = work.shape[0], thetas.shape[0]
    for w in prange(workers):
        for b in range(w * batch // workers, (w + 1) * batch // workers):
            forward_blocked(arrays, rg, thetas[b], work[w], sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1])
            expectations(work[w], x_all, z_all, pre_all, starts, out[b], False)


@njit(**_opts)
def expect_blocked_over_amplitudes(arrays, rg, thetas, psi, x_all, z_all, pre_all, starts, out,
                                   sub_re, sub_im, work_re, work_im):
    for b in range(thetas.shape[0]):
        forward_blocked(arrays, rg, thetas[b], psi, sub_re, sub_im, work_re, work_im)
        expectations(psi, x_all, z_all, pre_all, starts, out[b], True)


@njit(parallel=True, **_opts)
def gradient_blocked_over_sets(arrays, rg, thetas, work, lam_work, x_all, z_all, pre_all, starts, grads,
                               sub_re, sub_im, work_re, work_im, lam_re, lam_im):
    workers, batch = work.shape[0], thetas.shape[0]
    for w in prange(workers):
        for b in range(w * batch // workers, (w + 1) * batch // workers):
            forward_blocked(arrays, rg, thetas[b], work[w], sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1])
            adjoint_blocked(arrays, rg, thetas[b], work[w], lam_work[w], x_all, z_all, pre_all, starts, grads[b],
                            sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1], lam_re[w:w + 1], lam_im[w:w + 1])


@njit(**_opts)
def gradient_blocked_over_amplitudes(arrays, rg, thetas, psi, lams, x_all, z_all, pre_all, starts, grads,
                                     sub_re, sub_im, work_re, work_im, lam_re, lam_im):
    for b in range(thetas.shape[0]):
        forward_blocked(arrays, rg, thetas[b], psi, sub_re, sub_im, work_re, work_im)
        adjoint_blocked(arrays, rg, thetas[b], psi, lams, x_all, z_all, pre_all, starts, grads[b],
                        sub_re, sub_im, work_re, work_im, lam_re, lam_im)
