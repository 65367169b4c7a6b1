"""Power and energy of a core build on a board, and of the CPU doing the same work.

The programmable logic's power is static plus dynamic, as the vendors' estimators (Xilinx XPE,
UG440; Lattice's power calculator) build it: static from the part's size, dynamic from the
resources the build uses (DSP slices, block RAM, UltraRAM, LUTs, flip-flops) at the clock, with
a toggle rate (XPE's default: 12.5 %). The coefficients per family are the published anchors in
docs/fpga.md ("Power and energy"), order-of-magnitude figures, not an XPE run of each part:

* dynamic, 28 nm 7-series at 100 MHz and 12.5 % toggle: 0.5 mW per DSP48E1, 2.6 mW per 1,000
  LUTs (slice logic), flip-flops at 1/4 of that, 1.0 mW per RAMB36 enabled every cycle; it
  scales with the clock and, for the logic, with the toggle rate over 12.5 %;
* 16 nm UltraScale+: the same times :data:`FAMILY_DYNAMIC_SCALE` (0.85 V against 1.0 V core
  supply, squared, times the smaller switched capacitance); a URAM as 2.5 RAMB36;
* static: per LUT of the part, from the Zynq-7020's 0.113 W (53,200 LUTs) and the Zynq
  UltraScale+ range (ZU19EG about 0.85 W above ZU2EG over their 475,000 LUTs difference);
* the processing system running the driver, a stated assumption (:data:`PS_ACTIVE_W`).

The CPU's energy is its measured (or predicted) time times its package power: read from RAPL
(``/sys/class/powercap/intel-rapl:*``) where the machine exposes it, else ``$QFAB_CPU_WATTS``,
else a stated per-core figure (:data:`CPU_WATTS_PER_CORE`, Cloud Carbon Footprint's).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from qfab_hw.boards import Board

__all__ = ["PowerEstimate", "pl_power", "fpga_step_energy", "CpuPower", "cpu_power", "rapl_watts", "DYNAMIC_MW_AT_100MHZ",
           "FAMILY_DYNAMIC_SCALE", "STATIC_W_PER_LUT", "PS_ACTIVE_W", "CPU_WATTS_PER_CORE", "DEFAULT_TOGGLE"]

#: XPE's default toggle rate (UG440, "Using the Logic Sheet"): one transition every 8 cycles.
DEFAULT_TOGGLE = 0.125
#: Dynamic mW per unit at 100 MHz and :data:`DEFAULT_TOGGLE` on a 28 nm 7-series part (XC7A100T-1
#: Vivado report: 19 DSP48E1 10 mW, 6,135 slice-logic elements 16 mW; a RAMB36 enabled every
#: cycle: 0.5-3 mW at 28 nm, the low end of the XPE figures, taken at 1.0).
DYNAMIC_MW_AT_100MHZ = {"dsp": 0.5, "lut": 2.6e-3, "ff": 0.65e-3, "bram36": 1.0, "uram": 2.5}
#: Dynamic power of the family relative to 28 nm 7-series for the same resources and clock:
#: (0.85 V / 1.0 V)**2 = 0.72 for the supply, times about 0.7 for the FinFET node's capacitance.
FAMILY_DYNAMIC_SCALE = {"xc7": 1.0, "xcup": 0.5}
#: Static watts per LUT of the part: Zynq-7020 0.113 W / 53,200 LUTs; Zynq UltraScale+ 0.85 W /
#: 475,000 LUTs (ZU19EG against ZU2EG).
STATIC_W_PER_LUT = {"xc7": 0.113 / 53_200, "xcup": 0.85 / 475_000}
#: The processing system while the driver runs (assumed: no board here to measure; the order of
#: XPE's processing-system defaults with DDR active).
PS_ACTIVE_W = {"zynq7": 1.5, "zynq_ultra_ps_e": 2.0}
#: A CPU core's package watts at full load when nothing is readable (Cloud Carbon Footprint's
#: coefficient per vCPU for AWS: 3.5 W at 100 %).
CPU_WATTS_PER_CORE = 3.5


@dataclass(frozen=True)
class PowerEstimate:
    """Watts of the programmable logic: ``static_w`` always, ``dynamic_w`` while the core runs
    (its parts in ``dynamic_parts_w``), at ``clock_mhz`` and ``toggle``."""

    static_w: float
    dynamic_parts_w: dict
    clock_mhz: float
    toggle: float

    @property
    def dynamic_w(self) -> float:
        return sum(self.dynamic_parts_w.values())

    @property
    def total_w(self) -> float:
        return self.static_w + self.dynamic_w


def pl_power(used: dict, board: Board, clock_mhz: float, toggle: float = DEFAULT_TOGGLE,
             memory_enable: float = 1.0) -> PowerEstimate:
    """The PL power of a build using ``used`` (``{"lut", "ff", "dsp", "bram36", "uram"}``) on
    ``board`` at ``clock_mhz``: the logic's dynamic power scales with ``toggle`` over XPE's
    12.5 %, the DSPs' and memories' with the fraction of cycles they are enabled
    (``memory_enable``: every cycle of a gate pass reads and writes the banks). I/O: none; the
    core talks to the processing system over on-chip AXI, no package pin switches."""
    if not 0.0 <= toggle <= 1.0 or not 0.0 <= memory_enable <= 1.0:
        raise ValueError(f"toggle ({toggle}) and memory_enable ({memory_enable}) are fractions from 0 to 1")
    if clock_mhz <= 0:
        raise ValueError(f"the clock must be positive, not {clock_mhz} MHz")
    scale = FAMILY_DYNAMIC_SCALE[board.family] * clock_mhz / 100.0 * 1e-3
    activity = {"lut": toggle / DEFAULT_TOGGLE, "ff": toggle / DEFAULT_TOGGLE, "dsp": memory_enable,
                "bram36": memory_enable, "uram": memory_enable}
    parts = {resource: float(used.get(resource, 0)) * mw * activity[resource] * scale
             for resource, mw in DYNAMIC_MW_AT_100MHZ.items()}
    return PowerEstimate(STATIC_W_PER_LUT[board.family] * board.lut, parts, clock_mhz, toggle)


def fpga_step_energy(power: PowerEstimate, board: Board, breakdown: dict) -> dict:
    """Joules of one step on the board from its time ``breakdown`` (``core_s``, ``link_s``,
    ``driver_s``): the PL's static power over the whole step, its dynamic power while the core
    computes, and the processing system while it drives the link and runs the driver."""
    step_s = sum(breakdown.values())
    parts = {"pl_static_j": power.static_w * step_s,
             "pl_dynamic_j": power.dynamic_w * breakdown.get("core_s", 0.0),
             "ps_j": PS_ACTIVE_W[board.ps] * (breakdown.get("driver_s", 0.0) + breakdown.get("link_s", 0.0))}
    return {**parts, "total_j": sum(parts.values()), "step_s": step_s}


@dataclass(frozen=True)
class CpuPower:
    """The CPU package's watts while it works, and where the figure comes from."""

    watts: float
    source: str

    def energy(self, seconds: float) -> float:
        return self.watts * seconds


