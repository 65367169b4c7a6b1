"""cocotb testbenches of the qfab core, run under Verilator by ``test_core_rtl.py``.

Every check compares the RTL against :class:`qfab_hw.CoreModel`: output beats and TLAST bits
word for word, the STATUS fields, and (with stall-free streams) the CYCLES register. The bench
itself (clock, reset, AXI models, ``run``) is :mod:`qfab_hw.verilator.bench`; on top of it
every bench here runs the AXI protocol monitors of ``axi_protocol.py`` from before the first
reset and samples each packet the RTL ran as the model did for ``functional_coverage.py``.

Randomness comes from one seed, ``QFAB_SIM_SEED`` (the runner's; drawn afresh when a bench is
started without it), which every bench logs first and every failure message names.
"""

from __future__ import annotations

import functools
import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge

from qfab_hw import Assembler, CoreModel, CoreParams, ErrorCode, Opcode
from qfab_hw.model.cycles import instruction_cycles, run_cycles, set_cycles
from qfab_hw.program import MASK_SHIFT, Instruction, header_error
from qfab_hw.registers import CONTROL_RESET, CONTROL_START, Register
from qfab_hw.testing import random_gradient_packets, random_program, random_state, random_v2_packets
from qfab_hw.verilator.bench import SIM_TIMEOUT_MS, CoreBench, start_bench

from axi_protocol import HandshakeRules, ProtocolMonitor
from functional_coverage import export as export_coverage
from functional_coverage import sample_packet

SEED = int(os.environ.get("QFAB_SIM_SEED") or random.SystemRandom().randrange(1 << 31))
SEED_NOTE = f"QFAB_SIM_SEED={SEED}"
PROGRAMS = int(os.environ.get("QFAB_SIM_PROGRAMS", "4"))  # random programs per state size
#: Where a bench writes its measured figures: a path with ``{testcase}`` for the bench's name.
RESULTS_FILES = os.environ.get("QFAB_SIM_RESULTS")
#: Simulated time a bench may take: the longest takes a few ms; a core that hangs fails its
#: bench after this (the monitors make each simulated clock cost Python time, so a hang
#: running to the runner's general SIM_TIMEOUT_MS would cost many minutes).
BENCH_TIMEOUT_MS = SIM_TIMEOUT_MS // 20
#: The bench running now (``bench_test`` sets it; the benches of a build share one simulation).
running_bench = ""


def bench_test(test):
    """A cocotb test that logs the seed first, names it in an assertion's message, and exports
    its functional coverage however it ends."""

    @functools.wraps(test)
    async def seeded(dut):
        global running_bench
        running_bench = test.__name__
        dut._log.info("%s (set it to rerun this bench with the same programs and stalls)", SEED_NOTE)
        try:
            await test(dut)
        except AssertionError as error:
            raise AssertionError(f"{error} [{SEED_NOTE}]") from error
        finally:
            export_coverage()

    return cocotb.test(timeout_time=BENCH_TIMEOUT_MS, timeout_unit="ms")(seeded)


class Bench(CoreBench):
    """The shared bench with this suite's checks: the AXI protocol monitors (started before
    the clock and the first reset), and every packet the RTL ran exactly as the model sampled
    for coverage."""

    def __init__(self, dut):
        self.monitor = ProtocolMonitor(dut, note=SEED_NOTE).start()
        super().__init__(dut)

    def stream(self, direction: str) -> HandshakeRules:
        """The monitor's counts of the program input (``"in"``) or the result output (``"out"``)."""
        return self.monitor.stream(self.ports.stream_in if direction == "in" else self.ports.stream_out)

    async def run(self, words, model: CoreModel, *, exact_cycles: bool = True):
        expected, cycles = await super().run(words, model, exact_cycles=exact_cycles)
        sample_packet(words, expected.error, self.params)
        return expected, cycles


