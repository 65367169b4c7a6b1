"""Gate-program words: the instruction format, its encoder/decoder and an assembler.

A program is a sequence of 64-bit words streamed into the core's AXI-Stream input. Each
instruction is one *header* word, followed by payload words for the instructions that carry
data (coefficients or amplitudes).

Header word (bit ranges are ``[low, high)``)::

    [ 0,  8)  opcode          Opcode
    [ 8, 16)  target          target qubit; the qubit count n for INIT and LOAD
    [16, 24)  control         control qubit (only with the CONTROLLED flag)
    [24]      CONTROLLED      gate acts only where the control qubit is 1
    [25]      LAST            readouts: assert TLAST on this readout's final output beat
    [26, 28)  quarter_turns   PHASE4: the |1> amplitude is multiplied by i**quarter_turns
    [28, 32)  reserved, 0
    [32, 64)  mask            READ_EXPZ: Z-string mask (bit q set = Z on qubit q)

Every field an opcode does not use must be zero, otherwise the core reports
``ErrorCode.RESERVED_BITS``: a stray bit is a malformed program, not something to ignore.

Payload word (one complex number): the real part in bits ``[0, 32)`` and the imaginary part in
``[32, 64)``, each a two's complement Q2.(W-2) value sign-extended to 32 bits. The core reads
the low W bits of each half.

Output beats: READ_STATE sends one amplitude per beat in the payload format; READ_PROBS sends
``re**2 + im**2`` per amplitude and READ_EXPZ one signed sum ``sum_i (-1)**popcount(i & mask)
(re_i**2 + im_i**2)``, both as 64-bit integers with 2(W-2) fraction bits.

Instruction set v2 (hw/README.md, "Instruction set v2") adds parameters, a resident program and
gradients on chip: GATE_ROT and OBS (only inside a stored program), LOAD_PARAMS, PROGRAM, RUN,
RUN_SHIFT and RUN_ADJOINT. Their immediates use two 16-bit fields, A = bits ``[32, 48)`` and
B = ``[48, 64)`` (OBS uses ``[32, 64)`` as its Z-string mask), and GATE_ROT's rotation kind sits in
``[26, 28)``. Angles are 32-bit binary half-angles: word w means phi = 4*pi*w / 2**32.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from qfab_hw.fixed import sign_extend, to_fixed
from qfab_hw.params import CoreParams


class Opcode(IntEnum):
    END = 0  #: finish the program: the core sets DONE and goes idle
    INIT = 1  #: set n = target and reset the state to |0...0>
    LOAD = 2  #: set n = target and load 2**n amplitude payload words
    GATE_U = 3  #: general 2x2 matrix, payload u00, u01, u10, u11 (DSP lane)
    GATE_DIAG = 4  #: diagonal diag(d0, d1), payload d0, d1 (DSP lane, off-diagonal zero)
    GATE_X = 5  #: swap each amplitude pair (multiplier-free)
    GATE_PHASE4 = 6  #: |1> amplitude times i**k (multiplier-free): Z, S, Sdg, CZ
    READ_STATE = 7  #: stream the 2**n amplitudes out
    READ_PROBS = 8  #: stream the 2**n probabilities out
    READ_EXPZ = 9  #: one beat: the expectation of the Z-string given by mask
    # -- v2 -------------------------------------------------------------------------------
    GATE_ROT = 10  #: rotation by a*theta[set, index] + b, payload (a, b) (stored programs only)
    OBS = 11  #: one weighted Z-string term of the cost observable (stored programs only)
    LOAD_PARAMS = 12  #: B sets x P angles into the parameter memory, two per payload word
    PROGRAM = 13  #: store the next N words (INIT ... END) in the instruction memory
    RUN = 14  #: replay the stored program for sets [s0, s0 + count): readout beats per set
    RUN_SHIFT = 15  #: per set the value and parameter-shift gradients, sequenced on chip
    RUN_ADJOINT = 16  #: per set the value and adjoint gradients (second state bank)


class RotationKind(IntEnum):
    """GATE_ROT's kind field: RX, RY, RZ use the half angle, P the full angle."""

    RX = 0
    RY = 1
    RZ = 2
    P = 3


class ErrorCode(IntEnum):
    """The STATUS register's error field, in the priority order the decoder checks them."""

    NONE = 0
    BAD_OPCODE = 1
    RESERVED_BITS = 2
    BAD_QUBIT_COUNT = 3  #: INIT/LOAD with n below log2(lanes)+1 or above max_qubits
    NO_STATE = 4  #: a gate or readout before any INIT/LOAD (or after RESET)
    BAD_TARGET = 5  #: target >= n
    BAD_CONTROL = 6  #: control >= n or control == target
    BAD_MASK = 7  #: Z-string mask has bits at or above n
    # -- v2 -------------------------------------------------------------------------------
    BAD_PARAM = 8  #: parameter index >= max_params, P out of range, or program needs more than P
    BAD_SET = 9  #: set range beyond the loaded sets, count 0, or B*P beyond the parameter memory
    PROGRAM_TOO_LONG = 10  #: PROGRAM's word count exceeds the instruction memory
    NO_PROGRAM = 11  #: RUN* without a valid stored program
    NO_ADJOINT = 12  #: RUN_ADJOINT on a build without the second state bank
    BAD_PROGRAM = 13  #: malformed stored program, or GATE_ROT/OBS outside PROGRAM
    NO_OBSERVABLE = 14  #: RUN_SHIFT/RUN_ADJOINT on a program without OBS terms


