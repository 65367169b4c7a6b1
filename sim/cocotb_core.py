"""cocotb testbenches of the qfab core, run under Verilator by ``test_core_rtl.py``.

Every check compares the RTL against :class:`qfab_hw.CoreModel`: output beats and TLAST bits
word for word, the STATUS fields, and (with stall-free streams) the CYCLES register.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

from qfab_hw import Assembler, CoreModel, CoreParams, ErrorCode, Opcode
from qfab_hw.model.cycles import instruction_cycles
from qfab_hw.program import MASK_SHIFT, Instruction, header_error
from qfab_hw.registers import (
    CONTROL_RESET,
    CONTROL_START,
    STATUS_BUSY,
    STATUS_DONE,
    STATUS_ERROR_SHIFT,
    STATUS_OVERFLOW,
    STATUS_QUBITS_SHIFT,
    Register,
)
from qfab_hw.testing import random_program, random_state

SEED = int(os.environ.get("QFAB_SIM_SEED", "1"))
RESULTS_FILE = os.environ.get("QFAB_SIM_RESULTS")  # where a test writes measured figures
#: Simulated-time limit of one bench: a core that hangs (e.g. never drains a packet) fails
#: the test instead of stalling the suite. The longest bench simulates a few ms.
SIM_TIMEOUT_MS = 200


class Status:
    def __init__(self, word: int):
        self.busy = bool(word >> STATUS_BUSY & 1)
        self.done = bool(word >> STATUS_DONE & 1)
        self.overflow = bool(word >> STATUS_OVERFLOW & 1)
        self.error = ErrorCode((word >> STATUS_ERROR_SHIFT) & 0xFF)
        self.n_qubits = (word >> STATUS_QUBITS_SHIFT) & 0xFF


class CoreBench:
    """Clock, reset, the AXI models, and a ``run`` that executes one program."""

    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.source = AxiStreamSource(
            AxiStreamBus.from_prefix(dut, "s_axis", bus_separator="__"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(
            AxiStreamBus.from_prefix(dut, "m_axis", bus_separator="__"), dut.clk, dut.rst)
        self.axil = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"), dut.clk, dut.rst)
        self.params: CoreParams | None = None

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 5)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)
        build = await self.read(Register.BUILD)
        self.params = CoreParams(max_qubits=build & 0xFF, lanes=(build >> 8) & 0xFF,
                                 width=(build >> 16) & 0xFF)
        assert build == self.params.build_word

    async def read(self, register: int) -> int:
        response = await self.axil.read(register, 4)
        return int.from_bytes(response.data, "little")

    async def write(self, register: int, value: int) -> None:
        await self.axil.write(register, value.to_bytes(4, "little"))

    async def status(self) -> Status:
        return Status(await self.read(Register.STATUS))

    async def cycles(self) -> int:
        return await self.read(Register.CYCLES_LO) | await self.read(Register.CYCLES_HI) << 32

    def send(self, words) -> None:
        data = b"".join(int(w).to_bytes(8, "little") for w in words)
        self.source.send_nowait(AxiStreamFrame(data))

    async def wait_done(self, timeout_cycles: int = 200_000) -> Status:
        for _ in range(timeout_cycles // 20):
            status = await self.status()
            if not status.busy:
                return status
            await ClockCycles(self.dut.clk, 10)
        raise AssertionError("the core did not finish")

    async def run(self, words, model: CoreModel, *, exact_cycles: bool = True):
        """Run ``words`` on the RTL and on ``model``; assert both agree, return the result."""
        expected = model.run(words)
        self.send(words)
        await self.write(Register.CONTROL, 1 << CONTROL_START)
        beats, lasts = [], []
        for _ in range(sum(expected.last)):
            frame = await self.sink.recv()
            data = bytes(frame.tdata)
            words_out = [int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8)]
            beats.extend(words_out)
            lasts.extend([False] * (len(words_out) - 1) + [True])
        status = await self.wait_done()
        assert self.sink.empty(), "output beats beyond the model's last TLAST"
        assert beats == expected.beats, first_difference(beats, expected.beats)
        assert lasts == expected.last[: len(lasts)] and len(lasts) == len(expected.last)
        assert status.done and not status.busy
        assert status.error == expected.error, (status.error, expected.error)
        assert status.overflow == expected.overflow
        assert status.n_qubits == expected.n_qubits
        cycles = await self.cycles()
        if exact_cycles:
            assert cycles == expected.cycles, (cycles, expected.cycles)
        else:
            assert cycles >= expected.cycles
        return expected, cycles


def first_difference(actual, expected) -> str:
    if len(actual) != len(expected):
        return f"{len(actual)} beats, model {len(expected)}"
    index = next(i for i, (a, b) in enumerate(zip(actual, expected)) if a != b)
    return f"beat {index}: RTL {actual[index]:#018x}, model {expected[index]:#018x}"


async def start_bench(dut) -> CoreBench:
    bench = CoreBench(dut)
    await bench.reset()
    return bench


def qubit_counts(params: CoreParams, largest: int = 8):
    return range(params.min_qubits, min(largest, params.max_qubits) + 1)


@cocotb.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
async def random_programs_match_model(dut):
    """Random programs on every supported n up to 8, bit for bit and cycle for cycle."""
    bench = await start_bench(dut)
    model = CoreModel(bench.params)
    rng = np.random.default_rng(SEED)
    programs = int(os.environ.get("QFAB_SIM_PROGRAMS", "4"))
    compared = {"programs": 0, "instructions": 0, "words_in": 0, "beats_out": 0, "cycles": 0}
    for n_qubits in qubit_counts(bench.params):
        for _ in range(programs):
            depth = int(rng.integers(1, 12))
            program = random_program(rng, bench.params, n_qubits, depth)
            expected, cycles = await bench.run(program.words(), model)
            compared["programs"] += 1
            compared["instructions"] += len(program.instructions)
            compared["words_in"] += len(program.words())
            compared["beats_out"] += len(expected.beats)
            compared["cycles"] += cycles
    if RESULTS_FILE:
        with open(RESULTS_FILE, "w") as handle:
            json.dump(compared, handle)


@cocotb.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
async def every_opcode_target_and_control(dut):
    """Every gate kind on every target, uncontrolled and under every other control qubit,
    on a random loaded state, with the state read out after each gate."""
    bench = await start_bench(dut)
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
    assert opcodes == set(Opcode), f"opcodes not covered: {set(Opcode) - opcodes}"
    await bench.run(init.words(), model)
    await bench.run(program.words(), model)


@cocotb.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
async def back_pressure_on_both_streams(dut):
    """Random stalls on the program input and the result output change timing only."""
    bench = await start_bench(dut)
    model = CoreModel(bench.params)
    rng = np.random.default_rng(SEED + 2)
    stall = random.Random(SEED)
    bench.source.set_pause_generator(iter(lambda: stall.random() < 0.3, None))
    bench.sink.set_pause_generator(iter(lambda: stall.random() < 0.4, None))
    for n_qubits in qubit_counts(bench.params, 6):
        words = random_program(rng, bench.params, n_qubits, 6).words()
        await bench.run(words, model, exact_cycles=False)


@cocotb.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
async def reset_in_the_middle_of_a_program(dut):
    """RESET aborts a running program, discards the rest of its packet and leaves a core that
    runs the next program exactly like a fresh one."""
    bench = await start_bench(dut)
    params = bench.params
    n_qubits = min(8, params.max_qubits)
    program = Assembler(params.width).init(n_qubits)
    for qubit in range(n_qubits):
        program.h(qubit)
    for _ in range(4):
        for qubit in range(n_qubits):
            program.rx(0.3, qubit)
    words = program.read_state().end().words()
    bench.send(words)
    await bench.write(Register.CONTROL, 1 << CONTROL_START)
    await ClockCycles(dut.clk, 3 * (1 << n_qubits) // params.lanes)
    before = await bench.status()
    assert before.busy and not bench.source.idle(), "reset must hit a running program"
    await bench.write(Register.CONTROL, 1 << CONTROL_RESET)
    after = await bench.status()
    assert not after.busy and not after.done and after.n_qubits == 0
    await bench.source.wait()  # the aborted packet drains to TLAST
    for _ in range(20):
        await RisingEdge(dut.clk)
    assert bench.sink.empty(), "no output from the aborted program"

    model = CoreModel(params)
    # The state is invalid after RESET: a gate without INIT is refused ...
    await bench.run(Assembler(params.width).h(0).end().words(), model)
    # ... and a full program runs exactly as on a fresh core.
    await bench.run(words, model)


@cocotb.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
async def overflow_sets_the_sticky_flag(dut):
    """Amplitudes near the top of the Q2.F range saturate under H; the flag is per run."""
    bench = await start_bench(dut)
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


@cocotb.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
async def malformed_instruction_sets_error_and_core_stays_usable(dut):
    bench = await start_bench(dut)
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


@cocotb.test(timeout_time=SIM_TIMEOUT_MS, timeout_unit="ms")
async def cycle_counts_per_gate_kind(dut):
    """CYCLES of one instruction on n qubits = the closed form (pairs/lanes + latency ...),
    measured as the difference of two programs that differ by that instruction."""
    bench = await start_bench(dut)
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
    if RESULTS_FILE:
        with open(RESULTS_FILE, "w") as handle:
            json.dump(table, handle, indent=1)
