"""The gate-program format: assembler round trip and the decoder's error rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qfab_hw import Assembler, CoreParams, ErrorCode, Instruction, Opcode, decode_program
from qfab_hw.program import (
    CONTROLLED_BIT,
    GATE_OPCODES,
    READ_OPCODES,
    RUN_OPCODES,
    allowed_header_bits,
    header_error,
    pack_complex,
    unpack_complex,
)

PARAMS = CoreParams(max_qubits=8, lanes=2, width=18)


def instructions(width: int = 18):
    fixed = st.integers(-(1 << (width - 1)), (1 << (width - 1)) - 1)
    pair = st.tuples(fixed, fixed)
    qubit = st.integers(0, 7)

    @st.composite
    def one(draw):
        opcode = draw(st.sampled_from(list(Opcode)))
        if opcode in (Opcode.INIT, Opcode.LOAD):
            n = draw(st.integers(1, 4))
            payload = tuple(draw(st.lists(pair, min_size=1 << n, max_size=1 << n))) \
                if opcode == Opcode.LOAD else ()
            return Instruction(opcode, target=n, payload=payload)
        if opcode in GATE_OPCODES:
            target = draw(qubit)
            control = draw(st.one_of(st.none(), qubit))
            count = {Opcode.GATE_U: 4, Opcode.GATE_DIAG: 2}.get(opcode, 0)
            payload = tuple(draw(st.lists(pair, min_size=count, max_size=count)))
            quarter = draw(st.integers(0, 3)) if opcode == Opcode.GATE_PHASE4 else 0
            return Instruction(opcode, target, control, quarter_turns=quarter, payload=payload)
        if opcode in READ_OPCODES:
            mask = draw(st.integers(0, 255)) if opcode == Opcode.READ_EXPZ else 0
            return Instruction(opcode, last=draw(st.booleans()), mask=mask)
        word = st.integers(0, (1 << 64) - 1)
        if opcode == Opcode.GATE_ROT:
            return Instruction(opcode, draw(qubit), draw(st.one_of(st.none(), qubit)),
                               kind=draw(st.integers(0, 3)), param=draw(st.integers(0, 0xFFFF)),
                               data=(draw(word),))
        if opcode == Opcode.OBS:
            return Instruction(opcode, mask=draw(st.integers(0, 255)), data=(draw(word),))
        if opcode == Opcode.LOAD_PARAMS:
            count, sets = draw(st.integers(1, 5)), draw(st.integers(1, 4))
            data = tuple(draw(st.lists(word, min_size=(count * sets + 1) // 2,
                                       max_size=(count * sets + 1) // 2)))
            return Instruction(opcode, param=count, count=sets, data=data)
        if opcode == Opcode.PROGRAM:
            return Instruction(opcode, count=draw(st.integers(0, 0xFFFF)))
        if opcode in RUN_OPCODES:
            return Instruction(opcode, first=draw(st.integers(0, 0xFFFF)),
                               count=draw(st.integers(0, 0xFFFF)), last=draw(st.booleans()))
        return Instruction(opcode)

    return one()


@given(st.lists(instructions(), max_size=12))
def test_encode_decode_round_trip(program):
    words = [w for instruction in program for w in instruction.words()]
    assert all(0 <= w < 1 << 64 for w in words)
    assert decode_program(words, 18) == program


@given(st.integers(-(1 << 17), (1 << 17) - 1), st.integers(-(1 << 17), (1 << 17) - 1))
def test_payload_word_packs_sign_extended_halves(re, im):
    word = pack_complex(re, im)
    assert unpack_complex(word, 18) == (re, im)
    assert word & 0xFFFF_FFFF == re % (1 << 32) and word >> 32 == im % (1 << 32)


def test_assembler_quantizes_gates_to_round_to_nearest_q2_16():
    program = Assembler(18).init(2).h(1).rz(0.5, 0, control=1).end()
    h, rz = program.instructions[1], program.instructions[2]
    half = round(2**16 / math.sqrt(2))
    assert h.opcode == Opcode.GATE_U and h.target == 1 and h.control is None
    assert h.payload == ((half, 0), (half, 0), (half, 0), (-half, 0))
    assert rz.opcode == Opcode.GATE_DIAG and rz.control == 1
    assert rz.payload[0] == (round(math.cos(0.25) * 2**16), round(-math.sin(0.25) * 2**16))


def test_assembler_rejects_coefficients_outside_the_format():
    with pytest.raises(ValueError, match=r"outside the Q2.16 range"):
        Assembler(18).unitary(np.eye(2) * 2.5, 0)
    with pytest.raises(ValueError, match="2x2 matrix"):
        Assembler(18).unitary(np.eye(4), 0)
    with pytest.raises(ValueError, match="2\\*\\*n amplitudes"):
        Assembler(18).load(np.ones(3) / math.sqrt(3))


def test_end_marks_only_the_final_readout_last():
    program = Assembler(18).init(2).read_state().expect_z([0]).h(0).end()
    lasts = [i.last for i in program.instructions if i.opcode in READ_OPCODES]
    assert lasts == [False, True]


def test_swap_assembles_to_three_cx_passes():
    program = Assembler(18).init(3).swap(0, 2)
    controls = [(i.opcode, i.control, i.target) for i in program.instructions[1:]]
    assert controls == [(Opcode.GATE_X, 0, 2), (Opcode.GATE_X, 2, 0), (Opcode.GATE_X, 0, 2)]


@pytest.mark.parametrize("opcode", [o for o in Opcode if o <= Opcode.READ_EXPZ])  # v2: test_program_v2
def test_every_unused_header_bit_is_reserved(opcode):
    base = Instruction(opcode, target=2 if opcode in (Opcode.INIT, Opcode.LOAD) else 0).header()
    assert header_error(base, 4, PARAMS) == ErrorCode.NONE
    allowed = allowed_header_bits(opcode)
    for bit in range(8, 64):
        if not allowed >> bit & 1:
            assert header_error(base | 1 << bit, 4, PARAMS) == ErrorCode.RESERVED_BITS, bit


@pytest.mark.parametrize(
    ("word", "n_qubits", "code"),
    [
        (0x11, 4, ErrorCode.BAD_OPCODE),
        (0xFF, 4, ErrorCode.BAD_OPCODE),
        (Instruction(Opcode.GATE_X, 0).header() | 3 << 16, 4, ErrorCode.RESERVED_BITS),
        (Instruction(Opcode.INIT, target=1).header(), 0, ErrorCode.BAD_QUBIT_COUNT),  # 2 lanes
        (Instruction(Opcode.LOAD, target=9).header(), 0, ErrorCode.BAD_QUBIT_COUNT),
        (Instruction(Opcode.GATE_X, 0).header(), 0, ErrorCode.NO_STATE),
        (Instruction(Opcode.READ_STATE).header(), 0, ErrorCode.NO_STATE),
        (Instruction(Opcode.GATE_X, 4).header(), 4, ErrorCode.BAD_TARGET),
        (Instruction(Opcode.GATE_X, 1, 1).header(), 4, ErrorCode.BAD_CONTROL),
        (Instruction(Opcode.GATE_X, 1, 4).header(), 4, ErrorCode.BAD_CONTROL),
        (Instruction(Opcode.READ_EXPZ, mask=0b10000).header(), 4, ErrorCode.BAD_MASK),
        (Instruction(Opcode.READ_EXPZ, mask=0b1111).header(), 4, ErrorCode.NONE),
        (Instruction(Opcode.GATE_U, 3, 0).header(), 4, ErrorCode.NONE),
        (Instruction(Opcode.END).header(), 0, ErrorCode.NONE),
    ],
)
def test_decoder_error_codes(word, n_qubits, code):
    assert header_error(word, n_qubits, PARAMS) == code


def test_controlled_flag_without_control_field_is_control_zero():
    word = Instruction(Opcode.GATE_X, 1).header() | 1 << CONTROLLED_BIT
    assert header_error(word, 4, PARAMS) == ErrorCode.NONE
    assert decode_program([word], 18)[0].control == 0
