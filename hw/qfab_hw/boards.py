"""Board configurations (``board_configs/*.toml``) and what a core build needs of them.

The boards qfab knows are package data (``qfab_hw/data/board_configs``; the top-level
``board_configs/`` of a checkout links there), so an installed wheel has them. A user's own board
is a TOML file of the same schema, loaded by path: ``load_board("~/boards/my-board.toml")``.

A board file is checked against :data:`SCHEMA` on load: a missing, misspelt or mistyped field
raises :class:`BoardConfigError` naming the file, the section and the field, and so does a
value outside its physical range (:data:`LIMITS`: an infinite clock, a bandwidth of 1e-300, a
board of one LUT, a boolean where a number belongs). The planning
functions then answer, before any tool runs, whether a build fits (DSP, LUT, FF, BRAM, URAM
within the planning budget) and how far it scales (lanes, qubits).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from qfab_hw.params import CoreParams
from qfab_hw.paths import DATA_DIR

#: The board files shipped with the package (a key is a file stem here).
BOARD_DIR = DATA_DIR / "board_configs"

#: Fraction of each resource a build may use (FINN's default planning limits): routing and the
#: DMA/interconnect of the block design need the rest.
BUDGET = {"lut": 0.7, "ff": 0.5, "bram36": 0.8, "uram": 0.8, "dsp": 0.8}

#: Memory primitive geometry: RAMB36 as 1024 x 36 (RAMB18 halves: 512 x 36), URAM 4096 x 72.
BRAM36_DEPTH, BRAM_WIDTH, BRAM18_DEPTH = 1024, 36, 512
URAM_DEPTH, URAM_WIDTH = 4096, 72

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(low: int, high: int, why: str):
    """An integer (not a boolean, not 1.0) from ``low`` to ``high``."""
    return (f"an integer from {low:,} to {high:,} ({why})", lambda v: _is_int(v) and low <= v <= high)


def _quantity(low: float, high: float, unit: str, why: str):
    """A finite number (not a boolean, not NaN or infinite) from ``low`` to ``high``."""
    return (f"a finite number from {low:g} to {high:g} {unit} ({why})",
            lambda v: _is_number(v) and math.isfinite(v) and low <= v <= high)


_TEXT = ("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")

#: The physical ranges of the numeric fields. The lower bounds are what the smallest core (one
#: lane, a handful of qubits) needs at all: about 1,000 LUTs and FFs, a few DSP slices for one
#: complex multiplier, one BRAM36 for its program and parameter memories. The upper bounds lie
#: well above the largest devices (a Versal VP1902 has about 9 million LUTs and 14,000 DSPs), so
#: a typo of a few zeros, an ``inf`` or a ``nan`` (valid TOML) or ``1e-300`` is caught on load.
LIMITS = {
    "lut": (1_000, 20_000_000), "ff": (1_000, 40_000_000), "dsp": (4, 100_000),
    "bram36": (1, 100_000), "uram": (0, 100_000),
    "pl_mhz": (1.0, 1000.0), "bandwidth_mb_s": (1.0, 100_000.0),
}
_SMALLEST_CORE = "what one 1-lane core needs"

SCHEMA = {
    "board": {
        "name": _TEXT,
        "part": _TEXT,
        "family": ('"xc7" or "xcup"', lambda v: v in ("xc7", "xcup")),
        "vivado_board_part": _TEXT,
        "ps": ('"zynq7" or "zynq_ultra_ps_e"', lambda v: v in ("zynq7", "zynq_ultra_ps_e")),
    },
    "resources": {
        "lut": _count(*LIMITS["lut"], _SMALLEST_CORE + " to a few times the largest FPGA"),
        "ff": _count(*LIMITS["ff"], _SMALLEST_CORE + " to a few times the largest FPGA"),
        "bram36": _count(*LIMITS["bram36"], "the core's program and parameter memories need one"),
        "uram": _count(*LIMITS["uram"], "0 on parts without UltraRAM"),
        "dsp": _count(*LIMITS["dsp"], _SMALLEST_CORE + " to a few times the largest FPGA"),
    },
    "clock": {"pl_mhz": _quantity(*LIMITS["pl_mhz"], "MHz", "a programmable-logic clock")},
    "ps_pl": {
        "port": _TEXT,
        "width_bits": ("32, 64 or 128", lambda v: _is_int(v) and v in (32, 64, 128)),
        "bandwidth_mb_s": _quantity(*LIMITS["bandwidth_mb_s"], "MB/s", "a PS-PL port's bandwidth"),
        "dma_length_bits": ("an integer from 8 to 26 (the AXI DMA's range)",
                            lambda v: _is_int(v) and 8 <= v <= 26),
    },
}


class BoardConfigError(ValueError):
    """A board file that does not match :data:`SCHEMA` (a field missing, misspelt, of the wrong
    type, or outside its physical range in :data:`LIMITS`); the message names the file, the
    field and the value."""


@dataclass(frozen=True)
class Board:
    key: str
    name: str
    part: str
    family: str
    vivado_board_part: str
    ps: str
    lut: int
    ff: int
    bram36: int
    uram: int
    dsp: int
    pl_mhz: float
    port: str
    width_bits: int
    bandwidth_mb_s: float
    dma_length_bits: int

    @property
    def dma_max_bytes(self) -> int:
        """Largest single DMA transfer; a READ_STATE of 2**n amplitudes is 8 * 2**n bytes."""
        return (1 << self.dma_length_bits) - 1

    def budget(self, resource: str) -> int:
        return int(getattr(self, resource) * BUDGET[resource])


def board_path(name_or_path: str | Path) -> Path:
    """The file of a board key (``"pynq-z2"``) or a path to a user's board file (``*.toml``)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise BoardConfigError(f"{path}: no such board file")
        return path
    path = BOARD_DIR / f"{text}.toml"
    if not path.is_file():
        raise BoardConfigError(
            f"unknown board {text!r}; known boards: {', '.join(board_keys())} "
            "(or give the path of a board file, e.g. my-board.toml)"
        )
    return path