RAPL_ROOT = Path("/sys/class/powercap")


def _rapl_packages(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1 and (p / "energy_uj").exists())


def rapl_watts(root: Path = RAPL_ROOT, busy_s: float = 0.3) -> float | None:
    """The packages' average watts over ``busy_s`` of a busy loop on this core, from RAPL's
    ``energy_uj`` counters (wraps at ``max_energy_range_uj``), or None where they are absent or
    not readable (root-only since Linux 5.10)."""
    packages = _rapl_packages(root)
    if not packages:
        return None
    try:
        before = [int((p / "energy_uj").read_text()) for p in packages]
        start = time.perf_counter()
        spin = 0
        while time.perf_counter() - start < busy_s:
            spin += 1
        elapsed = time.perf_counter() - start
        after = [int((p / "energy_uj").read_text()) for p in packages]
        ranges = [int((p / "max_energy_range_uj").read_text()) for p in packages]
    except (OSError, ValueError):
        return None
    joules = sum((b - a) % r if r else b - a for a, b, r in zip(before, after, ranges)) / 1e6
    return joules / elapsed if elapsed > 0 else None


def cpu_power(cores: int | None = None, root: Path = RAPL_ROOT) -> CpuPower:
    """This machine's CPU package power while working: ``$QFAB_CPU_WATTS`` if set, else RAPL if
    readable, else ``cores`` (default: all) x :data:`CPU_WATTS_PER_CORE`."""
    override = os.environ.get("QFAB_CPU_WATTS")
    if override:
        try:
            watts = float(override)
        except ValueError:
            raise ValueError(f"QFAB_CPU_WATTS must be a number of watts, not {override!r}") from None
        if not watts > 0:
            raise ValueError(f"QFAB_CPU_WATTS must be positive, not {override!r}")
        return CpuPower(watts, f"QFAB_CPU_WATTS={override}")
    measured = rapl_watts(root)
    if measured is not None and measured > 0:  # a counter that did not move is not a reading
        return CpuPower(measured, f"RAPL ({root}), measured busy")
    cores = cores or os.cpu_count() or 1
    return CpuPower(cores * CPU_WATTS_PER_CORE,
                    f"stated: {cores} cores x {CPU_WATTS_PER_CORE} W (no readable RAPL counter)")
