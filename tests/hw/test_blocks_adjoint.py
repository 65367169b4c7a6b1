"""The datapath blocks of RUN_SHIFT and RUN_ADJOINT in Amaranth's simulator, bit for bit against
their models (which call model/adjoint.py, model/shift.py, model/observable.py, model/rotation.py):

* the adjoint reducer (mu = Im<lambda|G|psi>): whole gate passes in the address generator's order
  against ``generator_overlap`` (every kind, target, control bit, lanes 1/2/4), random rows
  (hypothesis), the accumulator's worst case, the latency and ``clear``;
* the inverse-coefficient stage: every operation, saturating conjugation, -k quarter turns, and in
  front of an unchanged ``GateLane`` (the core model's backward step; v1 behaviour with inverse 0);
* lambda preparation: OBS passes against ``lambda_term`` (first term, scale k, saturation, ties);
* the gradient unit: the shift-rule table, RUN_SHIFT's MAC and update, RUN_ADJOINT's update,
  saturation and OVERFLOW, the 1 + P beats with back-pressure and clear on read, the RESET sweep,
  the tightest schedule the sequencer uses;
* the two state banks (psi, lambda) with their shared read addresses and per-bank writes.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from qfab_hw import CoreParams
from qfab_hw.adjoint_reducer import AdjointReducer
from qfab_hw.gate_lane import GateLane
from qfab_hw.gradient_memory import GradientUnit, ShiftRuleTable
from qfab_hw.inverse import InverseCoefficients
from qfab_hw.lambda_prep import LambdaPrep
from qfab_hw.model import adjoint as adjoint_model
from qfab_hw.model import observable as observable_model
from qfab_hw.model import rotation as rotation_model
from qfab_hw.model import shift as shift_model
from qfab_hw.model.adjoint_reducer import (
    LATENCY as REDUCER_LATENCY,
    accumulator_bits,
    max_pair_term,
    pass_rows,
    reduce_rows,
)
from qfab_hw.model.gate_lane import LaneOp, apply_lane
from qfab_hw.model.gradient_memory import GradientMemoryModel, max_post_shift
from qfab_hw.model.inverse import lane_inverse
from qfab_hw.model.lambda_prep import LATENCY as LAMBDA_LATENCY
from qfab_hw.model.lambda_prep import lambda_row, max_scale_shift
from qfab_hw.params import GRAD_EMIT_CYCLES, GRAD_PRODUCT_LATENCY, MEMORY_READ_LATENCY
from qfab_hw.program import RotationKind
from qfab_hw.state_banks import StateBanks

from tests.support.amaranth_sim import simulate

MASK64 = (1 << 64) - 1


def extremes(width):
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def random_state(rng, n_qubits, width, corners=True):
    """(re, im) int64 arrays over the whole W-bit range, with the extremes mixed in."""
    low, high = extremes(width)
    parts = [rng.integers(low, high + 1, size=1 << n_qubits) for _ in range(2)]
    if corners:
        for part in parts:
            picks = rng.random(part.shape) < 0.2
            part[picks] = rng.choice([low, high, 0, -1, 1], size=int(picks.sum()))
    return parts[0].astype(np.int64), parts[1].astype(np.int64)


def set_complex(ctx, field, value):
    ctx.set(field.re, int(value[0]))
    ctx.set(field.im, int(value[1]))


def present_row(ctx, reducer, row):
    """One row of lane pairs (x0, x1, l0, l1, active) onto the reducer's input."""
    for lane, (x0, x1, l0, l1, active) in enumerate(row):
        pair = reducer.i.payload[lane]
        for field, value in ((pair.x0, x0), (pair.x1, x1), (pair.l0, l0), (pair.l1, l1)):
            set_complex(ctx, field, value)
        ctx.set(pair.active, int(active))


def get_complex(ctx, field):
    return ctx.get(field.re), ctx.get(field.im)


# == adjoint reducer ==========================================================================
def drive_reducer(unit, kind, passes, rng, gaps=True):
    """Feed ``passes`` (each a list of rows) with ``clear`` before each; return the totals read
    ``latency`` clocks after each pass's last row, and check ``total`` does not change later."""
    totals = []

    async def testbench(ctx):
        low, high = extremes(unit.params.width)
        for rows in passes:
            ctx.set(unit.kind, kind)
            ctx.set(unit.clear, 1)
            ctx.set(unit.i.valid, int(rng.integers(2)))  # dropped: presented with clear
            await ctx.tick()
            ctx.set(unit.clear, 0)
            for row in rows:
                while gaps and rng.random() < 0.2:  # idle cycles with junk on the bus
                    ctx.set(unit.i.valid, 0)
                    for lane in range(unit.params.lanes):
                        set_complex(ctx, unit.i.payload[lane].x0, rng.integers(low, high + 1, 2))
                        set_complex(ctx, unit.i.payload[lane].l1, rng.integers(low, high + 1, 2))
                    await ctx.tick()
                ctx.set(unit.i.valid, 1)
                present_row(ctx, unit, row)
                await ctx.tick()
            ctx.set(unit.i.valid, 0)
            for _ in range(unit.latency - 2):
                await ctx.tick()
            # Last row presented in cycle c: in cycle c + latency - 1 the total lacks it, in
            # c + latency it is final.
            assert ctx.get(unit.total) == reduce_rows(kind, rows[:-1])
            await ctx.tick()
            totals.append(ctx.get(unit.total))
            for _ in range(2):  # final: nothing more arrives
                await ctx.tick()
                assert ctx.get(unit.total) == totals[-1]

    simulate(unit, testbench)
    return totals


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_reducer_whole_passes_match_generator_overlap(lanes):
    """Every kind, target and control (or none) of a 5-qubit state: the RTL's mu equals
    model/adjoint.py's generator_overlap on the whole banks (what CoreModel reduces)."""
    n = 5
    params = CoreParams(max_qubits=n, lanes=lanes, width=18)
    rng = np.random.default_rng(lanes)
    for kind in RotationKind:
        psi, lam = random_state(rng, n, 18), random_state(rng, n, 18)
        cases = [(t, c) for t in range(n) for c in [None] + [q for q in range(n) if q != t]]
        passes = [pass_rows(psi, lam, n, t, c, lanes) for t, c in cases]
        totals = drive_reducer(AdjointReducer(params), kind, passes, rng)
        for (target, control), rows, total in zip(cases, passes, totals):
            expected = adjoint_model.generator_overlap(kind, psi, lam, target, control)
            assert total == expected == reduce_rows(kind, rows), (kind, target, control)


