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


OPCODE_SHIFT, TARGET_SHIFT, CONTROL_SHIFT = 0, 8, 16
CONTROLLED_BIT, LAST_BIT, QUARTER_SHIFT, MASK_SHIFT = 24, 25, 26, 32

GATE_OPCODES = frozenset({Opcode.GATE_U, Opcode.GATE_DIAG, Opcode.GATE_X, Opcode.GATE_PHASE4})
READ_OPCODES = frozenset({Opcode.READ_STATE, Opcode.READ_PROBS, Opcode.READ_EXPZ})
#: Payload words that follow the header (LOAD: 2**n, computed from the header).
COEFFICIENT_WORDS = {Opcode.GATE_U: 4, Opcode.GATE_DIAG: 2}


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
    if opcode == Opcode.READ_EXPZ:
        allowed |= _field(MASK_SHIFT, 32)
    return allowed


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

    def header(self) -> int:
        word = int(self.opcode) << OPCODE_SHIFT
        word |= (self.target & 0xFF) << TARGET_SHIFT
        if self.control is not None:
            word |= (self.control & 0xFF) << CONTROL_SHIFT | 1 << CONTROLLED_BIT
        word |= int(self.last) << LAST_BIT
        word |= (self.quarter_turns & 3) << QUARTER_SHIFT
        word |= (self.mask & 0xFFFF_FFFF) << MASK_SHIFT
        return word

    def words(self) -> list[int]:
        return [self.header()] + [pack_complex(re, im) for re, im in self.payload]

    @staticmethod
    def payload_words(header: int) -> int:
        """How many payload words follow ``header`` (0 for an unknown opcode)."""
        opcode = header & 0xFF
        if opcode == Opcode.LOAD:
            return 1 << ((header >> TARGET_SHIFT) & 0xFF)
        return COEFFICIENT_WORDS.get(opcode, 0)


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
    }


def header_error(word: int, n_qubits: int, params: CoreParams) -> ErrorCode:
    """The error the instruction decoder reports for ``word`` when the state has ``n_qubits``.

    ``n_qubits`` is 0 when no state is loaded. This is the decoder's reference model: the RTL
    checks the same conditions in the same priority order.
    """
    fields = decode_header(word)
    try:
        opcode = Opcode(fields["opcode"])
    except ValueError:
        return ErrorCode.BAD_OPCODE
    if word & ~allowed_header_bits(opcode) & 0xFFFF_FFFF_FFFF_FFFF:
        return ErrorCode.RESERVED_BITS
    if not fields["controlled"] and fields["control"]:
        return ErrorCode.RESERVED_BITS
    if opcode in (Opcode.INIT, Opcode.LOAD):
        if not params.min_qubits <= fields["target"] <= params.max_qubits:
            return ErrorCode.BAD_QUBIT_COUNT
        return ErrorCode.NONE
    if opcode == Opcode.END:
        return ErrorCode.NONE
    if n_qubits == 0:
        return ErrorCode.NO_STATE
    if opcode in GATE_OPCODES:
        if fields["target"] >= n_qubits:
            return ErrorCode.BAD_TARGET
        if fields["controlled"] and (
            fields["control"] >= n_qubits or fields["control"] == fields["target"]
        ):
            return ErrorCode.BAD_CONTROL
    if opcode == Opcode.READ_EXPZ and fields["mask"] >> n_qubits:
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
        payload = tuple(
            unpack_complex(w, width) for w in words[position + 1 : position + 1 + count]
        )
        if len(payload) != count:
            raise ValueError(f"{opcode.name} at word {position} is missing payload words")
        instructions.append(
            Instruction(
                opcode=opcode,
                target=fields["target"],
                control=fields["control"] if fields["controlled"] else None,
                quarter_turns=fields["quarter_turns"],
                last=fields["last"],
                mask=fields["mask"],
                payload=payload,
            )
        )
        position += 1 + count
    return instructions


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

    def end(self) -> Assembler:
        """Close the program; the final readout gets LAST so one DMA receive completes."""
        for index in range(len(self.instructions) - 1, -1, -1):
            instruction = self.instructions[index]
            if instruction.opcode in READ_OPCODES:
                if not instruction.last:
                    self.instructions[index] = Instruction(
                        **{**instruction.__dict__, "last": True}
                    )
                break
        return self._emit(Instruction(Opcode.END))

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
