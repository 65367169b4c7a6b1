"""Bit-accurate model of the whole core: program words in, output beats and cycles out.

The model keeps the state between runs, like the hardware: a program may continue on the
state the previous one left, and :meth:`CoreModel.reset` mirrors the RESET control bit.

v2 (hw/README.md, "Instruction set v2"): the model also keeps the parameter memory
(:mod:`.param_memory`), the stored program (:mod:`.sequencer`) and, with ``adjoint``, the second
state bank; RUN replays the program per set, RUN_SHIFT sequences the shifted replays and reduces
them (:mod:`.shift`), RUN_ADJOINT runs forward, lambda = O psi (:mod:`.observable`) and the
backward sweep (:mod:`.adjoint`). Cycles are counted as the model executes, event by event; the
closed forms in :mod:`.cycles` must agree (tests/hw/test_model_v2.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qfab_hw.fixed import from_fixed, sign_extend
from qfab_hw.params import (
    GATE_DRAIN_CYCLES,
    GRAD_EMIT_CYCLES,
    GRAD_UPDATE_CYCLES,
    SHIFT_MAC_CYCLES,
    CoreParams,
)
from qfab_hw.program import (
    COEFFICIENT_WORDS,
    GATE_OPCODES,
    READ_OPCODES,
    RUN_OPCODES,
    DecoderContext,
    ErrorCode,
    Instruction,
    Opcode,
    decode_header,
    header_error,
    instruction_from_words,
    pack_complex,
    split_affine,
    unpack_complex,
)
from qfab_hw.model import adjoint as adjoint_unit
from qfab_hw.model import observable, rotation, shift
from qfab_hw.model.cycles import (
    HEADER_CYCLES,
    gate_pass_cycles,
    instruction_cycles,
    load_params_cycles,
    rotation_setup_cycles,
)
from qfab_hw.model.addressing import parity
from qfab_hw.model.gate_lane import LaneOp, apply_lane
from qfab_hw.model.param_memory import ParamMemory
from qfab_hw.model.sequencer import ProgramBuilder, StoredProgram

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


def _lane_pass(re, im, n_qubits, target, control, op, coefficients, quarter_turns, width):
    """One pass of the lanes over a bank: (re, im, overflow)."""
    # View the state as (high bits, target bit, low bits): [:, 0, :] are the i0 of all
    # pairs, [:, 1, :] the i1, in pair-index order.
    shape = (-1, 2, 1 << target)
    re, im = re.reshape(shape), im.reshape(shape)
    active = None
    if control is not None:
        i0 = np.arange(1 << n_qubits, dtype=np.int64).reshape(shape)[:, 0, :]
        active = (i0 >> control) & 1 == 1
    y0, y1, overflow = apply_lane(
        op,
        (re[:, 0, :], im[:, 0, :]),
        (re[:, 1, :], im[:, 1, :]),
        coefficients=coefficients,
        quarter_turns=quarter_turns,
        active=active,
        width=width,
    )
    new_re, new_im = np.empty_like(re), np.empty_like(im)
    new_re[:, 0, :], new_im[:, 0, :] = y0
    new_re[:, 1, :], new_im[:, 1, :] = y1
    return new_re.reshape(-1), new_im.reshape(-1), overflow


def _v1_lane_op(opcode: Opcode, pairs):
    """(LaneOp, coefficients) of a v1 gate instruction with payload ``pairs``."""
    zero = (0, 0)
    if opcode == Opcode.GATE_U:
        return LaneOp.MATRIX, list(pairs)
    if opcode == Opcode.GATE_DIAG:
        return LaneOp.MATRIX, [pairs[0], zero, zero, pairs[1]]
    if opcode == Opcode.GATE_X:
        return LaneOp.SWAP, None
    return LaneOp.PHASE4, None


class CoreModel:
    """The core's results, bit for bit, without the RTL: ``CoreModel(params).run(words)``."""

    def __init__(self, params: CoreParams):
        self.params = params
        self.n_qubits = 0
        self.re = np.zeros(0, dtype=np.int64)
        self.im = np.zeros(0, dtype=np.int64)
        #: Bank B (lambda), present with ``params.adjoint``.
        self.lam_re = np.zeros(0, dtype=np.int64)
        self.lam_im = np.zeros(0, dtype=np.int64)
        self.param_memory = ParamMemory(params)
        self.program: StoredProgram | None = None

    def reset(self) -> None:
        """The RESET control bit: the state, the stored program and the parameter memory become
        invalid until the next INIT/LOAD, PROGRAM and LOAD_PARAMS."""
        self.n_qubits = 0
        self.program = None
        self.param_memory.clear()

    def amplitudes(self) -> np.ndarray:
        """The current state as complex128 (fixed-point values divided by 2**F)."""
        frac_bits = self.params.frac_bits
        return from_fixed(self.re, frac_bits) + 1j * from_fixed(self.im, frac_bits)

    def lambda_amplitudes(self) -> np.ndarray:
        """Bank B (lambda / 2**k) as complex128."""
        frac_bits = self.params.frac_bits
        return from_fixed(self.lam_re, frac_bits) + 1j * from_fixed(self.lam_im, frac_bits)

    def context(self) -> DecoderContext:
        """What the decoder knows about the program and parameters for a streamed header."""
        program = self.program
        return DecoderContext(
            program_valid=program is not None,
            program_params=program.param_count if program else 0,
            program_observables=len(program.observables) if program else 0,
            param_count=self.param_memory.count,
            set_count=self.param_memory.sets,
        )

    # -- the stream ---------------------------------------------------------------------
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
            error = header_error(header, self.n_qubits, params, self.context())
            if error:
                result.error = error
                result.cycles += HEADER_CYCLES + (len(words) - position)  # skip to TLAST
                break
            fields = decode_header(header)
            opcode = Opcode(fields["opcode"])
            payload_count = Instruction.payload_words(header)
            payload = words[position : position + payload_count]
            if len(payload) < payload_count:
                raise ProgramError(f"{opcode.name} needs {payload_count} payload words")
            position += payload_count
            if opcode == Opcode.PROGRAM:
                position = self._store_program(words, position, fields["field_a"], result)
                if result.error:
                    break
                continue
            if opcode == Opcode.LOAD_PARAMS:
                self.param_memory.load(fields["field_a"], fields["field_b"], payload)
                result.cycles += load_params_cycles(fields["field_a"], fields["field_b"])
                continue
            if opcode in RUN_OPCODES:
                self._run(opcode, fields, result)
                continue
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
        if opcode == Opcode.INIT:
            self._init()
        elif opcode == Opcode.LOAD:
            self.re = np.array([re for re, _ in pairs], dtype=np.int64)
            self.im = np.array([im for _, im in pairs], dtype=np.int64)
        elif opcode in GATE_OPCODES:
            op, coefficients = _v1_lane_op(opcode, pairs)
            control = fields["control"] if fields["controlled"] else None
            self.re, self.im, overflow = _lane_pass(
                self.re, self.im, self.n_qubits, fields["target"], control, op, coefficients,
                fields["quarter_turns"], params.width)
            result.overflow |= overflow
        else:
            self._read(opcode, fields["mask"], fields["last"], result)

    def _init(self) -> None:
        size = 1 << self.n_qubits
        self.re = np.zeros(size, dtype=np.int64)
        self.im = np.zeros(size, dtype=np.int64)
        self.re[0] = 1 << self.params.frac_bits

    def _read(self, opcode: Opcode, mask: int, last: bool, result: RunResult) -> None:
        if opcode == Opcode.READ_STATE:
            result.emit(
                [pack_complex(re, im) for re, im in zip(self.re.tolist(), self.im.tolist())], last)
        elif opcode == Opcode.READ_PROBS:
            result.emit((self.re * self.re + self.im * self.im).tolist(), last)
        else:
            signs = 1 - 2 * parity(np.arange(1 << self.n_qubits, dtype=np.int64) & mask)
            result.emit([int(np.sum(signs * (self.re * self.re + self.im * self.im)))], last)

    # -- PROGRAM ------------------------------------------------------------------------
    def _store_program(self, words, position: int, count: int, result: RunResult) -> int:
        """Store a PROGRAM body of ``count`` words; returns the position after it. A fault
        leaves no program (the memory was being overwritten) and sets ``result.error``."""
        params = self.params
        self.program = None
        result.cycles += HEADER_CYCLES
        builder = ProgramBuilder(params, count)
        while builder.words_left > 0:
            if position >= len(words):
                raise ProgramError(f"PROGRAM announces {count} words; the packet ends before them")
            header = words[position]
            position += 1
            error = header_error(header, builder.n_qubits, params, builder.context())
            if error:
                result.error = error
                result.cycles += HEADER_CYCLES + (len(words) - position)
                return position
            payload_count = Instruction.payload_words(header)
            payload = words[position : position + payload_count]
            if len(payload) < payload_count:
                raise ProgramError("a stored instruction is missing payload words")
            position += payload_count
            builder.add(instruction_from_words(header, payload, params.width))
            result.cycles += 1 + payload_count  # one word per clock into the memory
        self.program = builder.finish()
        return position

    # -- RUN, RUN_SHIFT, RUN_ADJOINT -------------------------------------------------------
    def _run(self, opcode: Opcode, fields: dict, result: RunResult) -> None:
        first, count = fields["field_a"], fields["field_b"]
        result.cycles += HEADER_CYCLES
        start = len(result.beats)
        for set_index in range(first, first + count):
            if opcode == Opcode.RUN:
                self._replay(set_index, "run", None, result)
            elif opcode == Opcode.RUN_SHIFT:
                self._shift_set(set_index, result)
            else:
                self._adjoint_set(set_index, result)
        if fields["last"] and len(result.beats) > start:
            result.last[-1] = True

    def _rotation(self, ins: Instruction, set_index: int, sigma: int):
        """GATE_ROT's coefficients for ``set_index`` with shift word ``sigma``."""
        a, b = split_affine(ins.data[0])
        t = self.param_memory.read(set_index, ins.param)
        h = rotation.half_angle(t, a, b, sigma)
        return rotation.rotation_coefficients(ins.kind, h, self.params)

    def _replay(self, set_index: int, mode: str, shifted, result: RunResult):
        """One pass through the stored program for one set; returns the cost value (None
        without OBS terms). ``shifted`` = (position of the shifted GATE_ROT, shift word)."""
        params, program = self.params, self.program
        accumulator, first_term = 0, True
        value = None
        for position, ins in enumerate(program.instructions):
            opcode = ins.opcode
            if opcode == Opcode.INIT:
                self.n_qubits = ins.target
                self._init()
                result.cycles += instruction_cycles(opcode, self.n_qubits, params)
            elif opcode in GATE_OPCODES:
                op, coefficients = _v1_lane_op(opcode, ins.payload)
                self.re, self.im, overflow = _lane_pass(
                    self.re, self.im, self.n_qubits, ins.target, ins.control, op, coefficients,
                    ins.quarter_turns, params.width)
                result.overflow |= overflow
                result.cycles += instruction_cycles(opcode, self.n_qubits, params)
            elif opcode == Opcode.GATE_ROT:
                sigma = shifted[1] if shifted is not None and shifted[0] == position else 0
                coefficients = self._rotation(ins, set_index, sigma)
                self.re, self.im, overflow = _lane_pass(
                    self.re, self.im, self.n_qubits, ins.target, ins.control, LaneOp.MATRIX,
                    coefficients, 0, params.width)
                result.overflow |= overflow
                result.cycles += instruction_cycles(opcode, self.n_qubits, params)
            elif opcode in READ_OPCODES:
                if mode == "run":
                    self._read(opcode, ins.mask, False, result)
                    result.cycles += instruction_cycles(opcode, self.n_qubits, params)
                else:
                    result.cycles += HEADER_CYCLES  # skipped
            elif opcode == Opcode.OBS:
                weight = sign_extend(ins.data[0], 32)
                accumulator += weight * observable.zstring_sum(self.re, self.im, ins.mask)
                if mode == "adjoint":
                    (self.lam_re, self.lam_im), overflow = observable.lambda_term(
                        (self.lam_re, self.lam_im), (self.re, self.im), ins.mask, weight,
                        program.obs_shift, params.width, first_term)
                    result.overflow |= overflow
                first_term = False
                result.cycles += instruction_cycles(opcode, self.n_qubits, params)
            elif opcode == Opcode.END:
                result.cycles += HEADER_CYCLES
                if program.observables:
                    value, overflow = observable.cost_value(accumulator)
                    result.overflow |= overflow
                    if mode == "run":
                        result.emit([value], False)
                        result.cycles += 1
        return value

    def _emit_gradients(self, value: int, gradients: list[int], result: RunResult) -> None:
        result.emit([value] + gradients, False)
        result.cycles += 1 + len(gradients)

    def _shift_set(self, set_index: int, result: RunResult) -> None:
        program = self.program
        value = self._replay(set_index, "shift", None, result)
        gradients = [0] * self.param_memory.count
        for position in program.rotation_positions:
            ins = program.instructions[position]
            rule = shift.shift_rule(ins.kind, ins.control is not None)
            values = []
            for sigma, _ in rule:
                values.append(self._replay(set_index, "shift", (position, sigma), result))
                result.cycles += SHIFT_MAC_CYCLES
            a, _ = split_affine(ins.data[0])
            contribution = shift.occurrence_gradient(values, rule, a)
            gradients[ins.param], overflow = shift.accumulate(gradients[ins.param], contribution)
            result.overflow |= overflow
            result.cycles += GRAD_UPDATE_CYCLES
        if program.rotation_positions:  # the last update lands before the beats
            result.cycles += GRAD_EMIT_CYCLES - 1
        self._emit_gradients(value, gradients, result)

    def _adjoint_set(self, set_index: int, result: RunResult) -> None:
        params, program = self.params, self.program
        value = self._replay(set_index, "adjoint", None, result)
        gradients = [0] * self.param_memory.count
        n = self.n_qubits
        passes = gate_pass_cycles(n, params)
        for position in reversed(program.gate_positions):
            ins = program.instructions[position]
            result.cycles += ins.word_count  # re-fetched from the instruction memory
            quarter = 0
            if ins.opcode == Opcode.GATE_ROT:
                mu = adjoint_unit.generator_overlap(
                    ins.kind, (self.re, self.im), (self.lam_re, self.lam_im), ins.target, ins.control)
                a, _ = split_affine(ins.data[0])
                contribution = adjoint_unit.gradient_contribution(mu, ins.kind, a, program.obs_shift)
                gradients[ins.param], overflow = shift.accumulate(gradients[ins.param], contribution)
                result.overflow |= overflow
                op, coefficients = LaneOp.MATRIX, self._rotation(ins, set_index, 0)
                result.cycles += rotation_setup_cycles(params)
            else:
                op, coefficients = _v1_lane_op(ins.opcode, ins.payload)
                quarter = (-ins.quarter_turns) % 4
            if op == LaneOp.MATRIX:
                coefficients, overflow = rotation.dagger(coefficients, params.width)
                result.overflow |= overflow
            for bank in ("psi", "lambda"):
                re, im = (self.re, self.im) if bank == "psi" else (self.lam_re, self.lam_im)
                re, im, overflow = _lane_pass(re, im, n, ins.target, ins.control, op, coefficients,
                                              quarter, params.width)
                result.overflow |= overflow
                if bank == "psi":
                    self.re, self.im = re, im
                else:
                    self.lam_re, self.lam_im = re, im
            result.cycles += 2 * passes + GATE_DRAIN_CYCLES  # the reduction and update fused in
        result.cycles += GRAD_EMIT_CYCLES
        self._emit_gradients(value, gradients, result)


__all__ = ["BEAT_MASK", "COEFFICIENT_WORDS", "CoreModel", "ProgramError", "RunResult"]