def write_results(figures: dict) -> None:
    """The bench's measured figures, for sim/report.py (when the runner asked for them)."""
    if RESULTS_FILES:
        with open(RESULTS_FILES.format(testcase=running_bench), "w") as handle:
            json.dump(figures, handle, indent=1)


def qubit_counts(params: CoreParams, largest: int = 8):
    return range(params.min_qubits, min(largest, params.max_qubits) + 1)


@bench_test
async def random_programs_match_model(dut):
    """Random programs on every supported n up to 8, bit for bit and cycle for cycle."""
    bench = await start_bench(dut, Bench)
    model = CoreModel(bench.params)
    rng = np.random.default_rng(SEED)
    compared = {"programs": 0, "instructions": 0, "words_in": 0, "beats_out": 0, "cycles": 0}
    for n_qubits in qubit_counts(bench.params):
        for _ in range(PROGRAMS):
            depth = int(rng.integers(1, 12))
            program = random_program(rng, bench.params, n_qubits, depth)
            expected, cycles = await bench.run(program.words(), model)
            compared["programs"] += 1
            compared["instructions"] += len(program.instructions)
            compared["words_in"] += len(program.words())
            compared["beats_out"] += len(expected.beats)
            compared["cycles"] += cycles
    write_results(compared)


@bench_test
async def every_opcode_target_and_control(dut):
    """Every gate kind on every target, uncontrolled and under every other control qubit,
    on a random loaded state, with the state read out after each gate."""
    bench = await start_bench(dut, Bench)
    model = CoreModel(bench.params)
    rng = np.random.default_rng(SEED + 1)
    n_qubits = max(3, bench.params.min_qubits)
    program = Assembler(bench.params.width).load(random_state(rng, n_qubits))
    unitary = np.array([[0.6, 0.8j], [0.8j, 0.6]])
    for target in range(n_qubits):
        for control in [None] + [c for c in range(n_qubits) if c != target]:
            program.unitary(unitary, target, control).read_state()
            program.rz(0.7, target, control).read_state()
            program.x(target, control).read_state()
            for quarter_turns in range(4):
                program.phase_quarter(quarter_turns, target, control).read_state()
    program.read_probs().expect_z(range(n_qubits)).expect_z([0]).end()
    init = Assembler(bench.params.width).init(n_qubits).read_state().end()
    opcodes = {i.opcode for i in program.instructions + init.instructions}
    v1 = {o for o in Opcode if o <= Opcode.READ_EXPZ}  # v2's opcodes: the v2_* benches
    assert opcodes == v1, f"opcodes not covered: {v1 - opcodes}"
    await bench.run(init.words(), model)
    await bench.run(program.words(), model)


@bench_test
async def back_pressure_on_both_streams(dut):
    """Random stalls on the program input and the result output change timing only."""
    bench = await start_bench(dut, Bench)
    model = CoreModel(bench.params)
    rng = np.random.default_rng(SEED + 2)
    stall = random.Random(SEED)
    bench.source.set_pause_generator(iter(lambda: stall.random() < 0.3, None))
    bench.sink.set_pause_generator(iter(lambda: stall.random() < 0.4, None))
    for n_qubits in qubit_counts(bench.params, 6):
        words = random_program(rng, bench.params, n_qubits, 6).words()
        await bench.run(words, model, exact_cycles=False)


#: A stall the monitors must have seen on the output, in cycles (``long_stalls`` makes 200-400).
LONG_STALL = 200


def long_stalls(stream: HandshakeRules, rng: random.Random):
    """A pause generator: after a random 4..40 transfers of ``stream``, pause it for 200-400
    cycles, over and over. Each pause starts right after a transfer, so it falls in the
    middle of the packet or the readout burst that is streaming then."""
    while True:
        resume_after = stream.handshakes + rng.randint(4, 40)
        while stream.handshakes < resume_after:
            yield False
        yield from [True] * rng.randint(LONG_STALL, 2 * LONG_STALL)


