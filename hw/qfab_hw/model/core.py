"""Bit-accurate model of the whole core: program words in, output beats and cycles out.

The model keeps the state between runs, like the hardware: a program may continue on the
state the previous one left, and :meth:`CoreModel.reset` mirrors the RESET control bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qfab_hw.fixed import from_fixed
from qfab_hw.params import CoreParams
from qfab_hw.program import (
    COEFFICIENT_WORDS,
    ErrorCode,
    Opcode,
    decode_header,
    header_error,
    pack_complex,
    unpack_complex,
)
from qfab_hw.model.cycles import HEADER_CYCLES, instruction_cycles
from qfab_hw.model.addressing import parity
from qfab_hw.model.gate_lane import LaneOp, apply_lane

BEAT_MASK = (1 << 64) - 1


class ProgramError(ValueError):
    """The words do not form a complete program (the hardware would wait for more words)."""


@dataclass
class RunResult:
    """What the core produces for one program: the output beats with their TLAST bits, the
    STATUS register fields and the CYCLES register (stall-free streams)."""

    beats: list[int] = field(default_factory=list)
    last: list[bool] = field(default_factory=list)
    cycles: int = 0
    overflow: bool = False
    error: ErrorCode = ErrorCode.NONE
    n_qubits: int = 0

    def emit(self, values, last: bool) -> None:
        values = [int(v) & BEAT_MASK for v in values]
        self.beats.extend(values)
        self.last.extend([False] * (len(values) - 1) + [last])


class CoreModel:
    """The core's results, bit for bit, without the RTL: ``CoreModel(params).run(words)``."""

    def __init__(self, params: CoreParams):
        self.params = params
        self.n_qubits = 0
        self.re = np.zeros(0, dtype=np.int64)
        self.im = np.zeros(0, dtype=np.int64)

    def reset(self) -> None:
        """The RESET control bit: the state becomes invalid until the next INIT or LOAD."""
        self.n_qubits = 0

    def amplitudes(self) -> np.ndarray:
        """The current state as complex128 (fixed-point values divided by 2**F)."""
        frac_bits = self.params.frac_bits
        return from_fixed(self.re, frac_bits) + 1j * from_fixed(self.im, frac_bits)

    def run(self, words) -> RunResult:
        """Execute one program, the whole of ``words`` being one DMA packet (TLAST on its
        final word). A malformed instruction stops the program with its error code and the
        rest of the packet is discarded, as the core does."""
        words = [int(w) for w in words]
        params = self.params
        result = RunResult()
        position = 0
        while True:
            if position >= len(words):
                raise ProgramError("the program ends without an END instruction")
            header = words[position]
            position += 1
            error = header_error(header, self.n_qubits, params)
            if error:
                result.error = error
                result.cycles += HEADER_CYCLES + (len(words) - position)  # skip to TLAST
                break
            fields = decode_header(header)
            opcode = Opcode(fields["opcode"])
            payload_count = (
                1 << fields["target"] if opcode == Opcode.LOAD else COEFFICIENT_WORDS.get(opcode, 0)
            )
            payload = words[position : position + payload_count]
            if len(payload) < payload_count:
                raise ProgramError(f"{opcode.name} needs {payload_count} payload words")
            position += payload_count
            if opcode in (Opcode.INIT, Opcode.LOAD):
                self.n_qubits = fields["target"]
            result.cycles += instruction_cycles(opcode, self.n_qubits, params)
            if opcode == Opcode.END:
                break
            pairs = [unpack_complex(w, params.width) for w in payload]
            self._execute(opcode, fields, pairs, result)
        result.n_qubits = self.n_qubits
        return result

    def _execute(self, opcode: Opcode, fields: dict, pairs, result: RunResult) -> None:
        params = self.params
        size = 1 << self.n_qubits
        if opcode == Opcode.INIT:
            self.re = np.zeros(size, dtype=np.int64)
            self.im = np.zeros(size, dtype=np.int64)
            self.re[0] = 1 << params.frac_bits
        elif opcode == Opcode.LOAD:
            self.re = np.array([re for re, _ in pairs], dtype=np.int64)
            self.im = np.array([im for _, im in pairs], dtype=np.int64)
        elif opcode in (Opcode.GATE_U, Opcode.GATE_DIAG, Opcode.GATE_X, Opcode.GATE_PHASE4):
            self._apply_gate(opcode, fields, pairs, result)
        elif opcode == Opcode.READ_STATE:
            result.emit(
                [pack_complex(re, im) for re, im in zip(self.re.tolist(), self.im.tolist())],
                fields["last"],
            )
        elif opcode == Opcode.READ_PROBS:
            result.emit((self.re * self.re + self.im * self.im).tolist(), fields["last"])
        elif opcode == Opcode.READ_EXPZ:
            signs = 1 - 2 * parity(np.arange(size, dtype=np.int64) & fields["mask"])
            total = int(np.sum(signs * (self.re * self.re + self.im * self.im)))
            result.emit([total], fields["last"])

    def _apply_gate(self, opcode: Opcode, fields: dict, pairs, result: RunResult) -> None:
        target = fields["target"]
        # View the state as (high bits, target bit, low bits): [:, 0, :] are the i0 of all
        # pairs, [:, 1, :] the i1, in pair-index order.
        shape = (-1, 2, 1 << target)
        re, im = self.re.reshape(shape), self.im.reshape(shape)
        active = None
        if fields["controlled"]:
            i0 = np.arange(1 << self.n_qubits, dtype=np.int64).reshape(shape)[:, 0, :]
            active = (i0 >> fields["control"]) & 1 == 1
        zero = (0, 0)
        if opcode == Opcode.GATE_U:
            op, coefficients = LaneOp.MATRIX, pairs
        elif opcode == Opcode.GATE_DIAG:
            op, coefficients = LaneOp.MATRIX, [pairs[0], zero, zero, pairs[1]]
        elif opcode == Opcode.GATE_X:
            op, coefficients = LaneOp.SWAP, None
        else:
            op, coefficients = LaneOp.PHASE4, None
        y0, y1, overflow = apply_lane(
            op,
            (re[:, 0, :], im[:, 0, :]),
            (re[:, 1, :], im[:, 1, :]),
            coefficients=coefficients,
            quarter_turns=fields["quarter_turns"],
            active=active,
            width=self.params.width,
        )
        new_re, new_im = np.empty_like(re), np.empty_like(im)
        new_re[:, 0, :], new_im[:, 0, :] = y0
        new_re[:, 1, :], new_im[:, 1, :] = y1
        self.re, self.im = new_re.reshape(-1), new_im.reshape(-1)
        result.overflow |= overflow
