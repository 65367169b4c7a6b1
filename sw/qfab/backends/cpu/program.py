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
from qfab.backends.cpu import numba_cache  # noqa: F401  (must precede every @njit(cache=True))
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
#
# Per parameter set, every rotation's matrix is rebuilt and multiplied into its block, and the
# adjoint moves every gate across each block's transition matrix: thousands of tiny products
# per set in a batch. They run on a per-worker *set scratch* (:func:`set_scratch`), loaded once
# per parameter set (:func:`load_set`: the angles, and every 1-qubit rotation's matrix and
# derivative, so the forward, the adjoint's un-apply and the gradients share one evaluation of
# the trigonometry), with the 1-qubit case in scalars: none of them allocates (an allocation
# costs more than a 2x2 product).


@njit(**_opts)
def set_scratch(arrays):
    """Scratch for one parameter set at a time: its angles, every 1-qubit gate's matrix and
    derivative (``rot[gi]``: four entries each; a fixed gate's entered here, a rotation's by
    :func:`load_set`), a gate's matrix and derivative for the generic path, its row indices and
    column, and a block-sized matrix."""
    g_kind, g_nq, g_mat, gate_buf = arrays[8], arrays[9], arrays[14], arrays[15]
    gdim = 1 << arrays[10].shape[1]
    kdim = 1 << arrays[1].shape[1]
    num_params = max(1, int(arrays[11].max()) + 1) if arrays[11].shape[0] else 1
    rot = np.zeros((g_kind.shape[0], 8), np.complex128)
    for gi in range(g_kind.shape[0]):
        if g_kind[gi] < 0 and g_nq[gi] == 1:
            rot[gi, :4] = gate_buf[g_mat[gi]: g_mat[gi] + 4]
    return (np.zeros(num_params), rot, np.empty(gdim * gdim, np.complex128), np.empty(gdim * gdim, np.complex128),
            np.empty(gdim, np.int64), np.empty(gdim, np.complex128), np.empty(kdim * kdim, np.complex128))


@njit(**_opts)
def load_set(arrays, theta, scratch):
    """Make ``scratch`` hold parameter set ``theta``: its angles and its 1-qubit rotations."""
    load_gates(arrays, theta, scratch, 0, arrays[8].shape[0])


@njit(**_opts)
def load_gates(arrays, theta, scratch, first, last):
    """:func:`load_set` for gates ``first..last`` only (the GPU host, which works on one block of
    every set at a time)."""
    g_kind, g_nq, g_param, g_a, g_b = arrays[8], arrays[9], arrays[11], arrays[12], arrays[13]
    eigvec, eigval = arrays[17], arrays[18]
    angles, rot = scratch[0], scratch[1]
    m = min(angles.shape[0], theta.shape[0])  # the angles past the last one a gate reads are never read
    angles[:m] = theta[:m]
    for gi in range(first, last):
        if g_kind[gi] < 0 or g_nq[gi] != 1:
            continue
        kind = g_kind[gi]
        angle = g_a[gi] * theta[g_param[gi]] + g_b[gi]
        v00, v01, v10, v11 = eigvec[kind, 0, 0], eigvec[kind, 0, 1], eigvec[kind, 1, 0], eigvec[kind, 1, 1]
        p0 = np.exp(-0.5j * angle * eigval[kind, 0])
        p1 = np.exp(-0.5j * angle * eigval[kind, 1])
        for half in range(2):  # the matrix, then its derivative by the angle
            w00, w01, w10, w11 = v00 * p0, v01 * p1, v10 * p0, v11 * p1
            rot[gi, 4 * half] = w00 * np.conj(v00) + w01 * np.conj(v01)
            rot[gi, 4 * half + 1] = w00 * np.conj(v10) + w01 * np.conj(v11)
            rot[gi, 4 * half + 2] = w10 * np.conj(v00) + w11 * np.conj(v01)
            rot[gi, 4 * half + 3] = w10 * np.conj(v10) + w11 * np.conj(v11)
            p0 *= -0.5j * eigval[kind, 0]
            p1 *= -0.5j * eigval[kind, 1]


