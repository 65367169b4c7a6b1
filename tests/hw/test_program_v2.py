"""Instruction set v2: header fields, encoders, the decoder's v2 rules, build parameters."""

from __future__ import annotations

import math

import pytest

from qfab_hw import Assembler, CoreParams, ErrorCode, Instruction, Opcode
from qfab_hw.boards import LogicCost, check_fit, load_board, state_memory_cost
from qfab_hw.program import (
    RUN_OPCODES,
    DecoderContext,
    affine_word,
    allowed_header_bits,
    angle_words,
    decode_program,
    header_error,
    pack_angle_words,
    split_affine,
    weight_word,
)

PARAMS = CoreParams(max_qubits=8, lanes=2, width=18, max_params=16, param_depth=64,
                    program_depth=64, adjoint=True)
LOADED = DecoderContext(program_valid=True, program_params=3, program_observables=1,
                        param_count=4, set_count=2)
V2 = [o for o in Opcode if o >= Opcode.GATE_ROT]


def storing(words_left=10, started=True, observing=False):
    return DecoderContext(storing=True, words_left=words_left, program_started=started,
                          observing=observing)


def valid_base(opcode):
    """A valid header of ``opcode`` and the context it is valid in."""
    if opcode == Opcode.GATE_ROT:
        return Instruction(opcode, 1).header(), storing()
    if opcode == Opcode.OBS:
        return Instruction(opcode, mask=1).header(), storing(observing=True)
    if opcode == Opcode.LOAD_PARAMS:
        return Instruction(opcode, param=4, count=2).header(), DecoderContext()
    if opcode == Opcode.PROGRAM:
        return Instruction(opcode, count=8).header(), DecoderContext()
    return Instruction(opcode, first=0, count=1).header(), LOADED


@pytest.mark.parametrize("opcode", V2)
def test_every_unused_v2_header_bit_is_reserved(opcode):
    base, context = valid_base(opcode)
    assert header_error(base, 4, PARAMS, context) == ErrorCode.NONE
    allowed = allowed_header_bits(opcode)
    for bit in range(8, 64):
        if not allowed >> bit & 1:
            assert header_error(base | 1 << bit, 4, PARAMS, context) == ErrorCode.RESERVED_BITS, bit


def test_v1_opcodes_keep_their_encoding():
    assert [int(o) for o in Opcode][:10] == list(range(10))
    words = Assembler(18).init(2).h(0).cx(0, 1).expect_z([0, 1]).end().words()
    assert [hex(w) for w in words] == ["0x201", "0x3", "0xb505", "0xb505", "0xb505", "0xffff4afb",
                                       "0x1000105", "0x302000009", "0x0"]


ROT = Instruction(Opcode.GATE_ROT, 1).header()


