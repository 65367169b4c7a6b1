"""Model of RUN_SHIFT's reduction: shift rules, the per-occurrence sum, gradient accumulation.

Occurrence r (the r-th GATE_ROT, parameter i_r, scale a_r) is replayed once per shift term k with
its half-angle word offset by sigma_k; the values C_rk are reduced to

    d_r = sum_k W_k * C_rk                                  (exact; W_k with 30 fraction bits)
    g_r = round_half_up(round_half_up(d_r / 2**30) * a_r / 2**28)
    grad[i_r] = sat64(grad[i_r] + g_r)

Two-term rule (RX, RY, RZ, P, controlled P): sigma = +-2**29 (phi +- pi/2), W = +-1/2.
Four-term rule (controlled RX, RY, RZ; Anselmetti et al. 2021, the rule qfab.core.shift uses):
sigma = +-2**29, +-3*2**29 (phi +- pi/2, +-3pi/2), W = +-(sqrt2+1)/(4 sqrt2), -+(sqrt2-1)/(4 sqrt2).
"""

from __future__ import annotations

import math

from qfab_hw.fixed import round_shift_int, saturate_int
from qfab_hw.params import AFFINE_FRAC_BITS, BEAT_BITS, SHIFT_WEIGHT_FRAC_BITS
from qfab_hw.program import RotationKind

_QUARTER = 1 << 29  # pi/2 on phi = pi/4 on the half angle = 1/8 turn of the half-angle word
_MASK = (1 << 32) - 1
_HALF = 1 << (SHIFT_WEIGHT_FRAC_BITS - 1)
_W1 = math.floor((math.sqrt(2) + 1) / (4 * math.sqrt(2)) * (1 << SHIFT_WEIGHT_FRAC_BITS) + 0.5)
_W2 = math.floor((math.sqrt(2) - 1) / (4 * math.sqrt(2)) * (1 << SHIFT_WEIGHT_FRAC_BITS) + 0.5)

#: (shift word, weight) pairs.
TWO_TERM = ((_QUARTER, _HALF), ((-_QUARTER) & _MASK, -_HALF))
FOUR_TERM = (
    (_QUARTER, _W1),
    ((-_QUARTER) & _MASK, -_W1),
    (3 * _QUARTER, -_W2),
    ((-3 * _QUARTER) & _MASK, _W2),
)


def shift_rule(kind: int, controlled: bool):
    """The rule RUN_SHIFT applies to an occurrence of ``kind``."""
    if controlled and kind != RotationKind.P:
        return FOUR_TERM
    return TWO_TERM


def occurrence_gradient(values, rule, a: int) -> int:
    """g_r from the shifted values C_rk (2F fraction bits) and the Q4.28 scale a."""
    d = sum(weight * int(value) for (_, weight), value in zip(rule, values))
    return round_shift_int(round_shift_int(d, SHIFT_WEIGHT_FRAC_BITS) * int(a), AFFINE_FRAC_BITS)


def accumulate(gradient: int, contribution: int) -> tuple[int, bool]:
    """One gradient-memory update: sat64(gradient + contribution)."""
    return saturate_int(gradient + contribution, BEAT_BITS)
