"""Model of the gate lane: one 2x2 complex operation on amplitude pairs, vectorized.

Arithmetic of the RTL: exact integer products and sums, then round half up (add half an LSB,
arithmetic shift by F) and saturation to W bits with an overflow flag. The multiplier-free
paths (pair swap, quarter-turn phase) only move and negate values; negation saturates too,
since -(-2**(W-1)) does not fit.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from qfab_hw.fixed import round_shift, saturate


class LaneOp(IntEnum):
    """What a lane does with an active pair."""

    MATRIX = 0  #: y = U x on the DSP multipliers
    SWAP = 1  #: y0 = x1, y1 = x0 (X / CX)
    PHASE4 = 2  #: y0 = x0, y1 = i**k x1 (Z, S, Sdg, CZ)


def _negate(value: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    return saturate(-value, width)


def _matrix_row(a, b, x0, x1, frac_bits, width):
    """a*x0 + b*x1 for complex fixed-point a, b (scalars) and amplitude arrays x0, x1."""
    (ar, ai), (br, bi) = a, b
    (x0r, x0i), (x1r, x1i) = x0, x1
    re = ar * x0r - ai * x0i + br * x1r - bi * x1i
    im = ar * x0i + ai * x0r + br * x1i + bi * x1r
    re, ovf_re = saturate(round_shift(re, frac_bits), width)
    im, ovf_im = saturate(round_shift(im, frac_bits), width)
    return (re, im), ovf_re | ovf_im


def apply_lane(op, x0, x1, *, coefficients=None, quarter_turns=0, active=None, width=18):
    """Outputs (y0, y1, overflow) for pairs x0, x1 given as (re, im) int64 arrays.

    ``coefficients`` are the four (re, im) integers u00, u01, u10, u11 for ``LaneOp.MATRIX``;
    ``active`` (bool array, default all) selects the pairs the gate acts on (its control
    qubit is 1); inactive pairs pass through unchanged and never overflow.
    """
    frac_bits = width - 2
    x0 = tuple(np.asarray(v, dtype=np.int64) for v in x0)
    x1 = tuple(np.asarray(v, dtype=np.int64) for v in x1)
    no_overflow = np.zeros(x0[0].shape, dtype=bool)
    if op == LaneOp.MATRIX:
        u00, u01, u10, u11 = coefficients
        y0, ovf0 = _matrix_row(u00, u01, x0, x1, frac_bits, width)
        y1, ovf1 = _matrix_row(u10, u11, x0, x1, frac_bits, width)
        overflow = ovf0 | ovf1
    elif op == LaneOp.SWAP:
        y0, y1, overflow = x1, x0, no_overflow
    elif op == LaneOp.PHASE4:
        re, im = x1
        if quarter_turns == 0:
            y1, overflow = (re, im), no_overflow
        elif quarter_turns == 1:  # i * (re + i im) = -im + i re
            neg_im, overflow = _negate(im, width)
            y1 = (neg_im, re)
        elif quarter_turns == 2:
            (neg_re, ovf_re), (neg_im, ovf_im) = _negate(re, width), _negate(im, width)
            y1, overflow = (neg_re, neg_im), ovf_re | ovf_im
        else:  # -i * (re + i im) = im - i re
            neg_re, overflow = _negate(re, width)
            y1 = (im, neg_re)
        y0 = x0
    else:
        raise ValueError(f"unknown lane operation {op!r}")
    if active is None:
        return y0, y1, bool(np.any(overflow))
    active = np.asarray(active, dtype=bool)
    y0 = tuple(np.where(active, y, x) for y, x in zip(y0, x0))
    y1 = tuple(np.where(active, y, x) for y, x in zip(y1, x1))
    return y0, y1, bool(np.any(overflow & active))