OPCODE_SHIFT, TARGET_SHIFT, CONTROL_SHIFT = 0, 8, 16
CONTROLLED_BIT, LAST_BIT, QUARTER_SHIFT, MASK_SHIFT = 24, 25, 26, 32
#: v2: GATE_ROT's kind shares the quarter-turn field; immediates A and B are 16 bits each.
KIND_SHIFT, FIELD_A_SHIFT, FIELD_B_SHIFT = 26, 32, 48

GATE_OPCODES = frozenset({Opcode.GATE_U, Opcode.GATE_DIAG, Opcode.GATE_X, Opcode.GATE_PHASE4})
READ_OPCODES = frozenset({Opcode.READ_STATE, Opcode.READ_PROBS, Opcode.READ_EXPZ})
RUN_OPCODES = frozenset({Opcode.RUN, Opcode.RUN_SHIFT, Opcode.RUN_ADJOINT})
#: Gates of a stored program (un-applied by RUN_ADJOINT's backward sweep).
PROGRAM_GATE_OPCODES = GATE_OPCODES | {Opcode.GATE_ROT}
#: Opcodes a stored program may not contain.
NOT_STORABLE = frozenset({Opcode.LOAD, Opcode.LOAD_PARAMS, Opcode.PROGRAM}) | RUN_OPCODES
#: Opcodes only a stored program may contain.
ONLY_STORED = frozenset({Opcode.GATE_ROT, Opcode.OBS})
#: Payload words that follow the header (LOAD: 2**n, computed from the header).
COEFFICIENT_WORDS = {Opcode.GATE_U: 4, Opcode.GATE_DIAG: 2}
#: v2 payload words that are raw 64-bit data (LOAD_PARAMS: ceil(B*P/2), from the header).
DATA_WORDS = {Opcode.GATE_ROT: 1, Opcode.OBS: 1}

# -- v2 number formats ----------------------------------------------------------------------
ANGLE_WORD_MASK = (1 << 32) - 1
#: phi = 4*pi*w / 2**32: the word is the half angle phi/2 as a fraction of a turn.
ANGLE_WORD_RADIANS = 4 * math.pi / (1 << 32)
AFFINE_FRAC = 28  #: a is Q4.28
OBS_FRAC = 24  #: observable weights are Q8.24
SHIFT_WEIGHT_FRAC = 30


def _field(shift: int, bits: int) -> int:
    return ((1 << bits) - 1) << shift


def allowed_header_bits(opcode: Opcode) -> int:
    """The header bits ``opcode`` may set; all others must be zero."""
    allowed = _field(OPCODE_SHIFT, 8)
    if opcode in (Opcode.INIT, Opcode.LOAD):
        allowed |= _field(TARGET_SHIFT, 8)
    if opcode in GATE_OPCODES:
        allowed |= _field(TARGET_SHIFT, 8) | _field(CONTROL_SHIFT, 8) | (1 << CONTROLLED_BIT)
    if opcode == Opcode.GATE_PHASE4:
        allowed |= _field(QUARTER_SHIFT, 2)
    if opcode in READ_OPCODES:
        allowed |= 1 << LAST_BIT
    if opcode in (Opcode.READ_EXPZ, Opcode.OBS):
        allowed |= _field(MASK_SHIFT, 32)
    if opcode == Opcode.GATE_ROT:
        allowed |= (
            _field(TARGET_SHIFT, 8) | _field(CONTROL_SHIFT, 8) | (1 << CONTROLLED_BIT)
            | _field(KIND_SHIFT, 2) | _field(FIELD_A_SHIFT, 16)
        )
    if opcode in (Opcode.LOAD_PARAMS,) or opcode in RUN_OPCODES:
        allowed |= _field(FIELD_A_SHIFT, 16) | _field(FIELD_B_SHIFT, 16)
    if opcode == Opcode.PROGRAM:
        allowed |= _field(FIELD_A_SHIFT, 16)
    if opcode in RUN_OPCODES:
        allowed |= 1 << LAST_BIT
    return allowed


# -- v2 encoders ------------------------------------------------------------------------------
def _round_half_up(values) -> np.ndarray:
    return np.floor(np.asarray(values, dtype=np.float64) + 0.5)