def load_board(name_or_path: str | Path) -> Board:
    """A board by key (``"pynq-z2"``, the file stem in ``board_configs/``) or by the path of a
    TOML file with the same sections and fields (its stem becomes the key)."""
    path = board_path(name_or_path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise BoardConfigError(f"{path}: not valid TOML: {error}") from None
    except RecursionError:  # arrays or tables thousands deep: the parser recurses per level
        raise BoardConfigError(f"{path}: not a board file: nested too deeply to read") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BoardConfigError(f"{path}: cannot read the board file: {error}") from None
    values = {}
    for section in document:
        if section not in SCHEMA:
            raise BoardConfigError(
                f"{path}: unknown section [{section}] (expected: {', '.join(SCHEMA)})"
            )
    for section, fields in SCHEMA.items():
        if section not in document:
            raise BoardConfigError(f"{path}: missing section [{section}]")
        table = document[section]
        if not isinstance(table, dict):
            raise BoardConfigError(f"{path}: {section} must be a table [{section}], not {table!r}")
        for key in table:
            if key not in fields:
                raise BoardConfigError(
                    f"{path}: unknown field {key!r} in [{section}] (expected: {', '.join(fields)})"
                )
        for key, (expected, check) in fields.items():
            if key not in table:
                raise BoardConfigError(f"{path}: [{section}] is missing {key!r}")
            if not check(table[key]):
                raise BoardConfigError(
                    f"{path}: [{section}] {key} must be {expected}, not {table[key]!r}"
                )
            values[key] = table[key]
    return Board(key=path.stem, **values)


def board_keys() -> list[str]:
    return sorted(p.stem for p in BOARD_DIR.glob("*.toml"))


#: A memory of at most this many bits goes to LUTRAM (``ram_style = "distributed"``): 64 LUTs as
#: RAM64X1 columns hold it, less than the RAMB18 (18 Kb) it would otherwise take a whole of
#: (UG474 / UG574: a LUT6 is a 64 x 1 RAM; Vivado's own default maps such small arrays to LUTs).
LUTRAM_MAX_BITS = 4096
#: The ``ram_style`` values (UG901), by the primitive they select.
RAM_STYLES = {"distributed": "LUTRAM", "block": "BRAM", "ultra": "URAM"}


def memory_kind(depth: int, width: int, board: Board) -> str:
    """The ``ram_style`` a ``depth`` x ``width``-bit memory gets on ``board``: ``"distributed"``
    (LUTRAM) up to :data:`LUTRAM_MAX_BITS`; ``"ultra"`` (URAM) on a part with UltraRAM when it
    is at least one URAM deep (:data:`URAM_DEPTH`) and wider than a quarter of its 72-bit word
    (a shallower or narrower memory would leave most of the 288 Kb block empty, and a RAMB36
    column is cheaper); ``"block"`` (BRAM) otherwise."""
    if depth < 1 or width < 1:
        raise ValueError(f"a memory needs a depth and a width of at least 1, not {depth} x {width}")
    if depth * width <= LUTRAM_MAX_BITS:
        return "distributed"
    if board.uram and depth >= URAM_DEPTH and width > URAM_WIDTH // 4:
        return "ultra"
    return "block"


@dataclass(frozen=True)
class MemoryCost:
    bram36: float  # RAMB36 equivalents (a RAMB18 counts 0.5)
    uram: int
    #: The ``ram_style`` of every state bank (:data:`RAM_STYLES`), psi's banks first.
    banks: tuple[str, ...] = ()

    def placement(self) -> str:
        """The banks' primitives in a table cell: ``"4 URAM"``, ``"3 URAM + 1 BRAM"``."""
        counts = {style: self.banks.count(style) for style in RAM_STYLES if style in self.banks}
        return " + ".join(f"{n} {RAM_STYLES[style]}" for style, n in counts.items()) or "-"


def bank_cost(params: CoreParams) -> tuple[float, int]:
    """(RAMB36 equivalents, URAMs) of one bank if built from that primitive alone."""
    word_bits = 2 * params.width
    depth = params.bank_depth
    columns = math.ceil(word_bits / BRAM_WIDTH)
    bram = columns * (0.5 if depth <= BRAM18_DEPTH else math.ceil(depth / BRAM36_DEPTH))
    uram = math.ceil(word_bits / URAM_WIDTH) * math.ceil(depth / URAM_DEPTH)
    return bram, uram


def state_memory_cost(params: CoreParams, board: Board) -> MemoryCost | None:
    """Cheapest bank placement within the board's budget, or None if the state does not fit:
    each bank where :func:`memory_kind` puts it (LUTRAM costs no block RAM), except that deep
    banks go to URAM only as far as its budget holds them, the rest to BRAM. Computed from the
    geometry: synthesising big memories in yosys takes minutes (reference section 5)."""
    bram_per_bank, uram_per_bank = bank_cost(params)
    banks = params.banks * params.state_banks  # RUN_ADJOINT's lambda has banks of its own
    kind = memory_kind(params.bank_depth, 2 * params.width, board)
    if kind == "distributed":
        return MemoryCost(0.0, 0, ("distributed",) * banks)
    best = None
    for in_uram in range(banks + 1 if kind == "ultra" else 1):
        cost = MemoryCost((banks - in_uram) * bram_per_bank, in_uram * uram_per_bank,
                          ("ultra",) * in_uram + ("block",) * (banks - in_uram))
        if cost.bram36 <= board.budget("bram36") and cost.uram <= board.budget("uram"):
            if best is None or cost.bram36 < best.bram36:
                best = cost
    return best


@dataclass(frozen=True)
class LogicCost:
    """LUT/FF/DSP of the core without its state memory (from yosys, see synth.py)."""

    lut: int
    ff: int
    dsp: int


def largest_state(board: Board, lanes: int = 1, width: int = 18, adjoint: bool = False) -> int:
    """The most qubits whose state (two states with ``adjoint``) fits the board's memory budget
    with ``lanes`` lanes."""
    best = 0
    for max_qubits in range(lanes.bit_length(), 33):
        try:
            params = CoreParams(max_qubits=max_qubits, lanes=lanes, width=width, adjoint=adjoint)
        except ValueError:
            break
        if state_memory_cost(params, board) is None:
            break
        best = max_qubits
    return best


@dataclass(frozen=True)
class Fit:
    fits: bool
    memory: MemoryCost | None
    logic: LogicCost
    reasons: tuple[str, ...]


def check_fit(params: CoreParams, board: Board, logic: LogicCost) -> Fit:
    """Whether ``params`` with ``logic`` fits ``board`` within the budget, and why not."""
    reasons = []
    memory = state_memory_cost(params, board)
    if memory is None:
        banks = "two state banks (psi and lambda, adjoint=True)" if params.adjoint else "state memory"
        reasons.append(
            f"{banks} of 2**{params.max_qubits} amplitudes does not fit "
            f"{BUDGET['bram36']:.0%} of {board.bram36} BRAM36 / {board.uram} URAM "
            f"(at most {largest_state(board, params.lanes, params.width, params.adjoint)} qubits"
            + ("; build with adjoint=False and use RUN_SHIFT" if params.adjoint else "") + ")"
        )
    for resource in ("lut", "ff", "dsp"):
        used, limit = getattr(logic, resource), board.budget(resource)
        if used > limit:
            reasons.append(f"{resource.upper()} {used} > {limit} ({BUDGET[resource]:.0%} of "
                           f"{getattr(board, resource)})")
    return Fit(not reasons, memory, logic, tuple(reasons))