@pytest.mark.parametrize(
    ("word", "n", "context", "code"),
    [
        # parameter index / P beyond the parameter memory
        (Instruction(Opcode.GATE_ROT, 1, param=16).header(), 4, storing(), ErrorCode.BAD_PARAM),
        (Instruction(Opcode.GATE_ROT, 1, param=15).header(), 4, storing(), ErrorCode.NONE),
        (Instruction(Opcode.LOAD_PARAMS, param=17, count=1).header(), 0, DecoderContext(), ErrorCode.BAD_PARAM),
        (Instruction(Opcode.LOAD_PARAMS, param=0, count=1).header(), 0, DecoderContext(), ErrorCode.BAD_PARAM),
        (Instruction(Opcode.RUN, count=1).header(), 0,
         DecoderContext(program_valid=True, program_params=5, param_count=4, set_count=2), ErrorCode.BAD_PARAM),
        # sets beyond the parameter memory
        (Instruction(Opcode.LOAD_PARAMS, param=16, count=5).header(), 0, DecoderContext(), ErrorCode.BAD_SET),
        (Instruction(Opcode.LOAD_PARAMS, param=16, count=4).header(), 0, DecoderContext(), ErrorCode.NONE),
        (Instruction(Opcode.LOAD_PARAMS, param=1, count=0).header(), 0, DecoderContext(), ErrorCode.BAD_SET),
        (Instruction(Opcode.RUN, first=1, count=2).header(), 0, LOADED, ErrorCode.BAD_SET),
        (Instruction(Opcode.RUN, first=0, count=0).header(), 0, LOADED, ErrorCode.BAD_SET),
        (Instruction(Opcode.RUN, first=0, count=1).header(), 0,
         DecoderContext(program_valid=True), ErrorCode.BAD_SET),  # nothing loaded
        # program length
        (Instruction(Opcode.PROGRAM, count=65).header(), 0, DecoderContext(), ErrorCode.PROGRAM_TOO_LONG),
        (Instruction(Opcode.PROGRAM, count=64).header(), 0, DecoderContext(), ErrorCode.NONE),
        (Instruction(Opcode.PROGRAM, count=0).header(), 0, DecoderContext(), ErrorCode.BAD_PROGRAM),
        # RUN* without program / adjoint / observable
        (Instruction(Opcode.RUN, count=1).header(), 0, DecoderContext(set_count=2, param_count=4),
         ErrorCode.NO_PROGRAM),
        (Instruction(Opcode.RUN_SHIFT, count=1).header(), 0,
         DecoderContext(program_valid=True, param_count=4, set_count=2), ErrorCode.NO_OBSERVABLE),
        (Instruction(Opcode.RUN, count=1).header(), 0,
         DecoderContext(program_valid=True, param_count=4, set_count=2), ErrorCode.NONE),
        # stored-program rules
        (ROT, 4, DecoderContext(), ErrorCode.BAD_PROGRAM),  # GATE_ROT streamed
        (Instruction(Opcode.OBS, mask=1).header(), 4, DecoderContext(), ErrorCode.BAD_PROGRAM),
        (Instruction(Opcode.GATE_X, 0).header(), 0, storing(started=False), ErrorCode.BAD_PROGRAM),
        (Instruction(Opcode.INIT, target=3).header(), 3, storing(), ErrorCode.BAD_PROGRAM),  # 2nd INIT
        (Instruction(Opcode.INIT, target=3).header(), 0, storing(started=False), ErrorCode.NONE),
        (Instruction(Opcode.INIT, target=1).header(), 0, storing(started=False), ErrorCode.BAD_QUBIT_COUNT),
        (Instruction(Opcode.LOAD, target=2).header(), 4, storing(), ErrorCode.BAD_PROGRAM),
        (Instruction(Opcode.READ_EXPZ, mask=1, last=True).header(), 4, storing(), ErrorCode.BAD_PROGRAM),
        (Instruction(Opcode.READ_EXPZ, mask=1).header(), 4, storing(), ErrorCode.NONE),
        (Instruction(Opcode.GATE_X, 0).header(), 4, storing(observing=True), ErrorCode.BAD_PROGRAM),
        (ROT, 4, storing(observing=True), ErrorCode.BAD_PROGRAM),
        (Instruction(Opcode.END).header(), 4, storing(words_left=3), ErrorCode.BAD_PROGRAM),  # early END
        (Instruction(Opcode.END).header(), 4, storing(words_left=1), ErrorCode.NONE),
        (Instruction(Opcode.GATE_X, 0).header(), 4, storing(words_left=1), ErrorCode.BAD_PROGRAM),  # no END
        (ROT, 4, storing(words_left=1), ErrorCode.BAD_PROGRAM),  # payload past N
        (Instruction(Opcode.RUN, count=1).header(), 4, storing(), ErrorCode.BAD_PROGRAM),
        (Instruction(Opcode.PROGRAM, count=4).header(), 4, storing(), ErrorCode.BAD_PROGRAM),
        (Instruction(Opcode.LOAD_PARAMS, param=1, count=1).header(), 4, storing(), ErrorCode.BAD_PROGRAM),
        # v1 checks on stored v2 words
        (Instruction(Opcode.GATE_ROT, 4).header(), 4, storing(), ErrorCode.BAD_TARGET),
        (Instruction(Opcode.GATE_ROT, 1, 1).header(), 4, storing(), ErrorCode.BAD_CONTROL),
        (Instruction(Opcode.OBS, mask=0b10000).header(), 4, storing(observing=True), ErrorCode.BAD_MASK),
    ],
)
def test_v2_decoder_error_codes(word, n, context, code):
    assert header_error(word, n, PARAMS, context) == code


def test_adjoint_needs_the_second_bank():
    word = Instruction(Opcode.RUN_ADJOINT, count=1).header()
    assert header_error(word, 0, PARAMS, LOADED) == ErrorCode.NONE
    no_bank = CoreParams(max_qubits=8, lanes=2, width=18, max_params=16, param_depth=64)
    assert header_error(word, 0, no_bank, LOADED) == ErrorCode.NO_ADJOINT
    assert header_error(word, 0, no_bank, DecoderContext()) == ErrorCode.NO_ADJOINT  # checked first


def test_run_header_checks_in_order():
    word = Instruction(Opcode.RUN_SHIFT, first=3, count=0).header()
    order = [(DecoderContext(), ErrorCode.NO_PROGRAM),
             (DecoderContext(program_valid=True), ErrorCode.NO_OBSERVABLE),
             (DecoderContext(program_valid=True, program_observables=1), ErrorCode.BAD_SET)]
    for context, code in order:
        assert header_error(word, 0, PARAMS, context) == code


def test_angle_words_are_half_angle_binary_angles():
    assert list(angle_words([0.0, math.pi, -math.pi, 2 * math.pi, 4 * math.pi])) == [
        0, 1 << 30, 3 << 30, 1 << 31, 0]
    assert angle_words([1.0])[0] == math.floor(1.0 / (4 * math.pi) * 2**32 + 0.5)
    assert angle_words([7.0])[0] == angle_words([7.0 - 4 * math.pi])[0]  # wraps mod 4 pi
    with pytest.raises(ValueError, match=r"\[-2 pi, 2 pi\)"):
        angle_words([7.0], strict=True)
    with pytest.raises(ValueError, match=r"\[-2 pi, 2 pi\)"):
        angle_words([2 * math.pi - 1e-12], strict=True)  # rounds to the word of -2 pi
    assert angle_words([-2 * math.pi, 2 * math.pi - 1e-3], strict=True)[0] == 1 << 31
    with pytest.raises(ValueError, match="finite"):
        angle_words([float("nan")])