@njit(inline="always", **_opts)
def _spread(r, m, pos, gq):
    """Local index ``r`` with gate-local index ``m`` written into the bits ``pos``."""
    for j in range(gq):
        if (m >> j) & 1:
            r |= 1 << pos[j]
    return r


@njit(**_opts)
def apply_to_rows(mat, u, pos, gq, transpose, idx, col):
    """``mat <- op(u on local bits pos) @ mat``, ``op(u)`` = ``u`` or ``u.T`` (rows are local
    indices; ``idx``/``col`` scratch of the gate's dimension)."""
    dim, cols = mat.shape[0], mat.shape[1]
    if gq == 1:
        bit = 1 << pos[0]
        a, d = u[0, 0], u[1, 1]
        b, c = (u[1, 0], u[0, 1]) if transpose else (u[0, 1], u[1, 0])
        for r in range(dim):
            if r & bit:
                continue
            top, bottom = mat[r], mat[r | bit]
            for j in range(cols):
                x0, x1 = top[j], bottom[j]
                top[j] = a * x0 + b * x1
                bottom[j] = c * x0 + d * x1
        return
    if gq == 2:  # in scalars too (a CNOT of the ladder in every block)
        b0, b1 = 1 << pos[0], 1 << pos[1]
        u = u.T if transpose else u
        for r in range(dim):
            if r & (b0 | b1):
                continue
            i1, i2, i3 = r | b0, r | b1, r | b0 | b1
            for j in range(cols):
                x0, x1, x2, x3 = mat[r, j], mat[i1, j], mat[i2, j], mat[i3, j]
                mat[r, j] = u[0, 0] * x0 + u[0, 1] * x1 + u[0, 2] * x2 + u[0, 3] * x3
                mat[i1, j] = u[1, 0] * x0 + u[1, 1] * x1 + u[1, 2] * x2 + u[1, 3] * x3
                mat[i2, j] = u[2, 0] * x0 + u[2, 1] * x1 + u[2, 2] * x2 + u[2, 3] * x3
                mat[i3, j] = u[3, 0] * x0 + u[3, 1] * x1 + u[3, 2] * x2 + u[3, 3] * x3
        return
    gdim = 1 << gq
    mask = _spread(0, gdim - 1, pos, gq)
    for r in range(dim):
        if r & mask:
            continue
        for m in range(gdim):
            idx[m] = _spread(r, m, pos, gq)
        for j in range(cols):
            for m in range(gdim):
                col[m] = mat[idx[m], j]
            for m in range(gdim):
                acc = 0j
                for l in range(gdim):
                    acc += (u[l, m] if transpose else u[m, l]) * col[l]
                mat[idx[m], j] = acc


@njit(**_opts)
def apply_conj_to_columns(mat, u, pos, gq, idx, col):
    """``mat <- mat @ conj(u on local bits pos)`` (columns are local indices)."""
    rows, dim = mat.shape[0], mat.shape[1]
    if gq == 1:
        bit = 1 << pos[0]
        a, b, c, d = np.conj(u[0, 0]), np.conj(u[0, 1]), np.conj(u[1, 0]), np.conj(u[1, 1])
        for i in range(rows):
            row = mat[i]
            for j in range(dim):
                if j & bit:
                    continue
                x0, x1 = row[j], row[j | bit]
                row[j] = x0 * a + x1 * c
                row[j | bit] = x0 * b + x1 * d
        return
    if gq == 2:
        b0, b1 = 1 << pos[0], 1 << pos[1]
        for i in range(rows):
            row = mat[i]
            for j in range(dim):
                if j & (b0 | b1):
                    continue
                j1, j2, j3 = j | b0, j | b1, j | b0 | b1
                x0, x1, x2, x3 = row[j], row[j1], row[j2], row[j3]
                row[j] = (x0 * np.conj(u[0, 0]) + x1 * np.conj(u[1, 0]) + x2 * np.conj(u[2, 0])
                          + x3 * np.conj(u[3, 0]))
                row[j1] = (x0 * np.conj(u[0, 1]) + x1 * np.conj(u[1, 1]) + x2 * np.conj(u[2, 1])
                           + x3 * np.conj(u[3, 1]))
                row[j2] = (x0 * np.conj(u[0, 2]) + x1 * np.conj(u[1, 2]) + x2 * np.conj(u[2, 2])
                           + x3 * np.conj(u[3, 2]))
                row[j3] = (x0 * np.conj(u[0, 3]) + x1 * np.conj(u[1, 3]) + x2 * np.conj(u[2, 3])
                           + x3 * np.conj(u[3, 3]))
        return
    gdim = 1 << gq
    mask = _spread(0, gdim - 1, pos, gq)
    for j0 in range(dim):
        if j0 & mask:
            continue
        for m in range(gdim):
            idx[m] = _spread(j0, m, pos, gq)
        for i in range(rows):
            for m in range(gdim):
                col[m] = mat[i, idx[m]]
            for m in range(gdim):
                acc = 0j
                for l in range(gdim):
                    acc += col[l] * np.conj(u[l, m])
                mat[i, idx[m]] = acc