@pytest.mark.parametrize("n_qubits", [2, 4])
def test_reducer_on_a_smaller_state_than_the_build(n_qubits):
    """A program's n below max_qubits: the pass has fewer rows, same result."""
    params = CoreParams(max_qubits=6, lanes=2, width=12)
    rng = np.random.default_rng(n_qubits)
    psi, lam = random_state(rng, n_qubits, 12), random_state(rng, n_qubits, 12)
    for kind in RotationKind:
        passes = [pass_rows(psi, lam, n_qubits, n_qubits - 1, 0, 2)]
        (total,) = drive_reducer(AdjointReducer(params), kind, passes, rng, gaps=False)
        assert total == adjoint_model.generator_overlap(kind, psi, lam, n_qubits - 1, 0)


amplitude = st.tuples(st.integers(-(1 << 17), (1 << 17) - 1), st.integers(-(1 << 17), (1 << 17) - 1))
pair = st.tuples(amplitude, amplitude, amplitude, amplitude, st.booleans())


@settings(max_examples=30, deadline=None)
@given(lanes_bits=st.integers(0, 2), kind=st.sampled_from(list(RotationKind)),
       data=st.data())
def test_reducer_random_rows(lanes_bits, kind, data):
    lanes = 1 << lanes_bits
    params = CoreParams(max_qubits=6, lanes=lanes, width=18)
    rows = data.draw(st.lists(st.lists(pair, min_size=lanes, max_size=lanes), min_size=1, max_size=12))
    (total,) = drive_reducer(AdjointReducer(params), kind, [rows], np.random.default_rng(0))
    assert total == reduce_rows(kind, rows)


