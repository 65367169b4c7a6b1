"""Per-block model of the adjoint reduction unit (:mod:`qfab_hw.adjoint_reducer`).

The unit sees, per clock, the ``lanes`` amplitude pairs of a gate pass: (x0, x1) of psi from bank
A and (l0, l1) of lambda from bank B at the same pair addresses, with the lane's ``active`` bit
(the control qubit). It sums, exactly, the pair terms of :func:`qfab_hw.model.adjoint.
generator_overlap` (which this model calls: a row of pairs is a state with target 0):

    RX: Im(l0* x1) + Im(l1* x0)    RY: Re(l1* x0) - Re(l0* x1)
    RZ: Im(l0* x0) - Im(l1* x1)    P:  Im(l1* x1)

Bounds (h = 2**(W-1), amplitudes in [-h, h-1]): |Im(a* b)| <= 2h**2 - h and Re(a* b) lies in
[-2h(h-1), 2h**2], so every pair term has |term| <= 4h**2 - 2h = 2**(2W) - 2**W < 2**(2W) (signed
2W+1 bits), and a pass of at most 2**(max_qubits-1) pairs sums to |mu| < 2**(2W + max_qubits - 1):
:func:`accumulator_bits` = 2W + max_qubits signed bits can never overflow (<= 63 for every valid
build, since ``CoreParams`` keeps 2W + max_qubits + 1 <= 64).
"""

from __future__ import annotations

import numpy as np

from qfab_hw.model.adjoint import generator_overlap
from qfab_hw.params import CoreParams

#: Clocks from a row presented at the unit's input to ``total`` including it: the registered
#: products, the per-lane term (kind's signs, control bit), the accumulation.
LATENCY = 3


def accumulator_bits(params: CoreParams) -> int:
    """Signed width of mu: 2W + max_qubits (see the module docstring: no overflow possible)."""
    return 2 * params.width + params.max_qubits


def term_bits(width: int) -> int:
    """Signed width of one pair term: |term| <= 2**(2W) - 2**W."""
    return 2 * width + 1


def max_pair_term(width: int) -> int:
    """The bound 2**(2W) - 2**W on |term| (reached: see tests/hw/test_blocks_adjoint.py)."""
    return (1 << (2 * width)) - (1 << width)


def reduce_rows(kind: int, rows) -> int:
    """mu over ``rows``: each row a sequence of (x0, x1, l0, l1, active) per lane, every amplitude
    an (re, im) integer pair. Inactive pairs contribute nothing."""
    x0s, x1s, l0s, l1s = [], [], [], []
    for row in rows:
        for x0, x1, l0, l1, active in row:
            keep = 1 if active else 0
            x0s.append([v * keep for v in x0])
            x1s.append([v * keep for v in x1])
            l0s.append([v * keep for v in l0])
            l1s.append([v * keep for v in l1])
    if not x0s:
        return 0

    def interleave(first, second):
        first, second = np.array(first, dtype=np.int64), np.array(second, dtype=np.int64)
        out = np.empty((2 * len(first), 2), dtype=np.int64)
        out[0::2], out[1::2] = first, second
        return out[:, 0].copy(), out[:, 1].copy()

    # Pair j is amplitudes (2j, 2j+1) of a state with target 0: exactly generator_overlap's pairs.
    return generator_overlap(kind, interleave(x0s, x1s), interleave(l0s, l1s), 0, None)


def pass_rows(psi, lam, n_qubits: int, target: int, control: int | None, lanes: int):
    """The rows a gate pass presents (the address generator's order: pair g*lanes + j on lane j),
    from whole states psi, lam ((re, im) int arrays of 2**n amplitudes)."""
    from qfab_hw.model.addressing import pair_addresses

    rows = []
    for group in range((1 << (n_qubits - 1)) // lanes):
        i0, i1 = pair_addresses(group * lanes + np.arange(lanes), target)
        row = []
        for a0, a1 in zip(i0.tolist(), i1.tolist()):
            active = control is None or (a0 >> control) & 1 == 1
            row.append(((int(psi[0][a0]), int(psi[1][a0])), (int(psi[0][a1]), int(psi[1][a1])),
                        (int(lam[0][a0]), int(lam[1][a0])), (int(lam[0][a1]), int(lam[1][a1])),
                        active))
        rows.append(row)
    return rows
