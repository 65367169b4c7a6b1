"""The pipelined wide multiplier against Python's exact integer product.

Random signed operands (hypothesis) at the widths the v2 units use and at the extremes, one new
pair every clock (the pipeline's II = 1), each product checked exactly ``latency`` clocks later.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth.hdl import signed, unsigned

from qfab_hw.multiplier import PipelinedMultiplier, digit_count, multiplier_latency
from tests.support.amaranth_sim import simulate


def _extremes(width: int) -> list[int]:
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return [low, high, 0, -1, 1, low + 1]


def _check(a_width: int, b_width: int, pairs: list[tuple[int, int]], latency=None) -> None:
    unit = PipelinedMultiplier(signed(a_width), signed(b_width), latency=latency)

    async def testbench(ctx):
        observed = []
        for cycle in range(len(pairs) + unit.latency):
            if cycle < len(pairs):
                ctx.set(unit.a, pairs[cycle][0])
                ctx.set(unit.b, pairs[cycle][1])
            if cycle >= unit.latency:
                observed.append(ctx.get(unit.product))
            await ctx.tick()
        assert observed == [a * b for a, b in pairs]

    simulate(unit, testbench)


@pytest.mark.parametrize("a_width, b_width", [(18, 18), (32, 45), (32, 32), (33, 67), (8, 40)])
def test_extreme_operands_give_the_exact_product(a_width, b_width):
    pairs = [(a, b) for a in _extremes(a_width) for b in _extremes(b_width)]
    _check(a_width, b_width, pairs)


@settings(max_examples=20, deadline=None)
@given(st.data(), st.integers(8, 40), st.integers(8, 70))
def test_random_operands_one_per_clock_give_the_exact_product(data, a_width, b_width):
    pairs = data.draw(st.lists(st.tuples(
        st.integers(-(1 << (a_width - 1)), (1 << (a_width - 1)) - 1),
        st.integers(-(1 << (b_width - 1)), (1 << (b_width - 1)) - 1)), min_size=1, max_size=12))
    _check(a_width, b_width, pairs)


def test_a_longer_latency_delays_the_exact_product():
    _check(32, 45, [(a, b) for a in _extremes(32) for b in _extremes(45)], latency=7)


def test_latency_counts_operands_products_and_adder_levels():
    assert digit_count(18) == 1 and digit_count(19) == 2 and digit_count(35) == 2 and digit_count(36) == 3
    assert multiplier_latency(18, 18) == 2  # operands, one DSP product
    assert multiplier_latency(32, 45) == 2 + 3  # 2 x 3 digits: three adder levels
    assert multiplier_latency(33, 67) == 2 + 3  # 2 x 4 digits


def test_unsigned_operands_are_refused():
    with pytest.raises(TypeError, match="signed"):
        PipelinedMultiplier(unsigned(8), signed(8))
    with pytest.raises(ValueError, match="at least 5 clocks"):
        PipelinedMultiplier(signed(32), signed(45), latency=4)