@njit(**_opts)
def embedded_trace(u, mat, pos, gq):
    """``sum_{r,c} (u on local bits pos, identity elsewhere)[r, c] * mat[r, c]``."""
    dim = mat.shape[0]
    gdim = 1 << gq
    mask = _spread(0, gdim - 1, pos, gq)
    total = 0j
    for e in range(dim):
        if e & mask:
            continue
        for a in range(gdim):
            ra = _spread(e, a, pos, gq)
            for b in range(gdim):
                total += u[a, b] * mat[ra, _spread(e, b, pos, gq)]
    return total


@njit(**_opts)
def gate_matrix(arrays, gi, theta, derivative, buf):
    """Matrix (or its derivative by the angle) of gate ``gi`` at parameters ``theta``: a fixed
    gate's compiled matrix, a rotation's built in the flat scratch ``buf`` (valid until its
    next use)."""
    g_kind, g_nq, g_param, g_a, g_b, g_mat, gate_buf = arrays[8], arrays[9], arrays[11], arrays[12], arrays[13], arrays[14], arrays[15]
    eigvec, eigval = arrays[17], arrays[18]
    dim = 1 << g_nq[gi]
    if g_kind[gi] < 0:
        return gate_buf[g_mat[gi]: g_mat[gi] + dim * dim].reshape((dim, dim))
    kind = g_kind[gi]
    angle = g_a[gi] * theta[g_param[gi]] + g_b[gi]
    out = buf[:dim * dim].reshape((dim, dim))
    out[:, :] = 0
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
def gate_2x2(rot, gi, half):
    """A 1-qubit gate's matrix (``half`` 0) or derivative (1) at the loaded set, as four scalars
    ``(m00, m01, m10, m11)`` from the scratch's table ``rot`` (a branch-free read that LLVM
    inlines: these run thousands of times per set)."""
    o = 4 * half
    return rot[gi, o], rot[gi, o + 1], rot[gi, o + 2], rot[gi, o + 3]


@njit(inline="always", **_opts)
def rows_2x2(mat, bit, a, b, c, d):
    """``mat <- [[a, b], [c, d]] (on local bit ``bit``) @ mat``."""
    for r in range(mat.shape[0]):
        if r & bit:
            continue
        for j in range(mat.shape[1]):
            x0, x1 = mat[r, j], mat[r | bit, j]
            mat[r, j] = a * x0 + b * x1
            mat[r | bit, j] = c * x0 + d * x1


@njit(inline="always", **_opts)
def columns_2x2(mat, bit, a, b, c, d):
    """``mat <- mat @ [[a, b], [c, d]] (on local bit ``bit``)``."""
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            if j & bit:
                continue
            x0, x1 = mat[i, j], mat[i, j | bit]
            mat[i, j] = x0 * a + x1 * c
            mat[i, j | bit] = x0 * b + x1 * d


