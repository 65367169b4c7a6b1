"""One state vector over ``2**g`` MPI ranks: the CPU engine's programs on each rank's slice,
global–local qubit swaps between rank pairs, and the reductions that finish each result.

Rank ``r`` holds the ``2**L`` amplitudes whose physical index has ``r`` in its top ``g`` bits.
Each :class:`~.schedule.Segment` of the swap schedule becomes, per rank, a CPU
:class:`~qfab.backends.cpu.program.Program` over the ``L`` local qubits (fused as the CPU fuses
it): gates on local qubits as they are, diagonal gates on global qubits restricted to the rank's
own global bits (:func:`localise`). A :class:`~.schedule.Swap` is ``2**k - 1`` pairwise
``Sendrecv`` s of ``2**(L-k)`` amplitudes, in chunks (MPI counts are ints, and one chunk-sized
buffer each way is all the extra memory an exchange needs).

- forward state: every rank evolves its slice; rank 0 gathers the slices only when the state is
  asked for, and undoes the final layout;
- a Pauli sum: terms whose X part stays on local qubits are the CPU kernel on the slice (their
  Z part on global qubits a sign per rank); a term that flips global qubits ``p`` reads the
  slice of rank ``r ^ p`` (fetched once per ``p``); partial values are summed by allreduce;
- the adjoint gradient: the CPU's backward sweep (:func:`~qfab.backends.cpu.program.adjoint_sweep`)
  segment by segment in reverse, every swap undone on ``psi`` and each ``lambda`` alike; each
  rank's share of each inner product is summed by allreduce at the end;
- sampling: the ranks' probability masses (allgather) share the shots out, each rank draws its
  own, rank 0 collects the counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from qfab.backends.cpu import kernels
from qfab.backends.cpu import program as prog
from qfab.backends.cpu.simulator import CPUEngine, apply_global_phase, fusion_width
from qfab.backends.cpu.program import Program, compile_program
from qfab.backends.mpi.schedule import Segment, Swap, SwapSchedule, plan_swaps
from qfab.core import gates
from qfab.core.ir import Circuit, Operation, ParamRef
from qfab.core.observables import PauliSum

__all__ = ["Traffic", "DistributedEngine", "RankProgram", "rank_program", "localise", "physical_masks",
           "cross_patterns", "part_view", "DEFAULT_CHUNK_AMPLITUDES"]

#: Amplitudes per message: 256 MiB of complex128, far below MPI's 2**31-element count limit.
DEFAULT_CHUNK_AMPLITUDES = 1 << 24
#: Slices of at least this many qubits run each kernel over the rank's threads.
PARALLEL_MIN_QUBITS = 14
_TAG = 21


@dataclass
class Traffic:
    """What this rank sent: exchanges (swap steps, per vector), their pairwise parts, fetches of
    a partner's whole slice (Pauli terms on global qubits) and the bytes of each."""

    exchanges: int = 0
    messages: int = 0
    exchange_bytes: int = 0
    fetches: int = 0
    fetch_bytes: int = 0
    seconds: float = field(default=0.0)

    def reset(self) -> None:
        self.exchanges = self.messages = self.exchange_bytes = self.fetches = self.fetch_bytes = 0
        self.seconds = 0.0


def _restricted(values: np.ndarray, local: list[int], global_bits: dict[int, int]) -> np.ndarray:
    """Entries of a gate's diagonal ``values`` (index bit ``j``: the gate's qubit ``j``) with the
    global qubits' bits fixed, indexed by the local qubits' bits (``local[t]`` is bit ``t``)."""
    fixed = sum(bit << j for j, bit in global_bits.items())
    out = np.empty(1 << len(local), dtype=values.dtype)
    for m in range(out.size):
        out[m] = values[fixed | sum(((m >> t) & 1) << j for t, j in enumerate(local))]
    return out


def localise(op: Operation, layout: tuple[int, ...], num_local: int, rank: int) -> list[Operation]:
    """``op`` on rank ``rank``'s slice: on physical local qubits, or, for a diagonal gate on
    global qubits, the gate with the rank's global bits fixed. A restricted rotation
    ``exp(-i angle/2 diag(s0, s1))`` on one local qubit (or a phase, on none) is
    ``RZ(s0 angle) P(-(s0 + s1)/2 angle)``, so it stays differentiable in the same parameter."""
    phys = [layout[q] for q in op.qubits]
    if all(p < num_local for p in phys):
        return [Operation(op.name, tuple(phys), matrix=op.matrix, param=op.param, source=op.source)]
    local = [j for j, p in enumerate(phys) if p < num_local]
    global_bits = {j: (rank >> (p - num_local)) & 1 for j, p in enumerate(phys) if p >= num_local}
    targets = tuple(phys[j] for j in local) or (0,)
    if op.param is None:
        diagonal = _restricted(np.diag(op.matrix), local, global_bits)
        if not local:
            diagonal = np.repeat(diagonal, 2)
        return [Operation(op.name, targets, matrix=np.diag(diagonal), source=op.source)]
    spectrum = _restricted(np.real(np.diag(gates.ROTATION_KINDS[op.name].generator)), local, global_bits)
    s0, s1 = (spectrum[0], spectrum[-1])
    ops = []
    for name, coefficient in (("rz", s0), ("p", -(s0 + s1) / 2)):
        if coefficient != 0:
            ref = ParamRef(op.param.index, op.param.a * coefficient, op.param.b * coefficient)
            ops.append(Operation(name, targets, param=ref, source=op.source))
    return ops


