"""Per-block model of the lambda preparation (:mod:`qfab_hw.lambda_prep`).

In RUN_ADJOINT's forward replay every OBS term's pass (mask m, weight c in Q8.24, lambda scale k)
also writes bank B:

    lambda_i <- sat_W(lambda_i + round_half_up(c * (-1)**popcount(i & m) * psi_i / 2**(24 + k)))

per real part; the program's first OBS term writes without reading. The unit sees the rows of the
pass (2*lanes amplitudes of psi, the same addresses' lambda); this model scatters a row into a
2**max_qubits state and calls :func:`qfab_hw.model.observable.lambda_term` on it.
"""

from __future__ import annotations

import numpy as np

from qfab_hw.model.observable import lambda_term
from qfab_hw.params import OBS_FRAC_BITS, CoreParams

#: Clocks from a row at the unit's input to its lambda values at the output: the product c * psi
#: (sign applied), then the rounding, the sum with the old lambda and the saturation.
LATENCY = 2


def max_scale_shift(params: CoreParams) -> int:
    """Largest k the program memory can record: S = sum |c_j| < 2**(32 + bitlen(depth/2))."""
    weight_sum_bits = 32 + (params.program_depth // 2).bit_length()
    return max(0, weight_sum_bits - OBS_FRAC_BITS)


def lambda_row(params: CoreParams, psi, lam, addresses, mask: int, weight: int,
               scale_shift: int, first: bool):
    """New lambda values of one row: ``psi``, ``lam`` sequences of (re, im), ``addresses`` the
    amplitudes' indices (distinct). Returns (list of (re, im), overflow)."""
    size = 1 << params.max_qubits
    psi_re, psi_im = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
    lam_re, lam_im = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
    index = np.array(addresses, dtype=np.int64)
    psi_re[index], psi_im[index] = [p[0] for p in psi], [p[1] for p in psi]
    lam_re[index], lam_im[index] = [v[0] for v in lam], [v[1] for v in lam]
    (new_re, new_im), overflow = lambda_term((lam_re, lam_im), (psi_re, psi_im), mask, weight,
                                             scale_shift, params.width, first)
    # The zero padding contributes no overflow: its terms and old values are 0.
    return [(int(new_re[a]), int(new_im[a])) for a in addresses], overflow
