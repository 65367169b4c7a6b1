"""Build parameters of the qfab core, validated once, shared by the RTL and the model.

Every hardware block and the bit-accurate model derive their geometry from one
:class:`CoreParams`, so a parameter set that the hardware cannot build is rejected here,
before any Verilog is generated or any tool runs.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Version number reported in the BUILD register; bump on any change of the instruction
#: format or of the cycle behaviour, since the FPGA device's cost model depends on both.
CORE_VERSION = 1

#: Output beats and program words are 64 bits wide: one AXI-Stream beat per instruction
#: word, per complex coefficient and per streamed amplitude.
BEAT_BITS = 64

#: Pipeline of the gate datapath, in cycles from issuing a pair's read addresses to its
#: write-back: one cycle of memory read latency plus the gate lane's two register stages.
MEMORY_READ_LATENCY = 1
GATE_LANE_LATENCY = 2
GATE_DRAIN_CYCLES = MEMORY_READ_LATENCY + GATE_LANE_LATENCY

#: The Z-string reducer: memory read, squared magnitudes, accumulation.
REDUCE_DRAIN_CYCLES = 2

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
    """

    max_qubits: int = 10
    lanes: int = 1
    width: int = 18

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
    def state_bits(self) -> int:
        """Bits of on-chip state memory."""
        return (1 << self.max_qubits) * 2 * self.width

    @property
    def build_word(self) -> int:
        """The read-only BUILD register: version, width, lanes, max_qubits, one byte each."""
        return (CORE_VERSION << 24) | (self.width << 16) | (self.lanes << 8) | self.max_qubits
