"""Per-block model of the gradient unit (:mod:`qfab_hw.gradient_memory`): the shift-rule MAC, the
gradient contribution of RUN_SHIFT and RUN_ADJOINT, ``max_params`` 64-bit saturating accumulators,
and the 1 + P output beats of a set (clear on read).

* ``mac(value, weight, first)``: d = [d +] weight * value (exact; ``first`` starts an occurrence),
  so after an occurrence's K shifted replays d_r = sum_k W_k C_rk.
* ``update_shift(index, a)``: grad[index] = sat64(grad[index] + g_r) with
  g_r = round_half_up(round_half_up(d_r / 2**30) * a / 2**28) (:func:`qfab_hw.model.shift.
  occurrence_gradient`).
* ``update_adjoint(index, mu, kind, a, k)``: grad[index] = sat64(grad[index] + round_half_up(mu *
  f * a * 2**k / 2**28)), f = 1 or -2 (:func:`qfab_hw.model.adjoint.gradient_contribution`).
* ``emit(value, count)``: the beats value, grad[0], ..., grad[count-1]; those entries become 0.
* ``clear_all()``: every entry 0 (after RESET; the memory keeps its contents through the core's
  synchronous reset).
"""

from __future__ import annotations

from qfab_hw.model import adjoint, shift
from qfab_hw.params import (
    AFFINE_FRAC_BITS,
    BEAT_BITS,
    GRAD_PRODUCT_LATENCY,
    SHIFT_WEIGHT_FRAC_BITS,
    CoreParams,
)
from qfab_hw.program import RotationKind

#: An ``update`` in cycle t is written by the clock edge ending cycle t + P + 2 (P =
#: GRAD_PRODUCT_LATENCY: the product; shift and round; clamp; read-modify-write); a read issued
#: in that cycle already sees it (transparent read port).
UPDATE_LATENCY = GRAD_PRODUCT_LATENCY + 3
#: A ``mac`` in cycle t is in d after the edge ending cycle t + P: an update may follow in t + P + 1.
MAC_LATENCY = GRAD_PRODUCT_LATENCY + 1
#: Terms per occurrence the d accumulator is sized for (the four-term rule).
MAX_SHIFT_TERMS = 4
#: The contribution is clamped to this many signed bits before the saturating sum; exact for the
#: result, since |grad| < 2**63 and the clamp bound 2**65 - 1 exceeds 2**64.
CONTRIBUTION_BITS = 66


def max_weight() -> int:
    return max(abs(w) for rule in (shift.TWO_TERM, shift.FOUR_TERM) for _, w in rule)


def d_bits() -> int:
    """Signed width of d: MAX_SHIFT_TERMS products weight * value (|value| <= 2**63)."""
    return (MAX_SHIFT_TERMS * max_weight() << (BEAT_BITS - 1)).bit_length() + 1


def shift_operand_bits() -> int:
    """Signed width of round_half_up(d / 2**30)."""
    return d_bits() - SHIFT_WEIGHT_FRAC_BITS + 1


def max_post_shift(params: CoreParams) -> int:
    """Largest left shift of the product: k (lambda's scale) + 1 for P's factor 2."""
    from qfab_hw.model.lambda_prep import max_scale_shift

    shift_amount = max_scale_shift(params) + 1
    assert shift_amount < AFFINE_FRAC_BITS  # the rounding point stays inside the product
    return shift_amount


class GradientMemoryModel:
    def __init__(self, params: CoreParams):
        self.params = params
        self.grads = [0] * params.max_params
        self.terms: list[tuple[int, int]] = []
        self.overflow = False

    @property
    def d(self) -> int:
        return sum(weight * value for weight, value in self.terms)

    def mac(self, value: int, weight: int, first: bool) -> None:
        if first:
            self.terms = []
        self.terms.append((int(weight), int(value)))

    def _accumulate(self, index: int, contribution: int) -> bool:
        self.grads[index], clipped = shift.accumulate(self.grads[index], contribution)
        self.overflow |= clipped
        return clipped

    def update_shift(self, index: int, a: int) -> bool:
        rule = [(0, weight) for weight, _ in self.terms]
        values = [value for _, value in self.terms]
        return self._accumulate(index, shift.occurrence_gradient(values, rule, a))

    def update_adjoint(self, index: int, mu: int, kind: int, a: int, scale_shift: int) -> bool:
        return self._accumulate(
            index, adjoint.gradient_contribution(mu, RotationKind(kind), a, scale_shift))

    def emit(self, value: int, count: int) -> list[int]:
        beats = [int(value)] + self.grads[:count]
        self.grads[:count] = [0] * count
        return beats

    def clear_all(self) -> None:
        self.grads = [0] * self.params.max_params
