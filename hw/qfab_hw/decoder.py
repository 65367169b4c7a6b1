"""Instruction decoder: header word fields and validity, combinational.

Checks the conditions of :func:`qfab_hw.program.header_error` in the same priority order, so
a malformed word yields the same :class:`~qfab_hw.program.ErrorCode` in RTL and model.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.params import CoreParams
from qfab_hw.program import (
    CONTROL_SHIFT,
    CONTROLLED_BIT,
    GATE_OPCODES,
    LAST_BIT,
    MASK_SHIFT,
    QUARTER_SHIFT,
    TARGET_SHIFT,
    ErrorCode,
    Opcode,
    allowed_header_bits,
)


class InstructionDecoder(wiring.Component):
    def __init__(self, params: CoreParams):
        self.params = params
        super().__init__(
            {
                "word": In(64),
                "n_qubits": In(range(params.max_qubits + 1)),  # 0: no state loaded
                "opcode": Out(8),
                "target": Out(8),
                "control": Out(8),
                "controlled": Out(1),
                "last": Out(1),
                "quarter_turns": Out(2),
                "mask": Out(32),
                "error": Out(ErrorCode),
            }
        )

    def elaborate(self, platform):
        m = Module()
        params = self.params
        word = self.word
        m.d.comb += [
            self.opcode.eq(word[:8]),
            self.target.eq(word[TARGET_SHIFT : TARGET_SHIFT + 8]),
            self.control.eq(word[CONTROL_SHIFT : CONTROL_SHIFT + 8]),
            self.controlled.eq(word[CONTROLLED_BIT]),
            self.last.eq(word[LAST_BIT]),
            self.quarter_turns.eq(word[QUARTER_SHIFT : QUARTER_SHIFT + 2]),
            self.mask.eq(word[MASK_SHIFT:]),
        ]

        known = Signal()
        allowed = Signal(64)
        is_gate = Signal()
        with m.Switch(self.opcode):
            for opcode in Opcode:
                with m.Case(opcode):
                    m.d.comb += [
                        known.eq(1),
                        allowed.eq(allowed_header_bits(opcode)),
                        is_gate.eq(opcode in GATE_OPCODES),
                    ]

        n = self.n_qubits
        bad_control = self.controlled & (
            (self.control >= n) | (self.control == self.target)
        )
        with m.If(~known):
            m.d.comb += self.error.eq(ErrorCode.BAD_OPCODE)
        with m.Elif(((word & ~allowed) != 0) | (~self.controlled & (self.control != 0))):
            m.d.comb += self.error.eq(ErrorCode.RESERVED_BITS)
        with m.Elif((self.opcode == Opcode.INIT) | (self.opcode == Opcode.LOAD)):
            with m.If((self.target < params.min_qubits) | (self.target > params.max_qubits)):
                m.d.comb += self.error.eq(ErrorCode.BAD_QUBIT_COUNT)
        with m.Elif(self.opcode == Opcode.END):
            pass
        with m.Elif(n == 0):
            m.d.comb += self.error.eq(ErrorCode.NO_STATE)
        with m.Elif(is_gate & (self.target >= n)):
            m.d.comb += self.error.eq(ErrorCode.BAD_TARGET)
        with m.Elif(is_gate & bad_control):
            m.d.comb += self.error.eq(ErrorCode.BAD_CONTROL)
        with m.Elif((self.opcode == Opcode.READ_EXPZ) & ((self.mask >> n) != 0)):
            m.d.comb += self.error.eq(ErrorCode.BAD_MASK)
        return m
