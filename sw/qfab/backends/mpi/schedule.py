"""The swap schedule: which global–local qubit swaps a distributed run makes, and when.

A state of ``n`` qubits over ``2**g`` ranks keeps ``L = n - g`` *local* physical qubits (the
low bits of an amplitude's index inside a rank's slice) and ``g`` *global* ones (the bits of the
rank's number). A gate runs on every rank's slice with the CPU kernels only when its qubits are
local, except a diagonal gate, which each rank restricts to its own global bits (no exchange).
The schedule keeps a logical-to-physical layout instead of swapping back (Aer's ``qubitMap_``,
Lightning-Kokkos), and:

- starts with the ``g`` qubits first needed latest as the global ones (``|0...0>`` is the same
  state in every layout, so the first layout is free);
- runs every gate it can: a gate may move ahead of gates still waiting when it shares no qubit
  with them (they commute), so whole runs of gates share one layout;
- when the first waiting gate needs global qubits, swaps them in together with every other
  global qubit that is needed again before the local qubit it would displace (Belady's rule:
  the local qubits evicted are those whose next use is furthest away), all in one exchange.

One exchange of ``k`` qubit pairs moves ``(2**k - 1) / 2**k`` of every rank's slice, in
``2**k - 1`` pairwise messages; :class:`SwapSchedule` counts both, so a run's measured traffic
can be held against its prediction.
"""
from __future__ import annotations

from dataclasses import dataclass

from qfab.core.ir import Circuit
from qfab.backends.job import DeviceCapabilityError

__all__ = ["Segment", "Swap", "SwapSchedule", "plan_swaps"]


@dataclass(frozen=True)
class Segment:
    """Operations (indices into the circuit's, in the order they run) under one ``layout``
    (``layout[q]``: the physical position of logical qubit ``q``)."""

    operations: tuple[int, ...]
    layout: tuple[int, ...]


@dataclass(frozen=True)
class Swap:
    """One exchange: physical local position ``local[i]`` trades places with global position
    ``global_positions[i]`` for every ``i``, all at once."""

    local: tuple[int, ...]
    global_positions: tuple[int, ...]

    @property
    def pairs(self) -> int:
        return len(self.local)


@dataclass(frozen=True)
class SwapSchedule:
    num_qubits: int
    num_global: int
    steps: tuple[Segment | Swap, ...]
    initial_layout: tuple[int, ...]
    final_layout: tuple[int, ...]

    @property
    def num_local(self) -> int:
        return self.num_qubits - self.num_global

    @property
    def swaps(self) -> tuple[Swap, ...]:
        return tuple(step for step in self.steps if isinstance(step, Swap))

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(step for step in self.steps if isinstance(step, Segment))

    @property
    def exchanges(self) -> int:
        """Exchanges one application of the circuit makes on one state vector."""
        return len(self.swaps)

    @property
    def messages_per_rank(self) -> int:
        """Pairwise messages each rank sends in one application (``2**k - 1`` per exchange)."""
        return sum(2**swap.pairs - 1 for swap in self.swaps)

    def bytes_per_rank(self, itemsize: int = 16) -> int:
        """Bytes each rank sends in one application: ``(2**k - 1)`` parts of ``2**(L - k)``
        amplitudes per exchange of ``k`` pairs."""
        return sum((2**swap.pairs - 1) * 2 ** (self.num_local - swap.pairs) * itemsize for swap in self.swaps)


def _needs_local(circuit: Circuit) -> list[tuple[int, ...]]:
    """Per operation, the qubits that must be local for it to run: none for a diagonal gate."""
    return [() if op.is_diagonal else op.qubits for op in circuit.operations]


def plan_swaps(circuit: Circuit, num_global: int) -> SwapSchedule:
    """The schedule of ``circuit`` over ``2**num_global`` ranks (see the module's docstring)."""
    n, g = circuit.num_qubits, num_global
    local_count = n - g
    if g < 0 or local_count < 1:
        raise DeviceCapabilityError(f"{2**g} ranks leave {local_count} local qubits for a {n}-qubit circuit; "
                                    f"use at most {2 ** (n - 1)} ranks")
    needs = _needs_local(circuit)
    for position, qubits in enumerate(needs):
        if len(qubits) > local_count:
            op = circuit.operations[position]
            raise DeviceCapabilityError(
                f"operation {position} ({op.name} on {len(qubits)} qubits) needs {len(qubits)} local qubits, but "
                f"{2**g} ranks leave {local_count} of the circuit's {n}; use at most {2 ** (n - len(qubits))} ranks")
    inf = len(needs) + 1
    first_use = [next((i for i, qs in enumerate(needs) if q in qs), inf) for q in range(n)]
    by_first_use = sorted(range(n), key=lambda q: (first_use[q], q))
    local_qubits, global_qubits = sorted(by_first_use[:local_count]), sorted(by_first_use[local_count:])
    layout = [0] * n
    for position, q in enumerate(local_qubits + global_qubits):
        layout[q] = position
    initial = tuple(layout)
    steps: list[Segment | Swap] = []
    pending = list(range(len(needs)))
    operations = circuit.operations
    while pending:
        ran, waiting, blocked = [], [], set()
        for i in pending:
            qubits = operations[i].qubits
            if not blocked.intersection(qubits) and all(layout[q] < local_count for q in needs[i]):
                ran.append(i)
            else:
                waiting.append(i)
                blocked.update(qubits)
        if ran:
            steps.append(Segment(tuple(ran), tuple(layout)))
        pending = waiting
        if not pending:
            break
        steps.append(_choose_swap(pending, needs, layout, local_count, inf))
        swap = steps[-1]
        at = {p: q for q, p in enumerate(layout)}
        for lp, gp in zip(swap.local, swap.global_positions):
            layout[at[lp]], layout[at[gp]] = gp, lp
    return SwapSchedule(n, g, tuple(steps), initial, tuple(layout))


def _choose_swap(pending: list[int], needs: list[tuple[int, ...]], layout: list[int], local_count: int,
                 inf: int) -> Swap:
    """The exchange that lets the first waiting operation run, widened by Belady's rule."""
    next_use: dict[int, int] = {}
    for rank, i in enumerate(pending):
        for q in needs[i]:
            next_use.setdefault(q, rank)
    required = set(needs[pending[0]])
    incoming = sorted((q for q in next_use if layout[q] >= local_count), key=lambda q: (next_use[q], q))
    evictable = sorted((q for q in range(len(layout)) if layout[q] < local_count and q not in required),
                       key=lambda q: (-next_use.get(q, inf), q))
    pairs = []
    for q in incoming:
        if not evictable:
            break
        if q in required or next_use[q] < next_use.get(evictable[0], inf):
            pairs.append((layout[evictable.pop(0)], layout[q]))
    pairs.sort()
    return Swap(tuple(p for p, _ in pairs), tuple(p for _, p in pairs))
