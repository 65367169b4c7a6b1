"""Instruction set v2 in the RTL, in Amaranth's simulator, against the bit-accurate model.

Blocks: the parameter memory, the instruction memory (record and replay fetch), the rotation
(coefficient) unit, the observable unit, the v2 decoder (every error code, every context). The
whole core (``QfabCore``: AXI-Stream in/out, AXI-Lite START/RESET/STATUS/CYCLES/BUILD2) on small
builds: random v2 programs (PROGRAM, LOAD_PARAMS, RUN with GATE_ROT, OBS and stored readouts,
mixed with v1 programs) beat for beat, TLAST for TLAST and cycle for cycle equal to
``CoreModel``; back-pressure on both streams; every v2 error code with what it keeps and what it
invalidates; RESET in the middle of a RUN. RUN_SHIFT and RUN_ADJOINT in the whole core:
tests/hw/test_core_gradients.py.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from qfab_hw import Assembler, CoreModel, CoreParams, ErrorCode, Instruction, Opcode
from qfab_hw.core import QfabCore
from qfab_hw.decoder import InstructionDecoder
from qfab_hw.model import observable as observable_model
from qfab_hw.model import rotation as rotation_model
from qfab_hw.model.cycles import instruction_cycles
from qfab_hw.model.param_memory import ParamMemory
from qfab_hw.model.sequencer import ProgramBuilder
from qfab_hw.observable import ObservableUnit
from qfab_hw.param_memory import ParameterMemory
from qfab_hw.program import (
    DecoderContext,
    PROGRAM_GATE_OPCODES,
    RotationKind,
    decode_header,
    decode_program,
    header_error,
    instruction_from_words,
    pack_angle_words,
)
from qfab_hw.program_memory import ProgramMemory
from qfab_hw.registers import CONTROL_RESET, CONTROL_START, Register
from qfab_hw.rotation import RotationUnit
from qfab_hw.testing import random_stored_body, random_v2_packets

from tests.support.amaranth_sim import simulate

MASK64 = (1 << 64) - 1


# -- parameter memory ----------------------------------------------------------------------
@pytest.mark.parametrize("depth", [2, 16])
def test_parameter_memory_matches_its_model(depth):
    params = CoreParams(max_qubits=3, max_params=min(depth, 5), param_depth=depth)
    unit = ParameterMemory(params)
    model = ParamMemory(params)
    rng = np.random.default_rng(depth)
    shapes = [(p, b) for p in range(1, params.max_params + 1) for b in range(1, 9) if p * b <= depth]
    loads = [shapes[int(k)] for k in rng.integers(len(shapes), size=12)] + [shapes[-1], (1, 1)]

    async def testbench(ctx):
        for count, sets in loads:
            angles = rng.integers(0, 1 << 32, size=count * sets)
            angles[:2] = [0x8000_0000, 0x7FFF_FFFF][: len(angles[:2])]  # the signed extremes
            payload = pack_angle_words(angles)
            model.load(count, sets, payload)
            ctx.set(unit.load, 1)
            ctx.set(unit.load_count, count)
            ctx.set(unit.load_sets, sets)
            ctx.set(unit.load_words, len(payload))
            await ctx.tick()
            ctx.set(unit.load, 0)
            assert (ctx.get(unit.count), ctx.get(unit.sets)) == (count, sets)
            for k, word in enumerate(payload):
                ctx.set(unit.wr_en, 1)
                ctx.set(unit.wr_data, word)
                assert ctx.get(unit.wr_last) == (k == len(payload) - 1)
                await ctx.tick()
            ctx.set(unit.wr_en, 0)
            # Reads in random order, with idle (rd_en low) cycles that must hold the data.
            for index in rng.permutation(count * sets):
                ctx.set(unit.rd_en, 1)
                ctx.set(unit.rd_index, int(index))
                await ctx.tick()
                ctx.set(unit.rd_en, 0)
                ctx.set(unit.rd_index, int(rng.integers(depth)))
                expected = model.read(int(index) // count, int(index) % count)
                for _ in range(int(rng.integers(1, 3))):
                    assert ctx.get(unit.rd_data) == expected
                    await ctx.tick()

    simulate(unit, testbench)


# -- instruction memory --------------------------------------------------------------------
def body_words(body):
    words = Assembler(18).program(body).words()
    return words[1:]  # without the PROGRAM header


@pytest.mark.parametrize("seed", [0, 1])
def test_program_memory_records_and_fetches(seed):
    params = CoreParams(max_qubits=4, max_params=8, program_depth=128)
    unit = ProgramMemory(params)
    rng = np.random.default_rng(seed)
    bodies = [random_stored_body(rng, params, int(rng.integers(1, 5)), gates=int(rng.integers(0, 10)),
                          param_count=int(rng.integers(1, 9))) for _ in range(6)]
    big = Assembler(18).init(2)
    for k in range(5):
        big.obs([k % 2], weight=-127.9 if k % 2 else 127.9)  # S > 2**24: a lambda scale k > 0
    bodies.append(big)

    async def testbench(ctx):
        for body in bodies:
            words = body_words(body)
            builder = ProgramBuilder(params, len(words))
            ctx.set(unit.store_start, 1)
            ctx.set(unit.store_words, len(words))
            await ctx.tick()
            ctx.set(unit.store_start, 0)
            assert not ctx.get(unit.valid)
            position = 0
            for ins in decode_program(words, params.width):
                for k, word in enumerate(ins.words()):
                    assert ctx.get(unit.header_expected) == (k == 0)
                    assert ctx.get(unit.words_left) == len(words) - position
                    if k == 0:
                        context = builder.context()
                        assert ctx.get(unit.started) == context.program_started
                        assert ctx.get(unit.observing) == context.observing
                        assert ctx.get(unit.n_qubits) == builder.n_qubits
                    ctx.set(unit.store_en, 1)
                    ctx.set(unit.store_word, word)
                    assert ctx.get(unit.store_done) == (position == len(words) - 1)
                    await ctx.tick()
                    position += 1
                builder.add(instruction_from_words(ins.words()[0], ins.words()[1:], params.width))
            ctx.set(unit.store_en, 0)
            stored = builder.finish()
            assert ctx.get(unit.valid)
            assert ctx.get(unit.n_qubits) == stored.n_qubits
            assert ctx.get(unit.param_count) == stored.param_count
            assert ctx.get(unit.observing) == bool(stored.observables)
            assert ctx.get(unit.weight_sum) == sum(abs(w) for w in stored.weights)
            assert ctx.get(unit.obs_shift) == stored.obs_shift
            headers, address = [], 0
            for ins in stored.instructions:
                headers.append((address, ins.opcode))
                address += ins.word_count
            reads = [a for a, op in headers if op in (Opcode.READ_STATE, Opcode.READ_PROBS, Opcode.READ_EXPZ)]
            assert ctx.get(unit.last_read) == (reads[-1] if reads else 0)
            gates = [a for a, op in headers if op in PROGRAM_GATE_OPCODES]
            assert ctx.get(unit.gate_count) == len(gates)
            # Fetch: restart, then random moves (a stalled consumer holds the word): advance,
            # restart, the backward sweep's start at the last gate, a prepared jump to a gate.
            ctx.set(unit.fetch_restart, 1)
            await ctx.tick()
            ctx.set(unit.fetch_restart, 0)
            pc = 0
            for _ in range(4 * len(words)):
                assert ctx.get(unit.fetch_pc) == pc
                assert ctx.get(unit.fetch_word) == words[pc]
                move = rng.choice(["advance", "hold", "restart", "backward", "jump"], p=[0.5, 0.2, 0.1, 0.1, 0.1])
                if move == "advance" and pc + 1 < len(words):
                    ctx.set(unit.fetch_advance, 1)
                    await ctx.tick()
                    ctx.set(unit.fetch_advance, 0)
                    pc += 1
                elif move == "restart":
                    ctx.set(unit.fetch_restart, 1)
                    await ctx.tick()
                    ctx.set(unit.fetch_restart, 0)
                    pc = 0
                elif move == "backward" and gates:
                    ctx.set(unit.fetch_backward, 1)
                    await ctx.tick()
                    ctx.set(unit.fetch_backward, 0)
                    pc = gates[-1]
                elif move == "jump" and gates:
                    gate = int(rng.integers(len(gates)))
                    ctx.set(unit.gate_index, gate)
                    await ctx.tick()  # the gate table's read
                    assert ctx.get(unit.gate_address) == gates[gate]
                    ctx.set(unit.fetch_prepare, 1)
                    await ctx.tick()
                    ctx.set(unit.fetch_prepare, 0)
                    assert ctx.get(unit.fetch_word) == words[pc]  # held until the jump
                    ctx.set(unit.fetch_jump, 1)
                    await ctx.tick()
                    ctx.set(unit.fetch_jump, 0)
                    pc = gates[gate]
                else:
                    await ctx.tick()

    simulate(unit, testbench)


# -- rotation unit -------------------------------------------------------------------------
@pytest.mark.parametrize("width", [12, 18, 25])
def test_rotation_unit_matches_its_model(width):
    params = CoreParams(max_qubits=3, width=width)
    unit = RotationUnit(params)
    rng = np.random.default_rng(width)
    extremes = [-(1 << 31), (1 << 31) - 1, 0, 1, -1]
    cases = []
    for kind in RotationKind:
        for t in extremes:
            for a in (-(1 << 31), (1 << 31) - 1, 1 << 28, -(1 << 29)):
                cases.append((kind, t, a, int(rng.integers(1 << 32)), int(rng.choice([0, 1 << 29, -(1 << 29) & 0xFFFF_FFFF]))))
        for _ in range(40):
            cases.append((kind, int(rng.integers(-(1 << 31), 1 << 31)), int(rng.integers(-(1 << 31), 1 << 31)),
                          int(rng.integers(1 << 32)), int(rng.integers(1 << 32))))
        for quarter in range(16):  # exact quarter turns of the half angle
            cases.append((kind, 0, 0, quarter << 30, 0))

    async def testbench(ctx):
        for kind, t, a, b, sigma in cases:
            ctx.set(unit.kind, kind)
            ctx.set(unit.a, a)
            ctx.set(unit.b, b)
            ctx.set(unit.shift, sigma)
            ctx.set(unit.i.payload, t)
            ctx.set(unit.i.valid, 1)
            await ctx.tick()
            ctx.set(unit.i.valid, 0)
            ctx.set(unit.i.payload, int(rng.integers(-(1 << 31), 1 << 31)))  # ignored now
            for cycle in range(unit.latency + 2):
                if ctx.get(unit.o.valid):
                    break
                await ctx.tick()
            assert cycle == unit.latency - 1  # o.valid exactly `latency` clocks after i.valid
            h = rotation_model.half_angle(t, a, b, sigma)
            expected = rotation_model.rotation_coefficients(kind, h, params)
            got = [(ctx.get(unit.o.payload[k].re), ctx.get(unit.o.payload[k].im)) for k in range(4)]
            assert got == [tuple(int(v) for v in c) for c in expected], (kind, t, a, b, sigma)
            await ctx.tick()
            assert not ctx.get(unit.o.valid)  # one pulse; the result is held
            assert [(ctx.get(unit.o.payload[k].re), ctx.get(unit.o.payload[k].im)) for k in range(4)] == got

    simulate(unit, testbench)


# -- observable unit -----------------------------------------------------------------------
def test_observable_unit_matches_its_model():
    params = CoreParams(max_qubits=4, width=18, program_depth=64)
    unit = ObservableUnit(params)
    rng = np.random.default_rng(3)
    bits = params.reduce_accumulator_bits
    high = (1 << (bits - 1)) - 1
    replays = [[(int(rng.integers(-(1 << 31), 1 << 31)), int(rng.integers(-(1 << 34), 1 << 34)))
                for _ in range(int(rng.integers(1, 5)))] for _ in range(20)]
    replays += [[((1 << 31) - 1, high)] * 32, [(-(1 << 31), high)] * 32,  # saturates both ways
                [(1 << 23, 1)], [(-(1 << 23), 1)], [(1 << 24, -3), (1 << 23, 5)]]  # round half up

    async def testbench(ctx):
        for terms in replays:
            ctx.set(unit.clear, 1)
            await ctx.tick()
            ctx.set(unit.clear, 0)
            total = 0
            for weight, value in terms:
                total += weight * value
                ctx.set(unit.weight, weight)
                ctx.set(unit.i.payload, value)
                ctx.set(unit.i.valid, 1)
                await ctx.tick()
                ctx.set(unit.i.valid, 0)
                for _ in range(unit.latency - 1):  # the MAC's other clocks (the OBS drain)
                    await ctx.tick()
            expected, overflow = observable_model.cost_value(total)
            assert ctx.get(unit.value) == expected
            assert ctx.get(unit.overflow) == overflow

    simulate(unit, testbench)


# -- decoder -------------------------------------------------------------------------------
V2_PARAMS = CoreParams(max_qubits=6, lanes=2, max_params=5, param_depth=16, program_depth=32,
                       adjoint=False)


def random_v2_header(rng):
    opcode = int(rng.choice([int(o) for o in Opcode] + [0x11, 0x7F]))
    word = opcode
    if rng.random() < 0.6:
        word |= int(rng.integers(0, 8)) << 8
    if rng.random() < 0.4:
        word |= int(rng.integers(0, 8)) << 16 | 1 << 24
    if rng.random() < 0.3:
        word |= 1 << 25
    if rng.random() < 0.3:
        word |= int(rng.integers(4)) << 26
    if rng.random() < 0.7:
        word |= int(rng.choice([0, 1, 2, 3, 4, 5, 6, 16, 17, 32, 33, int(rng.integers(1 << 16))])) << 32
    if rng.random() < 0.6:
        word |= int(rng.choice([0, 1, 2, 3, 4, 8, 16, 17, int(rng.integers(1 << 16))])) << 48
    if rng.random() < 0.08:
        word |= 1 << int(rng.integers(0, 64))
    return word & MASK64


def random_context(rng):
    if rng.random() < 0.4:
        return DecoderContext(storing=True, words_left=int(rng.integers(1, 8)),
                              program_started=bool(rng.integers(2)), observing=rng.random() < 0.3)
    return DecoderContext(program_valid=bool(rng.integers(2)), program_params=int(rng.integers(0, 6)),
                          program_observables=int(rng.integers(0, 2)), param_count=int(rng.integers(0, 6)),
                          set_count=int(rng.integers(0, 8)))


def test_decoder_v2_matches_header_error():
    """Every opcode in every context against the model's decoder, every error code seen."""
    params = V2_PARAMS
    decoder = InstructionDecoder(params)
    rng = np.random.default_rng(7)
    cases = [(random_v2_header(rng), random_context(rng), int(rng.integers(0, 7))) for _ in range(6000)]
    seen = set()

    async def testbench(ctx):
        for word, context, n_qubits in cases:
            ctx.set(decoder.word, word)
            ctx.set(decoder.n_qubits, n_qubits)
            ctx.set(decoder.storing, context.storing)
            ctx.set(decoder.words_left, context.words_left)
            ctx.set(decoder.started, context.program_started)
            ctx.set(decoder.observing, context.observing)
            ctx.set(decoder.program_valid, context.program_valid)
            ctx.set(decoder.program_params, context.program_params)
            ctx.set(decoder.program_observables, bool(context.program_observables))
            ctx.set(decoder.param_count, context.param_count)
            ctx.set(decoder.set_count, context.set_count)
            expected = header_error(word, n_qubits, params, context)
            seen.add(expected)
            assert ctx.get(decoder.error) == expected, (hex(word), context, n_qubits)
            fields = decode_header(word)
            for name in ("opcode", "target", "control", "kind", "mask", "field_a", "field_b"):
                assert ctx.get(getattr(decoder, name)) == fields[name], name
            if expected == ErrorCode.NONE and fields["opcode"] == Opcode.LOAD_PARAMS:
                count = fields["field_a"] * fields["field_b"]
                assert ctx.get(decoder.product) == count
                assert ctx.get(decoder.param_words) == (count + 1) // 2
            if expected == ErrorCode.NONE and fields["opcode"] == Opcode.RUN:
                assert ctx.get(decoder.product) == fields["field_a"] * context.param_count

    simulate(decoder, testbench)
    assert seen == set(ErrorCode)