@bench_test
async def long_stalls_mid_stream(dut):
    """The result sink and the program source each paused for hundreds of cycles again and
    again in mid-stream, through a LOAD, a READ_STATE burst, a stored program's readouts and
    a RUN's value beats: the beats wait (bit for bit and TLAST for TLAST the model's), and the
    monitors saw the output hold TVALID and TDATA through a whole long stall."""
    bench = await start_v2_bench(dut)
    params = bench.params
    rng = np.random.default_rng(SEED + 30)
    stall = random.Random(SEED + 30)
    bench.sink.set_pause_generator(long_stalls(bench.stream("out"), stall))
    bench.source.set_pause_generator(long_stalls(bench.stream("in"), stall))
    n_qubits = min(6, params.max_qubits)
    model = CoreModel(params)
    v1 = (Assembler(params.width).load(random_state(rng, n_qubits)).h(0).read_state().rx(0.4, 1)
          .read_probs().end().words())
    body = Assembler(params.width).init(n_qubits).rot("ry", 0, 0).read_state().obs([0, 1], 0.5)
    run = (Assembler(params.width).program(body).load_params(rng.uniform(-1, 1, size=(3, 1)))
           .run(0, 3).end().words())
    for words in (v1, run):
        await bench.run(words, model, exact_cycles=False)
    assert bench.stream("out").longest_stall >= LONG_STALL, bench.stream("out").longest_stall


async def reset_aborts_the_running_packet(bench, what: str) -> None:
    """RESET while ``what`` runs: the core is idle at once with no state (n = 0), the aborted
    packet drains to TLAST, and nothing comes out of it."""
    before = await bench.status()
    assert before.busy and not bench.source.idle(), f"reset must hit a running {what}"
    await bench.write(Register.CONTROL, 1 << CONTROL_RESET)
    after = await bench.status()
    assert not after.busy and not after.done and after.n_qubits == 0
    await bench.source.wait()  # the aborted packet drains to TLAST
    for _ in range(20):
        await RisingEdge(bench.clock)
    assert bench.sink.empty(), f"no output from the aborted {what}"


def long_program(params: CoreParams) -> tuple[list[int], int]:
    """A program whose packet is still arriving after the returned number of cycles from
    START, while the core runs its gates (the reset benches' target). The cycles include the
    gradient memory's sweep after the bench's reset (``max_params`` clocks, START waits for it):
    a RESET before the core has taken the packet's first word leaves the packet for the next
    START, which is not what these benches test."""
    n_qubits = min(8, params.max_qubits)
    program = Assembler(params.width).init(n_qubits)
    for qubit in range(n_qubits):
        program.h(qubit)
    for _ in range(4):
        for qubit in range(n_qubits):
            program.rx(0.3, qubit)
    return program.read_state().end().words(), params.max_params + 3 * (1 << n_qubits) // params.lanes


@bench_test
async def reset_in_the_middle_of_a_program(dut):
    """RESET aborts a running program, discards the rest of its packet and leaves a core that
    runs the next program exactly like a fresh one."""
    bench = await start_bench(dut, Bench)
    params = bench.params
    words, cycles = long_program(params)
    bench.send(words)
    await bench.write(Register.CONTROL, 1 << CONTROL_START)
    await ClockCycles(bench.clock, cycles)
    await reset_aborts_the_running_packet(bench, "program")

    model = CoreModel(params)
    # The state is invalid after RESET: a gate without INIT is refused ...
    await bench.run(Assembler(params.width).h(0).end().words(), model)
    # ... and a full program runs exactly as on a fresh core.
    await bench.run(words, model)


@bench_test
async def overflow_sets_the_sticky_flag(dut):
    """Amplitudes near the top of the Q2.F range saturate under H; the flag is per run."""
    bench = await start_bench(dut, Bench)
    params = bench.params
    model = CoreModel(params)
    n_qubits = max(2, params.min_qubits)
    big = np.full(1 << n_qubits, 1.9 - 1.2j)
    big[1::2] = 1.7 + 1.9j
    words = Assembler(params.width).load(big).h(0).read_state().end().words()
    expected, _ = await bench.run(words, model)
    assert expected.overflow
    calm = Assembler(params.width).init(n_qubits).h(0).read_state().end().words()
    expected, _ = await bench.run(calm, model)
    assert not expected.overflow