@njit(inline="always", **_opts)
def trace_2x2(mat, bit, a, b, c, d):
    """:func:`embedded_trace` of ``[[a, b], [c, d]]`` on local bit ``bit``."""
    total = 0j
    for e in range(mat.shape[0]):
        if e & bit:
            continue
        total += a * mat[e, e] + b * mat[e, e | bit] + c * mat[e | bit, e] + d * mat[e | bit, e | bit]
    return total


@njit(**_opts)
def build_block(arrays, bi, scratch):
    """Block ``bi``'s matrix at the loaded set, into the scratch's block matrix (returned, sized)."""
    b_nq, b_gstart, b_gend, g_pos, g_nq = arrays[0], arrays[3], arrays[4], arrays[10], arrays[9]
    theta, rot, ubuf, _, idx, col, block = scratch
    dim = 1 << b_nq[bi]
    mat = block[:dim * dim].reshape((dim, dim))
    mat[:, :] = 0
    for r in range(dim):
        mat[r, r] = 1.0
    for gi in range(b_gstart[bi], b_gend[bi]):
        if g_nq[gi] == 1:
            a, b, c, d = gate_2x2(rot, gi, 0)
            rows_2x2(mat, 1 << g_pos[gi, 0], a, b, c, d)
        else:
            apply_to_rows(mat, gate_matrix(arrays, gi, theta, False, ubuf), g_pos[gi], g_nq[gi], False, idx, col)
    return mat


@njit(**_opts)
def block_matrix(arrays, bi, scratch):
    """Block ``bi``'s matrix: the compiled one of a fixed block, else built at the loaded set
    in the scratch (valid until the scratch's next use)."""
    b_nq, b_fixed, block_buf = arrays[0], arrays[6], arrays[16]
    if b_fixed[bi] < 0:
        return build_block(arrays, bi, scratch)
    dim = 1 << b_nq[bi]
    return block_buf[b_fixed[bi]: b_fixed[bi] + dim * dim].reshape((dim, dim))


@njit(**_opts)
def _fill_fixed_blocks(arrays, theta):
    b_fixed, block_buf = arrays[6], arrays[16]
    scratch = set_scratch(arrays)
    load_set(arrays, theta, scratch)
    for bi in range(b_fixed.shape[0]):
        if b_fixed[bi] >= 0:
            mat = build_block(arrays, bi, scratch)
            block_buf[b_fixed[bi]: b_fixed[bi] + mat.size] = mat.ravel()


# ----------------------------------------------------------------------------- drivers


@njit(**_opts)
def evolve(arrays, theta, psi, parallel):
    """``psi <- U(theta) psi`` in place (without the global phase)."""
    b_nq, b_qubits, b_offsets, b_kind = arrays[0], arrays[1], arrays[2], arrays[5]
    scratch = set_scratch(arrays)
    load_set(arrays, theta, scratch)
    for bi in range(b_nq.shape[0]):
        mat = block_matrix(arrays, bi, scratch)
        kernels.apply_block(psi, mat, b_kind[bi], b_qubits[bi], b_nq[bi], b_offsets[bi], parallel)


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
    b_nq, b_qubits, b_offsets, b_param = arrays[0], arrays[1], arrays[2], arrays[7]
    scratch = set_scratch(arrays)
    load_set(arrays, theta, scratch)
    for bi in range(b_nq.shape[0] - 1, -1, -1):
        mat_adj = np.ascontiguousarray(block_matrix(arrays, bi, scratch).conj().T)
        reduce = b_param[bi] == 1
        trans = kernels.unapply_and_reduce(psi, lams, mat_adj, b_qubits[bi], b_nq[bi], b_offsets[bi], reduce, parallel)
        if reduce:
            block_gradients(arrays, bi, trans, grad, scratch)