def physical_masks(masks: np.ndarray, layout: tuple[int, ...]) -> np.ndarray:
    """Logical qubit masks moved to the physical positions of ``layout``."""
    out = np.zeros_like(masks)
    for q, p in enumerate(layout):
        out |= ((masks >> q) & 1) << p
    return out


def cross_patterns(sums: list[PauliSum], layout: tuple[int, ...], num_local: int) -> list[int]:
    """The global bits the Pauli terms flip in ``layout`` (each pattern but 0: one slice fetched
    from the rank that differs by it)."""
    return sorted({int(p) for s in sums for p in physical_masks(s.x_masks, layout) >> num_local if p})


def _popcount_parity(values: np.ndarray) -> np.ndarray:
    return np.array([bin(int(v)).count("1") & 1 for v in values], dtype=np.int64)


def _chunks(view: np.ndarray, limit: int):
    """Sub-views of ``view`` of at most ``limit`` elements that tile it, in order."""
    if view.size <= limit:
        yield view
        return
    inner = view[0].size
    if inner <= limit:
        step = limit // inner
        for i in range(0, view.shape[0], step):
            yield view[i:i + step]
        return
    for i in range(view.shape[0]):
        yield from _chunks(view[i], limit)


def part_view(psi: np.ndarray, num_local: int, positions: tuple[int, ...], bits: int) -> np.ndarray:
    """The amplitudes of ``psi`` whose local bit ``positions[i]`` is bit ``i`` of ``bits``: a
    strided view (the slice reshaped into blocks between the fixed positions)."""
    order = sorted(range(len(positions)), key=lambda i: -positions[i])
    shape, index, top = [], [], num_local
    for i in order:
        p = positions[i]
        shape += [1 << (top - p - 1), 2]
        index += [slice(None), (bits >> i) & 1]
        top = p
    shape.append(1 << top)
    index.append(slice(None))
    return psi.reshape(shape)[tuple(index)]


@dataclass(frozen=True)
class RankProgram:
    """A circuit's schedule and, per step, this rank's CPU program (None for a swap)."""

    schedule: SwapSchedule
    steps: tuple[tuple[Segment | Swap, Program | None], ...]