def malformed_words(params: CoreParams, n_qubits: int) -> dict[ErrorCode, int]:
    """One malformed header per error code, for a state of ``n_qubits``."""
    gate = Instruction(Opcode.GATE_X, target=0).header()
    return {
        ErrorCode.BAD_OPCODE: 0xFF,
        ErrorCode.RESERVED_BITS: gate | 1 << 30,
        ErrorCode.BAD_QUBIT_COUNT: Instruction(Opcode.INIT, target=params.max_qubits + 1).header(),
        ErrorCode.BAD_TARGET: Instruction(Opcode.GATE_X, target=n_qubits).header(),
        ErrorCode.BAD_CONTROL: Instruction(Opcode.GATE_X, target=0, control=0).header(),
        ErrorCode.BAD_MASK: Instruction(Opcode.READ_EXPZ).header() | 1 << (MASK_SHIFT + n_qubits),
    }


@bench_test
async def malformed_instruction_sets_error_and_core_stays_usable(dut):
    bench = await start_bench(dut, Bench)
    params = bench.params
    model = CoreModel(params)
    n_qubits = max(3, params.min_qubits)
    valid = Assembler(params.width).init(n_qubits).h(1).cx(1, 0).read_state().end().words()
    await bench.run(Assembler(params.width).x(0).end().words(), model)  # NO_STATE
    for code, bad in malformed_words(params, n_qubits).items():
        prefix = Assembler(params.width).init(n_qubits).h(0).words()
        assert header_error(bad, n_qubits, params) == code
        # the malformed word in the middle of a packet: the rest (a valid tail) is discarded
        expected, _ = await bench.run(prefix + [bad] + valid, model)
        assert expected.error == code
        expected, _ = await bench.run(valid, model)
        assert expected.error == ErrorCode.NONE


@bench_test
async def cycle_counts_per_gate_kind(dut):
    """CYCLES of one instruction on n qubits = the closed form (pairs/lanes + latency ...),
    measured as the difference of two programs that differ by that instruction."""
    bench = await start_bench(dut, Bench)
    params = bench.params
    model = CoreModel(params)
    kinds = {
        "GATE_U (h)": lambda a: a.h(0),
        "GATE_DIAG (rz)": lambda a: a.rz(0.4, 0),
        "GATE_X (x)": lambda a: a.x(0),
        "GATE_X controlled (cx)": lambda a: a.cx(1, 0),
        "GATE_PHASE4 (z)": lambda a: a.z(0),
        "READ_EXPZ": lambda a: a.expect_z([0]),
        "READ_STATE": lambda a: a.read_state(),
        "READ_PROBS": lambda a: a.read_probs(),
    }
    opcodes = {"GATE_U (h)": Opcode.GATE_U, "GATE_DIAG (rz)": Opcode.GATE_DIAG,
               "GATE_X (x)": Opcode.GATE_X, "GATE_X controlled (cx)": Opcode.GATE_X,
               "GATE_PHASE4 (z)": Opcode.GATE_PHASE4, "READ_EXPZ": Opcode.READ_EXPZ,
               "READ_STATE": Opcode.READ_STATE, "READ_PROBS": Opcode.READ_PROBS}
    table = []
    for n_qubits in qubit_counts(params, params.max_qubits):
        if n_qubits < 2:
            continue
        base_words = Assembler(params.width).init(n_qubits).end().words()
        _, base = await bench.run(base_words, model)
        for name, add in kinds.items():
            program = Assembler(params.width).init(n_qubits)
            add(program)
            _, cycles = await bench.run(program.end().words(), model)
            measured = cycles - base
            closed_form = instruction_cycles(opcodes[name], n_qubits, params)
            assert measured == closed_form, (name, n_qubits, measured, closed_form)
            table.append({"kind": name, "n_qubits": n_qubits, "lanes": params.lanes,
                          "measured": measured, "closed_form": closed_form})
    write_results(table)


