"""Fuzzing the FPGA instruction decoder: the RTL block (``qfab_hw.decoder.InstructionDecoder``, in
Amaranth's Python simulator) against the bit-accurate model's decoder
(:func:`qfab_hw.program.header_error`, what ``CoreModel`` executes) on random header words, in
random decoder contexts, for random core builds. The property: the same error code (or none),
the same fields, and for a valid LOAD_PARAMS / RUN* the same product and payload length.

tests/hw/test_blocks*.py check two fixed builds on seeded words; here hypothesis draws the build
too (qubits, lanes, parameter and program memories, adjoint), so the bounds the RTL takes from
``CoreParams`` (BAD_QUBIT_COUNT, BAD_PARAM, BAD_SET, PROGRAM_TOO_LONG, NO_ADJOINT) are crossed at
their edges, and it draws whole 64-bit words as well as plausible ones.
"""
from __future__ import annotations

from hypothesis import given, strategies as st

from qfab_hw import CoreParams, ErrorCode, Opcode
from qfab_hw.decoder import InstructionDecoder
from qfab_hw.program import (
    CONTROL_SHIFT,
    CONTROLLED_BIT,
    FIELD_A_SHIFT,
    FIELD_B_SHIFT,
    KIND_SHIFT,
    LAST_BIT,
    MASK_SHIFT,
    RUN_OPCODES,
    TARGET_SHIFT,
    DecoderContext,
    allowed_header_bits,
    decode_header,
    header_error,
)
from tests.fuzz.fuzzing import fuzz_settings
from tests.support.amaranth_sim import simulate

WORD_BITS = 64
FIELDS = ("opcode", "target", "control", "controlled", "last", "quarter_turns", "kind", "mask", "field_a", "field_b")


@st.composite
def core_builds(draw) -> CoreParams:
    """A small core build: every bound the decoder checks is a few steps from the values drawn."""
    lanes = draw(st.sampled_from([1, 2, 4]))
    max_params = draw(st.integers(1, 40))
    param_depth = 1 << draw(st.integers(max(1, (max_params - 1).bit_length()), 8))
    return CoreParams(max_qubits=draw(st.integers(lanes.bit_length(), 12)), lanes=lanes, max_params=max_params,
                      param_depth=param_depth, program_depth=1 << draw(st.integers(4, 10)),
                      adjoint=draw(st.booleans()))


def _near(*bounds: int) -> st.SearchStrategy[int]:
    """A 16-bit field value at or next to one of ``bounds`` (or anywhere)."""
    edges = sorted({v for b in bounds for v in (b - 1, b, b + 1) if 0 <= v < 1 << 16})
    return st.one_of(st.sampled_from(edges), st.integers(0, (1 << 16) - 1))


@st.composite
def header_words(draw, params: CoreParams) -> int:
    """Mostly plausible headers (a known opcode, fields near the build's bounds, sparse stray bits)
    and some arbitrary 64-bit words."""
    kind = draw(st.sampled_from(["plausible"] * 8 + ["any opcode", "any word"]))  # sampled: no bias to 0
    if kind == "any word":
        return draw(st.integers(0, (1 << WORD_BITS) - 1))
    word = draw(st.integers(0, 255) if kind == "any opcode" else st.sampled_from([int(o) for o in Opcode]))
    small_qubit = st.integers(0, params.max_qubits + 1)
    if draw(st.booleans()):
        word |= draw(small_qubit) << TARGET_SHIFT
    if draw(st.booleans()):
        word |= draw(small_qubit) << CONTROL_SHIFT | draw(st.booleans()) << CONTROLLED_BIT
    if draw(st.booleans()):
        word |= 1 << LAST_BIT
    if draw(st.booleans()):
        word |= draw(st.integers(0, 3)) << KIND_SHIFT
    bounds = (params.max_params, params.param_depth, params.program_depth, params.max_qubits)
    for shift in (FIELD_A_SHIFT, FIELD_B_SHIFT):  # each field set or not: an opcode's clean header is common
        if draw(st.booleans()):
            word |= draw(_near(0, *bounds)) << shift
    if draw(st.booleans()):  # READ_EXPZ / OBS masks: 32 bits from bit 32, over the fields
        word = word & ((1 << MASK_SHIFT) - 1) | draw(st.integers(0, (1 << (params.max_qubits + 1)) - 1)) << MASK_SHIFT
    if word & 0xFF in set(Opcode) and draw(st.sampled_from(["clean"] * 3 + ["stray bits"])) == "clean":
        word &= allowed_header_bits(Opcode(word & 0xFF))  # past RESERVED_BITS, to the checks behind it
    for bit in draw(st.lists(st.integers(0, WORD_BITS - 1), max_size=2)):
        word ^= 1 << bit
    return word


@st.composite
def contexts(draw, params: CoreParams) -> DecoderContext:
    """A streamed header (a stored program and parameters, or none) or one inside a PROGRAM body."""
    if draw(st.booleans()):
        return DecoderContext(storing=True, words_left=draw(st.integers(0, min(params.program_depth, 12))),
                              program_started=draw(st.booleans()), observing=draw(st.booleans()))
    count = st.integers(0, params.max_params)
    return DecoderContext(program_valid=draw(st.booleans()), program_params=draw(count),
                          program_observables=draw(st.integers(0, 1)), param_count=draw(count),
                          set_count=draw(st.integers(0, 20) | st.integers(0, (1 << 16) - 1)))


@st.composite
def decoder_cases(draw):
    params = draw(core_builds())
    cases = draw(st.lists(st.tuples(header_words(params), st.integers(0, params.max_qubits), contexts(params)),
                          min_size=16, max_size=64))
    return params, cases


@fuzz_settings(40)
@given(build_and_cases=decoder_cases())
def test_the_rtl_decoder_agrees_with_the_model_on_random_words(build_and_cases):
    params, cases = build_and_cases
    decoder = InstructionDecoder(params)
    mismatches = []

    async def testbench(ctx):
        for word, n_qubits, context in cases:
            for port, value in (("word", word), ("n_qubits", n_qubits), ("storing", context.storing),
                                ("words_left", context.words_left), ("started", context.program_started),
                                ("observing", context.observing), ("program_valid", context.program_valid),
                                ("program_params", context.program_params),
                                ("program_observables", bool(context.program_observables)),
                                ("param_count", context.param_count), ("set_count", context.set_count)):
                ctx.set(getattr(decoder, port), int(value))
            expected = header_error(word, n_qubits, params, context)
            got = {"error": ErrorCode(ctx.get(decoder.error))}
            want = {"error": expected}
            fields = decode_header(word)
            for name in FIELDS:
                got[name], want[name] = ctx.get(getattr(decoder, name)), int(fields[name])
            a, b = fields["field_a"], fields["field_b"]
            if expected == ErrorCode.NONE and fields["opcode"] == Opcode.LOAD_PARAMS:
                got["product"], want["product"] = ctx.get(decoder.product), a * b
                got["param_words"], want["param_words"] = ctx.get(decoder.param_words), (a * b + 1) // 2
            if expected == ErrorCode.NONE and fields["opcode"] in RUN_OPCODES:
                got["product"], want["product"] = ctx.get(decoder.product), a * context.param_count
            if got != want:
                mismatches.append((hex(word), n_qubits, context, {k: (got[k], want[k]) for k in got if got[k] != want[k]}))

    simulate(decoder, testbench)
    assert not mismatches, (params, mismatches[:3])