def angle_words(thetas, strict: bool = False) -> np.ndarray:
    """Angles in radians as 32-bit binary half-angle words (int64 in [0, 2**32)).

    ``w = round(theta / (4 pi) * 2**32) mod 2**32``: any theta works for a rotation whose ``a``
    is an integer (the core takes angles mod 4 pi). With ``strict`` every theta must lie in
    [-2 pi, 2 pi), the range the parameter memory's signed words cover exactly, which a
    non-integer ``a`` needs (a * (theta mod 4 pi) is not a * theta mod 4 pi).
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    if not np.all(np.isfinite(thetas)):
        raise ValueError("angles must be finite")
    scaled = _round_half_up(np.fmod(thetas, 4 * math.pi) / ANGLE_WORD_RADIANS)
    if strict and np.any((_round_half_up(thetas / ANGLE_WORD_RADIANS) < -(1 << 31))
                         | (_round_half_up(thetas / ANGLE_WORD_RADIANS) >= 1 << 31)):
        # the signed word must hold theta itself: just below 2 pi rounds to -2 pi's word
        raise ValueError("with a non-integer affine scale a, angles must lie in [-2 pi, 2 pi)")
    return scaled.astype(np.int64) & ANGLE_WORD_MASK


def angle_word(theta: float) -> int:
    return int(angle_words([theta])[0])


def affine_word(a: float, b: float) -> int:
    """GATE_ROT's payload: a as signed Q4.28 in [0, 32), b as a half-angle word in [32, 64)."""
    a_fixed = int(_round_half_up(float(a) * (1 << AFFINE_FRAC)))
    if not -(1 << 31) <= a_fixed < 1 << 31:
        raise ValueError(f"the affine scale a must lie in [-8, 8), not {a}")
    return (angle_word(b) << 32) | (a_fixed & ANGLE_WORD_MASK)


def split_affine(word: int) -> tuple[int, int]:
    """(a as a signed Q4.28 integer, b as an unsigned half-angle word) of a GATE_ROT payload."""
    return sign_extend(word, 32), (int(word) >> 32) & ANGLE_WORD_MASK


def weight_word(weight: float) -> int:
    """An OBS payload: the weight as signed Q8.24 in bits [0, 32)."""
    fixed = int(_round_half_up(float(weight) * (1 << OBS_FRAC)))
    if not -(1 << 31) <= fixed < 1 << 31:
        raise ValueError(f"an observable weight must lie in [-128, 128), not {weight}")
    return fixed & ANGLE_WORD_MASK


def pack_angle_words(words) -> list[int]:
    """Two 32-bit angle words per 64-bit payload word, the first in the low half (LOAD_PARAMS)."""
    words = [int(w) & ANGLE_WORD_MASK for w in np.asarray(words, dtype=np.int64).reshape(-1)]
    if len(words) % 2:
        words.append(0)
    return [lo | (hi << 32) for lo, hi in zip(words[0::2], words[1::2])]


def load_params_words(thetas, strict: bool = False) -> np.ndarray:
    """LOAD_PARAMS for a (B, P) array of radians as a uint64 array (header and payload), bit for
    bit what :meth:`Assembler.load_params` emits, with array operations only (the driver's
    per-step words)."""
    thetas = np.asarray(thetas, dtype=np.float64)
    if thetas.ndim != 2:
        raise ValueError(f"parameters are a (sets, params) array, not shape {thetas.shape}")
    sets, count = thetas.shape
    angles = angle_words(thetas, strict=strict).reshape(-1).astype(np.uint64)
    if len(angles) % 2:
        angles = np.append(angles, np.uint64(0))
    header = Instruction(Opcode.LOAD_PARAMS, param=count, count=sets).header()
    payload = angles[0::2] | (angles[1::2] << np.uint64(32))
    return np.concatenate([np.array([header], dtype=np.uint64), payload])


def run_word(opcode: Opcode, first: int, count: int, last: bool = True) -> int:
    """The header of RUN / RUN_SHIFT / RUN_ADJOINT over sets [first, first + count)."""
    if Opcode(opcode) not in RUN_OPCODES:
        raise ValueError(f"{Opcode(opcode).name} is not a RUN instruction")
    return Instruction(Opcode(opcode), first=first, count=count, last=last).header()


def param_payload_words(params_per_set: int, sets: int) -> int:
    """LOAD_PARAMS payload words for B sets of P angles."""
    return (params_per_set * sets + 1) // 2