# -- the whole core ------------------------------------------------------------------------
class CoreBench:
    """QfabCore in Amaranth's simulator: programs through s_axis, beats from m_axis, START,
    RESET, STATUS and CYCLES through AXI-Lite. Every clock goes through :meth:`cycle`, which
    drives and samples both streams, so register accesses never stall the streams."""

    def __init__(self, params: CoreParams, in_stall=0.0, out_stall=0.0, seed=0):
        self.params = params
        self.dut = QfabCore(params)
        self.rng = random.Random(seed)
        self.in_stall, self.out_stall = in_stall, out_stall
        self.words, self.position, self.beats, self.lasts = [], 0, [], []

    async def cycle(self, ctx):
        dut = self.dut
        pending = self.position < len(self.words)
        ctx.set(dut.s_axis.tvalid, int(pending and self.rng.random() >= self.in_stall))
        if pending:
            ctx.set(dut.s_axis.tdata, self.words[self.position])
            ctx.set(dut.s_axis.tlast, int(self.position == len(self.words) - 1))
        ctx.set(dut.m_axis.tready, int(self.rng.random() >= self.out_stall))
        took = ctx.get(dut.s_axis.tvalid) and ctx.get(dut.s_axis.tready)
        if ctx.get(dut.m_axis.tvalid) and ctx.get(dut.m_axis.tready):
            self.beats.append(ctx.get(dut.m_axis.tdata))
            self.lasts.append(bool(ctx.get(dut.m_axis.tlast)))
        await ctx.tick()
        self.position += bool(took)

    async def write(self, ctx, address, value):
        bus = self.dut.s_axil
        ctx.set(bus.awaddr, address)
        ctx.set(bus.wdata, value)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        ctx.set(bus.bready, 1)
        while not ctx.get(bus.awready):
            await self.cycle(ctx)
        await self.cycle(ctx)
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        while not ctx.get(bus.bvalid):
            await self.cycle(ctx)
        await self.cycle(ctx)

    async def read(self, ctx, address):
        bus = self.dut.s_axil
        ctx.set(bus.araddr, address)
        ctx.set(bus.arvalid, 1)
        ctx.set(bus.rready, 1)
        while not ctx.get(bus.arready):
            await self.cycle(ctx)
        await self.cycle(ctx)
        ctx.set(bus.arvalid, 0)
        while not ctx.get(bus.rvalid):
            await self.cycle(ctx)
        value = ctx.get(bus.rdata)
        await self.cycle(ctx)
        return value

    async def status(self, ctx):
        word = await self.read(ctx, Register.STATUS)
        cycles = await self.read(ctx, Register.CYCLES_LO) | await self.read(ctx, Register.CYCLES_HI) << 32
        return {"busy": word & 1, "done": word >> 1 & 1, "overflow": bool(word >> 2 & 1),
                "error": ErrorCode(word >> 8 & 0xFF), "n_qubits": word >> 16 & 0xFF, "cycles": cycles}

    async def play(self, ctx, words, max_cycles=400_000):
        """One program: START, its packet, until DONE; returns beats, TLASTs and STATUS."""
        self.words, self.position, self.beats, self.lasts = list(words), 0, [], []
        await self.write(ctx, Register.CONTROL, 1 << CONTROL_START)
        engine = self.dut.engine
        for _ in range(max_cycles):
            if ctx.get(engine.done) and not ctx.get(engine.busy):
                break
            await self.cycle(ctx)
        else:
            raise AssertionError("the core did not finish")
        status = await self.status(ctx)
        assert self.position == len(self.words), "the packet was not consumed to TLAST"
        return self.beats, self.lasts, status

    def simulate(self, testbench):
        simulate(self.dut, testbench)