# -- instruction set v2 ----------------------------------------------------------------------
async def start_v2_bench(dut):
    """The bench with the v2 build parameters too (BUILD2: memory depths, max_params)."""
    bench = await start_bench(dut, Bench)
    build2 = await bench.read(Register.BUILD2)
    bench.params = CoreParams.from_build_words(bench.params.build_word, build2)
    assert bench.params.build2_word == build2
    return bench


def v2_rng_params(params: CoreParams, largest: int = 6) -> CoreParams:
    """The packets' generator limits: states up to ``largest`` qubits, a few parameters."""
    return CoreParams(max_qubits=min(largest, params.max_qubits), lanes=params.lanes,
                      width=params.width, max_params=min(6, params.max_params),
                      param_depth=min(64, params.param_depth), program_depth=params.program_depth,
                      adjoint=params.adjoint)


async def compare_packets(bench, model: CoreModel, packets) -> dict:
    """Run every packet on the RTL and the model (``bench.run`` asserts they agree; none may
    fail); the figures compared."""
    compared = {"packets": 0, "words_in": 0, "beats_out": 0, "cycles": 0}
    for words in packets:
        expected, cycles = await bench.run(words, model)
        assert expected.error == ErrorCode.NONE
        compared["packets"] += 1
        compared["words_in"] += len(words)
        compared["beats_out"] += len(expected.beats)
        compared["cycles"] += cycles
    return compared


@bench_test
async def v2_random_programs_match_model(dut):
    """PROGRAM / LOAD_PARAMS / RUN packets (GATE_ROT of every kind, OBS terms, stored readouts,
    v1 programs between them) bit for bit, TLAST for TLAST and cycle for cycle."""
    bench = await start_v2_bench(dut)
    model = CoreModel(bench.params)
    rng = np.random.default_rng(SEED + 10)
    packets = random_v2_packets(rng, v2_rng_params(bench.params), 3 * PROGRAMS)
    write_results(await compare_packets(bench, model, packets))


@bench_test
async def v2_back_pressure_on_both_streams(dut):
    """Stalls on both streams change a RUN's timing only (the replay waits for the output)."""
    bench = await start_v2_bench(dut)
    rng = np.random.default_rng(SEED + 11)
    await under_back_pressure(bench, random_v2_packets(rng, v2_rng_params(bench.params, 5), 6), SEED + 11, 0.5)


async def under_back_pressure(bench, packets, seed: int, output_stall: float) -> None:
    """Every packet with random stalls on both streams (30 % of input beats, ``output_stall`` of
    output beats): the RTL equals the model except for its timing."""
    model = CoreModel(bench.params)
    stall = random.Random(seed)
    bench.source.set_pause_generator(iter(lambda: stall.random() < 0.3, None))
    bench.sink.set_pause_generator(iter(lambda: stall.random() < output_stall, None))
    for words in packets:
        await bench.run(words, model, exact_cycles=False)


def v2_setup(width: int, n_qubits: int) -> list[int]:
    body = Assembler(width).init(n_qubits).rot("ry", 0, 0).rot("rx", 1, 1, a=-0.5).cx(0, 1).obs([1]).read_probs()
    return (Assembler(width).program(body).load_params(np.full((3, 2), 0.4)).run(0, 1).end().words())


