"""Build parameters of the qfab core, validated once, shared by the RTL and the model.

Every hardware block and the bit-accurate model derive their geometry from one
:class:`CoreParams`, so a parameter set that the hardware cannot build is rejected here,
before any Verilog is generated or any tool runs.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Version number reported in the BUILD register; bump on any change of the instruction
#: format or of the cycle behaviour, since the FPGA device's cost model depends on both.
CORE_VERSION = 2

#: Output beats and program words are 64 bits wide: one AXI-Stream beat per instruction
#: word, per complex coefficient and per streamed amplitude.
BEAT_BITS = 64

#: Pipeline of the gate datapath, in cycles from issuing a pair's read addresses to its
#: write-back: the state memory's read (the block RAM, then its output register, so no consumer
#: sees the RAM's slow clock-to-out; docs/fpga.md, "Pipelining for Fmax") plus the gate lane's
#: two register stages.
MEMORY_READ_LATENCY = 2
GATE_LANE_LATENCY = 2
GATE_DRAIN_CYCLES = MEMORY_READ_LATENCY + GATE_LANE_LATENCY

#: The Z-string reducer (``readout.ZStringReducer``): a register for the squares, one for the
#: signed terms, then the accumulator. A READ_EXPZ / OBS pass drains through the memory read and
#: the reducer; the total is final in the cycle after the drain.
ZSTRING_LATENCY = 3
REDUCE_DRAIN_CYCLES = MEMORY_READ_LATENCY + ZSTRING_LATENCY - 1

# -- instruction set v2 (hw/README.md, "Instruction set v2") ------------------------------------
#: Rotation setup before a GATE_ROT pass: parameter-memory read, the affine a*t + b (product,
#: then sum and rounding), the sin/cos unit (``qfab_hw.model.trig.LATENCY``), coefficient load.
PARAM_READ_LATENCY = 1
#: The affine product a * t (32 x 32 bits, qfab_hw.multiplier: operands, partial products, two
#: adder levels), then one clock for the rounding and the sum with b and the shift.
AFFINE_PRODUCT_LATENCY = 4
AFFINE_LATENCY = AFFINE_PRODUCT_LATENCY + 1
#: The sin/cos unit's latency: equal to ``qfab_hw.model.trig.LATENCY`` (tests/hw/test_program_v2.py
#: checks; params stays below the models in the import graph).
SINCOS_LATENCY = 3
COEFFICIENT_LOAD_CYCLES = 1
#: The OBS weight MAC c * E (qfab_hw.observable): the 32 x (2W + n + 1) bit product pipelined
#: (qfab_hw.multiplier: operands, partial products, three adder levels; padded to this one value
#: for every build), then the accumulation.
OBS_PRODUCT_LATENCY = 5
OBS_MAC_LATENCY = OBS_PRODUCT_LATENCY + 1
#: An OBS term's pass drains through memory read, square/sign, accumulate and the weight MAC.
OBS_DRAIN_CYCLES = REDUCE_DRAIN_CYCLES + OBS_MAC_LATENCY
#: RUN_SHIFT: the weight MAC after each shifted replay; per occurrence the gradient update
#: (round, times a, read-modify-write of the gradient memory).
SHIFT_MAC_CYCLES = 1
#: The gradient unit's product (33 x 67 bits, qfab_hw.multiplier: operands, partial products,
#: three adder levels): a mac's d and an update's contribution come this many clocks later.
GRAD_PRODUCT_LATENCY = 5
#: Per occurrence: the wait for the last mac's d, the update, one cycle to the next occurrence.
GRAD_UPDATE_CYCLES = GRAD_PRODUCT_LATENCY + 1
#: RUN_ADJOINT: the Im<lambda|G|psi> reduction drains through memory read, product, accumulate.
#: It runs during the pass that un-applies the rotation from psi (bank A) and drains during the
#: pass over bank B, so it adds no cycles (the fused schedule); the gradient update is issued in
#: the gate's last drain cycle, and a set's 1 + P beats start GRAD_EMIT_CYCLES later, when the
#: last update is in the gradient memory.
ADJOINT_REDUCE_DRAIN_CYCLES = MEMORY_READ_LATENCY + 2  # + the reducer's 3 stages - 1
#: From the cycle after the last update until the emission starts (the update's product, then
#: its rounding stage, so that its read-modify-write is done when the beats read the memory).
#: RUN_SHIFT spends it instead of its last occurrence's final GRAD_UPDATE cycle.
GRAD_EMIT_CYCLES = GRAD_PRODUCT_LATENCY + 1

#: Fixed-point formats of the v2 words: angles are 32-bit binary half-angles (w means
#: phi = 4*pi*w / 2**32), the affine scale a is Q4.28, observable weights Q8.24, shift-rule
#: weights have 30 fraction bits.
ANGLE_WORD_BITS = 32
AFFINE_FRAC_BITS = 28
OBS_FRAC_BITS = 24
SHIFT_WEIGHT_FRAC_BITS = 30

MAX_PARAMS = 4096
MAX_PARAM_DEPTH = 1 << 16
MIN_PROGRAM_DEPTH = 16
MAX_PROGRAM_DEPTH = 1 << 15

MIN_WIDTH = 8
#: A DSP48E1/E2 multiplies 25x18; wider amplitudes would cascade more DSPs per product.
MAX_WIDTH = 25
MAX_LANES = 64
#: The Z-string mask travels in the 32-bit immediate field of a program word.
MAX_QUBITS_FIELD = 32


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    return value


@dataclass(frozen=True)
class CoreParams:
    """Geometry of one qfab core build.

    Parameters
    ----------
    max_qubits:
        Largest state the on-chip memory holds (2**max_qubits amplitudes).
    lanes:
        Gate lanes working in parallel; each lane processes one amplitude pair per clock,
        so the state memory is split into ``2 * lanes`` banks. A power of two.
    width:
        Bits per real part of an amplitude or coefficient (two's complement Q2.(width-2)),
        so a complex amplitude is a ``2 * width`` bit memory word.
    max_params:
        Parameters per set the core accepts (the gradient memory's depth; GATE_ROT indices
        and LOAD_PARAMS' P are below it).
    param_depth:
        Angles the parameter memory holds (B * P <= param_depth), a power of two.
    program_depth:
        64-bit words the instruction memory holds (PROGRAM's N <= program_depth), a power of two.
    adjoint:
        Build the second state bank (lambda) and RUN_ADJOINT.
    """

    max_qubits: int = 10
    lanes: int = 1
    width: int = 18
    max_params: int = 64
    param_depth: int = 1024
    program_depth: int = 512
    adjoint: bool = False

    def __post_init__(self) -> None:
        width = _check_int("width", self.width)
        lanes = _check_int("lanes", self.lanes)
        max_qubits = _check_int("max_qubits", self.max_qubits)
        if not MIN_WIDTH <= width <= MAX_WIDTH:
            raise ValueError(
                f"width must be between {MIN_WIDTH} and {MAX_WIDTH} bits (a DSP48 multiplier "
                f"takes 25x18 operands), not {width}"
            )
        if lanes < 1 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {lanes}")
        if lanes > MAX_LANES:
            raise ValueError(f"lanes must be at most {MAX_LANES}, not {lanes}")
        min_qubits = lanes.bit_length()  # log2(lanes) + 1: every lane needs a pair
        if max_qubits < min_qubits:
            raise ValueError(
                f"max_qubits must be at least {min_qubits} for {lanes} lanes "
                f"(2**(max_qubits-1) pairs must cover every lane), not {max_qubits}"
            )
        if max_qubits > MAX_QUBITS_FIELD:
            raise ValueError(
                f"max_qubits must be at most {MAX_QUBITS_FIELD} (the Z-string mask field "
                f"is 32 bits), not {max_qubits}"
            )
        max_params = _check_int("max_params", self.max_params)
        param_depth = _check_int("param_depth", self.param_depth)
        program_depth = _check_int("program_depth", self.program_depth)
        if not isinstance(self.adjoint, bool):
            raise TypeError(f"adjoint must be a bool, not {self.adjoint!r}")
        if not 1 <= max_params <= MAX_PARAMS:
            raise ValueError(f"max_params must be between 1 and {MAX_PARAMS}, not {max_params}")
        if param_depth < 2 or param_depth & (param_depth - 1) or param_depth > MAX_PARAM_DEPTH:
            raise ValueError(
                f"param_depth must be a power of two between 2 and {MAX_PARAM_DEPTH}, not {param_depth}"
            )
        if param_depth < max_params:
            raise ValueError(
                f"param_depth ({param_depth}) must hold at least one set of max_params ({max_params}) angles"
            )
        if (program_depth & (program_depth - 1)
                or not MIN_PROGRAM_DEPTH <= program_depth <= MAX_PROGRAM_DEPTH):
            raise ValueError(
                f"program_depth must be a power of two between {MIN_PROGRAM_DEPTH} and "
                f"{MAX_PROGRAM_DEPTH} words, not {program_depth}"
            )
        if self.reduce_accumulator_bits > BEAT_BITS:
            raise ValueError(
                f"max_qubits={max_qubits} with width={width} needs a "
                f"{self.reduce_accumulator_bits}-bit expectation accumulator, more than the "
                f"{BEAT_BITS}-bit output beat; use at most {BEAT_BITS - 1 - 2 * width} qubits"
            )

    @property
    def frac_bits(self) -> int:
        """Fraction bits F of the Q2.F format: two integer bits hold |x| <= 1 plus headroom."""
        return self.width - 2

    @property
    def lane_bits(self) -> int:
        """log2(lanes)."""
        return self.lanes.bit_length() - 1

    @property
    def banks(self) -> int:
        """Memory banks: every lane reads and writes two amplitudes per clock."""
        return 2 * self.lanes

    @property
    def bank_depth(self) -> int:
        """Amplitudes per bank at the largest state."""
        return 1 << (self.max_qubits - self.lane_bits - 1)

    @property
    def min_qubits(self) -> int:
        """Smallest state a program may INIT or LOAD: one pair per lane."""
        return self.lane_bits + 1

    @property
    def reduce_accumulator_bits(self) -> int:
        """Signed width of the Z-string sum: 2**max_qubits terms of magnitude up to 2**(2W-1)."""
        return 2 * self.width + self.max_qubits + 1

    @property
    def state_banks(self) -> int:
        """State vectors on chip: psi, and lambda for RUN_ADJOINT."""
        return 2 if self.adjoint else 1

    @property
    def state_bits(self) -> int:
        """Bits of on-chip state memory (both banks with ``adjoint``)."""
        return self.state_banks * (1 << self.max_qubits) * 2 * self.width

    @property
    def aux_memory_bits(self) -> int:
        """Bits of the v2 memories: parameters (32 b per angle), program (64 b per word) and
        gradients (64 b per parameter)."""
        return 32 * self.param_depth + 64 * self.program_depth + 64 * self.max_params

    @property
    def build_word(self) -> int:
        """The read-only BUILD register: version, width, lanes, max_qubits, one byte each."""
        return (CORE_VERSION << 24) | (self.width << 16) | (self.lanes << 8) | self.max_qubits

    @property
    def rotation_setup_cycles(self) -> int:
        """R_s: cycles between a GATE_ROT's payload and its pass: parameter-memory read, the
        affine angle (product, then sum and rounding), the sin/cos unit, the coefficient load."""
        return PARAM_READ_LATENCY + AFFINE_LATENCY + SINCOS_LATENCY + COEFFICIENT_LOAD_CYCLES

    @classmethod
    def from_build_words(cls, build: int, build2: int) -> CoreParams:
        """The build the BUILD and BUILD2 registers describe (a core of CORE_VERSION; check
        :func:`build_version` first: a version-1 core has no BUILD2)."""
        return cls(max_qubits=build & 0xFF, lanes=(build >> 8) & 0xFF, width=(build >> 16) & 0xFF,
                   max_params=(build2 >> 16) & 0x1FFF, param_depth=1 << ((build2 >> 8) & 0xFF),
                   program_depth=1 << (build2 & 0xFF), adjoint=bool(build2 >> 31))

    @property
    def build2_word(self) -> int:
        """The read-only BUILD2 register (0x14): log2(program_depth), log2(param_depth),
        max_params, adjoint."""
        return (
            (int(self.adjoint) << 31)
            | (self.max_params << 16)
            | ((self.param_depth.bit_length() - 1) << 8)
            | (self.program_depth.bit_length() - 1)
        )


def build_version(build: int) -> int:
    """The core version a BUILD register word reports (bits [31:24])."""
    return (build >> 24) & 0xFF


def require_core_params(block, params) -> None:
    """Refuse anything but a :class:`CoreParams` for an Amaranth block's build, before the block
    exists (and mark the half-made block used, so Amaranth does not warn about it)."""
    if not isinstance(params, CoreParams):
        block._MustUse__silence = True
        raise TypeError(f"params must be a CoreParams, not {params!r}")
