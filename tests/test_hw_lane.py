"""The gate lane block in Amaranth's simulator against its bit-accurate model, vector by
vector: products, round half up, saturation, fast paths, control pass-through, latency."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from qfab_hw.gate_lane import GateLane
from qfab_hw.model import LaneOp, apply_lane

WIDTH = 18
LOW, HIGH = -(1 << (WIDTH - 1)), (1 << (WIDTH - 1)) - 1


def random_vectors(rng, count):
    """Amplitudes over the whole range (so saturation happens), extremes included."""
    values = rng.integers(LOW, HIGH + 1, size=(count, 4))
    values[:4] = [[LOW, LOW, LOW, LOW], [HIGH, HIGH, HIGH, HIGH], [LOW, HIGH, 0, LOW], [0, 0, LOW, 0]]
    return values


@pytest.mark.parametrize(
    ("op", "quarter_turns"),
    [(LaneOp.MATRIX, 0), (LaneOp.SWAP, 0)] + [(LaneOp.PHASE4, k) for k in range(4)],
)
def test_lane_matches_model(op, quarter_turns):
    rng = np.random.default_rng(int(op) * 4 + quarter_turns)
    lane = GateLane(WIDTH)
    coefficients = [tuple(int(v) for v in rng.integers(LOW, HIGH + 1, size=2)) for _ in range(4)]
    vectors = random_vectors(rng, 64)
    active = rng.integers(2, size=len(vectors)).astype(bool)
    outputs = []

    async def testbench(ctx):
        ctx.set(lane.op, op)
        ctx.set(lane.quarter_turns, quarter_turns)
        for k, (re, im) in enumerate(coefficients):
            ctx.set(lane.coefficients[k].re, re)
            ctx.set(lane.coefficients[k].im, im)
        for cycle in range(len(vectors) + lane.latency):
            if cycle < len(vectors):
                x0r, x0i, x1r, x1i = (int(v) for v in vectors[cycle])
                ctx.set(lane.i.payload.x0.re, x0r)
                ctx.set(lane.i.payload.x0.im, x0i)
                ctx.set(lane.i.payload.x1.re, x1r)
                ctx.set(lane.i.payload.x1.im, x1i)
                ctx.set(lane.i.payload.active, int(active[cycle]))
                ctx.set(lane.i.valid, 1)
            else:
                ctx.set(lane.i.valid, 0)
            await ctx.tick()
            if ctx.get(lane.o.valid):
                y0, y1 = lane.o.payload.y0, lane.o.payload.y1
                outputs.append((ctx.get(y0.re), ctx.get(y0.im), ctx.get(y1.re), ctx.get(y1.im),
                                ctx.get(lane.overflow)))

    sim = Simulator(lane)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()

    assert len(outputs) == len(vectors)  # one result per input, after exactly `latency`
    for (x0r, x0i, x1r, x1i), is_active, output in zip(vectors, active, outputs):
        y0, y1, overflow = apply_lane(
            op, (np.array([x0r]), np.array([x0i])), (np.array([x1r]), np.array([x1i])),
            coefficients=coefficients, quarter_turns=quarter_turns,
            active=np.array([is_active]), width=WIDTH)
        expected = (int(y0[0][0]), int(y0[1][0]), int(y1[0][0]), int(y1[1][0]), int(overflow))
        assert output == expected