@bench_test
async def v2_errors_keep_or_invalidate(dut):
    """The v2 error codes at their header (the parameter and instruction memories' overflow
    included) change nothing; a faulty PROGRAM body leaves no program; RUN_ADJOINT on a build
    without bank B (NO_ADJOINT) and a gradient of a program without OBS terms (NO_OBSERVABLE)
    change nothing either."""
    bench = await start_v2_bench(dut)
    params = bench.params
    model = CoreModel(params)
    width = params.width
    n = max(3, params.min_qubits)
    run01 = Assembler(width).run(0, 1).end().words()
    too_many = Instruction(Opcode.LOAD_PARAMS, param=params.max_params,
                           count=params.param_depth // params.max_params + 1).header()
    cases = [
        ([too_many, 0, 0], ErrorCode.BAD_SET),  # B*P > param_depth
        ([Instruction(Opcode.PROGRAM, count=params.program_depth + 1).header(), 0], ErrorCode.PROGRAM_TOO_LONG),
        (Assembler(width).run(2, 2).end().words(), ErrorCode.BAD_SET),
        (Assembler(width).load_params(np.zeros((2, 1))).run(0, 1).end().words(), ErrorCode.BAD_PARAM),
        ([Assembler(width).rot("rx", 0, 0).words()[0], 0, 0], ErrorCode.BAD_PROGRAM),
        (Assembler(width).program(Assembler(width).init(n).obs([0]).x(0)).end().words(), ErrorCode.BAD_PROGRAM),
        (Assembler(width).program(Assembler(width).init(n).rot("rz", n, 0)).end().words(), ErrorCode.BAD_TARGET),
        (Assembler(width).program(Assembler(width).init(n).rot("rz", 1, 0)).run_shift(0, 1).end().words(),
         ErrorCode.NO_OBSERVABLE),
    ]
    if not params.adjoint:
        cases.append((Assembler(width).run_adjoint(0, 1).end().words(), ErrorCode.NO_ADJOINT))
    for words, code in cases:
        await bench.run(v2_setup(width, n), model)
        expected, _ = await bench.run(words, model)
        assert expected.error == code, (expected.error, code)
        await bench.run(run01, model)  # NO_PROGRAM after a faulty body, else the kept program
        await bench.run(Assembler(width).read_state().end().words(), model)


@bench_test
async def v2_reset_in_the_middle_of_a_run(dut):
    """RESET during a RUN aborts it, drains the packet and invalidates the state, the program
    and the parameters; the core then runs like a fresh one."""
    bench = await start_v2_bench(dut)
    params = bench.params
    words, body, cycles = long_run(params)
    bench.send(words)
    await bench.write(Register.CONTROL, 1 << CONTROL_START)
    await ClockCycles(bench.clock, cycles)
    await reset_aborts_the_running_packet(bench, "RUN")
    await runs_like_a_fresh_core(bench, words, body, CoreModel(params))


def long_run(params: CoreParams) -> tuple[list[int], Assembler, int]:
    """PROGRAM, LOAD_PARAMS and a RUN of 6 sets in one packet, its stored body, and a number of
    cycles from START that lands in the middle of the first set's replay (no value beat out)."""
    n_qubits = min(6, params.max_qubits)
    body = Assembler(params.width).init(n_qubits)
    for qubit in range(n_qubits):
        body.rot("ry", qubit, qubit % 2).rot("rz", qubit, 1 - qubit % 2)
    body.obs([0], 0.5).obs([1, 2], -1.0)
    thetas = np.random.default_rng(SEED).uniform(-np.pi, np.pi, size=(6, 2))
    words = Assembler(params.width).program(body).load_params(thetas).run(0, 6).end().words()
    return words, body, len(words) + set_cycles(Opcode.RUN, body, params, 2) // 2


async def runs_like_a_fresh_core(bench, words, body: Assembler, model: CoreModel) -> None:
    """After a reset the program and the parameters are gone (NO_PROGRAM, then BAD_SET with
    the program alone) and ``words`` runs as on ``model``, which started fresh."""
    for packet in (Assembler(bench.params.width).run(0, 1).end().words(),  # NO_PROGRAM
                   Assembler(bench.params.width).program(body).run(0, 1).end().words(),  # BAD_SET
                   words):
        await bench.run(packet, model)


@bench_test
async def reset_pin_in_the_middle_of_a_program_and_a_run(dut):
    """The reset pin (``rst``; the overlay's active-low ``aresetn``) held while a program runs
    with its packet still arriving, and again in the middle of a RUN's replay, as a host
    resetting the PL would: the core comes out idle with no state, program or parameters,
    sends nothing more, and then runs like a fresh core (a gate without INIT is refused, the
    whole program and the whole RUN equal a fresh model's)."""
    bench = await start_v2_bench(dut)
    params = bench.params
    program, program_cycles = long_program(params)
    run, body, run_cycles = long_run(params)
    for words, cycles in ((program, program_cycles), (run, run_cycles)):
        bench.send(words)
        await bench.write(Register.CONTROL, 1 << CONTROL_START)
        await ClockCycles(bench.clock, cycles)
        before = await bench.status()
        assert before.busy and not bench.source.idle(), "the reset pin must hit a running packet"
        await bench.reset()
        after = await bench.status()
        assert not after.busy and not after.done and after.n_qubits == 0
        assert after.error == ErrorCode.NONE and not after.overflow
        await ClockCycles(bench.clock, 20)
        assert bench.sink.empty(), "no output after the reset pin"
    model = CoreModel(params)
    await bench.run(Assembler(params.width).h(0).end().words(), model)  # NO_STATE
    await runs_like_a_fresh_core(bench, run, body, model)
    await bench.run(program, model)


@bench_test
async def v2_cycle_counts_of_gate_rot_and_obs(dut):
    """CYCLES of a replayed GATE_ROT (each kind, controlled or not) and OBS term = the closed
    form, measured as the difference of two RUNs whose programs differ by that instruction."""
    bench = await start_v2_bench(dut)
    params = bench.params
    model = CoreModel(params)
    thetas = np.array([[0.7, -0.2]])
    table = []
    for n_qubits in qubit_counts(params, params.max_qubits):
        if n_qubits < 2:
            continue
        cycles = {}
        bodies = {"base": (Assembler(params.width).init(n_qubits), 0)}
        for kind in ("rx", "ry", "rz", "p"):
            for control in (None, 1):
                bodies[f"GATE_ROT {kind}{' controlled' if control else ''}"] = (
                    Assembler(params.width).init(n_qubits).rot(kind, 0, 1, a=1.5, b=0.1, control=control),
                    instruction_cycles(Opcode.GATE_ROT, n_qubits, params))
        bodies["OBS (+ value beat)"] = (Assembler(params.width).init(n_qubits).obs([0, 1], -0.5),
                                        instruction_cycles(Opcode.OBS, n_qubits, params) + 1)
        for name, (body, closed_form) in bodies.items():
            await bench.run(Assembler(params.width).program(body).load_params(thetas).end().words(), model)
            _, cycles[name] = await bench.run(Assembler(params.width).run(0, 1).end().words(), model)
            if name == "base":
                continue
            measured = cycles[name] - cycles["base"]
            assert measured == closed_form, (name, n_qubits, measured, closed_form)
            table.append({"kind": name, "n_qubits": n_qubits, "lanes": params.lanes,
                          "measured": measured, "closed_form": closed_form})
    write_results(table)


# -- RUN_SHIFT and RUN_ADJOINT -----------------------------------------------------------------
def run_gradient(packet: Assembler, opcode: Opcode, first: int, count: int) -> Assembler:
    """``packet`` with RUN_SHIFT or RUN_ADJOINT over sets [first, first + count) appended."""
    return (packet.run_shift if opcode == Opcode.RUN_SHIFT else packet.run_adjoint)(first, count)


def gradient_modes(params: CoreParams) -> list[Opcode]:
    return [Opcode.RUN_SHIFT] + ([Opcode.RUN_ADJOINT] if params.adjoint else [])


def layered_ansatz(width: int, n_qubits: int, layers: int) -> Assembler:
    """RY, RZ on every qubit and a CZ ladder per layer, <Z0> and <Z0 Z1>: the shape of qfab's
    hardware-efficient ansatz (2 n layers parameters)."""
    body = Assembler(width).init(n_qubits)
    for layer in range(layers):
        for qubit in range(n_qubits):
            body.rot("ry", qubit, 2 * (layer * n_qubits + qubit))
            body.rot("rz", qubit, 2 * (layer * n_qubits + qubit) + 1)
        for qubit in range(n_qubits - 1):
            body.cz(qubit, qubit + 1)
    return body.obs([0], 1.0).obs([0, 1], -0.5)


@bench_test
async def v2_gradient_runs_match_model(dut):
    """RUN_SHIFT and (with bank B) RUN_ADJOINT of random stored programs (rotations of every
    kind, controlled ones, v1 gates, stored readouts, 1-2 OBS terms), sets from the middle of the
    batch: the value and gradient beats bit for bit, TLAST, OVERFLOW and CYCLES as the model."""
    bench = await start_v2_bench(dut)
    model = CoreModel(bench.params)
    rng = np.random.default_rng(SEED + 20)
    packets = random_gradient_packets(rng, v2_rng_params(bench.params, 5),
                                      PROGRAMS)
    write_results(await compare_packets(bench, model, packets))


@bench_test
async def v2_gradient_back_pressure(dut):
    """Stalls on both streams change a gradient run's timing only (the beats wait)."""
    bench = await start_v2_bench(dut)
    rng = np.random.default_rng(SEED + 21)
    await under_back_pressure(bench, random_gradient_packets(rng, v2_rng_params(bench.params, 4), 2), SEED + 21, 0.6)


@bench_test
async def v2_gradient_reset_in_the_middle(dut):
    """RESET in the shift loop's shifted replays and in the backward sweep: the run stops, the
    packet drains, nothing comes out; the gradient memory is cleared again before the next
    START, so the same run then equals a fresh model's."""
    bench = await start_v2_bench(dut)
    params = bench.params
    n_qubits = min(5, params.max_qubits)
    body = layered_ansatz(params.width, n_qubits, 1)
    thetas = np.random.default_rng(SEED + 22).uniform(-np.pi, np.pi, size=(2, 2 * n_qubits))
    for opcode in gradient_modes(params):
        setup = Assembler(params.width).program(body).load_params(thetas)
        packet = run_gradient(setup, opcode, 0, 2).end().words()
        bench.send(packet)
        await bench.write(Register.CONTROL, 1 << CONTROL_START)
        # past the forward replay, inside the first set's shifted replays / backward sweep
        forward = set_cycles(Opcode.RUN, body, params, 2 * n_qubits)
        await ClockCycles(bench.clock, len(packet) + 2 * forward)
        await reset_aborts_the_running_packet(bench, opcode.name)
        await bench.run(packet, CoreModel(params))


@bench_test
async def v2_gradient_cycle_counts(dut):
    """CYCLES of RUN_SHIFT and RUN_ADJOINT over a batch of the layered ansatz = the closed form
    ``run_cycles`` (+1 for the END), at each state size of the build up to 6 qubits."""
    bench = await start_v2_bench(dut)
    params = bench.params
    model = CoreModel(params)
    table = []
    for n_qubits in qubit_counts(params, 6):
        if n_qubits < 2:
            continue
        body = layered_ansatz(params.width, n_qubits, 2)
        count = 4 * n_qubits
        if count > params.max_params:
            continue
        sets = 2
        thetas = np.random.default_rng(SEED + n_qubits).uniform(-np.pi, np.pi, size=(sets, count))
        await bench.run(Assembler(params.width).program(body).load_params(thetas).end().words(), model)
        for opcode in gradient_modes(params):
            _, measured = await bench.run(run_gradient(Assembler(params.width), opcode, 0, sets).end().words(), model)
            closed_form = run_cycles(opcode, body, params, sets, count) + 1
            assert measured == closed_form, (opcode.name, n_qubits, measured, closed_form)
            table.append({"run": opcode.name, "n_qubits": n_qubits, "lanes": params.lanes,
                          "sets": sets, "params": count, "measured": measured,
                          "closed_form": closed_form})
    write_results(table)