def check(result, expected, exact_cycles=True):
    beats, lasts, status = result
    assert status["error"] == expected.error
    assert beats == expected.beats
    assert lasts == expected.last
    assert status["overflow"] == expected.overflow
    assert status["n_qubits"] == expected.n_qubits
    assert status["done"] and not status["busy"]
    if exact_cycles:
        assert status["cycles"] == expected.cycles


BUILDS = {
    "l1w18": CoreParams(max_qubits=4, lanes=1, width=18, max_params=6, param_depth=64, program_depth=128),
    "l2w14": CoreParams(max_qubits=4, lanes=2, width=14, max_params=4, param_depth=32, program_depth=64),
    "l1w12": CoreParams(max_qubits=3, lanes=1, width=12, max_params=8, param_depth=16, program_depth=64),
}


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_random_v2_programs_match_the_model(build):
    params = BUILDS[build]
    rng = np.random.default_rng(sorted(BUILDS).index(build))
    packets = random_v2_packets(rng, params, 16)
    bench, model = CoreBench(params), CoreModel(params)

    async def testbench(ctx):
        assert await bench.read(ctx, Register.BUILD) == params.build_word
        assert await bench.read(ctx, Register.BUILD2) == params.build2_word
        for words in packets:
            expected = model.run(words)
            check(await bench.play(ctx, words), expected)
            overflows.append(expected.overflow)
        assert expected.overflow  # the last packet saturates

    overflows = []
    bench.simulate(testbench)


