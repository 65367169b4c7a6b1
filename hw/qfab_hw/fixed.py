"""Two's complement fixed-point arithmetic shared by the assembler and the bit-accurate model.

The gate lane computes exact integer products and sums, then applies :func:`round_shift`
(round half up) and :func:`saturate`; the model calls the same functions on numpy int64
arrays, which is what makes it bit-accurate.
"""

from __future__ import annotations

import numpy as np


def signed_range(width: int) -> tuple[int, int]:
    """Smallest and largest value of a ``width``-bit two's complement number."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def round_shift(value: np.ndarray, frac_bits: int) -> np.ndarray:
    """Divide by 2**frac_bits, rounding to nearest with ties towards +inf.

    Adding half an LSB before an arithmetic shift is what the DSP post-adder does for free;
    it is ~4x better in fidelity than truncation (reference section 6).
    """
    return (value + (1 << (frac_bits - 1))) >> frac_bits


def saturate(value: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Clamp to the ``width``-bit range; also return where clamping happened (the overflow)."""
    low, high = signed_range(width)
    clamped = np.clip(value, low, high)
    return clamped, clamped != value


def to_fixed(values, frac_bits: int, width: int) -> np.ndarray:
    """Quantize real numbers to Q(width-frac_bits).frac_bits integers (round half up).

    Raises ``ValueError`` for values outside the representable range instead of clamping,
    because a silently clamped coefficient would be a different gate.
    """
    scaled = np.floor(np.asarray(values, dtype=np.float64) * (1 << frac_bits) + 0.5)
    low, high = signed_range(width)
    if np.any(scaled < low) or np.any(scaled > high):
        raise ValueError(
            f"value outside the Q{width - frac_bits}.{frac_bits} range "
            f"[{low / (1 << frac_bits)}, {high / (1 << frac_bits)}]"
        )
    return scaled.astype(np.int64)


def from_fixed(values, frac_bits: int) -> np.ndarray:
    """Real values of fixed-point integers."""
    return np.asarray(values, dtype=np.float64) / (1 << frac_bits)


def sign_extend(value: int, width: int) -> int:
    """Interpret the low ``width`` bits of ``value`` as a two's complement number."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def saturate_int(value: int, width: int) -> tuple[int, bool]:
    """:func:`saturate` for one Python integer of any size (the wide v2 accumulators)."""
    low, high = signed_range(width)
    clamped = min(max(int(value), low), high)
    return clamped, clamped != value


def round_shift_int(value: int, frac_bits: int) -> int:
    """:func:`round_shift` for one Python integer of any size (round half up)."""
    if frac_bits <= 0:
        return int(value) << -frac_bits
    return (int(value) + (1 << (frac_bits - 1))) >> frac_bits
