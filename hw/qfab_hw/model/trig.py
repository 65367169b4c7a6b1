"""Model of the sin/cos unit: binary angle in, (cos, sin) in Q2.F out, bit-accurate.

Method (the RTL is :class:`qfab_hw.trig.SinCosUnit`): a quarter-wave sine table with linear
interpolation.

* The angle is an unsigned ``ANGLE_BITS``-bit binary angle: ``k`` means 2π·k / 2**ANGLE_BITS
  (wrap-around is free: integers are taken modulo 2**ANGLE_BITS).
* Its top two bits are the quadrant q; the next ``index_bits + fraction_bits`` bits, r, are the
  angle φ ∈ [0, π/2) inside the quadrant (the remaining low bits are dropped; the
  interpolation evaluates the middle of the dropped interval, so that costs at most half a
  step). ``sin φ`` interpolates the table at r, ``cos φ = sin(π/2 − φ)`` at the complement
  ``~r`` (the same two neighbours mirrored), and the quadrant swaps the two and sets signs:
  q=0: (cos φ, sin φ), q=1: (−sin φ, cos φ), q=2: (−cos φ, −sin φ), q=3: (sin φ, −cos φ).
* Table entry j (j = 0…N, N = 2**index_bits) is sin(j·h)·(1 + h²/16) rounded to F + G
  fraction bits, h = (π/2)/N. The chord under-estimates the concave sine by at most h²/8·sin;
  the 1 + h²/16 scale centres that error, halving it. A word holds ``T[j] + 2**(G−1)`` (the
  rounding constant folded in) and the slope ``D[j] = T[j+1] − T[j]``.
* One output: ``round_half_up(s · (T[i]·2**(m+1) + (2f+1)·D[i]) / 2**(G+m+1))`` with s = ±1 the
  quadrant's sign, i/f the index/fraction of r (or of ~r), m = ``fraction_bits``. It is
  computed exactly in integers; magnitudes never exceed 1.0, so there is no saturation and
  cos(0) = 1.0 = 2**F, sin(0) = 0, and quarter turns are exact.

Error (output LSBs = 2**-F): ≤ 0.5 (final rounding) + 2**-(G+1) (table entries)
+ h²/16·(1+h)·2**F (interpolation, ≤ 0.155 since index_bits = ⌈F/2⌉)
+ (π/2)·2**(F−index_bits−fraction_bits−1) (dropped angle bits, 0.05). See
:func:`max_error_lsb`; measured values are in docs/fpga.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Width of the binary angle: an unsigned k means 2π·k / 2**ANGLE_BITS. 32 bits resolve
#: 1.5e-9 rad, far below the output LSB at any width (2**-23 = 1.2e-7 at W = 25), so the
#: angle's own quantisation never limits the unit; the unit reads its top F + 6 bits.
ANGLE_BITS = 32

#: Guard bits of the table entries beyond the output's F fraction bits.
GUARD_BITS = 3

#: Clock cycles from an accepted angle to its result (table read, product, sum and round).
LATENCY = 3


@dataclass(frozen=True)
class TrigGeometry:
    """Bit widths of the unit for F output fraction bits (shared by the model and the RTL)."""

    frac_bits: int  #: F
    index_bits: int  #: k: the table has N = 2**k entries over a quarter turn
    fraction_bits: int  #: m: interpolation fraction bits taken from the angle
    guard_bits: int  #: G: table precision is F + G fraction bits
    t_bits: int  #: unsigned width of a table value (rounding constant included)
    d_bits: int  #: unsigned width of a slope

    @property
    def entries(self) -> int:
        return 1 << self.index_bits

    @property
    def residual_bits(self) -> int:
        """Bits of the in-quadrant angle r that the unit uses: index and fraction."""
        return self.index_bits + self.fraction_bits

    @property
    def shift(self) -> int:
        """Fraction bits of the exact sum that the final rounding removes: G + m + 1."""
        return self.guard_bits + self.fraction_bits + 1

    @property
    def word_bits(self) -> int:
        """One table word: {T + 2**(G-1), D}, D in the low bits."""
        return self.t_bits + self.d_bits


def _frac_bits(params) -> int:
    return int(params.frac_bits)


@lru_cache(maxsize=None)
def _tables(frac_bits: int) -> tuple[TrigGeometry, np.ndarray, np.ndarray]:
    index_bits = (frac_bits + 1) // 2
    fraction_bits = frac_bits - index_bits + 4
    if 2 + index_bits + fraction_bits > ANGLE_BITS:
        raise ValueError(f"{frac_bits} fraction bits need more than {ANGLE_BITS} angle bits")
    entries = 1 << index_bits
    step = (math.pi / 2) / entries
    scale = (1.0 + step * step / 16) * (1 << (frac_bits + GUARD_BITS))
    values = np.array([math.floor(math.sin(j * step) * scale + 0.5) for j in range(entries + 1)],
                      dtype=np.int64)
    slopes = np.diff(values)
    rounded = values[:-1] + (1 << (GUARD_BITS - 1))
    assert np.all(slopes >= 0)
    geometry = TrigGeometry(
        frac_bits=frac_bits,
        index_bits=index_bits,
        fraction_bits=fraction_bits,
        guard_bits=GUARD_BITS,
        t_bits=int(rounded.max()).bit_length(),
        d_bits=max(int(slopes.max()).bit_length(), 1),
    )
    rounded.setflags(write=False)
    slopes.setflags(write=False)
    return geometry, rounded, slopes


def geometry(params) -> TrigGeometry:
    """The unit's bit widths for ``params`` (a :class:`~qfab_hw.params.CoreParams`)."""
    return _tables(_frac_bits(params))[0]


