"""Gate fusion: group runs of gates on at most ``width`` qubits into blocks.

Each qubit remembers the last block that touched it (its *frontier*). A new gate joins the
latest frontier block among its qubits (or, on qubits nothing has touched yet, the latest block)
when the union of qubits stays within ``width``; earlier
frontier blocks that are the frontier of *all* their qubits (nothing later depends on them) are
merged in too, since they act on other qubits and commute with everything in between. This keeps
the one-pass-per-block schedule exact while letting rotation layers and CNOT ladders share
passes over the state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from qfab.core.ir import Operation

__all__ = ["Block", "fuse"]


@dataclass
class Block:
    qubits: set[int]
    gates: list[int] = field(default_factory=list)  # indices into the circuit's operations, in order
    alive: bool = True


def fuse(operations: tuple[Operation, ...] | list[Operation], num_qubits: int, width: int) -> list[Block]:
    """Blocks in execution order; every operation lands in exactly one block."""
    blocks: list[Block] = []
    frontier = [-1] * num_qubits

    def is_free(index: int) -> bool:
        return all(frontier[q] == index for q in blocks[index].qubits)

    for position, op in enumerate(operations):
        qubits = set(op.qubits)
        touched = {frontier[q] for q in qubits if frontier[q] >= 0}
        target = max(touched) if touched else -1
        if target < 0 and blocks and blocks[-1].alive:
            target = len(blocks) - 1  # untouched qubits may join any block: nothing precedes them
        limit = max(width, len(qubits))
        if target >= 0:
            others = touched - {target}
            merged = qubits.union(blocks[target].qubits, *(blocks[b].qubits for b in others))
            if others and len(merged) <= limit and all(is_free(b) for b in others):
                for b in sorted(others):
                    # Disjoint qubits, so the gates commute: original order is a valid order.
                    blocks[target].gates = sorted(blocks[b].gates + blocks[target].gates)
                    blocks[target].qubits |= blocks[b].qubits
                    blocks[b].alive = False
                    for q in blocks[b].qubits:
                        frontier[q] = target
            if len(blocks[target].qubits | qubits) <= limit:
                blocks[target].qubits |= qubits
                blocks[target].gates.append(position)
                for q in qubits:
                    frontier[q] = target
                continue
        blocks.append(Block(set(qubits), [position]))
        for q in qubits:
            frontier[q] = len(blocks) - 1
    return [b for b in blocks if b.alive]
