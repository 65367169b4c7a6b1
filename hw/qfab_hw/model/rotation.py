"""Model of GATE_ROT's datapath: parameter word, affine angle, sin/cos unit, lane coefficients.

For set s, parameter i, payload (a, b) and a shift word sigma (0 outside RUN_SHIFT's loop):

1. ``t`` = the parameter memory's word, read as signed 32 bit (theta = 4*pi*t / 2**32);
2. ``h = (round_half_up(a * t / 2**28) + b + sigma) mod 2**32``: the half angle phi/2 as a
   binary angle (a is Q4.28, b and sigma half-angle words);
3. the sin/cos unit's angle ``k = h`` for RX, RY, RZ and ``2h mod 2**32`` for P (the full angle),
   rounded half up to the unit's ``ANGLE_BITS`` if that is below 32;
4. (c, s) = ``qfab_hw.model.trig.sincos(k)`` in Q2.F, placed into u00, u01, u10, u11 (see
   :func:`rotation_coefficients`). The lane then works as for GATE_U.

All integer arithmetic, exactly as the RTL does it.
"""

from __future__ import annotations

import numpy as np

from qfab_hw.fixed import round_shift_int, saturate_int
from qfab_hw.model import trig
from qfab_hw.params import AFFINE_FRAC_BITS, ANGLE_WORD_BITS, CoreParams
from qfab_hw.program import RotationKind

ANGLE_MASK = (1 << ANGLE_WORD_BITS) - 1


def half_angle(t: int, a: int, b: int, shift: int = 0) -> int:
    """The half-angle word ``(round_half_up(a*t / 2**28) + b + shift) mod 2**32``; ``t`` and
    ``a`` signed, ``b`` and ``shift`` taken mod 2**32."""
    return (round_shift_int(int(a) * int(t), AFFINE_FRAC_BITS) + int(b) + int(shift)) & ANGLE_MASK


def trig_angle(kind: int, h: int) -> int:
    """The sin/cos unit's input for a half-angle word: h itself, or 2h for P; rounded to the
    unit's ANGLE_BITS (a no-op at 32)."""
    angle = (2 * h) & ANGLE_MASK if kind == RotationKind.P else h
    drop = ANGLE_WORD_BITS - trig.ANGLE_BITS
    if drop > 0:
        angle = ((angle + (1 << (drop - 1))) >> drop) & ((1 << trig.ANGLE_BITS) - 1)
    elif drop < 0:
        angle <<= -drop
    return angle


def sincos(kind: int, h: int, params: CoreParams) -> tuple[int, int]:
    """(cos, sin) in Q2.F of the half angle (RX, RY, RZ) or of the full angle (P)."""
    cos, sin = trig.sincos(np.array([trig_angle(kind, h)], dtype=np.uint64), params)
    return int(cos[0]), int(sin[0])


def rotation_coefficients(kind: int, h: int, params: CoreParams):
    """u00, u01, u10, u11 as (re, im) Q2.F integers for a rotation with half-angle word h."""
    c, s = sincos(kind, h, params)
    zero = (0, 0)
    if kind == RotationKind.RX:  # [[c, -i s], [-i s, c]]
        return [(c, 0), (0, -s), (0, -s), (c, 0)]
    if kind == RotationKind.RY:  # [[c, -s], [s, c]]
        return [(c, 0), (-s, 0), (s, 0), (c, 0)]
    if kind == RotationKind.RZ:  # diag(e^{-i phi/2}, e^{i phi/2})
        return [(c, -s), zero, zero, (c, s)]
    return [(1 << params.frac_bits, 0), zero, zero, (c, s)]  # P: diag(1, e^{i phi})


def dagger(coefficients, width: int):
    """The conjugate transpose (u00*, u10*; u01*, u11*) the lane uses to un-apply a gate;
    negating an imaginary part saturates (-(-2**(W-1)) does not fit). Returns (coefficients,
    overflow)."""
    overflow = False
    conjugated = []
    for re, im in coefficients:
        negated, clipped = saturate_int(-im, width)
        overflow |= clipped
        conjugated.append((re, negated))
    u00, u01, u10, u11 = conjugated
    return [u00, u10, u01, u11], overflow