def table_words(params) -> list[int]:
    """The ROM contents, one ``{T + 2**(G-1), D}`` word per entry (the RTL's Memory init)."""
    geo, rounded, slopes = _tables(_frac_bits(params))
    return [(int(t) << geo.d_bits) | int(d) for t, d in zip(rounded, slopes)]


def latency(params=None) -> int:
    """Cycles from the accepted angle to the result; the same for every width."""
    return LATENCY


def max_error_lsb(params) -> float:
    """Stated bound on |unit − exact| for cos and sin, in output LSBs (2**-F), any angle."""
    geo = geometry(params)
    step = (math.pi / 2) / geo.entries
    interpolation = step * step / 16 * (1 + step) * (1 << geo.frac_bits)
    dropped = (math.pi / 2) * 2.0 ** (geo.frac_bits - geo.residual_bits - 1)
    return 0.5 + 2.0 ** -(geo.guard_bits + 1) + interpolation + dropped


def sincos(angle, params) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) of binary angles as signed Q2.F integers (int64 arrays), exactly as the RTL.

    ``angle``: integer or integer array; taken modulo 2**ANGLE_BITS.
    """
    geo, rounded, slopes = _tables(_frac_bits(params))
    angle = np.asarray(angle)
    if angle.dtype.kind not in "iu":
        raise TypeError(f"angles must be integers (binary angles), not {angle.dtype}")
    angle = angle.astype(np.uint64) & np.uint64((1 << ANGLE_BITS) - 1)
    residual_mask = (1 << geo.residual_bits) - 1
    r = ((angle >> np.uint64(ANGLE_BITS - 2 - geo.residual_bits)) & np.uint64(residual_mask))
    r = r.astype(np.int64)
    q = (angle >> np.uint64(ANGLE_BITS - 2)).astype(np.int64)
    q0, q1 = q & 1, q >> 1
    complement = residual_mask - r  # ~r: the mirrored angle π/2 − φ
    # Even quadrants: cos from ~r, sin from r; odd quadrants swap them.
    r_cos = np.where(q0 == 0, complement, r)
    r_sin = np.where(q0 == 0, r, complement)
    negative_cos = (q0 ^ q1).astype(bool)  # q = 1, 2
    negative_sin = q1.astype(bool)  # q = 2, 3
    return (_interpolate(r_cos, negative_cos, geo, rounded, slopes),
            _interpolate(r_sin, negative_sin, geo, rounded, slopes))


def _interpolate(r, negative, geo: TrigGeometry, rounded, slopes) -> np.ndarray:
    m = geo.fraction_bits
    index = r >> m
    fraction = 2 * (r & ((1 << m) - 1)) + 1  # the middle of the dropped interval
    t = rounded[index]
    d = slopes[index]
    sign = np.where(negative, -1, 1)
    # C = s*T + 2**(G-1), folded into the stored word: T_r or 2**G - T_r.
    c = np.where(negative, (1 << geo.guard_bits) - t, t)
    total = (c << (m + 1)) + sign * fraction * d
    return total >> geo.shift