def test_affine_and_weight_words():
    a, b = split_affine(affine_word(1.0, 0.0))
    assert (a, b) == (1 << 28, 0)
    a, b = split_affine(affine_word(-0.5, -math.pi))
    assert (a, b) == (-(1 << 27), 3 << 30)
    with pytest.raises(ValueError, match=r"\[-8, 8\)"):
        affine_word(8.0, 0.0)
    assert weight_word(1.0) == 1 << 24 and weight_word(-1.0) == (1 << 32) - (1 << 24)
    with pytest.raises(ValueError, match=r"\[-128, 128\)"):
        weight_word(128.0)
    assert pack_angle_words([1, 2, 3]) == [1 | 2 << 32, 3]


def test_assembler_v2_program_round_trip_and_last():
    body = Assembler(18).init(3).rot("ry", 0, 2, a=2.0, b=0.5).rot("p", 1, 0, control=2).read_state()
    body.obs([0, 1], -0.25)
    outer = (Assembler(18).program(body).load_params([[0.1, 0.2, 0.3]] * 2).run(0, 2)
             .run_shift(1, 1).end())
    decoded = decode_program(outer.words(), 18)
    assert decoded == outer.instructions
    program = decoded[0]
    assert program.opcode == Opcode.PROGRAM and program.count == 1 + 2 + 2 + 1 + 2 + 1
    assert decoded[program_end := 6].opcode == Opcode.END  # PROGRAM, INIT, 2 ROT, READ, OBS, END
    assert not any(i.last for i in decoded[1:program_end + 1])  # stored readouts stay LAST-free
    runs = [i for i in decoded if i.opcode in RUN_OPCODES]
    assert [r.last for r in runs] == [False, True]
    load = decoded[program_end + 1]
    assert (load.opcode, load.param, load.count, len(load.data)) == (Opcode.LOAD_PARAMS, 3, 2, 3)


def test_v2_build_parameters():
    default = CoreParams()
    assert (default.max_params, default.param_depth, default.program_depth, default.adjoint) == (64, 1024, 512, False)
    params = CoreParams(max_qubits=8, max_params=32, param_depth=512, program_depth=256, adjoint=True)
    assert params.build2_word == (1 << 31) | (32 << 16) | (9 << 8) | 8
    assert params.state_bits == 2 * (1 << 8) * 36
    from qfab_hw.model import trig
    from qfab_hw.model.cycles import rotation_setup_cycles
    from qfab_hw.params import SINCOS_LATENCY

    assert SINCOS_LATENCY == trig.LATENCY == trig.latency(params)
    assert rotation_setup_cycles(params) == params.rotation_setup_cycles == 10
    for kwargs, message in [
        (dict(max_params=0), "max_params"), (dict(max_params=5000), "max_params"),
        (dict(param_depth=1000), "power of two"), (dict(param_depth=32, max_params=64), "at least one set"),
        (dict(program_depth=8), "program_depth"), (dict(program_depth=100), "program_depth"),
    ]:
        with pytest.raises(ValueError, match=message):
            CoreParams(**kwargs)
    with pytest.raises(TypeError, match="adjoint"):
        CoreParams(adjoint=1)
    with pytest.raises(TypeError, match="max_params"):
        CoreParams(max_params=2.0)


def test_second_bank_counts_against_the_board():
    board = load_board("pynq-z2")
    logic = LogicCost(lut=2000, ff=1000, dsp=20)
    single = CoreParams(max_qubits=16, lanes=1, width=18)
    double = CoreParams(max_qubits=16, lanes=1, width=18, adjoint=True)
    assert check_fit(single, board, logic).fits
    fit = check_fit(double, board, logic)
    assert not fit.fits and "adjoint=False" in fit.reasons[0] and "two state banks" in fit.reasons[0]
    smaller = CoreParams(max_qubits=15, lanes=1, width=18, adjoint=True)
    assert state_memory_cost(smaller, board).bram36 == 2 * state_memory_cost(
        CoreParams(max_qubits=15, lanes=1, width=18), board).bram36


def test_array_builders_match_the_assembler():
    import numpy as np

    from qfab_hw.program import load_params_words, run_word

    thetas = np.random.default_rng(0).uniform(-7, 7, size=(5, 3))  # odd B*P: a padded half word
    words = load_params_words(thetas)
    assert words.dtype == np.uint64
    assert [int(w) for w in words] == Assembler(18).load_params(thetas).words()
    assert run_word(Opcode.RUN_SHIFT, 2, 3) == Assembler(18).run_shift(2, 3, last=True).words()[0]
    with pytest.raises(ValueError, match="not a RUN"):
        run_word(Opcode.END, 0, 1)
