"""Instruction decoder: header word fields and validity, combinational.

Checks the conditions of :func:`qfab_hw.program.header_error` in the same priority order, so
a malformed word yields the same :class:`~qfab_hw.program.ErrorCode` in RTL and model. The v2
checks read a context (the model's :class:`~qfab_hw.program.DecoderContext`): whether the word
is a header inside a PROGRAM body and how many body words are left, the stored program's record
and the parameter memory's shape.

Every opcode of the instruction set is executed by the RTL (:data:`RTL_OPCODES`); any other
opcode is BAD_OPCODE, the first check, so such a program is refused at that word with its
packet discarded, never silently mis-run.

Timing (docs/fpga.md, "Pipelining for Fmax"): the decoder checks only streamed words (a
replayed header was checked when it was stored), so the pipeline feeds it the input stream's
word and takes a replayed header's fields from :func:`header_fields` of the fetched word; and
no check waits for a product: LOAD_PARAMS' B*P <= param_depth is B <= floor(param_depth / P),
a constant table indexed by P. The products B*P and s0*P go only into registers (the parameter
memory's word count, the RUN's set base).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.params import CoreParams
from qfab_hw.program import (
    CONTROL_SHIFT,
    CONTROLLED_BIT,
    FIELD_A_SHIFT,
    FIELD_B_SHIFT,
    KIND_SHIFT,
    LAST_BIT,
    MASK_SHIFT,
    NOT_STORABLE,
    ONLY_STORED,
    PROGRAM_GATE_OPCODES,
    QUARTER_SHIFT,
    READ_OPCODES,
    RUN_OPCODES,
    TARGET_SHIFT,
    ErrorCode,
    Opcode,
    allowed_header_bits,
)
from qfab_hw.program_memory import STORED_PAYLOAD_WORDS

#: Opcodes the RTL executes; the others decode as BAD_OPCODE.
RTL_OPCODES = frozenset(Opcode)

FIELD_BITS = 16


def header_fields(word) -> dict:
    """A header word's fields (slices of ``word``), named as the decoder's outputs."""
    return {
        "opcode": word[:8],
        "target": word[TARGET_SHIFT : TARGET_SHIFT + 8],
        "control": word[CONTROL_SHIFT : CONTROL_SHIFT + 8],
        "controlled": word[CONTROLLED_BIT],
        "last": word[LAST_BIT],
        "quarter_turns": word[QUARTER_SHIFT : QUARTER_SHIFT + 2],
        "kind": word[KIND_SHIFT : KIND_SHIFT + 2],
        "mask": word[MASK_SHIFT:],
        "field_a": word[FIELD_A_SHIFT : FIELD_A_SHIFT + FIELD_BITS],
        "field_b": word[FIELD_B_SHIFT : FIELD_B_SHIFT + FIELD_BITS],
    }


class InstructionDecoder(wiring.Component):
    def __init__(self, params: CoreParams):
        self.params = params
        depth = params.program_depth
        super().__init__(
            {
                "word": In(64),
                "n_qubits": In(range(params.max_qubits + 1)),  # 0: no state loaded
                # -- v2 context (DecoderContext) ----------------------------------------------
                "storing": In(1),  # a header inside a PROGRAM body
                "words_left": In(range(depth + 1)),  # body words left, this header included
                "started": In(1),  # the body's INIT has been stored
                "observing": In(1),  # the body has an OBS term: no more gates
                "program_valid": In(1),
                "program_params": In(range(params.max_params + 1)),
                "program_observables": In(1),  # the stored program has OBS terms
                "param_count": In(range(params.max_params + 1)),  # loaded P
                "set_count": In(FIELD_BITS),  # loaded B
                # -- fields ------------------------------------------------------------------
                "opcode": Out(8),
                "target": Out(8),
                "control": Out(8),
                "controlled": Out(1),
                "last": Out(1),
                "quarter_turns": Out(2),
                "kind": Out(2),
                "mask": Out(32),
                "field_a": Out(FIELD_BITS),
                "field_b": Out(FIELD_BITS),
                #: LOAD_PARAMS: B*P; RUN*: s0*P, the first set's angle index (valid when the
                #: header is).
                "product": Out(params.max_params.bit_length() + FIELD_BITS),
                #: LOAD_PARAMS' payload words ceil(B*P/2) (valid when the header is).
                "param_words": Out(range(params.param_depth // 2 + 1)),
                "error": Out(ErrorCode),
            }
        )

    def elaborate(self, platform):
        m = Module()
        params = self.params
        word = self.word
        m.d.comb += [getattr(self, name).eq(value) for name, value in header_fields(word).items()]

        known = Signal()
        allowed = Signal(64)
        flags = {name: Signal(name=name) for name in (
            "is_gate", "is_init_load", "is_run", "not_storable", "only_stored", "is_read",
            "masked")}
        stored_words = Signal(range(6))  # 1 + the payload of a storable instruction
        with m.Switch(self.opcode):
            for opcode in sorted(RTL_OPCODES):
                with m.Case(opcode):
                    m.d.comb += [
                        known.eq(1),
                        allowed.eq(allowed_header_bits(opcode)),
                        flags["is_gate"].eq(opcode in PROGRAM_GATE_OPCODES),
                        flags["is_init_load"].eq(opcode in (Opcode.INIT, Opcode.LOAD)),
                        flags["is_run"].eq(opcode in RUN_OPCODES),
                        flags["not_storable"].eq(opcode in NOT_STORABLE),
                        flags["only_stored"].eq(opcode in ONLY_STORED),
                        flags["is_read"].eq(opcode in READ_OPCODES),
                        flags["masked"].eq(opcode in (Opcode.READ_EXPZ, Opcode.OBS)),
                        stored_words.eq(1 + STORED_PAYLOAD_WORDS.get(opcode, 0)),
                    ]

        opcode, a, b = self.opcode, self.field_a, self.field_b
        n = self.n_qubits
        is_end = opcode == Opcode.END

        # BAD_PROGRAM: where an instruction may appear (program._context_error).
        misplaced = Signal()
        with m.If(~self.storing):
            m.d.comb += misplaced.eq(flags["only_stored"])
        with m.Else():
            m.d.comb += misplaced.eq(
                flags["not_storable"]
                | ((opcode == Opcode.INIT) == self.started)
                | (flags["is_read"] & self.last)
                | (flags["is_gate"] & self.observing)
                | (stored_words > self.words_left)
                | (is_end != (self.words_left == stored_words))
            )

        # One multiplier for both products: LOAD_PARAMS' B*P (P <= max_params once BAD_PARAM has
        # passed) and RUN's first angle index s0*P (P the loaded count). No check reads it.
        count_bits = params.max_params.bit_length()
        angles = self.product
        m.d.comb += [
            angles.eq(Mux(flags["is_run"], a, b) * Mux(flags["is_run"], self.param_count, a[:count_bits])),
            self.param_words.eq((angles + 1) >> 1),
        ]
        # LOAD_PARAMS' set limit floor(param_depth / P) for P = 1..max_params (the others are
        # BAD_PARAM, checked first): B*P <= param_depth without the product.
        max_sets = Signal(range(params.param_depth + 1))
        with m.Switch(a[:count_bits]):
            for count in range(1, params.max_params + 1):
                with m.Case(count):
                    m.d.comb += max_sets.eq(params.param_depth // count)

        bad_control = self.controlled & ((self.control >= n) | (self.control == self.target))
        error = self.error
        with m.If(~known):
            m.d.comb += error.eq(ErrorCode.BAD_OPCODE)
        with m.Elif(((word & ~allowed) != 0) | (~self.controlled & (self.control != 0))):
            m.d.comb += error.eq(ErrorCode.RESERVED_BITS)
        with m.Elif(misplaced):
            m.d.comb += error.eq(ErrorCode.BAD_PROGRAM)
        with m.Elif(flags["is_run"]):
            with m.If((opcode == Opcode.RUN_ADJOINT) & Const(int(not params.adjoint), 1)):
                m.d.comb += error.eq(ErrorCode.NO_ADJOINT)
            with m.Elif(~self.program_valid):
                m.d.comb += error.eq(ErrorCode.NO_PROGRAM)
            with m.Elif((opcode != Opcode.RUN) & ~self.program_observables):
                m.d.comb += error.eq(ErrorCode.NO_OBSERVABLE)
            with m.Elif((b == 0) | (a + b > self.set_count)):
                m.d.comb += error.eq(ErrorCode.BAD_SET)
            with m.Elif(self.program_params > self.param_count):
                m.d.comb += error.eq(ErrorCode.BAD_PARAM)
        with m.Elif(opcode == Opcode.LOAD_PARAMS):
            with m.If((a == 0) | (a > params.max_params)):
                m.d.comb += error.eq(ErrorCode.BAD_PARAM)
            with m.Elif((b == 0) | (b > max_sets)):
                m.d.comb += error.eq(ErrorCode.BAD_SET)
        with m.Elif(opcode == Opcode.PROGRAM):
            with m.If(a == 0):
                m.d.comb += error.eq(ErrorCode.BAD_PROGRAM)
            with m.Elif(a > params.program_depth):
                m.d.comb += error.eq(ErrorCode.PROGRAM_TOO_LONG)
        with m.Elif(flags["is_init_load"]):
            with m.If((self.target < params.min_qubits) | (self.target > params.max_qubits)):
                m.d.comb += error.eq(ErrorCode.BAD_QUBIT_COUNT)
        with m.Elif(is_end):
            pass
        with m.Elif(n == 0):
            m.d.comb += error.eq(ErrorCode.NO_STATE)
        with m.Elif(flags["is_gate"] & (self.target >= n)):
            m.d.comb += error.eq(ErrorCode.BAD_TARGET)
        with m.Elif(flags["is_gate"] & bad_control):
            m.d.comb += error.eq(ErrorCode.BAD_CONTROL)
        with m.Elif((opcode == Opcode.GATE_ROT) & (a >= params.max_params)):
            m.d.comb += error.eq(ErrorCode.BAD_PARAM)
        with m.Elif(flags["masked"] & ((self.mask >> n) != 0)):
            m.d.comb += error.eq(ErrorCode.BAD_MASK)
        return m