@njit(**_opts)
def block_gradients(arrays, bi, trans, grad, scratch):
    """Add block ``bi``'s gates' derivatives to ``grad[o, p]`` from its transition matrices
    ``trans[o]`` (taken at the block's output; consumed): walking the gates backwards, each
    moves from the "before" to the "after" side of ``R``, a rotation's derivative a trace
    against ``R`` in between."""
    b_gstart, b_gend = arrays[3], arrays[4]
    g_nq, g_pos, g_param, g_a, g_kind = arrays[9], arrays[10], arrays[11], arrays[12], arrays[8]
    theta, rot, ubuf, dubuf, idx, col, _ = scratch
    num_obs = trans.shape[0]
    for gi in range(b_gend[bi] - 1, b_gstart[bi] - 1, -1):
        pos, gq = g_pos[gi], g_nq[gi]
        if gq == 1:  # the same three steps in scalars
            bit = 1 << pos[0]
            a, b, c, d = gate_2x2(rot, gi, 0)
            da, db, dc, dd = gate_2x2(rot, gi, 1)
            ca, cb, cc, cd = np.conj(a), np.conj(b), np.conj(c), np.conj(d)
            for o in range(num_obs):
                r = trans[o]
                columns_2x2(r, bit, ca, cb, cc, cd)
                if g_kind[gi] >= 0:
                    grad[o, g_param[gi]] += 2.0 * g_a[gi] * trace_2x2(r, bit, da, db, dc, dd).real
                rows_2x2(r, bit, a, c, b, d)
            continue
        u = gate_matrix(arrays, gi, theta, False, ubuf)
        for o in range(num_obs):
            apply_conj_to_columns(trans[o], u, pos, gq, idx, col)  # R <- R conj(U): U leaves "before"
        if g_kind[gi] >= 0:
            du = gate_matrix(arrays, gi, theta, True, dubuf)
            for o in range(num_obs):
                grad[o, g_param[gi]] += 2.0 * g_a[gi] * embedded_trace(du, trans[o], pos, gq).real
        for o in range(num_obs):
            apply_to_rows(trans[o], u, pos, gq, True, idx, col)  # R <- U^T R: U joins "after"


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
def fill_all_submatrices(arrays, rg, scratch, adjoint, sub_re, sub_im):
    e_block = rg[4]
    for e in range(e_block.shape[0]):
        blocking.fill_submatrices(rg, e, block_matrix(arrays, e_block[e], scratch), adjoint, sub_re, sub_im)


@njit(**_opts)
def forward_blocked(arrays, rg, scratch, psi, sub_re, sub_im, work_re, work_im):
    """``psi <- U(theta)|0>`` at the scratch's loaded set (without the global phase), region by region."""
    fill_all_submatrices(arrays, rg, scratch, False, sub_re, sub_im)
    psi[:] = 0
    psi[0] = 1
    blocking.evolve_blocked(psi, rg, sub_re, sub_im, work_re, work_im)


@njit(**_opts)
def adjoint_blocked(arrays, rg, scratch, psi, lams, x_all, z_all, pre_all, starts, values, grad,
                    sub_re, sub_im, work_re, work_im, lam_re, lam_im):
    """The backward sweep, region by region: one gather of ``psi`` and every ``lambda`` per region
    and chunk, then every block of the region (last first) reduced and un-applied in cache. The
    expectation values at the final state go into ``values`` on the way (one pass, against a
    forward's for a separate call)."""
    b_nq, b_param = arrays[0], arrays[7]
    num_obs = starts.shape[0] - 1
    workers = work_re.shape[0]
    parallel = workers > 1
    expectations(psi, x_all, z_all, pre_all, starts, values, parallel)
    for o in range(num_obs):
        s, e = starts[o], starts[o + 1]
        kernels.apply_pauli_sum(psi, lams[o], x_all[s:e], z_all[s:e], pre_all[s:e], parallel)
    grad[:, :] = 0.0
    fill_all_submatrices(arrays, rg, scratch, True, sub_re, sub_im)
    r_start, e_block = rg[0], rg[4]
    kdim = 1 << rg[7].shape[1]
    trans_buf = np.empty(num_obs * kdim * kdim, np.complex128)
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
                trans = trans_buf[:num_obs * dim * dim].reshape((num_obs, dim, dim))
                trans[:] = partial[0, e - first, :, :dim, :dim]
                for w in range(1, workers):
                    trans += partial[w, e - first, :, :dim, :dim]
                block_gradients(arrays, bi, trans, grad, scratch)


