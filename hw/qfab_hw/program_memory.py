"""Instruction memory: PROGRAM's stored words, their record, and the replay fetch.

``program_depth`` 64-bit words (one RAMB36 at the default 512). Bit-accurate model:
:mod:`qfab_hw.model.sequencer` (``ProgramBuilder`` while storing, ``StoredProgram`` after).

Storing (the decoder checks each stored header against :meth:`context`-like outputs):

* ``store_start`` (one clock, the PROGRAM header) with ``store_words`` = N: the old program is
  gone (``valid`` = 0) and the record restarts.
* ``store_en`` with ``store_word``: one body word that passed its checks, written at the next
  address. ``header_expected`` says whether the next body word is a header (else the payload
  of the previous one); ``words_left`` counts the body words still to come, this one
  included; ``store_done`` (combinational) marks the N-th word, after which ``valid`` is 1.
* While storing the block records, as the model's ``StoredProgram``: ``n_qubits`` (the INIT's
  n; 0 before it, which is the n the decoder checks the body against), ``started`` (INIT
  stored), ``observing`` (an OBS term stored; after the body: the program has OBS terms),
  ``param_count`` (P_prog = 1 + the largest GATE_ROT index), ``weight_sum`` S = sum |c_j| and
  ``obs_shift`` k = max(0, bitlen(S - 1) - 24) (RUN_ADJOINT's lambda scale), and
  ``last_read``: the address of the last READ_* header (0: none, since address 0 is the INIT).

Fetching (RUN): ``fetch_word`` is the word at ``fetch_pc``, always valid, and a register: the
memory's output goes into it, never into the sequencer's logic (docs/fpga.md, "Pipelining for
Fmax"). The memory reads one word ahead of it, so ``fetch_advance`` consumes the word and the
next one is there one clock later (a replay fetches one word per clock like a stall-free
stream). The other moves cost no clock either:

* ``fetch_restart``: the next word is address 0 (a new replay), from a copy of the first word
  kept while storing;
* ``fetch_backward``: the next word is the last gate's header (RUN_ADJOINT's backward sweep
  from the forward replay's END), from a copy kept while storing;
* ``fetch_prepare`` then ``fetch_jump`` on the next clock: the next word is the header of the
  gate ``gate_index`` names (the gate table, ``gate_address``); ``fetch_prepare`` reads it while
  the consumer waits (a gate's drain), ``fetch_jump`` takes it.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from qfab_hw.params import BEAT_BITS, OBS_FRAC_BITS, CoreParams, require_core_params
from qfab_hw.program import (
    COEFFICIENT_WORDS,
    PROGRAM_GATE_OPCODES,
    DATA_WORDS,
    FIELD_A_SHIFT,
    READ_OPCODES,
    TARGET_SHIFT,
    Opcode,
)

#: Payload words of the instructions a stored program may hold.
STORED_PAYLOAD_WORDS = {**COEFFICIENT_WORDS, **DATA_WORDS}


class ProgramMemory(wiring.Component):
    def __init__(self, params: CoreParams):
        require_core_params(self, params)
        self.params = params
        depth = params.program_depth
        super().__init__(
            {
                "store_start": In(1),
                "store_words": In(range(depth + 1)),
                "store_en": In(1),
                "store_word": In(BEAT_BITS),
                "store_done": Out(1),
                "header_expected": Out(1),
                "words_left": Out(range(depth + 1)),
                "started": Out(1),
                "observing": Out(1),
                "valid": Out(1),
                "n_qubits": Out(range(params.max_qubits + 1)),
                "param_count": Out(range(params.max_params + 1)),
                "weight_sum": Out(self.weight_sum_bits),
                "obs_shift": Out(range(self.weight_sum_bits + 1)),
                "last_read": Out(range(depth)),
                "gate_count": Out(range(depth + 1)),
                "rotation_count": Out(range(depth + 1)),
                "gate_index": In(range(depth)),
                "gate_address": Out(range(depth)),
                "fetch_restart": In(1),
                "fetch_backward": In(1),
                "fetch_prepare": In(1),
                "fetch_jump": In(1),
                "fetch_advance": In(1),
                "fetch_word": Out(BEAT_BITS),
                "fetch_pc": Out(range(depth)),
            }
        )

    @property
    def weight_sum_bits(self) -> int:
        """S = sum |c_j| over at most program_depth / 2 OBS terms of |c| <= 2**31."""
        return 32 + (self.params.program_depth // 2).bit_length()

    def elaborate(self, platform):
        m = Module()
        params = self.params
        depth = params.program_depth
        m.submodules.memory = memory = Memory(shape=BEAT_BITS, depth=depth, init=[])
        write, read = memory.write_port(), memory.read_port()
        m.submodules.gates = gates = Memory(shape=range(depth), depth=depth, init=[])
        gate_write, gate_read = gates.write_port(), gates.read_port()
        m.d.comb += [gate_read.addr.eq(self.gate_index), self.gate_address.eq(gate_read.data)]

        # -- storing ----------------------------------------------------------------------
        word = self.store_word
        opcode = word[:8]
        pointer = Signal(range(depth))
        # The fetch's branch targets: word 0 (every replay starts there) and the last gate's
        # header (the backward sweep starts there), kept as they are stored.
        first_word = Signal(BEAT_BITS)
        last_gate = Signal(range(depth))
        last_gate_word = Signal(BEAT_BITS)
        payload_left = Signal(3)
        obs_payload = Signal()  # the payload word being awaited is an OBS weight
        m.d.comb += [
            write.en.eq(self.store_en), write.addr.eq(pointer), write.data.eq(word),
            self.header_expected.eq(payload_left == 0),
            self.store_done.eq(self.store_en & (self.words_left == 1)),
        ]
        with m.If(self.store_start):
            m.d.sync += [
                self.valid.eq(0), self.words_left.eq(self.store_words), pointer.eq(0),
                payload_left.eq(0), self.started.eq(0), self.observing.eq(0),
                self.n_qubits.eq(0), self.param_count.eq(0), self.weight_sum.eq(0),
                self.last_read.eq(0), self.gate_count.eq(0), self.rotation_count.eq(0),
            ]
        with m.Elif(self.store_en):
            m.d.sync += [pointer.eq(pointer + 1), self.words_left.eq(self.words_left - 1)]
            with m.If(pointer == 0):
                m.d.sync += first_word.eq(word)
            with m.If(self.words_left == 1):
                m.d.sync += self.valid.eq(1)
            with m.If(self.header_expected):
                m.d.sync += obs_payload.eq(opcode == Opcode.OBS)
                with m.Switch(opcode):
                    for code, count in STORED_PAYLOAD_WORDS.items():
                        with m.Case(code):
                            m.d.sync += payload_left.eq(count)
                    with m.Case(Opcode.INIT):
                        m.d.sync += [self.started.eq(1),
                                     self.n_qubits.eq(word[TARGET_SHIFT:TARGET_SHIFT + 8])]
                    with m.Case(*READ_OPCODES):
                        m.d.sync += self.last_read.eq(pointer)
                with m.If(opcode == Opcode.OBS):
                    m.d.sync += self.observing.eq(1)
                with m.Switch(opcode):
                    with m.Case(*PROGRAM_GATE_OPCODES):
                        m.d.comb += [gate_write.en.eq(1), gate_write.addr.eq(self.gate_count),
                                     gate_write.data.eq(pointer)]
                        m.d.sync += [self.gate_count.eq(self.gate_count + 1),
                                     last_gate.eq(pointer), last_gate_word.eq(word)]
                        with m.If(opcode == Opcode.GATE_ROT):
                            m.d.sync += self.rotation_count.eq(self.rotation_count + 1)
                with m.If(opcode == Opcode.GATE_ROT):
                    index = word[FIELD_A_SHIFT:FIELD_A_SHIFT + 16]
                    with m.If(index >= self.param_count):
                        m.d.sync += self.param_count.eq(index + 1)
            with m.Else():
                m.d.sync += payload_left.eq(payload_left - 1)
                with m.If(obs_payload):
                    weight = word[:32].as_signed()
                    m.d.sync += self.weight_sum.eq(
                        self.weight_sum + Mux(weight < 0, -weight, weight))

        # k = max(0, bitlen(S - 1) - 24), 0 for S <= 1.
        below = Signal(self.weight_sum_bits)
        bit_length = Signal(range(self.weight_sum_bits + 1))
        m.d.comb += below.eq(self.weight_sum - 1)
        for bit in range(self.weight_sum_bits):
            with m.If(below[bit]):
                m.d.comb += bit_length.eq(bit + 1)
        with m.If((self.weight_sum > 1) & (bit_length > OBS_FRAC_BITS)):
            m.d.comb += self.obs_shift.eq(bit_length - OBS_FRAC_BITS)

        # -- fetching: the read port reads the word after fetch_pc (or, on fetch_prepare, the
        # jump's target), so every move loads fetch_word from a register or the memory's output.
        target = Signal(range(depth))
        with m.If(self.fetch_prepare):
            m.d.sync += target.eq(self.gate_address)
        with m.If(self.fetch_restart):
            m.d.sync += [self.fetch_pc.eq(0), self.fetch_word.eq(first_word)]
            m.d.comb += read.addr.eq(1)
        with m.Elif(self.fetch_backward):
            m.d.sync += [self.fetch_pc.eq(last_gate), self.fetch_word.eq(last_gate_word)]
            m.d.comb += read.addr.eq(last_gate + 1)
        with m.Elif(self.fetch_jump):
            m.d.sync += [self.fetch_pc.eq(target), self.fetch_word.eq(read.data)]
            m.d.comb += read.addr.eq(target + 1)
        with m.Elif(self.fetch_advance):
            m.d.sync += [self.fetch_pc.eq(self.fetch_pc + 1), self.fetch_word.eq(read.data)]
            m.d.comb += read.addr.eq(self.fetch_pc + 2)
        with m.Elif(self.fetch_prepare):
            m.d.comb += read.addr.eq(self.gate_address)
        with m.Else():
            m.d.comb += read.addr.eq(self.fetch_pc + 1)
        return m