class DistributedEngine:
    """The engine every rank of a launch runs in step (every call is collective)."""

    def __init__(self, comm, chunk_amplitudes: int = DEFAULT_CHUNK_AMPLITUDES):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.num_global = self.size.bit_length() - 1
        self.chunk_amplitudes = int(chunk_amplitudes)
        self.traffic = Traffic()
        self.cpu = CPUEngine()
        self._buffers: tuple[np.ndarray, np.ndarray] | None = None

    # --------------------------------------------------------------------- programs

    def program(self, circuit: Circuit) -> RankProgram:
        """The schedule for this many ranks and this rank's programs, cached on the circuit."""
        self.cpu.program(circuit)  # compiles (or loads) the CPU kernels under their lock first
        cache = circuit.__dict__.setdefault("_qfab_mpi_programs", {})
        key = (self.num_global, self.rank)
        if key not in cache:
            cache[key] = rank_program(circuit, self.num_global, self.rank)
        return cache[key]

    def num_local(self, circuit: Circuit) -> int:
        return circuit.num_qubits - self.num_global

    def _parallel(self, num_local: int) -> bool:
        return numba.get_num_threads() > 1 and num_local >= PARALLEL_MIN_QUBITS

    # --------------------------------------------------------------------- communication

    def _scratch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        if self._buffers is None or self._buffers[0].size < size:
            self._buffers = (np.empty(size, np.complex128), np.empty(size, np.complex128))
        return self._buffers

    def _sendrecv_view(self, view: np.ndarray, partner: int) -> None:
        """Replace ``view`` by the partner's matching view, chunk by chunk."""
        send_buf, recv_buf = self._scratch(min(view.size, self.chunk_amplitudes))
        for chunk in _chunks(view, self.chunk_amplitudes):
            if chunk.flags.c_contiguous:
                send = chunk.reshape(-1)
            else:
                send = send_buf[: chunk.size]
                np.copyto(send.reshape(chunk.shape), chunk)
            recv = recv_buf[: chunk.size]
            self.comm.Sendrecv(send, dest=partner, sendtag=_TAG, recvbuf=recv, source=partner, recvtag=_TAG)
            np.copyto(chunk, recv.reshape(chunk.shape))
            self.traffic.messages += 1
            self.traffic.exchange_bytes += chunk.nbytes

    def exchange(self, swap: Swap, vectors, num_local: int) -> None:
        """Apply ``swap`` to every vector: part ``c`` (the local swapped bits) goes to the rank
        whose swapped global bits are ``c``, which sends back its part ``r``'s bits."""
        gshift = [p - num_local for p in swap.global_positions]
        own = sum(((self.rank >> s) & 1) << i for i, s in enumerate(gshift))
        for psi in vectors:
            self.traffic.exchanges += 1
            for d in range(1, 1 << swap.pairs):
                partner = self.rank ^ sum(((d >> i) & 1) << s for i, s in enumerate(gshift))
                self._sendrecv_view(part_view(psi, num_local, swap.local, own ^ d), partner)

    def fetch(self, psi: np.ndarray, partner: int, out: np.ndarray) -> None:
        """``out`` <- the partner's whole slice (it receives ours at the same time)."""
        step = self.chunk_amplitudes
        for start in range(0, psi.size, step):
            self.comm.Sendrecv(psi[start:start + step], dest=partner, sendtag=_TAG,
                               recvbuf=out[start:start + step], source=partner, recvtag=_TAG)
        self.traffic.fetches += 1
        self.traffic.fetch_bytes += psi.nbytes

    def allreduce(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        self.comm.Allreduce(np.ascontiguousarray(values), out)
        return out

    # --------------------------------------------------------------------- runs

    def forward(self, circuit: Circuit, theta: np.ndarray, psi: np.ndarray) -> RankProgram:
        """``psi`` <- this rank's slice of ``U(theta)|0>`` (no global phase), in the final layout."""
        rp = self.program(circuit)
        num_local, parallel = self.num_local(circuit), self._parallel(self.num_local(circuit))
        psi[:] = 0
        if self.rank == 0:
            psi[0] = 1
        for step, program in rp.steps:
            if program is None:
                self.exchange(step, [psi], num_local)
            else:
                prog.evolve(program.arrays, theta, psi, parallel)
        return rp

    def statevector(self, circuit: Circuit, thetas: np.ndarray) -> np.ndarray | None:
        """The states, gathered on rank 0 in logical order (global phase included); None elsewhere."""
        n, num_local = circuit.num_qubits, self.num_local(circuit)
        psi = np.empty(2**num_local, np.complex128)
        out = np.empty((thetas.shape[0], 2**n), np.complex128) if self.rank == 0 else None
        for b, theta in enumerate(thetas):
            rp = self.forward(circuit, theta, psi)
            self._gather(psi, None if out is None else out[b], rp.schedule.final_layout, n)
        if out is not None:
            apply_global_phase(out, circuit, thetas)
        return out

    def _gather(self, psi: np.ndarray, out: np.ndarray | None, layout: tuple[int, ...], n: int) -> None:
        step = self.chunk_amplitudes
        if self.rank != 0:
            for start in range(0, psi.size, step):
                self.comm.Send(psi[start:start + step], dest=0, tag=_TAG)
            return
        physical = np.empty(2**n, np.complex128)
        for r in range(self.size):
            part = physical[r * psi.size:(r + 1) * psi.size]
            if r == 0:
                part[:] = psi
                continue
            for start in range(0, psi.size, step):
                self.comm.Recv(part[start:start + step], source=r, tag=_TAG)
        # axis a of the (2,)*n view is physical bit n-1-a; logical bit q sits at physical layout[q]
        axes = [n - 1 - layout[n - 1 - a] for a in range(n)]
        out[:] = physical.reshape((2,) * n).transpose(axes).reshape(-1)

    def _split_terms(self, sums: list[PauliSum], layout: tuple[int, ...], num_local: int):
        """Per observable, its terms in physical masks: (local x, local z, signed prefactor,
        global x) with the sign of this rank's global Z bits folded into the prefactor."""
        low = (1 << num_local) - 1
        split = []
        for s in sums:
            x, z = physical_masks(s.x_masks, layout), physical_masks(s.z_masks, layout)
            sign = 1 - 2 * _popcount_parity((z >> num_local) & self.rank)
            split.append((x & low, z & low, s.prefactors * sign, x >> num_local))
        return split

    def evaluate(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, gradient: bool):
        """Expectations ``(B, K)`` and, with ``gradient``, adjoint gradients ``(B, K, P)`` on rank
        0 (None elsewhere); one forward pass per set serves both."""
        num_local, K, P = self.num_local(circuit), len(sums), circuit.num_parameters
        parallel = self._parallel(num_local)
        psi = np.empty(2**num_local, np.complex128)
        lams = np.empty((K, 2**num_local), np.complex128) if gradient else None
        values = np.zeros((thetas.shape[0], K))
        grads = np.zeros((thetas.shape[0], K, P))
        for b, theta in enumerate(thetas):
            rp = self.forward(circuit, theta, psi)
            split = self._split_terms(sums, rp.schedule.final_layout, num_local)
            patterns = cross_patterns(sums, rp.schedule.final_layout, num_local)
            partial = np.zeros(K, np.complex128)
            for o, (xl, zl, pre, xg) in enumerate(split):
                here = xg == 0
                if gradient:  # lambda_o = O psi, whose overlap with psi is also the value
                    kernels.apply_pauli_sum(psi, lams[o], xl[here], zl[here], pre[here], parallel)
                else:
                    partial[o] = kernels.pauli_expectation(psi, xl[here], zl[here], pre[here], parallel)
            if patterns:
                other, scratch = np.empty_like(psi), np.empty_like(psi)
                for p in patterns:
                    self.fetch(psi, self.rank ^ p, other)
                    for o, (xl, zl, pre, xg) in enumerate(split):
                        there = xg == p
                        if not there.any():
                            continue
                        # the terms' share of O psi here: the partner's amplitudes, local masks
                        kernels.apply_pauli_sum(other, scratch, xl[there], zl[there], pre[there], parallel)
                        if gradient:
                            lams[o] += scratch
                        else:
                            partial[o] += np.vdot(psi, scratch)
                del other, scratch
            if gradient:
                values[b] = self.allreduce(np.array([np.vdot(psi, lam).real for lam in lams]))
                grad = np.zeros((K, P))
                for step, program in reversed(rp.steps):
                    if program is None:
                        self.exchange(step, [psi, *lams], num_local)
                    else:
                        prog.adjoint_sweep(program.arrays, theta, psi, lams, grad, parallel)
                grads[b] = self.allreduce(grad)
            else:
                values[b] = self.allreduce(partial.real.copy())
        if self.rank != 0:
            return None, None
        return values, (grads if gradient else None)

    def sample(self, circuit: Circuit, thetas: np.ndarray, shots: int, seed) -> list[dict] | None:
        """Counts per set, as Qiskit writes them, on rank 0 (None elsewhere)."""
        n, num_local = circuit.num_qubits, self.num_local(circuit)
        entropy = self.comm.bcast(np.random.SeedSequence(seed).entropy if self.rank == 0 else None, root=0)
        if circuit.measurements:
            pairs, width = [(m.qubit, m.clbit) for m in circuit.measurements], circuit.num_clbits
        else:
            pairs, width = [(q, q) for q in range(n)], n
        psi = np.empty(2**num_local, np.complex128)
        results = []
        for b, theta in enumerate(thetas):
            layout = self.forward(circuit, theta, psi).schedule.final_layout
            probs = np.abs(psi) ** 2
            masses = np.array(self.comm.allgather(float(probs.sum())))
            share = np.random.default_rng([entropy, b, self.size]).multinomial(shots, masses / masses.sum())
            rng = np.random.default_rng([entropy, b, self.size, self.rank + 1])
            draws = rng.multinomial(share[self.rank], probs / masses[self.rank]) if share[self.rank] else np.zeros(0, int)
            hit = np.nonzero(draws)[0]
            physical = hit + (self.rank << num_local)
            keys = np.zeros_like(physical)
            for qubit, clbit in pairs:
                keys |= ((physical >> layout[qubit]) & 1) << clbit
            gathered = self.comm.gather((keys, draws[hit]), root=0)
            if self.rank == 0:
                counts: dict[str, int] = {}
                for rank_keys, rank_counts in gathered:
                    for key, count in zip(rank_keys, rank_counts):
                        label = format(int(key), f"0{width}b")
                        counts[label] = counts.get(label, 0) + int(count)
                results.append(counts)
        return results if self.rank == 0 else None


def rank_program(circuit: Circuit, num_global: int, rank: int, schedule: SwapSchedule | None = None) -> RankProgram:
    """The programs rank ``rank`` runs: each segment's operations localised and compiled for the
    ``L`` local qubits by the CPU engine's compiler."""
    schedule = schedule or plan_swaps(circuit, num_global)
    num_local = schedule.num_local
    width = min(fusion_width(circuit.num_qubits), num_local)
    steps = []
    for step in schedule.steps:
        if isinstance(step, Swap):
            steps.append((step, None))
            continue
        ops = [local for i in step.operations
               for local in localise(circuit.operations[i], step.layout, num_local, rank)]
        if ops:
            segment = Circuit(num_local, tuple(ops), parameters=circuit.parameters)
            steps.append((step, compile_program(segment, width)))
    return RankProgram(schedule, tuple(steps))