@njit(parallel=True, **_opts)
def forward_blocked_over_sets(arrays, rg, thetas, out, sub_re, sub_im, work_re, work_im):
    """One parameter set per thread, each a single chunk on serial kernels (worker w owns
    ``sub_*[w]``, ``work_*[w : w + 1]``)."""
    workers, batch = work_re.shape[0], thetas.shape[0]
    for w in prange(workers):
        scratch = set_scratch(arrays)
        for b in range(w * batch // workers, (w + 1) * batch // workers):
            load_set(arrays, thetas[b], scratch)
            forward_blocked(arrays, rg, scratch, out[b], sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1])


@njit(**_opts)
def forward_blocked_over_amplitudes(arrays, rg, thetas, out, sub_re, sub_im, work_re, work_im):
    scratch = set_scratch(arrays)
    for b in range(thetas.shape[0]):
        load_set(arrays, thetas[b], scratch)
        forward_blocked(arrays, rg, scratch, out[b], sub_re, sub_im, work_re, work_im)


@njit(parallel=True, **_opts)
def expect_blocked_over_sets(arrays, rg, thetas, work, x_all, z_all, pre_all, starts, out,
                             sub_re, sub_im, work_re, work_im):
    workers, batch = work.shape[0], thetas.shape[0]
    for w in prange(workers):
        scratch = set_scratch(arrays)
        for b in range(w * batch // workers, (w + 1) * batch // workers):
            load_set(arrays, thetas[b], scratch)
            forward_blocked(arrays, rg, scratch, work[w], sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1])
            expectations(work[w], x_all, z_all, pre_all, starts, out[b], False)


@njit(**_opts)
def expect_blocked_over_amplitudes(arrays, rg, thetas, psi, x_all, z_all, pre_all, starts, out,
                                   sub_re, sub_im, work_re, work_im):
    scratch = set_scratch(arrays)
    for b in range(thetas.shape[0]):
        load_set(arrays, thetas[b], scratch)
        forward_blocked(arrays, rg, scratch, psi, sub_re, sub_im, work_re, work_im)
        expectations(psi, x_all, z_all, pre_all, starts, out[b], True)


@njit(parallel=True, **_opts)
def gradient_blocked_over_sets(arrays, rg, thetas, work, lam_work, x_all, z_all, pre_all, starts, values, grads,
                               sub_re, sub_im, work_re, work_im, lam_re, lam_im):
    workers, batch = work.shape[0], thetas.shape[0]
    for w in prange(workers):
        scratch = set_scratch(arrays)
        for b in range(w * batch // workers, (w + 1) * batch // workers):
            load_set(arrays, thetas[b], scratch)
            forward_blocked(arrays, rg, scratch, work[w], sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1])
            adjoint_blocked(arrays, rg, scratch, work[w], lam_work[w], x_all, z_all, pre_all, starts, values[b], grads[b],
                            sub_re[w], sub_im[w], work_re[w:w + 1], work_im[w:w + 1], lam_re[w:w + 1], lam_im[w:w + 1])


@njit(**_opts)
def gradient_blocked_over_amplitudes(arrays, rg, thetas, psi, lams, x_all, z_all, pre_all, starts, values, grads,
                                     sub_re, sub_im, work_re, work_im, lam_re, lam_im):
    scratch = set_scratch(arrays)
    for b in range(thetas.shape[0]):
        load_set(arrays, thetas[b], scratch)
        forward_blocked(arrays, rg, scratch, psi, sub_re, sub_im, work_re, work_im)
        adjoint_blocked(arrays, rg, scratch, psi, lams, x_all, z_all, pre_all, starts, values[b], grads[b],
                        sub_re, sub_im, work_re, work_im, lam_re, lam_im)
