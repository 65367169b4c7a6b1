"""Hardware blocks in Amaranth's simulator against their models: the gate lane (products,
round half up, saturation, fast paths, control pass-through, latency), the instruction
decoder (fields and error priority) and the address generator (pairs, control bit)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from qfab_hw import CoreParams, ErrorCode, Instruction, Opcode
from qfab_hw.address_gen import AddressGenerator
from qfab_hw.decoder import InstructionDecoder
from qfab_hw.gate_lane import GateLane
from qfab_hw.model import LaneOp, apply_lane, pair_addresses
from qfab_hw.program import decode_header, header_error

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



#: The RTL decoder is checked against the v1 header rules here: v2's headers (opcodes 10-16,
#: their context checks) are the decoder's v2 work, tested with it.
V1_OPCODES = [o for o in Opcode if o <= Opcode.READ_EXPZ]
V1_ERRORS = {e for e in ErrorCode if e <= ErrorCode.BAD_MASK}


def random_headers(rng, count):
    """Mostly plausible headers (valid opcodes, small fields, sparse stray bits) so every
    error code and the valid case all occur."""
    words = []
    for _ in range(count):
        opcode = int(rng.choice([int(o) for o in V1_OPCODES] + [0x11, 0x3F]))
        word = Instruction(Opcode.END).header() | opcode
        word |= int(rng.integers(0, 10)) << 8  # target / n
        if rng.random() < 0.5:
            word |= int(rng.integers(0, 10)) << 16 | 1 << 24  # controlled
        if rng.random() < 0.3:
            word |= 1 << 25
        if rng.random() < 0.3:
            word |= int(rng.integers(4)) << 26
        if rng.random() < 0.3:
            word |= int(rng.integers(0, 1 << 10)) << 32  # mask
        if rng.random() < 0.1:
            word |= 1 << int(rng.integers(0, 64))  # a stray bit anywhere
        words.append(word)
    return words


def test_decoder_matches_its_model():
    params = CoreParams(max_qubits=8, lanes=2)
    decoder = InstructionDecoder(params)
    rng = np.random.default_rng(1)
    cases = [(w, int(rng.integers(0, 9))) for w in random_headers(rng, 2000)]
    seen = set()

    async def testbench(ctx):
        for word, n_qubits in cases:
            ctx.set(decoder.word, word)
            ctx.set(decoder.n_qubits, n_qubits)
            expected = header_error(word, n_qubits, params)
            seen.add(expected)
            assert ctx.get(decoder.error) == expected, (hex(word), n_qubits)
            fields = decode_header(word)
            assert ctx.get(decoder.opcode) == fields["opcode"]
            assert ctx.get(decoder.target) == fields["target"]
            assert ctx.get(decoder.control) == fields["control"]
            assert ctx.get(decoder.mask) == fields["mask"]
            assert ctx.get(decoder.quarter_turns) == fields["quarter_turns"]

    sim = Simulator(decoder)
    sim.add_testbench(testbench)
    sim.run()
    assert seen == V1_ERRORS  # every (v1) error path exercised


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_address_generator_matches_its_model(lanes):
    params = CoreParams(max_qubits=6, lanes=lanes)
    generator = AddressGenerator(params)

    async def testbench(ctx):
        for target in range(6):
            for control in range(6):
                ctx.set(generator.target, target)
                ctx.set(generator.control, control)
                ctx.set(generator.controlled, int(control != target))
                for group in range(32 // lanes):
                    ctx.set(generator.group, group)
                    i0, i1 = pair_addresses(group * lanes + np.arange(lanes), target)
                    for lane in range(lanes):
                        assert ctx.get(generator.i0[lane]) == i0[lane]
                        assert ctx.get(generator.i1[lane]) == i1[lane]
                        active = (i0[lane] >> control) & 1 if control != target else 1
                        assert ctx.get(generator.active) >> lane & 1 == active

    sim = Simulator(generator)
    sim.add_testbench(testbench)
    sim.run()