def test_back_pressure_changes_timing_only():
    params = BUILDS["l2w14"]
    rng = np.random.default_rng(11)
    packets = random_v2_packets(rng, params, 3)
    bench, model = CoreBench(params, in_stall=0.3, out_stall=0.4, seed=5), CoreModel(params)

    async def testbench(ctx):
        for words in packets:
            check(await bench.play(ctx, words), model.run(words), exact_cycles=False)

    bench.simulate(testbench)


def test_gate_rot_and_obs_cost_their_closed_forms():
    """One rotation of each kind, controlled and not, and OBS terms: the RUN's cycles minus the
    bare program's are instruction_cycles(GATE_ROT / OBS) (+1 for the value beat)."""
    params = BUILDS["l2w14"]
    n = 4
    bench, model = CoreBench(params), CoreModel(params)
    thetas = np.array([[0.3, -1.1]])
    bodies = {"base": Assembler(params.width).init(n)}
    for kind in ("rx", "ry", "rz", "p"):
        bodies[kind] = Assembler(params.width).init(n).rot(kind, 1, 1, a=0.5, b=0.2, control=0)
    bodies["obs"] = Assembler(params.width).init(n).obs([0, 2], weight=-0.75).obs([1], 0.5)

    async def testbench(ctx):
        cycles = {}
        for name, body in bodies.items():
            setup = Assembler(params.width).program(body).load_params(thetas).end().words()
            check(await bench.play(ctx, setup), model.run(setup))
            words = Assembler(params.width).run(0, 1).end().words()
            expected = model.run(words)
            result = await bench.play(ctx, words)
            check(result, expected)
            cycles[name] = result[2]["cycles"]
        for kind in ("rx", "ry", "rz", "p"):
            assert cycles[kind] - cycles["base"] == instruction_cycles(Opcode.GATE_ROT, n, params)
        assert cycles["obs"] - cycles["base"] == 2 * instruction_cycles(Opcode.OBS, n, params) + 1

    bench.simulate(testbench)