def decode_gradients(beats, sets: int, params: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """RUN_SHIFT / RUN_ADJOINT beats as (values (B,), gradients (B, P)) float64 arrays.

    :func:`decode_expectation` of every beat, as one array conversion (the driver decodes a
    whole batch per call): the unsigned beats reinterpreted as signed 64-bit integers."""
    beats = np.asarray(beats, dtype=np.uint64).reshape(-1)
    if len(beats) != sets * (1 + params):
        raise ValueError(f"expected {sets} x (1 + {params}) beats, got {len(beats)}")
    table = beats.view(np.int64) / 4.0 ** (width - 2)
    table = table.reshape(sets, 1 + params)
    return table[:, 0], table[:, 1:]


def pack_complex(re: int, im: int) -> int:
    """One payload word from two fixed-point integers."""
    return ((int(im) & 0xFFFF_FFFF) << 32) | (int(re) & 0xFFFF_FFFF)


def pack_complex_words(re, im) -> np.ndarray:
    """:func:`pack_complex` over arrays of fixed-point integers, as uint64 words.

    The driver packs a whole batch of coefficients at once; a DMA buffer takes the uint64 array
    as it is."""
    low = (np.asarray(re, dtype=np.int64) & 0xFFFF_FFFF).astype(np.uint64)
    high = (np.asarray(im, dtype=np.int64) & 0xFFFF_FFFF).astype(np.uint64)
    return (high << np.uint64(32)) | low


def unpack_complex(word: int, width: int) -> tuple[int, int]:
    """The (re, im) fixed-point integers the core reads from a payload word."""
    return sign_extend(word, width), sign_extend(word >> 32, width)


def decode_amplitudes(beats, width: int) -> np.ndarray:
    """READ_STATE beats as complex128 amplitudes."""
    words = np.asarray(list(beats), dtype=np.uint64)
    halves = [(words >> np.uint64(shift)) & np.uint64(0xFFFF_FFFF) for shift in (0, 32)]
    re, im = (h.astype(np.uint32).view(np.int32).astype(np.float64) for h in halves)
    return (re + 1j * im) / (1 << (width - 2))


def decode_probabilities(beats, width: int) -> np.ndarray:
    """READ_PROBS beats as float64 probabilities (2(W-2) fraction bits)."""
    return np.asarray(list(beats), dtype=np.uint64).astype(np.float64) / 4.0 ** (width - 2)


def decode_expectation(beat: int, width: int) -> float:
    """A READ_EXPZ beat (signed 64-bit, 2(W-2) fraction bits) as a float."""
    value = beat - (1 << 64) if beat >> 63 else beat
    return value / 4.0 ** (width - 2)


@dataclass(frozen=True)
class Instruction:
    """One decoded instruction: the header fields plus its payload as fixed-point (re, im)."""

    opcode: Opcode
    target: int = 0
    control: int | None = None
    quarter_turns: int = 0
    last: bool = False
    mask: int = 0
    payload: tuple[tuple[int, int], ...] = field(default=())
    #: v2 fields: GATE_ROT's kind and parameter index (LOAD_PARAMS: P per set), RUN*'s first
    #: set, a count (RUN*: sets; LOAD_PARAMS: B; PROGRAM: N words), raw 64-bit payload words.
    kind: int = 0
    param: int = 0
    first: int = 0
    count: int = 0
    data: tuple[int, ...] = field(default=())

    def header(self) -> int:
        opcode = Opcode(self.opcode)
        word = int(opcode) << OPCODE_SHIFT
        if opcode == Opcode.GATE_ROT:
            word |= (self.target & 0xFF) << TARGET_SHIFT
            if self.control is not None:
                word |= (self.control & 0xFF) << CONTROL_SHIFT | 1 << CONTROLLED_BIT
            return word | (self.kind & 3) << KIND_SHIFT | (self.param & 0xFFFF) << FIELD_A_SHIFT
        if opcode == Opcode.OBS:
            return word | (self.mask & 0xFFFF_FFFF) << MASK_SHIFT
        if opcode == Opcode.LOAD_PARAMS:
            return word | (self.param & 0xFFFF) << FIELD_A_SHIFT | (self.count & 0xFFFF) << FIELD_B_SHIFT
        if opcode == Opcode.PROGRAM:
            return word | (self.count & 0xFFFF) << FIELD_A_SHIFT
        if opcode in RUN_OPCODES:
            return (word | int(self.last) << LAST_BIT | (self.first & 0xFFFF) << FIELD_A_SHIFT
                    | (self.count & 0xFFFF) << FIELD_B_SHIFT)
        word |= (self.target & 0xFF) << TARGET_SHIFT
        if self.control is not None:
            word |= (self.control & 0xFF) << CONTROL_SHIFT | 1 << CONTROLLED_BIT
        word |= int(self.last) << LAST_BIT
        word |= (self.quarter_turns & 3) << QUARTER_SHIFT
        word |= (self.mask & 0xFFFF_FFFF) << MASK_SHIFT
        return word

    def words(self) -> list[int]:
        return ([self.header()] + [pack_complex(re, im) for re, im in self.payload]
                + [int(w) & 0xFFFF_FFFF_FFFF_FFFF for w in self.data])

    @property
    def word_count(self) -> int:
        """Words of this instruction: header and payload."""
        return 1 + len(self.payload) + len(self.data)

    @staticmethod
    def payload_words(header: int) -> int:
        """How many payload words follow ``header`` (0 for an unknown opcode). PROGRAM's stored
        words are instructions of their own, not its payload."""
        opcode = header & 0xFF
        if opcode == Opcode.LOAD:
            return 1 << ((header >> TARGET_SHIFT) & 0xFF)
        if opcode == Opcode.LOAD_PARAMS:
            return param_payload_words((header >> FIELD_A_SHIFT) & 0xFFFF, (header >> FIELD_B_SHIFT) & 0xFFFF)
        return COEFFICIENT_WORDS.get(opcode, 0) + DATA_WORDS.get(opcode, 0)


def decode_header(word: int) -> dict:
    """Split a header word into its raw fields (no validity checks)."""
    return {
        "opcode": word & 0xFF,
        "target": (word >> TARGET_SHIFT) & 0xFF,
        "control": (word >> CONTROL_SHIFT) & 0xFF,
        "controlled": bool(word >> CONTROLLED_BIT & 1),
        "last": bool(word >> LAST_BIT & 1),
        "quarter_turns": (word >> QUARTER_SHIFT) & 3,
        "mask": word >> MASK_SHIFT,
        "kind": (word >> KIND_SHIFT) & 3,
        "field_a": (word >> FIELD_A_SHIFT) & 0xFFFF,
        "field_b": (word >> FIELD_B_SHIFT) & 0xFFFF,
    }


@dataclass(frozen=True)
class DecoderContext:
    """What the v2 decoder knows besides the header and n: whether it is storing a PROGRAM
    body (and how far), the stored program's summary and the parameter memory's shape.

    The default is a streamed word with no program and no parameters loaded, which is all a
    v1 program ever sees.
    """

    storing: bool = False  #: inside a PROGRAM body
    words_left: int = 0  #: stored words left, this header included (storing)
    program_started: bool = False  #: the body's INIT has been stored
    observing: bool = False  #: an OBS term has been stored: no more gates
    program_valid: bool = False
    program_params: int = 0  #: 1 + the largest GATE_ROT index of the stored program
    program_observables: int = 0  #: OBS terms of the stored program
    param_count: int = 0  #: P of the loaded parameter memory
    set_count: int = 0  #: B of the loaded parameter memory


_STREAM = DecoderContext()


def _context_error(opcode: Opcode, fields: dict, word: int, context: DecoderContext) -> ErrorCode:
    """BAD_PROGRAM: v2's rules on where an instruction may appear."""
    if not context.storing:
        return ErrorCode.BAD_PROGRAM if opcode in ONLY_STORED else ErrorCode.NONE
    if opcode in NOT_STORABLE:
        return ErrorCode.BAD_PROGRAM
    if (opcode == Opcode.INIT) == context.program_started:  # INIT first, and only once
        return ErrorCode.BAD_PROGRAM
    if opcode in READ_OPCODES and fields["last"]:
        return ErrorCode.BAD_PROGRAM
    if opcode in PROGRAM_GATE_OPCODES and context.observing:
        return ErrorCode.BAD_PROGRAM
    words = 1 + Instruction.payload_words(word)
    # Nothing runs past the N words, and the N-th word is the END.
    if words > context.words_left or (opcode == Opcode.END) != (context.words_left == words):
        return ErrorCode.BAD_PROGRAM
    return ErrorCode.NONE


def header_error(word: int, n_qubits: int, params: CoreParams,
                 context: DecoderContext | None = None) -> ErrorCode:
    """The error the instruction decoder reports for ``word`` when the state has ``n_qubits``.

    ``n_qubits`` is 0 when no state is loaded (inside a PROGRAM body: the body's n, 0 before
    its INIT). ``context`` carries what the v2 checks need (default: a streamed word, no
    program, no parameters). This is the decoder's reference model: the RTL checks the same
    conditions in the same priority order.
    """
    context = _STREAM if context is None else context
    fields = decode_header(word)
    try:
        opcode = Opcode(fields["opcode"])
    except ValueError:
        return ErrorCode.BAD_OPCODE
    if word & ~allowed_header_bits(opcode) & 0xFFFF_FFFF_FFFF_FFFF:
        return ErrorCode.RESERVED_BITS
    if not fields["controlled"] and fields["control"]:
        return ErrorCode.RESERVED_BITS
    error = _context_error(opcode, fields, word, context)
    if error:
        return error
    a, b = fields["field_a"], fields["field_b"]
    if opcode in RUN_OPCODES:
        if opcode == Opcode.RUN_ADJOINT and not params.adjoint:
            return ErrorCode.NO_ADJOINT
        if not context.program_valid:
            return ErrorCode.NO_PROGRAM
        if opcode != Opcode.RUN and not context.program_observables:
            return ErrorCode.NO_OBSERVABLE
        if b == 0 or a + b > context.set_count:
            return ErrorCode.BAD_SET
        if context.program_params > context.param_count:
            return ErrorCode.BAD_PARAM
        return ErrorCode.NONE
    if opcode == Opcode.LOAD_PARAMS:
        if not 1 <= a <= params.max_params:
            return ErrorCode.BAD_PARAM
        if b == 0 or a * b > params.param_depth:
            return ErrorCode.BAD_SET
        return ErrorCode.NONE
    if opcode == Opcode.PROGRAM:
        if a == 0:
            return ErrorCode.BAD_PROGRAM
        if a > params.program_depth:
            return ErrorCode.PROGRAM_TOO_LONG
        return ErrorCode.NONE
    if opcode in (Opcode.INIT, Opcode.LOAD):
        if not params.min_qubits <= fields["target"] <= params.max_qubits:
            return ErrorCode.BAD_QUBIT_COUNT
        return ErrorCode.NONE
    if opcode == Opcode.END:
        return ErrorCode.NONE
    if n_qubits == 0:
        return ErrorCode.NO_STATE
    if opcode in PROGRAM_GATE_OPCODES:
        if fields["target"] >= n_qubits:
            return ErrorCode.BAD_TARGET
        if fields["controlled"] and (
            fields["control"] >= n_qubits or fields["control"] == fields["target"]
        ):
            return ErrorCode.BAD_CONTROL
    if opcode == Opcode.GATE_ROT and a >= params.max_params:
        return ErrorCode.BAD_PARAM
    if opcode in (Opcode.READ_EXPZ, Opcode.OBS) and fields["mask"] >> n_qubits:
        return ErrorCode.BAD_MASK
    return ErrorCode.NONE


def decode_program(words, width: int) -> list[Instruction]:
    """Instructions of a well-formed program (inverse of :meth:`Assembler.words`).

    ``words`` may be a uint64 array (what the driver builds): they are read as Python ints,
    because sign extension on numpy's unsigned scalars would wrap around instead of going negative.
    """
    words = [int(w) for w in words]
    instructions = []
    position = 0
    while position < len(words):
        fields = decode_header(words[position])
        opcode = Opcode(fields["opcode"])
        count = Instruction.payload_words(words[position])
        raw = words[position + 1 : position + 1 + count]
        if len(raw) != count:
            raise ValueError(f"{opcode.name} at word {position} is missing payload words")
        instructions.append(instruction_from_words(words[position], raw, width))
        position += 1 + count
    return instructions


def instruction_from_words(header: int, payload, width: int) -> Instruction:
    """One :class:`Instruction` from its header and payload words (no validity checks)."""
    fields = decode_header(header)
    opcode = Opcode(fields["opcode"])
    complex_payload = opcode in COEFFICIENT_WORDS or opcode == Opcode.LOAD
    common = dict(
        opcode=opcode,
        target=fields["target"],
        control=fields["control"] if fields["controlled"] else None,
        last=fields["last"],
    )
    if opcode == Opcode.GATE_ROT:
        return Instruction(**common, kind=fields["kind"], param=fields["field_a"],
                           data=tuple(int(w) for w in payload))
    if opcode == Opcode.OBS:
        return Instruction(**common, mask=fields["mask"], data=tuple(int(w) for w in payload))
    if opcode == Opcode.LOAD_PARAMS:
        return Instruction(**common, param=fields["field_a"], count=fields["field_b"],
                           data=tuple(int(w) for w in payload))
    if opcode == Opcode.PROGRAM:
        return Instruction(**common, count=fields["field_a"])
    if opcode in RUN_OPCODES:
        return Instruction(**common, first=fields["field_a"], count=fields["field_b"])
    return Instruction(
        **common,
        quarter_turns=fields["quarter_turns"],
        mask=fields["mask"],
        payload=tuple(unpack_complex(w, width) for w in payload) if complex_payload else (),
    )


_GATE_U, _GATE_DIAG, _PHASE4 = int(Opcode.GATE_U), int(Opcode.GATE_DIAG), int(Opcode.GATE_PHASE4)
#: Words of the longest gate instruction (GATE_U: header and four coefficients): the row length
#: of :func:`gate_instruction_words`.
GATE_ROW_WORDS = 1 + COEFFICIENT_WORDS[Opcode.GATE_U]


def gate_instruction_words(opcodes, targets, controls, quarter_turns, matrices, width: int):
    """Words of many gate instructions at once, bit for bit what :class:`Assembler` emits for each.

    ``opcodes`` (any shape S) are GATE_* values; ``targets``, ``controls`` (-1: uncontrolled) and
    ``quarter_turns`` broadcast to S; ``matrices`` is (*S, 2, 2) complex. GATE_U carries the four
    entries row by row (:meth:`Assembler.unitary`), GATE_DIAG the diagonal
    (:meth:`Assembler.diagonal`), GATE_X and GATE_PHASE4 nothing. Returns the words as a
    (*S, :data:`GATE_ROW_WORDS`) uint64 array, unused slots zero, and the word count of each
    instruction. Coefficients are quantized by :func:`~.fixed.to_fixed` like the assembler's, so
    a value outside the format raises the same ``ValueError`` instead of being clamped.

    It exists because a batch of parameter sets has the same instructions with other
    coefficients: quantizing and packing them as arrays costs a small fraction of building an
    :class:`Instruction` per gate per set, which is what limits a board's ARM core.
    """
    opcodes = np.asarray(opcodes, dtype=np.int64)
    controls = np.asarray(controls, dtype=np.int64)
    header = (
        opcodes << OPCODE_SHIFT
        | (np.asarray(targets, dtype=np.int64) & 0xFF) << TARGET_SHIFT
        | np.where(controls >= 0, (controls & 0xFF) << CONTROL_SHIFT | 1 << CONTROLLED_BIT, 0)
        | np.where(opcodes == _PHASE4, (np.asarray(quarter_turns, dtype=np.int64) & 3) << QUARTER_SHIFT, 0)
    )
    entries = np.asarray(matrices, dtype=np.complex128).reshape(opcodes.shape + (4,))
    is_u, is_diag = opcodes == _GATE_U, opcodes == _GATE_DIAG
    payload = np.zeros_like(entries)  # zero where there is no payload: always in range
    payload[is_u] = entries[is_u]
    payload[is_diag, :2] = entries[is_diag][:, ::3]  # d0, d1
    fixed = to_fixed(payload.view(np.float64), width - 2, width)  # re, im interleaved
    words = np.empty(opcodes.shape + (GATE_ROW_WORDS,), dtype=np.uint64)
    words[..., 0] = header.astype(np.uint64)
    words[..., 1:] = pack_complex_words(fixed[..., 0::2], fixed[..., 1::2])
    counts = 1 + np.where(is_u, COEFFICIENT_WORDS[Opcode.GATE_U], np.where(is_diag, COEFFICIENT_WORDS[Opcode.GATE_DIAG], 0))
    return words, counts


class Assembler:
    """Builds gate programs: ``Assembler(18).init(3).h(0).cx(0, 1).expect_z([1]).end().words()``.

    Gate methods quantize their matrices to the core's Q2.(W-2) format. Every method returns
    the assembler so calls chain.
    """

    def __init__(self, width: int = 18):
        self.width = width
        self.frac_bits = width - 2
        self.instructions: list[Instruction] = []

    # -- state --------------------------------------------------------------------------
    def init(self, n_qubits: int) -> Assembler:
        return self._emit(Instruction(Opcode.INIT, target=n_qubits))

    def load(self, amplitudes) -> Assembler:
        amplitudes = np.asarray(amplitudes, dtype=np.complex128)
        n_qubits = int(round(math.log2(len(amplitudes))))
        if len(amplitudes) != 1 << n_qubits:
            raise ValueError(f"a state has 2**n amplitudes, not {len(amplitudes)}")
        return self._emit(
            Instruction(Opcode.LOAD, target=n_qubits, payload=self._fixed_pairs(amplitudes))
        )

    # -- gates --------------------------------------------------------------------------
    def unitary(self, matrix, target: int, control: int | None = None) -> Assembler:
        """Any 2x2 complex matrix on ``target`` (optionally controlled): the DSP lane."""
        matrix = np.asarray(matrix, dtype=np.complex128)
        if matrix.shape != (2, 2):
            raise ValueError(f"a single-qubit gate is a 2x2 matrix, not shape {matrix.shape}")
        return self._emit(
            Instruction(
                Opcode.GATE_U, target, control, payload=self._fixed_pairs(matrix.reshape(4))
            )
        )

    def diagonal(self, d0: complex, d1: complex, target: int, control: int | None = None):
        """diag(d0, d1): half the payload of :meth:`unitary`, same lane."""
        return self._emit(
            Instruction(Opcode.GATE_DIAG, target, control, payload=self._fixed_pairs([d0, d1]))
        )

    def x(self, target: int, control: int | None = None) -> Assembler:
        return self._emit(Instruction(Opcode.GATE_X, target, control))

    def phase_quarter(self, quarter_turns: int, target: int, control: int | None = None):
        """Multiply the |1> amplitude by i**quarter_turns, exactly and without multipliers."""
        return self._emit(
            Instruction(Opcode.GATE_PHASE4, target, control, quarter_turns=quarter_turns % 4)
        )

    def cx(self, control: int, target: int) -> Assembler:
        return self.x(target, control)

    def z(self, target: int) -> Assembler:
        return self.phase_quarter(2, target)

    def s(self, target: int) -> Assembler:
        return self.phase_quarter(1, target)

    def sdg(self, target: int) -> Assembler:
        return self.phase_quarter(3, target)

    def cz(self, control: int, target: int) -> Assembler:
        return self.phase_quarter(2, target, control)

    def swap(self, a: int, b: int) -> Assembler:
        """Three CX passes: SWAP moves amplitudes between pairs that differ in two bits."""
        return self.cx(a, b).cx(b, a).cx(a, b)

    def t(self, target: int) -> Assembler:
        return self.diagonal(1, cmath.exp(1j * math.pi / 4), target)

    def phase(self, theta: float, target: int, control: int | None = None) -> Assembler:
        return self.diagonal(1, cmath.exp(1j * theta), target, control)

    def rz(self, theta: float, target: int, control: int | None = None) -> Assembler:
        return self.diagonal(cmath.exp(-0.5j * theta), cmath.exp(0.5j * theta), target, control)

    def h(self, target: int) -> Assembler:
        return self.unitary(np.array([[1, 1], [1, -1]]) / math.sqrt(2), target)

    def y(self, target: int) -> Assembler:
        return self.unitary([[0, -1j], [1j, 0]], target)

    def rx(self, theta: float, target: int, control: int | None = None) -> Assembler:
        c, s = math.cos(theta / 2), math.sin(theta / 2)
        return self.unitary([[c, -1j * s], [-1j * s, c]], target, control)

    def ry(self, theta: float, target: int, control: int | None = None) -> Assembler:
        c, s = math.cos(theta / 2), math.sin(theta / 2)
        return self.unitary([[c, -s], [s, c]], target, control)

    # -- readout ------------------------------------------------------------------------
    def read_state(self, last: bool = False) -> Assembler:
        return self._emit(Instruction(Opcode.READ_STATE, last=last))

    def read_probs(self, last: bool = False) -> Assembler:
        return self._emit(Instruction(Opcode.READ_PROBS, last=last))

    def expect_z(self, qubits, last: bool = False) -> Assembler:
        """<Z_q1 Z_q2 ...> over ``qubits`` (an iterable of qubit indices)."""
        mask = 0
        for qubit in qubits:
            mask |= 1 << qubit
        return self._emit(Instruction(Opcode.READ_EXPZ, mask=mask, last=last))

    # -- v2: parametric gates and observables (stored programs) --------------------------
    def rot(self, kind, target: int, param: int, a: float = 1.0, b: float = 0.0,
            control: int | None = None) -> Assembler:
        """GATE_ROT: ``kind`` ("rx", "ry", "rz", "p" or a :class:`RotationKind`) on ``target`` by
        the angle ``a * theta[param] + b`` of the running set (a in [-8, 8), b in radians)."""
        if isinstance(kind, str):
            kind = RotationKind[kind.upper()]
        return self._emit(Instruction(Opcode.GATE_ROT, target, control, kind=int(RotationKind(kind)),
                                      param=param, data=(affine_word(a, b),)))

    def obs(self, qubits, weight: float = 1.0) -> Assembler:
        """OBS: the term ``weight * Z_q1 Z_q2 ...`` of the program's cost observable, measured
        after all of the program's gates (put the basis change before the first term)."""
        mask = 0
        for qubit in qubits:
            mask |= 1 << qubit
        return self._emit(Instruction(Opcode.OBS, mask=mask, data=(weight_word(weight),)))

    # -- v2: resident program, parameter memory, runs -------------------------------------
    def program(self, body) -> Assembler:
        """PROGRAM: store ``body`` (an :class:`Assembler` or instructions starting with INIT)
        in the instruction memory; an END is appended unless the body ends with one. The
        body's readouts must not carry LAST (``Assembler.end`` of the body would set it: close
        a body with :meth:`Assembler.stored_end` or leave it open)."""
        instructions = list(body.instructions if isinstance(body, Assembler) else body)
        if not instructions or instructions[-1].opcode != Opcode.END:
            instructions.append(Instruction(Opcode.END))
        words = sum(instruction.word_count for instruction in instructions)
        self._emit(Instruction(Opcode.PROGRAM, count=words))
        for instruction in instructions:
            self._emit(instruction)
        return self

    def stored_end(self) -> Assembler:
        """END without marking a readout LAST: the close of a program body."""
        return self._emit(Instruction(Opcode.END))

    def load_params(self, thetas, strict: bool = False) -> Assembler:
        """LOAD_PARAMS of a (B, P) array of angles in radians (see :func:`angle_words`)."""
        thetas = np.asarray(thetas, dtype=np.float64)
        if thetas.ndim != 2:
            raise ValueError(f"parameters are a (sets, params) array, not shape {thetas.shape}")
        sets, count = thetas.shape
        data = tuple(pack_angle_words(angle_words(thetas, strict=strict)))
        return self._emit(Instruction(Opcode.LOAD_PARAMS, param=count, count=sets, data=data))

    def run(self, first: int, count: int, last: bool = False) -> Assembler:
        """RUN sets [first, first + count): per set the program's readout beats (and its value
        if it has OBS terms)."""
        return self._emit(Instruction(Opcode.RUN, first=first, count=count, last=last))

    def run_shift(self, first: int, count: int, last: bool = False) -> Assembler:
        """RUN_SHIFT: per set the value and P parameter-shift gradients."""
        return self._emit(Instruction(Opcode.RUN_SHIFT, first=first, count=count, last=last))

    def run_adjoint(self, first: int, count: int, last: bool = False) -> Assembler:
        """RUN_ADJOINT: per set the value and P adjoint gradients (build with adjoint=True)."""
        return self._emit(Instruction(Opcode.RUN_ADJOINT, first=first, count=count, last=last))

    def end(self) -> Assembler:
        """Close the program; the final readout (or RUN*) outside a stored program gets LAST so
        one DMA receive completes."""
        for index in reversed(self._top_level()):
            instruction = self.instructions[index]
            if instruction.opcode in READ_OPCODES or instruction.opcode in RUN_OPCODES:
                if not instruction.last:
                    self.instructions[index] = Instruction(
                        **{**instruction.__dict__, "last": True}
                    )
                break
        return self._emit(Instruction(Opcode.END))

    def _top_level(self) -> list[int]:
        """Indices of the instructions that are not inside a PROGRAM body."""
        indices, inside = [], 0
        for index, instruction in enumerate(self.instructions):
            if inside > 0:
                inside -= instruction.word_count
                continue
            indices.append(index)
            if instruction.opcode == Opcode.PROGRAM:
                inside = instruction.count
        return indices

    def words(self) -> list[int]:
        return [word for instruction in self.instructions for word in instruction.words()]

    # -- helpers ------------------------------------------------------------------------
    def _emit(self, instruction: Instruction) -> Assembler:
        self.instructions.append(instruction)
        return self

    def _fixed_pairs(self, values) -> tuple[tuple[int, int], ...]:
        values = np.asarray(values, dtype=np.complex128)
        re = to_fixed(values.real, self.frac_bits, self.width)
        im = to_fixed(values.imag, self.frac_bits, self.width)
        return tuple(zip(re.tolist(), im.tolist()))
