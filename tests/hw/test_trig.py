"""The sin/cos unit: its model against float64 sin/cos within the stated bound (every width,
exhaustively for small widths), exact corners, and the RTL bit for bit against the model in
Amaranth's simulator (random and corner angles, back-to-back and gapped starts, held
results, latency)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from qfab_hw import CoreParams
from qfab_hw.model import trig
from qfab_hw.model.trig import ANGLE_BITS, geometry, latency, max_error_lsb, sincos
from qfab_hw.params import MAX_WIDTH, MIN_WIDTH
from qfab_hw.trig import SinCosUnit

TURN = 1 << ANGLE_BITS
QUARTER = TURN >> 2


def params_for(width: int) -> CoreParams:
    return CoreParams(max_qubits=10, width=width)


def error_lsb(angles, params):
    """max |model − float64| over cos and sin, in output LSBs."""
    cos, sin = sincos(angles, params)
    theta = 2 * np.pi * np.asarray(angles, dtype=np.float64) / TURN
    scale = float(1 << params.frac_bits)
    return max(np.max(np.abs(cos - np.cos(theta) * scale)),
               np.max(np.abs(sin - np.sin(theta) * scale)))


def corner_angles(params) -> list[int]:
    """Quarter turns and their neighbours (± the smallest step, ± one step the unit resolves),
    the last angle before the wrap, table-entry boundaries."""
    geo = geometry(params)
    resolved = 1 << (ANGLE_BITS - 2 - geo.residual_bits)  # one step of r
    entry = resolved << geo.fraction_bits  # one table entry
    angles = []
    for quarter in range(5):
        base = quarter * QUARTER
        for delta in (0, 1, -1, resolved - 1, resolved, -resolved, entry, -entry, entry - 1):
            angles.append((base + delta) % TURN)
    angles += [TURN - 1, TURN // 8, 3 * TURN // 8, TURN // 3, TURN // 12]
    return angles


@given(width=st.integers(MIN_WIDTH, MAX_WIDTH),
       angles=st.lists(st.integers(0, TURN - 1), min_size=1, max_size=64))
def test_model_within_bound(width, angles):
    params = params_for(width)
    assert error_lsb(np.array(angles, dtype=np.int64), params) <= max_error_lsb(params)


@pytest.mark.parametrize("width", range(MIN_WIDTH, 15))
def test_model_within_bound_on_every_angle(width):
    """Every value of the bits the unit reads, at both ends of the angles sharing them: the
    output is constant there, so this is the maximum over all 2**32 angles."""
    params = params_for(width)
    used = 2 + geometry(params).residual_bits
    cells = np.arange(1 << used, dtype=np.int64) << (ANGLE_BITS - used)
    for end in (0, (1 << (ANGLE_BITS - used)) - 1):
        assert error_lsb(cells + end, params) <= max_error_lsb(params)


@pytest.mark.parametrize("width", [MIN_WIDTH, 12, 16, 17, 18, 20, MAX_WIDTH])
def test_model_dense_sample(width):
    params = params_for(width)
    rng = np.random.default_rng(width)
    angles = np.concatenate([rng.integers(0, TURN, size=200_000), corner_angles(params)])
    assert error_lsb(angles, params) <= max_error_lsb(params) < 0.8


@pytest.mark.parametrize("width", range(MIN_WIDTH, MAX_WIDTH + 1))
def test_model_exact_corners_and_range(width):
    params = params_for(width)
    one = 1 << params.frac_bits
    cos, sin = sincos(np.arange(4) * QUARTER, params)
    assert cos.tolist() == [one, 0, -one, 0]
    assert sin.tolist() == [0, one, 0, -one]
    # |cos|, |sin| <= 1.0 everywhere, so W signed bits always hold the result.
    angles = np.random.default_rng(0).integers(0, TURN, size=20_000)
    for value in sincos(np.concatenate([angles, corner_angles(params)]), params):
        assert np.all(np.abs(value) <= one)
    geo = geometry(params)
    assert geo.fraction_bits + 2 <= 18  # the signed fraction fits a DSP48's B port
    assert geo.d_bits + 1 <= 25  # and the slope its A port


def test_model_interface():
    params = params_for(18)
    assert latency(params) == trig.LATENCY  # the RTL's: test_rtl_latency_and_hold
    cos, sin = sincos(np.array([0, QUARTER + TURN, -QUARTER]), params)  # modulo a turn
    assert cos.dtype == np.int64 and sin.shape == (3,)
    assert sin.tolist() == [0, 1 << 16, -(1 << 16)]
    scalar = sincos(QUARTER // 2, params)
    assert abs(int(scalar[0]) - round(math.cos(math.pi / 4) * 2**16)) <= 1
    with pytest.raises(TypeError):
        sincos(np.array([0.5]), params)
    with pytest.raises(TypeError):
        SinCosUnit(18)
    with pytest.raises(ValueError):
        SinCosUnit(params, ram_style="ultra")


def run_unit(params, schedule, extra_cycles=8):
    """Drive ``schedule`` (per cycle: an angle to start, or None for an idle cycle with a random
    payload on the bus); return per cycle (o.valid, cos, sin) after that cycle's clock edge."""
    unit = SinCosUnit(params)
    rng = np.random.default_rng(len(schedule))
    observed = []

    async def testbench(ctx):
        for cycle in range(len(schedule) + extra_cycles):
            angle = schedule[cycle] if cycle < len(schedule) else None
            if angle is None:
                ctx.set(unit.i.valid, 0)
                ctx.set(unit.i.payload, int(rng.integers(0, TURN)))  # must be ignored
            else:
                ctx.set(unit.i.valid, 1)
                ctx.set(unit.i.payload, angle)
            await ctx.tick()
            observed.append((ctx.get(unit.o.valid), ctx.get(unit.o.payload.cos),
                             ctx.get(unit.o.payload.sin)))

    sim = Simulator(unit)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return unit, observed