# -- errors ----------------------------------------------------------------------------------
SMALL = CoreParams(max_qubits=4, lanes=1, width=18, max_params=4, param_depth=8, program_depth=32)


def stored(*instructions, count=None):
    words = [w for ins in instructions for w in ins.words()]
    return [Instruction(Opcode.PROGRAM, count=len(words) if count is None else count).header()] + words


INIT3 = Instruction(Opcode.INIT, target=3)
END = Instruction(Opcode.END)
ROT = Assembler(18).rot("rx", 0, 1).instructions[0]
OBS = Assembler(18).obs([0]).instructions[0]
SETUP = (Assembler(18).program(Assembler(18).init(3).rot("ry", 0, 0).rot("rx", 1, 1).cx(0, 1).obs([1]))
         .load_params(np.full((3, 2), 0.4)).run(0, 1).end().words())
RUN01 = Assembler(18).run(0, 1).end().words()
READ = Assembler(18).read_state().end().words()

#: (packet, its error): each runs on a core holding a state, a program and parameters
#: (SETUP); the follow-up packets then show what the error kept and what it invalidated.
ERROR_CASES = [
    # the parameter memory: P, B and its depth (B*P > param_depth is the overflow)
    (Assembler(18).load_params(np.zeros((1, 5))).words(), ErrorCode.BAD_PARAM),
    ([Instruction(Opcode.LOAD_PARAMS, param=0, count=1).header()], ErrorCode.BAD_PARAM),
    ([Instruction(Opcode.LOAD_PARAMS, param=2, count=0).header()], ErrorCode.BAD_SET),
    (Assembler(18).load_params(np.zeros((3, 3))).words(), ErrorCode.BAD_SET),
    # RUN's set range and parameter count
    (Assembler(18).run(2, 2).words(), ErrorCode.BAD_SET),
    (Assembler(18).run(0, 0).words(), ErrorCode.BAD_SET),
    (Assembler(18).load_params(np.zeros((2, 1))).run(0, 1).words(), ErrorCode.BAD_PARAM),
    # the instruction memory's depth (the overflow), an empty program
    ([Instruction(Opcode.PROGRAM, count=33).header()], ErrorCode.PROGRAM_TOO_LONG),
    ([Instruction(Opcode.PROGRAM, count=0).header()], ErrorCode.BAD_PROGRAM),
    # GATE_ROT and OBS outside PROGRAM
    ([ROT.header(), 0], ErrorCode.BAD_PROGRAM),
    ([OBS.header(), 0], ErrorCode.BAD_PROGRAM),
    # RUN_ADJOINT without bank B, a gradient of a program without OBS terms
    (Assembler(18).run_adjoint(0, 1).words(), ErrorCode.NO_ADJOINT),
    (stored(INIT3, ROT, END) + Assembler(18).run_shift(0, 1).words(), ErrorCode.NO_OBSERVABLE),
    ([0x11], ErrorCode.BAD_OPCODE),
    # faulty PROGRAM bodies: the old program is gone
    (stored(Instruction(Opcode.GATE_X, 0), END), ErrorCode.BAD_PROGRAM),
    (stored(END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, INIT3, END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, Instruction(Opcode.READ_STATE, last=True), END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, OBS, ROT, END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, END, ROT, END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, ROT, count=3), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, ROT, count=2), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, Instruction(Opcode.RUN, count=1), END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, Instruction(Opcode.PROGRAM, count=1), END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, Instruction(Opcode.LOAD_PARAMS, param=1, count=1), END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, Instruction(Opcode.LOAD, target=3, payload=((0, 0),) * 8), END), ErrorCode.BAD_PROGRAM),
    (stored(INIT3, Assembler(18).rot("rx", 0, 4).instructions[0], END), ErrorCode.BAD_PARAM),
    (stored(INIT3, Assembler(18).rot("rx", 3, 0).instructions[0], END), ErrorCode.BAD_TARGET),
    (stored(INIT3, Assembler(18).rot("rx", 1, 0, control=1).instructions[0], END), ErrorCode.BAD_CONTROL),
    (stored(INIT3, Assembler(18).obs([3]).instructions[0], END), ErrorCode.BAD_MASK),
    (stored(Instruction(Opcode.INIT, target=5), END), ErrorCode.BAD_QUBIT_COUNT),
    (stored(INIT3, Instruction(Opcode.GATE_X, 1, 1), END), ErrorCode.BAD_CONTROL),
    (stored(INIT3, END)[:1] + [INIT3.header() | 1 << 40, END.header()], ErrorCode.RESERVED_BITS),
]


