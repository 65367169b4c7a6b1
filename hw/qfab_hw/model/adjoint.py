"""Model of RUN_ADJOINT's accumulator: Im<lambda|G|psi> per rotation, and its gradient.

At the cut after rotation g (psi = the state after g, lambda = U_{g+1}^dagger ... O psi_final /
2**k), over the amplitude pairs (x0, x1) of psi and (l0, l1) of lambda whose control bit is 1
(all pairs if uncontrolled), exactly in integers (2F fraction bits):

    RX:  mu = sum Im(l0* x1) + Im(l1* x0)         (G = X)
    RY:  mu = sum Re(l1* x0) - Re(l0* x1)         (G = Y)
    RZ:  mu = sum Im(l0* x0) - Im(l1* x1)         (G = Z)
    P:   mu = sum Im(l1* x1)                      (dP/dphi = i |1><1| P)

with Im(a* b) = a_re b_im - a_im b_re and Re(a* b) = a_re b_re + a_im b_im. Then
dC/dphi = f * mu * 2**k with f = 1 (RX, RY, RZ: Im<lambda|G|psi>) or -2 (P), and

    grad[i] = sat64(grad[i] + round_half_up(mu * f * a * 2**k / 2**28)).
"""

from __future__ import annotations

import numpy as np

from qfab_hw.fixed import round_shift_int
from qfab_hw.params import AFFINE_FRAC_BITS
from qfab_hw.program import RotationKind

GENERATOR_FACTOR = {RotationKind.RX: 1, RotationKind.RY: 1, RotationKind.RZ: 1, RotationKind.P: -2}


def _im(a, b):
    """Im(conj(a) b) of (re, im) integer arrays."""
    return a[0] * b[1] - a[1] * b[0]


def _re(a, b):
    return a[0] * b[0] + a[1] * b[1]


def generator_overlap(kind: int, psi, lam, target: int, control: int | None) -> int:
    """mu for a rotation of ``kind`` on ``target`` (controlled by ``control``): psi and lam are
    (re, im) int64 arrays of the two banks."""
    shape = (-1, 2, 1 << target)
    x = [part.reshape(shape) for part in psi]
    lam_parts = [part.reshape(shape) for part in lam]
    x0, x1 = (x[0][:, 0, :], x[1][:, 0, :]), (x[0][:, 1, :], x[1][:, 1, :])
    l0, l1 = (lam_parts[0][:, 0, :], lam_parts[1][:, 0, :]), (lam_parts[0][:, 1, :], lam_parts[1][:, 1, :])
    if kind == RotationKind.RX:
        terms = _im(l0, x1) + _im(l1, x0)
    elif kind == RotationKind.RY:
        terms = _re(l1, x0) - _re(l0, x1)
    elif kind == RotationKind.RZ:
        terms = _im(l0, x0) - _im(l1, x1)
    else:
        terms = _im(l1, x1)
    if control is not None:
        i0 = np.arange(len(psi[0]), dtype=np.int64).reshape(shape)[:, 0, :]
        terms = np.where((i0 >> control) & 1 == 1, terms, 0)
    return int(np.sum(terms))


def gradient_contribution(mu: int, kind: int, a: int, scale_shift: int) -> int:
    """round_half_up(mu * f * a * 2**k / 2**28): the rotation's term of grad[i]."""
    return round_shift_int((int(mu) * GENERATOR_FACTOR[RotationKind(kind)] * int(a)) << scale_shift,
                           AFFINE_FRAC_BITS)
