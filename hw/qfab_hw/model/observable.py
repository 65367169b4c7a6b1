"""Model of the observable unit: OBS terms, the cost value, and lambda = O psi for the adjoint.

Each OBS term j (mask m_j, weight c_j in Q8.24) is one pass over the state:

* E_j = sum_i (-1)**popcount(i & m_j) (re_i**2 + im_i**2), exact (READ_EXPZ's sum);
  acc += c_j * E_j, exact; at the program's END the value is
  C = sat64(round_half_up(acc / 2**24)), 2F fraction bits.
* RUN_ADJOINT only: the same pass writes bank B,
  lambda_i <- sat_W(lambda_i + round_half_up(c_j * sign_ij * psi_i / 2**(24 + k)))
  per real part (the first term writes without reading), so lambda = O psi / 2**k.
"""

from __future__ import annotations

import numpy as np

from qfab_hw.fixed import round_shift, round_shift_int, saturate, saturate_int
from qfab_hw.model.addressing import parity
from qfab_hw.params import BEAT_BITS, OBS_FRAC_BITS


def zstring_signs(n_qubits: int, mask: int) -> np.ndarray:
    return 1 - 2 * parity(np.arange(1 << n_qubits, dtype=np.int64) & mask)


def zstring_sum(re: np.ndarray, im: np.ndarray, mask: int) -> int:
    """E = sum_i (-1)**popcount(i & mask) |psi_i|**2 as the exact integer (2F fraction bits)."""
    signs = zstring_signs(int(len(re)).bit_length() - 1, mask)
    return int(np.sum(signs * (re * re + im * im)))


def cost_value(accumulator: int) -> tuple[int, bool]:
    """C = sat64(round_half_up(sum_j c_j E_j / 2**24)), and whether it saturated."""
    return saturate_int(round_shift_int(accumulator, OBS_FRAC_BITS), BEAT_BITS)


def lambda_term(lam, psi, mask: int, weight: int, scale_shift: int, width: int, first: bool):
    """Bank B after OBS term (mask, weight): (lam_re, lam_im), overflow."""
    re, im = psi
    signs = zstring_signs(int(len(re)).bit_length() - 1, mask) * int(weight)
    shift = OBS_FRAC_BITS + scale_shift
    out, overflow = [], False
    for part, lam_part in zip((re, im), lam):
        term = round_shift(signs * part, shift)
        if not first:
            term = term + lam_part
        value, clipped = saturate(term, width)
        out.append(value)
        overflow |= bool(np.any(clipped))
    return (out[0], out[1]), overflow