def test_every_v2_error_code_and_what_it_keeps():
    params = SMALL
    bench, model = CoreBench(params), CoreModel(params)
    seen = set()

    # The faulty packets: RTL against the model, then the same follow-ups.
    async def faulty(ctx):
        for words, code in ERROR_CASES:
            check(await bench.play(ctx, SETUP), model.run(SETUP))
            packet = list(words) + [0, 0, 0]
            result = await bench.play(ctx, packet)
            assert result[2]["error"] == code, (code, [hex(w) for w in words])
            assert result[0] == []
            check(result, model.run(packet))
            for follow_up in (RUN01, READ):  # NO_PROGRAM after a faulty body
                expected = model.run(follow_up)
                check(await bench.play(ctx, follow_up), expected)
                seen.add(expected.error)
            seen.add(code)

    bench.simulate(faulty)
    assert seen == set(ErrorCode) - {ErrorCode.NO_STATE}


def test_no_program_no_parameters_and_full_memories():
    """RUN without a program (NO_PROGRAM) or parameters (BAD_SET); a program of exactly
    program_depth words and B*P = param_depth fit; one word or angle more is refused."""
    params = SMALL
    bench, model = CoreBench(params), CoreModel(params)
    body = Assembler(18).init(2)
    while sum(i.word_count for i in body.instructions) + 1 + 5 <= params.program_depth:
        body.rot("ry", 0, 1, a=-1.5)
    while sum(i.word_count for i in body.instructions) + 1 < params.program_depth:
        body.x(1)
    assert sum(i.word_count for i in body.instructions) + 1 == params.program_depth
    full = np.linspace(-3, 3, params.param_depth).reshape(-1, 2)
    too_long = Assembler(18).program(body.x(0)).end().words()
    packets = [
        Assembler(18).load_params(full).end().words(),
        RUN01,  # NO_PROGRAM
        Assembler(18).program(Assembler(18).init(2).rot("rz", 1, 0)).end().words(),
        Assembler(18).run(0, params.param_depth // 2).end().words(),  # every set of the full memory
        Assembler(18).program(Assembler(18).init(2).rot("rz", 1, 0).read_state()).end().words(),
        Assembler(18).load_params(np.zeros((3, 3))).end().words(),  # BAD_SET: 9 > 8, params kept
        Assembler(18).run(1, 3, last=True).end().words(),
        too_long,  # PROGRAM_TOO_LONG, the old program kept
        Assembler(18).run(3, 1, last=True).end().words(),
    ]
    body.instructions.pop()  # back to exactly program_depth words
    packets += [Assembler(18).program(body).load_params(full).run(0, 4).read_state()
                .end().words()]

    async def testbench(ctx):
        errors = []
        for packet in packets:
            expected = model.run(packet)
            errors.append(expected.error)
            check(await bench.play(ctx, packet), expected)
        assert errors == [ErrorCode.NONE, ErrorCode.NO_PROGRAM, ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NONE,
                          ErrorCode.BAD_SET, ErrorCode.NONE, ErrorCode.PROGRAM_TOO_LONG, ErrorCode.NONE,
                          ErrorCode.NONE]

    bench.simulate(testbench)


def test_reset_in_the_middle_of_a_run():
    """RESET during a RUN aborts it, discards the rest of the packet and invalidates the
    state, the program and the parameters (the model's reset); the core then runs like new."""
    params = BUILDS["l1w18"]
    rng = np.random.default_rng(4)
    body = random_stored_body(rng, params, 4, gates=8, param_count=2, terms=1, reads=False)
    thetas = rng.uniform(-math.pi, math.pi, size=(4, 2))
    program = Assembler(params.width).program(body).load_params(thetas).run(0, 4).end().words()
    bench, model = CoreBench(params), CoreModel(params)

    async def testbench(ctx):
        bench.words, bench.position, bench.beats, bench.lasts = list(program), 0, [], []
        await bench.write(ctx, Register.CONTROL, 1 << CONTROL_START)
        for _ in range(400):
            await bench.cycle(ctx)
        assert ctx.get(bench.dut.engine.busy) and bench.position < len(program)
        assert 0 < len(bench.beats) < 4  # in the middle of the run: some sets' values are out
        await bench.write(ctx, Register.CONTROL, 1 << CONTROL_RESET)
        status = await bench.status(ctx)
        assert not status["busy"] and not status["done"] and status["n_qubits"] == 0
        for _ in range(10):
            await bench.cycle(ctx)
        assert bench.position == len(program)  # the packet drained to TLAST
        model.reset()
        for packet in (RUN01, READ, Assembler(18).program(body).end().words(), RUN01,
                       Assembler(18).load_params(thetas).run(1, 2, last=True).end().words()):
            expected = model.run(packet)
            check(await bench.play(ctx, packet), expected)
        assert expected.error == ErrorCode.NONE and len(expected.beats) == 2

    bench.simulate(testbench)
