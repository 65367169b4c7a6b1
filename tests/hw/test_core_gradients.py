"""RUN_SHIFT and RUN_ADJOINT in the whole core (``QfabCore`` in Amaranth's simulator) against the
bit-accurate model: random stored programs (rotations of every kind, controlled ones, v1 gates,
stored readouts, one or two OBS terms), sets from the middle of a batch, beat for beat, TLAST for
TLAST and cycle for cycle; the cycles equal the closed forms of ``qfab_hw.model.cycles``;
back-pressure on both streams changes timing only; RESET in the middle of the shift loop or of
the backward sweep leaves a core that runs like new (the gradient memory cleared again).

Under Verilator the same programs run through cocotb (sim/, ``gradient`` cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qfab_hw import Assembler, CoreModel, CoreParams
from qfab_hw.model.cycles import run_cycles
from qfab_hw.program import Opcode, RotationKind
from qfab_hw.register_map import CONTROL_RESET, CONTROL_START, Register
from qfab_hw.testing import random_gradient_packets, random_stored_body

from .test_blocks_v2 import CoreBench, check

BUILDS = {
    "l1w18": CoreParams(max_qubits=4, lanes=1, width=18, max_params=4, param_depth=32,
                        program_depth=128, adjoint=True),
    "l2w14": CoreParams(max_qubits=4, lanes=2, width=14, max_params=5, param_depth=32,
                        program_depth=128, adjoint=True),
    "l2w16-shift-only": CoreParams(max_qubits=3, lanes=2, width=16, max_params=3, param_depth=16,
                                   program_depth=64),
}


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_random_gradient_runs_match_the_model(build):
    params = BUILDS[build]
    rng = np.random.default_rng(sorted(BUILDS).index(build) + 20)
    packets = random_gradient_packets(rng, params, 5)
    bench, model = CoreBench(params), CoreModel(params)
    kinds = set()

    async def testbench(ctx):
        for words in packets:
            expected = model.run(words)
            check(await bench.play(ctx, words), expected)
            if model.program is not None:
                kinds.update((ins.kind, ins.control is not None)
                             for ins in model.program.instructions if ins.opcode == Opcode.GATE_ROT)

    bench.simulate(testbench)
    assert len(kinds) >= 4  # several rotation kinds, controlled and not


def loud_body(params):
    """A program whose values and gradients saturate and whose U-dagger clips: OVERFLOW."""
    body = Assembler(params.width).init(params.min_qubits)
    body.unitary([[1.9, 0], [0, 1.9]], 0).unitary([[1.9, 0], [0, 1.9]], 0).rot("rx", 0, 0)
    return body.obs([0], weight=100.0)


@pytest.mark.parametrize("opcode", [Opcode.RUN_SHIFT, Opcode.RUN_ADJOINT])
def test_overflow_and_cycles_equal_the_closed_form(opcode):
    """A fixed program with every rotation kind (one controlled of each), two OBS terms; then one
    that saturates: OVERFLOW as the model says. CYCLES = run_cycles(...) + the END."""
    params = BUILDS["l1w18"]
    n = 4
    body = Assembler(params.width).init(n)
    for k, kind in enumerate(("rx", "ry", "rz", "p")):
        body.rot(kind, k % n, k % params.max_params, a=0.5 + k, b=0.1 * k)
        body.rot(kind, (k + 1) % n, (k + 1) % params.max_params, a=-1.25, control=(k + 2) % n)
    body.cx(0, 3).h(2).obs([0, 1], weight=0.75).obs([3], weight=-0.5)
    thetas = np.random.default_rng(3).uniform(-math.pi, math.pi, size=(3, params.max_params))
    bench, model = CoreBench(params), CoreModel(params)

    async def testbench(ctx):
        for program, sets in ((body, thetas), (loud_body(params), np.ones((2, 1)))):
            setup = Assembler(params.width).program(program).load_params(sets).end().words()
            check(await bench.play(ctx, setup), model.run(setup))
            runner = Assembler(params.width)
            (runner.run_shift if opcode == Opcode.RUN_SHIFT else runner.run_adjoint)(0, len(sets))
            words = runner.end().words()
            expected = model.run(words)
            result = await bench.play(ctx, words)
            check(result, expected)
            closed = run_cycles(opcode, program, params, len(sets), sets.shape[1]) + 1  # + END
            assert result[2]["cycles"] == closed
        assert expected.overflow

    bench.simulate(testbench)


def test_back_pressure_changes_timing_only():
    params = BUILDS["l2w14"]
    packets = random_gradient_packets(np.random.default_rng(8), params, 2)
    bench, model = CoreBench(params, in_stall=0.3, out_stall=0.5, seed=3), CoreModel(params)

    async def testbench(ctx):
        for words in packets:
            check(await bench.play(ctx, words), model.run(words), exact_cycles=False)

    bench.simulate(testbench)


@pytest.mark.parametrize("opcode,after", [(Opcode.RUN_SHIFT, 300), (Opcode.RUN_ADJOINT, 150)])
def test_reset_in_the_middle_of_a_gradient_run(opcode, after):
    """RESET during the shift loop or the backward sweep: the run stops, the packet drains, the
    state, program and parameters are gone, the gradient memory's partial sums are cleared (its
    sweep runs before START is taken), and the same gradient run then equals the model's."""
    params = BUILDS["l1w18"]
    rng = np.random.default_rng(5)
    body = random_stored_body(rng, params, 4, gates=6, param_count=3, terms=2, reads=False)
    thetas = rng.uniform(-math.pi, math.pi, size=(2, 3))
    runner = Assembler(params.width).program(body).load_params(thetas)
    (runner.run_shift if opcode == Opcode.RUN_SHIFT else runner.run_adjoint)(0, 2)
    program = runner.end().words()
    bench, model = CoreBench(params), CoreModel(params)
    assert any(ins.opcode == Opcode.GATE_ROT and ins.kind in tuple(RotationKind)
               for ins in body.instructions)

    async def testbench(ctx):
        bench.words, bench.position, bench.beats, bench.lasts = list(program), 0, [], []
        await bench.write(ctx, Register.CONTROL, 1 << CONTROL_START)
        for _ in range(after):
            await bench.cycle(ctx)
        assert ctx.get(bench.dut.engine.busy) and not bench.beats  # inside the first set
        await bench.write(ctx, Register.CONTROL, 1 << CONTROL_RESET)
        status = await bench.status(ctx)
        assert not status["busy"] and status["n_qubits"] == 0
        for _ in range(10):
            await bench.cycle(ctx)
        assert bench.position == len(program)
        model.reset()
        expected = model.run(program)
        check(await bench.play(ctx, program), expected)
        assert len(expected.beats) == 2 * (1 + 3)

    bench.simulate(testbench)