def check_against_model(params, schedule, observed, unit):
    """Each started angle's result appears exactly ``latency`` cycles later (the observation
    after edge c + latency − 1), equals the model, and is held while no new result arrives."""
    starts = [c for c, angle in enumerate(schedule) if angle is not None]
    angles = np.array([schedule[c] for c in starts], dtype=np.int64)
    cos, sin = sincos(angles, params)
    expected_at = {c + unit.latency - 1: (int(x), int(y)) for c, x, y in zip(starts, cos, sin)}
    held = None
    for cycle, (valid, got_cos, got_sin) in enumerate(observed):
        assert bool(valid) == (cycle in expected_at), f"o.valid wrong after edge {cycle}"
        if valid:
            held = expected_at[cycle]
        if held is not None:
            assert (got_cos, got_sin) == held, f"cycle {cycle}"


@pytest.mark.parametrize("width", [MIN_WIDTH, 9, 12, 18, 25])
def test_rtl_matches_model(width):
    params = params_for(width)
    rng = np.random.default_rng(100 + width)
    angles = corner_angles(params) + [int(a) for a in rng.integers(0, TURN, size=60)]
    schedule = []
    for k, angle in enumerate(angles):  # back-to-back runs, then gaps of 1..4 idle cycles
        schedule.append(angle)
        if k >= len(angles) // 2:
            schedule.extend([None] * int(rng.integers(1, 5)))
    unit, observed = run_unit(params, schedule)
    check_against_model(params, schedule, observed, unit)


def test_rtl_latency_and_hold():
    """One start: nothing for latency − 1 cycles, one done pulse, then the result is held."""
    params = params_for(18)
    angle = TURN // 3
    unit, observed = run_unit(params, [angle], extra_cycles=12)
    valid = [v for v, _, _ in observed]
    assert valid.index(1) == unit.latency - 1 == latency(params) - 1
    assert sum(valid) == 1
    cos, sin = (int(v) for v in sincos(angle, params))
    assert all((c, s) == (cos, sin) for _, c, s in observed[unit.latency - 1:])
    check_against_model(params, [angle], observed, unit)