@pytest.mark.parametrize("width", [8, 18, 25])
def test_reducer_worst_case_accumulator(width):
    """The largest |pair term| of every kind over all corner amplitudes is 2**(2W) - 2**W (the
    stated bound, reached), and a whole pass of such pairs at max_qubits fits the accumulator."""
    import itertools

    low, high = extremes(width)
    best = {}
    for values in itertools.product([low, high], repeat=8):
        pair = (values[0:2], values[2:4], values[4:6], values[6:8], True)
        for kind in RotationKind:
            term = reduce_rows(kind, [[pair]])
            if kind not in best or abs(term) > abs(best[kind][0]):
                best[kind] = (term, pair[:4])
    bound = max_pair_term(width)
    for kind in (RotationKind.RX, RotationKind.RY, RotationKind.RZ):
        assert abs(best[kind][0]) == bound
    assert abs(best[RotationKind.P][0]) == bound // 2  # one Im term
    n = 4 if width == 25 else 5
    params = CoreParams(max_qubits=n, lanes=2, width=width)
    pairs = 1 << (n - 1)
    for kind in RotationKind:
        term, (x0, x1, l0, l1) = best[kind]
        rows = [[(x0, x1, l0, l1, True)] * 2] * (pairs // 2)
        (total,) = drive_reducer(AdjointReducer(params), kind, [rows], np.random.default_rng(1),
                                 gaps=False)
        assert total == pairs * term
        assert abs(total) < 1 << (accumulator_bits(params) - 1)
    # The accumulator is sized for the largest build of this width.
    assert accumulator_bits(params) == 2 * width + n


def test_reducer_latency_and_clear():
    params = CoreParams(max_qubits=4, lanes=1, width=18)
    unit = AdjointReducer(params)
    row = ((3, -5), (7, 11), (-2, 13), (17, -19), True)
    term = reduce_rows(RotationKind.RX, [[row]])
    assert term != 0

    async def put(ctx, valid):
        ctx.set(unit.i.valid, valid)
        pair = unit.i.payload[0]
        for field, value in zip((pair.x0, pair.x1, pair.l0, pair.l1), row[:4]):
            set_complex(ctx, field, value)
        ctx.set(pair.active, 1)

    async def testbench(ctx):
        ctx.set(unit.kind, RotationKind.RX)
        await put(ctx, 1)
        await ctx.tick()
        await put(ctx, 0)
        seen = []
        for _ in range(5):
            seen.append(ctx.get(unit.total))
            await ctx.tick()
        # Presented in cycle 0: in total from cycle `latency` on (seen[k] is cycle k + 1).
        assert seen == [0] * (REDUCER_LATENCY - 1) + [term] * (6 - REDUCER_LATENCY)
        # Rows in flight when clear comes are dropped; later rows count.
        await put(ctx, 1)
        await ctx.tick()
        await ctx.tick()
        ctx.set(unit.clear, 1)
        await ctx.tick()
        ctx.set(unit.clear, 0)
        await ctx.tick()  # this row (presented after the clear) counts
        await put(ctx, 0)
        for _ in range(REDUCER_LATENCY + 1):
            await ctx.tick()
        assert ctx.get(unit.total) == term

    simulate(unit, testbench)
    assert unit.latency == REDUCER_LATENCY == 3


@pytest.mark.parametrize("block", [AdjointReducer, LambdaPrep, GradientUnit, StateBanks,
                                   InverseCoefficients])
def test_blocks_reject_bad_params(block):
    with pytest.raises(TypeError):
        block(CoreParams() if block is InverseCoefficients else 18)


# == inverse coefficients =====================================================================
def random_coefficients(rng, width):
    low, high = extremes(width)
    values = rng.integers(low, high + 1, size=(4, 2))
    values[rng.random((4, 2)) < 0.25] = low  # the saturating negation
    return [tuple(int(v) for v in c) for c in values]


@pytest.mark.parametrize("width", [8, 18, 25])
def test_inverse_matches_its_model(width):
    unit = InverseCoefficients(width)
    rng = np.random.default_rng(width)
    cases = [(op, bool(inv), k, random_coefficients(rng, width))
             for op in LaneOp for inv in (0, 1) for k in range(4) for _ in range(8)]
    cases.append((LaneOp.MATRIX, True, 0, [(extremes(width)[0],) * 2] * 4))

    async def testbench(ctx):
        for op, inverse, k, coefficients in cases:
            ctx.set(unit.op, op)
            ctx.set(unit.inverse, int(inverse))
            ctx.set(unit.quarter_turns, k)
            for field, value in zip(unit.coefficients, coefficients):
                set_complex(ctx, field, value)
            await ctx.tick()  # latency 1
            expected, quarter, overflow = lane_inverse(op, coefficients, k, width, inverse)
            assert [get_complex(ctx, f) for f in unit.lane_coefficients] == expected
            assert ctx.get(unit.lane_quarter_turns) == quarter
            assert ctx.get(unit.overflow) == overflow

    simulate(unit, testbench)
    assert unit.latency == 1


def test_inverse_model_is_the_core_models_backward_rule():
    width = 18
    rng = np.random.default_rng(5)
    for _ in range(50):
        coefficients = random_coefficients(rng, width)
        ours, quarter, overflow = lane_inverse(LaneOp.MATRIX, coefficients, 0, width)
        reference, reference_overflow = rotation_model.dagger(coefficients, width)
        assert ours == reference and overflow == reference_overflow
    # Rotations: U^dagger is the rotation by -phi (exact for the sin/cos unit's output).
    params = CoreParams(max_qubits=3, width=width)
    for kind in RotationKind:
        h = int(rng.integers(1 << 32))
        forward = rotation_model.rotation_coefficients(kind, h, params)
        backward, _, overflow = lane_inverse(LaneOp.MATRIX, forward, 0, width)
        assert backward[1] == (forward[2][0], -forward[2][1])  # u01' = conj(u10)
        assert not overflow  # |s| <= 2**F: a rotation never saturates
    assert lane_inverse(LaneOp.PHASE4, [(0, 0)] * 4, 1, width)[1] == 3
    assert lane_inverse(LaneOp.SWAP, [(0, 0)] * 4, 0, width)[1:] == (0, False)


@pytest.mark.parametrize(("op", "quarter_turns"),
                         [(LaneOp.MATRIX, 0), (LaneOp.SWAP, 0)] + [(LaneOp.PHASE4, k) for k in range(4)])
def test_inverse_in_front_of_the_unchanged_gate_lane(op, quarter_turns):
    """InverseCoefficients -> GateLane: with inverse the lane un-applies the gate exactly as
    CoreModel's backward sweep (dagger, -k); without it the lane is v1's."""
    width = 18
    from amaranth.hdl import Module

    rng = np.random.default_rng(int(op) * 4 + quarter_turns)
    low, high = extremes(width)
    coefficients = random_coefficients(rng, width)
    vectors = rng.integers(low, high + 1, size=(40, 4))
    active = rng.integers(2, size=len(vectors)).astype(bool)
    m = Module()
    m.submodules.inverse = inverse = InverseCoefficients(width)
    m.submodules.lane = lane = GateLane(width)
    m.d.comb += [lane.coefficients.eq(inverse.lane_coefficients),
                 lane.quarter_turns.eq(inverse.lane_quarter_turns), lane.op.eq(op),
                 inverse.op.eq(op)]
    results = {}

    async def testbench(ctx):
        for invert in (0, 1):
            ctx.set(inverse.inverse, invert)
            ctx.set(inverse.quarter_turns, quarter_turns)
            for field, value in zip(inverse.coefficients, coefficients):
                set_complex(ctx, field, value)
            await ctx.tick()  # the coefficient load; the pass starts the next cycle
            outputs = []
            for cycle in range(len(vectors) + lane.latency):
                if cycle < len(vectors):
                    x0r, x0i, x1r, x1i = (int(v) for v in vectors[cycle])
                    set_complex(ctx, lane.i.payload.x0, (x0r, x0i))
                    set_complex(ctx, lane.i.payload.x1, (x1r, x1i))
                    ctx.set(lane.i.payload.active, int(active[cycle]))
                    ctx.set(lane.i.valid, 1)
                else:
                    ctx.set(lane.i.valid, 0)
                await ctx.tick()
                if ctx.get(lane.o.valid):
                    outputs.append(get_complex(ctx, lane.o.payload.y0) + get_complex(ctx, lane.o.payload.y1))
            results[invert] = outputs

    simulate(m, testbench)
    x0 = (vectors[:, 0], vectors[:, 1])
    x1 = (vectors[:, 2], vectors[:, 3])
    for invert in (0, 1):
        if invert:
            lane_coefficients, _ = rotation_model.dagger(coefficients, width)
            k = (-quarter_turns) % 4
        else:
            lane_coefficients, k = coefficients, quarter_turns
        y0, y1, _ = apply_lane(op, x0, x1, coefficients=lane_coefficients, quarter_turns=k,
                               active=active, width=width)
        expected = list(zip(*(part.tolist() for part in (*y0, *y1))))
        assert results[invert] == [tuple(e) for e in expected]


# == lambda preparation =======================================================================
def run_obs_passes(params, psi, terms, rng, lam=None, gaps=True):
    """Drive LambdaPrep over OBS passes of a state (rows as the pipeline reads them: address
    row*banks + port); write its outputs back into a lambda array; return (lambda, overflows)."""
    n = int(len(psi[0])).bit_length() - 1
    banks = params.banks
    lam_re = np.zeros(1 << n, dtype=np.int64) if lam is None else lam[0].copy()
    lam_im = np.zeros(1 << n, dtype=np.int64) if lam is None else lam[1].copy()
    unit = LambdaPrep(params)
    overflows = []

    async def testbench(ctx):
        for mask, weight, shift, first in terms:
            ctx.set(unit.mask, mask)
            ctx.set(unit.weight, weight)
            ctx.set(unit.scale_shift, shift)
            ctx.set(unit.first, int(first))
            pending = []
            flagged = False
            rows = list(range((1 << n) // banks))
            cycle = 0
            while rows or pending:
                if rows and not (gaps and rng.random() < 0.2):
                    row = rows.pop(0)
                    ctx.set(unit.i.valid, 1)
                    for port in range(banks):
                        address = row * banks + port
                        entry = unit.i.payload[port]
                        ctx.set(entry.address, address)
                        set_complex(ctx, entry.psi, (psi[0][address], psi[1][address]))
                        set_complex(ctx, entry.lam, (lam_re[address], lam_im[address]))
                    pending.append(cycle + unit.latency)
                else:
                    ctx.set(unit.i.valid, 0)
                await ctx.tick()
                cycle += 1
                # After the edge ending cycle c - 1 we observe cycle c's outputs.
                if pending and pending[0] == cycle:
                    pending.pop(0)
                    assert ctx.get(unit.o.valid)
                    for port in range(banks):
                        out = unit.o.payload[port]
                        address = ctx.get(out.address)
                        lam_re[address], lam_im[address] = get_complex(ctx, out.lam)
                    flagged |= bool(ctx.get(unit.overflow))
                else:
                    assert not ctx.get(unit.o.valid)
                    assert not ctx.get(unit.overflow)
            ctx.set(unit.i.valid, 0)
            overflows.append(flagged)

    simulate(unit, testbench)
    return (lam_re, lam_im), overflows


def model_obs_passes(params, psi, terms, lam=None):
    n = int(len(psi[0])).bit_length() - 1
    lam = lam or (np.zeros(1 << n, dtype=np.int64), np.zeros(1 << n, dtype=np.int64))
    overflows = []
    for mask, weight, shift, first in terms:
        lam, overflow = observable_model.lambda_term(lam, psi, mask, weight, shift, params.width, first)
        overflows.append(overflow)
    return lam, overflows


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_lambda_prep_obs_passes_match_lambda_term(lanes):
    n = 5
    params = CoreParams(max_qubits=n, lanes=lanes, width=18, program_depth=1024, adjoint=True)
    rng = np.random.default_rng(10 + lanes)
    psi = random_state(rng, n, 18)
    k_max = max_scale_shift(params)
    weights = [(1 << 31) - 1, -(1 << 31), 1 << 24, -(1 << 24), 1, -1] + \
        [int(w) for w in rng.integers(-(1 << 31), 1 << 31, size=4)]
    terms = []
    for j, weight in enumerate(weights):
        terms.append((int(rng.integers(1 << n)) | (1 << 31) * (j % 2), weight,
                      int(rng.choice([0, 1, 3, k_max])), j == 0))
    lam, overflows = run_obs_passes(params, psi, terms, rng)
    expected, expected_overflows = model_obs_passes(params, psi, terms)
    assert np.array_equal(lam[0], expected[0]) and np.array_equal(lam[1], expected[1])
    assert overflows == expected_overflows
    assert any(overflows) and not all(overflows)  # saturation happened, and not everywhere


def test_lambda_prep_first_term_ignores_old_lambda_and_ties_round_up():
    params = CoreParams(max_qubits=3, lanes=1, width=18, adjoint=True)
    rng = np.random.default_rng(3)
    # c * psi = +-2**23 * odd: exact ties at k = 0 (round half up: +0.5 -> 1, -0.5 -> 0).
    psi = (np.array([1, -1, 3, -3, 1 << 16, -(1 << 16), 5, 0], dtype=np.int64),
           np.array([-1, 1, -3, 3, 7, -7, 0, 5], dtype=np.int64))
    old = random_state(rng, 3, 18)
    for first in (True, False):
        terms = [(0b101, 1 << 23, 0, first), (0b011, -(1 << 23) * 3, 0, False)]
        lam, overflows = run_obs_passes(params, psi, terms, rng, lam=old)
        expected, expected_overflows = model_obs_passes(params, psi, terms, lam=old)
        assert np.array_equal(lam[0], expected[0]) and np.array_equal(lam[1], expected[1])
        assert overflows == expected_overflows


@settings(max_examples=20, deadline=None)
@given(data=st.data(), lanes_bits=st.integers(0, 2), width=st.sampled_from([8, 12, 18, 25]))
def test_lambda_prep_random_rows(data, lanes_bits, width):
    lanes = 1 << lanes_bits
    params = CoreParams(max_qubits=4, lanes=lanes, width=width, program_depth=32768, adjoint=True)
    low, high = extremes(width)
    value = st.integers(low, high)
    k_max = max_scale_shift(params)
    mask = data.draw(st.integers(0, (1 << 32) - 1))
    weight = data.draw(st.integers(-(1 << 31), (1 << 31) - 1))
    shift = data.draw(st.integers(0, k_max))
    first = data.draw(st.booleans())
    banks = params.banks
    rows = data.draw(st.lists(st.tuples(st.permutations(range(16)), st.lists(
        st.tuples(value, value, value, value), min_size=banks, max_size=banks)), min_size=1, max_size=4))
    unit = LambdaPrep(params)
    got = []

    async def testbench(ctx):
        ctx.set(unit.mask, mask)
        ctx.set(unit.weight, weight)
        ctx.set(unit.scale_shift, shift)
        ctx.set(unit.first, int(first))
        for cycle in range(len(rows) + unit.latency + 1):
            ctx.set(unit.i.valid, int(cycle < len(rows)))
            if cycle < len(rows):
                addresses, values = rows[cycle]
                for port in range(banks):
                    entry = unit.i.payload[port]
                    ctx.set(entry.address, addresses[port])
                    set_complex(ctx, entry.psi, values[port][:2])
                    set_complex(ctx, entry.lam, values[port][2:])
            # A row presented in cycle c is on the output in cycle c + latency.
            if 0 <= cycle - unit.latency < len(rows):
                assert ctx.get(unit.o.valid)
                got.append(([get_complex(ctx, unit.o.payload[p].lam) for p in range(banks)],
                            [ctx.get(unit.o.payload[p].address) for p in range(banks)],
                            bool(ctx.get(unit.overflow))))
            else:
                assert not ctx.get(unit.o.valid)
            await ctx.tick()

    simulate(unit, testbench)
    for (addresses, values), (lam, out_addresses, overflow) in zip(rows, got):
        expected, expected_overflow = lambda_row(
            params, [v[:2] for v in values], [v[2:] for v in values], list(addresses[:banks]),
            mask, weight, shift, first)
        assert lam == expected
        assert out_addresses == list(addresses[:banks])
        assert overflow == expected_overflow
    assert unit.latency == LAMBDA_LATENCY == 2


# == gradient unit ============================================================================
def test_shift_rule_table_matches_shift_rule():
    table = ShiftRuleTable()

    async def testbench(ctx):
        for kind in RotationKind:
            for controlled in (False, True):
                rule = shift_model.shift_rule(kind, controlled)
                four = rule is shift_model.FOUR_TERM
                ctx.set(table.four_term, int(four))
                await ctx.delay(1e-9)
                assert ctx.get(table.terms) == len(rule)
                for k, (sigma, weight) in enumerate(rule):
                    ctx.set(table.term, k)
                    await ctx.delay(1e-9)
                    assert (ctx.get(table.sigma), ctx.get(table.weight)) == (sigma, weight)

    sim = Simulator(table)
    sim.add_testbench(testbench)
    sim.run()


class GradientBench:
    """Drives a GradientUnit cycle by cycle beside its model."""

    def __init__(self, ctx, unit, model):
        self.ctx, self.unit, self.model = ctx, unit, model
        self.overflows = 0

    async def settle(self):
        """Wait out the sweep that follows configuration/reset (the integration holds START)."""
        cycles = 0
        while self.ctx.get(self.unit.clearing):
            assert self.ctx.get(self.unit.busy)
            await self.ctx.tick()
            cycles += 1
        return cycles

    async def ticks(self, count):
        for _ in range(count):
            await self.tick()

    async def tick(self):
        await self.ctx.tick()
        self.overflows += self.ctx.get(self.unit.overflow)
        self.ctx.set(self.unit.mac.valid, 0)
        self.ctx.set(self.unit.update.valid, 0)
        self.ctx.set(self.unit.emit, 0)
        self.ctx.set(self.unit.clear_all, 0)

    def mac(self, value, weight, first):
        ctx, unit = self.ctx, self.unit
        ctx.set(unit.mac.valid, 1)
        ctx.set(unit.mac.payload.value, value)
        ctx.set(unit.mac.payload.weight, weight)
        ctx.set(unit.mac.payload.first, int(first))
        self.model.mac(value, weight, first)

    def update_shift(self, index, a):
        self._update(index, a, 0, 0, RotationKind.RX, 0)
        return self.model.update_shift(index, a)

    def update_adjoint(self, index, mu, kind, a, k):
        self._update(index, a, 1, mu, kind, k)
        return self.model.update_adjoint(index, mu, kind, a, k)

    def _update(self, index, a, adjoint, mu, kind, k):
        payload = self.unit.update.payload
        self.ctx.set(self.unit.update.valid, 1)
        for name, value in (("index", index), ("a", a), ("adjoint", adjoint), ("mu", mu),
                            ("kind", kind), ("scale_shift", k)):
            self.ctx.set(getattr(payload, name), value)

    async def emit(self, value, count, rng=None):
        """emit in this cycle, then collect the beats (random back-pressure with ``rng``)."""
        ctx, unit = self.ctx, self.unit
        ctx.set(unit.emit, 1)
        ctx.set(unit.emit_count, count)
        ctx.set(unit.value, value)
        ctx.set(unit.o.ready, 0)
        await self.tick()
        beats, lasts = [], []
        while True:
            ready = 1 if rng is None else int(rng.random() < 0.6)
            ctx.set(unit.o.ready, ready)
            assert ctx.get(unit.o.valid)
            if ready:
                beats.append(ctx.get(unit.o.payload.data))
                lasts.append(ctx.get(unit.o.payload.last))
            await self.tick()
            if ready and lasts[-1]:
                break
        ctx.set(unit.o.ready, 0)
        assert not ctx.get(unit.o.valid)
        expected = self.model.emit(value, count)
        assert beats == [b & MASK64 for b in expected]
        assert lasts == [0] * count + [1]


def gradient_params(max_params=16, **kw):
    return CoreParams(max_qubits=kw.pop("max_qubits", 8), width=kw.pop("width", 18),
                      max_params=max_params, param_depth=max(64, max_params), adjoint=True, **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_unit_shift_sets_match_the_model(seed):
    """RUN_SHIFT's order: per occurrence K macs (one per shifted replay, at its END), the update
    GRAD_PRODUCT_LATENCY + 1 cycles after the last, gaps of replay length; then the 1 + P beats; next set."""
    params = gradient_params(max_params=12)
    unit = GradientUnit(params)
    model = GradientMemoryModel(params)
    rng = np.random.default_rng(seed)

    async def testbench(ctx):
        bench = GradientBench(ctx, unit, model)
        await bench.settle()
        for _ in range(3):  # sets
            count = int(rng.integers(1, params.max_params + 1))
            for _ in range(int(rng.integers(1, 8))):  # occurrences
                kind = RotationKind(int(rng.integers(4)))
                rule = shift_model.shift_rule(kind, bool(rng.integers(2)))
                for k, (_, weight) in enumerate(rule):
                    for _ in range(int(rng.integers(1, 6))):  # the replay
                        await bench.tick()
                    value = int(rng.choice([rng.integers(-(1 << 40), 1 << 40),
                                            rng.integers(-(1 << 63), 1 << 63, dtype=np.int64),
                                            -(1 << 63), (1 << 63) - 1]))
                    bench.mac(value, weight, k == 0)  # the replay's END
                    await bench.tick()
                    await bench.tick()  # the SHIFT_MAC cycle
                await bench.ticks(GRAD_PRODUCT_LATENCY - 1)  # GRAD_UPDATE: the last d lands
                a = int(rng.choice([1 << 28, -(1 << 28), rng.integers(-(1 << 31), 1 << 31),
                                    -(1 << 31), (1 << 31) - 1]))
                bench.update_shift(int(rng.integers(count)), a)  # GRAD_UPDATE's update
                await bench.ticks(GRAD_EMIT_CYCLES)  # (the next occurrence, or GRAD_EMIT)
            await bench.emit(int(rng.integers(-(1 << 63), 1 << 63, dtype=np.int64)), count, rng)
        assert bench.overflows == 0 or model.overflow

    simulate(unit, testbench)


@pytest.mark.parametrize(("seed", "width", "max_qubits"), [(0, 18, 10), (1, 25, 13), (2, 18, 27)])
def test_gradient_unit_adjoint_updates_match_the_model(seed, width, max_qubits):
    """mu up to the widest accumulator (63 bits at 2W + max_qubits = 63), every kind, a and k."""
    params = gradient_params(max_params=8, max_qubits=max_qubits, width=width, program_depth=32768)
    unit = GradientUnit(params)
    model = GradientMemoryModel(params)
    rng = np.random.default_rng(seed)
    mu_bits = accumulator_bits(params)
    k_max = max_scale_shift(params)
    assert max_post_shift(params) == k_max + 1 < 28

    async def testbench(ctx):
        bench = GradientBench(ctx, unit, model)
        await bench.settle()
        for _ in range(4):
            count = params.max_params
            for _ in range(int(rng.integers(1, 12))):
                kind = RotationKind(int(rng.integers(4)))
                mu = int(rng.choice([int(rng.integers(-(1 << 30), 1 << 30)),
                                     int(rng.integers(-(1 << (mu_bits - 1)), 1 << (mu_bits - 1))),
                                     -(1 << (mu_bits - 1)), (1 << (mu_bits - 1)) - 1, 1, -1, 0]))
                a = int(rng.choice([1 << 28, -(1 << 28), int(rng.integers(-(1 << 31), 1 << 31)),
                                    -(1 << 31), (1 << 31) - 1]))
                k = int(rng.choice([0, 1, int(rng.integers(k_max + 1)), k_max]))
                bench.update_adjoint(int(rng.integers(count)), mu, kind, a, k)
                for _ in range(int(rng.integers(1, 4))):  # back to back (II = 1) or spaced
                    await bench.tick()
            await bench.ticks(GRAD_EMIT_CYCLES)
            await bench.emit(0, count)
        assert model.overflow and bench.overflows > 0  # the extremes saturate

    simulate(unit, testbench)


def test_gradient_unit_rounding_and_saturation_corners():
    """Ties of both roundings (half up), sign of P's factor -2, scale 2**k; repeated maximal
    contributions saturate at +-(2**63) exactly and pulse OVERFLOW once per saturated write."""
    params = gradient_params(max_params=4)
    unit = GradientUnit(params)
    model = GradientMemoryModel(params)

    async def testbench(ctx):
        bench = GradientBench(ctx, unit, model)
        await bench.settle()
        # round_half_up(mu * a / 2**28) with mu * a = +-2**27: ties.
        for mu, kind, a, k in [(1, RotationKind.RX, 1 << 27, 0), (-1, RotationKind.RX, 1 << 27, 0),
                               (1, RotationKind.P, 1 << 26, 0), (-1, RotationKind.P, 1 << 26, 0),
                               (3, RotationKind.RZ, 1 << 20, 6), (-3, RotationKind.RY, 1 << 20, 6)]:
            bench.update_adjoint(0, mu, kind, a, k)
            await bench.ticks(GRAD_EMIT_CYCLES)
            await bench.emit(0, 1)
        # Shift: d = 2**29 * value -> round(d / 2**30) = value / 2 (ties for odd values).
        for value in (1, -1, 3, -3):
            bench.mac(value, 1 << 29, True)
            await bench.ticks(GRAD_PRODUCT_LATENCY + 1)
            bench.update_shift(1, 1 << 28)
            await bench.ticks(GRAD_EMIT_CYCLES)
            await bench.emit(0, 2)
        # Saturation both ways, sticky in the model, pulsed by the RTL per saturated write.
        top = (1 << (accumulator_bits(params) - 1)) - 1
        for sign in (1, -1):
            for _ in range(3):
                bench.update_adjoint(2, sign * top, RotationKind.RX, (1 << 31) - 1,
                                     max_scale_shift(params))
                await bench.tick()
            await bench.ticks(GRAD_EMIT_CYCLES)
            assert model.grads[2] == sign * (1 << 63) - (sign > 0)
            await bench.emit(0, 3)
        assert bench.overflows == 4  # two saturated writes per direction

    simulate(unit, testbench)


def test_gradient_unit_tightest_schedule_and_same_index_back_to_back():
    """The sequencer's tightest order: an update in cycle t, emit in t + P + 1 (beats from
    t + P + 2; the first gradient read sees the write of t + P + 2, transparent;
    P = GRAD_PRODUCT_LATENCY, GRAD_EMIT_CYCLES = P + 1).
    Updates in consecutive clocks to the same entry accumulate."""
    params = gradient_params(max_params=4)
    unit = GradientUnit(params)
    model = GradientMemoryModel(params)

    async def testbench(ctx):
        bench = GradientBench(ctx, unit, model)
        await bench.settle()
        for index in range(4):
            bench.mac(12345678901, shift_model.TWO_TERM[0][1], True)
            await bench.tick()
            bench.mac(-987654321, shift_model.TWO_TERM[1][1], False)
            await bench.ticks(GRAD_PRODUCT_LATENCY + 1)  # the last mac's d is usable here
            bench.update_shift(index, 3 << 27)
            await bench.ticks(GRAD_EMIT_CYCLES)
            await bench.emit(7, 4)
        for _ in range(3):
            for value in (1 << 40, -(1 << 33), 5):
                bench.update_adjoint(0, value, RotationKind.RY, 1 << 28, 0)
                await bench.tick()
            await bench.ticks(GRAD_EMIT_CYCLES - 1)
            await bench.emit(-1, 1)

    simulate(unit, testbench)


def test_gradient_unit_reset_sweep():
    """The sweep runs max_params cycles after configuration and after the core's RESET
    (ResetInserter: the memory keeps its contents, ``clearing`` resets to 1), and on clear_all;
    afterwards every entry reads 0."""
    from amaranth.hdl import Module, ResetInserter, Signal

    params = gradient_params(max_params=20)
    m = Module()
    reset = Signal()
    unit = GradientUnit(params)
    m.submodules.unit = ResetInserter(reset)(unit)
    model = GradientMemoryModel(params)
    rng = np.random.default_rng(9)

    async def fill(bench):
        for index in range(params.max_params):
            bench.update_adjoint(index, int(rng.integers(1, 1 << 30)), RotationKind.RX, 1 << 28, 0)
            await bench.tick()
        await bench.ticks(GRAD_PRODUCT_LATENCY + 3)  # the product, round, clamp and write
        assert not bench.ctx.get(unit.busy)
        assert any(model.grads)

    async def testbench(ctx):
        bench = GradientBench(ctx, unit, model)
        assert await bench.settle() == params.max_params  # after configuration
        await fill(bench)
        ctx.set(reset, 1)  # RESET in the middle of a set
        await bench.tick()
        ctx.set(reset, 0)
        model.clear_all()
        assert await bench.settle() == params.max_params
        await bench.emit(0, params.max_params)  # all zero
        await fill(bench)
        ctx.set(unit.clear_all, 1)
        await bench.tick()
        model.clear_all()
        assert await bench.settle() == params.max_params
        await bench.emit(0, params.max_params)

    simulate(m, testbench)


# == state banks ==============================================================================
@pytest.mark.parametrize(("lanes", "adjoint"), [(1, True), (2, True), (4, True), (2, False)])
def test_state_banks_shared_reads_and_per_bank_writes(lanes, adjoint):
    """Bank A and bank B at the same read addresses every clock; writes go to the bank selected;
    the lanes' read data follow the registered bank select; no bank B without ``adjoint``."""
    params = CoreParams(max_qubits=5, lanes=lanes, width=12, adjoint=adjoint)
    unit = StateBanks(params)
    assert unit.has_lambda == adjoint
    rng = np.random.default_rng(lanes)
    banks = params.banks
    size = 1 << params.max_qubits
    contents = {0: random_state(rng, 5, 12), 1: random_state(rng, 5, 12)}

    async def testbench(ctx):
        # Fill: rows of 2*lanes distinct-bank addresses (the row addressing of INIT/OBS).
        for bank in (0, 1) if adjoint else (0,):
            for row in range(size // banks):
                for port in range(banks):
                    address = row * banks + port
                    ctx.set(unit.wr_addr[port], address)
                    set_complex(ctx, unit.wr_data[port], (contents[bank][0][address], contents[bank][1][address]))
                ctx.set(unit.wr_en, (1 << banks) - 1)
                ctx.set(unit.wr_bank, bank)
                await ctx.tick()
        ctx.set(unit.wr_en, 0)
        # Read random gate-pass rows (pairs of a random target), both banks at once.
        from qfab_hw.model.addressing import pair_addresses

        for _ in range(30):
            target = int(rng.integers(5))
            group = int(rng.integers(size // banks))
            i0, i1 = pair_addresses(group * lanes + np.arange(lanes), target)
            addresses = [a for pair in zip(i0.tolist(), i1.tolist()) for a in pair]
            select = int(rng.integers(2)) if adjoint else 0
            for port, address in enumerate(addresses):
                ctx.set(unit.rd_addr[port], address)
            ctx.set(unit.rd_en, 1)
            ctx.set(unit.rd_ports, (1 << banks) - 1)
            ctx.set(unit.rd_bank, select)
            await ctx.tick()
            # The next read (other addresses, the other bank) brings this one out of the RAM's
            # output register: MEMORY_READ_LATENCY clocks of rd_en, its select in step.
            for port in range(banks):
                ctx.set(unit.rd_addr[port], int(rng.integers(size)))
            ctx.set(unit.rd_bank, 1 - select if adjoint else 0)
            for _ in range(MEMORY_READ_LATENCY - 1):
                await ctx.tick()
            ctx.set(unit.rd_en, 0)
            for hold in range(2):  # rd_en low holds the data
                for port, address in enumerate(addresses):
                    psi = (contents[0][0][address], contents[0][1][address])
                    assert get_complex(ctx, unit.rd_data_a[port]) == psi
                    if adjoint:
                        lam = (contents[1][0][address], contents[1][1][address])
                        assert get_complex(ctx, unit.rd_data_b[port]) == lam
                        assert get_complex(ctx, unit.rd_data[port]) == (lam if select else psi)
                    else:
                        assert get_complex(ctx, unit.rd_data[port]) == psi
                await ctx.tick()

    simulate(unit, testbench)


# == the blocks together: RUN_ADJOINT's gradients =============================================
def loaded_model(params, seed: int, n_qubits: int, gates: int, opcode):
    """A random stored program (4 parameters, 2 OBS terms) with one parameter set: CoreModel's
    beats of ``opcode`` over it, and a second model holding the same program and parameters, for
    a composition of blocks to step through."""
    from qfab_hw import Assembler, CoreModel
    from qfab_hw.program import load_params_words, run_word
    from qfab_hw.testing import random_stored_body

    rng = np.random.default_rng(seed)
    body = random_stored_body(rng, params, n_qubits, gates=gates, param_count=4, terms=2, reads=False)
    program = Assembler(params.width).program(body).end().words()
    load = [int(w) for w in load_params_words(rng.uniform(-np.pi, np.pi, size=(1, 4)))]
    reference = CoreModel(params)
    reference.run(program)
    expected = reference.run(load + [run_word(opcode, 0, 1), 0]).beats
    model = CoreModel(params)
    model.run(program)
    model.run(load + [0])
    return expected, model


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_blocks_compose_to_run_adjoint(seed):
    """A random stored program's backward sweep with the RTL reducer (fed the pairs of each
    rotation's pass at the cut after it) and the RTL gradient unit (update, then the 1 + P
    beats), the U-dagger passes by the lane model with the inverse stage's coefficients: the
    beats equal CoreModel's RUN_ADJOINT bit for bit. This is the order of the fused schedule too
    (the reducer reads the same pairs as the pass over bank A, before its write-back)."""
    from amaranth.hdl import Module

    from qfab_hw.model.core import RunResult, _lane_pass, _v1_lane_op  # the model's own pass
    from qfab_hw.program import Opcode, split_affine

    params = CoreParams(max_qubits=4, lanes=2, width=18, max_params=4, param_depth=16,
                        program_depth=128, adjoint=True)
    n = 3 + seed % 2
    expected, model = loaded_model(params, seed, n, 10, Opcode.RUN_ADJOINT)
    value = model._replay(0, "adjoint", None, RunResult())  # forward: psi in A, lambda in B
    stored = model.program
    m = Module()
    m.submodules.reducer = reducer = AdjointReducer(params)
    m.submodules.gradients = gradients = GradientUnit(params)
    beats = []

    async def testbench(ctx):
        bench = GradientBench(ctx, gradients, GradientMemoryModel(params))
        await bench.settle()
        for position in reversed(stored.gate_positions):
            ins = stored.instructions[position]
            psi, lam = (model.re, model.im), (model.lam_re, model.lam_im)
            if ins.opcode == Opcode.GATE_ROT:
                ctx.set(reducer.kind, ins.kind)
                ctx.set(reducer.clear, 1)
                await bench.tick()
                ctx.set(reducer.clear, 0)
                for row in pass_rows(psi, lam, n, ins.target, ins.control, params.lanes):
                    ctx.set(reducer.i.valid, 1)
                    present_row(ctx, reducer, row)
                    await bench.tick()
                ctx.set(reducer.i.valid, 0)
                for _ in range(reducer.latency - 1):
                    await bench.tick()
                mu = ctx.get(reducer.total)
                a, _ = split_affine(ins.data[0])
                bench.update_adjoint(ins.param, mu, ins.kind, a, stored.obs_shift)
                await bench.tick()
                op, coefficients, quarter = LaneOp.MATRIX, model._rotation(ins, 0, 0), 0
            else:
                op, coefficients = _v1_lane_op(ins.opcode, ins.payload)
                quarter = ins.quarter_turns
            if coefficients is not None:
                coefficients, quarter, _ = lane_inverse(op, coefficients, quarter, params.width)
            else:
                _, quarter, _ = lane_inverse(op, [(0, 0)] * 4, quarter, params.width)
            model.re, model.im, _ = _lane_pass(model.re, model.im, n, ins.target, ins.control, op,
                                               coefficients, quarter, params.width)
            model.lam_re, model.lam_im, _ = _lane_pass(model.lam_re, model.lam_im, n, ins.target,
                                                       ins.control, op, coefficients, quarter,
                                                       params.width)
        await bench.ticks(GRAD_EMIT_CYCLES)
        ctx.set(gradients.emit, 1)
        ctx.set(gradients.emit_count, model.param_memory.count)
        ctx.set(gradients.value, value)
        ctx.set(gradients.o.ready, 1)
        await ctx.tick()
        ctx.set(gradients.emit, 0)
        while ctx.get(gradients.o.valid):
            beats.append(ctx.get(gradients.o.payload.data))
            await ctx.tick()

    simulate(m, testbench)
    assert any(ins.opcode == Opcode.GATE_ROT for ins in stored.instructions)
    assert beats == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocks_compose_to_run_shift(seed):
    """RUN_SHIFT's reduction with the RTL shift-rule table and gradient unit: per occurrence the
    shifted replays' values (CoreModel's replay with the table's sigma) go into the mac with the
    table's weight, in the sequencer's timing (mac at END, the update when its d has landed, the
    beats GRAD_EMIT_CYCLES after the last update): the beats equal CoreModel's RUN_SHIFT bit for bit."""
    from amaranth.hdl import Module

    from qfab_hw.model.core import RunResult
    from qfab_hw.program import Opcode, split_affine

    params = CoreParams(max_qubits=4, lanes=1, width=16, max_params=4, param_depth=16,
                        program_depth=128)
    expected, model = loaded_model(params, seed, 3, 8, Opcode.RUN_SHIFT)
    stored = model.program
    value = model._replay(0, "shift", None, RunResult())
    m = Module()
    m.submodules.table = table = ShiftRuleTable()
    m.submodules.gradients = gradients = GradientUnit(params)
    beats = []

    async def testbench(ctx):
        bench = GradientBench(ctx, gradients, GradientMemoryModel(params))
        await bench.settle()
        for position in stored.rotation_positions:
            ins = stored.instructions[position]
            four = ins.control is not None and ins.kind != RotationKind.P
            ctx.set(table.four_term, int(four))
            for term in range(4 if four else 2):
                ctx.set(table.term, term)
                await bench.tick()  # (the replay; the table is combinational)
                sigma, weight = ctx.get(table.sigma), ctx.get(table.weight)
                shifted = model._replay(0, "shift", (position, sigma), RunResult())
                bench.mac(shifted, weight, term == 0)  # END
                await bench.tick()
                await bench.tick()  # SHIFT_MAC
            await bench.ticks(GRAD_PRODUCT_LATENCY - 1)  # GRAD_UPDATE: the last d lands
            a, _ = split_affine(ins.data[0])
            bench.update_shift(ins.param, a)
            await bench.tick()
        await bench.ticks(GRAD_EMIT_CYCLES - 1)
        ctx.set(gradients.emit, 1)  # GRAD_EMIT's last cycle: the beats start next cycle
        ctx.set(gradients.emit_count, model.param_memory.count)
        ctx.set(gradients.value, value)
        ctx.set(gradients.o.ready, 1)
        await ctx.tick()
        ctx.set(gradients.emit, 0)
        while ctx.get(gradients.o.valid):
            beats.append(ctx.get(gradients.o.payload.data))
            await ctx.tick()

    simulate(m, testbench)
    assert stored.rotation_positions
    assert beats == expected
