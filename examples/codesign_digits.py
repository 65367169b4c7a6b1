"""Worked example: which hardware for the digits classifier, and which circuit for the hardware?

    .venv/bin/python examples/codesign_digits.py [--out docs]

Explores examples/digits_codesign.toml (every board config, six core builds, CPU and FPGA mixes,
four circuit variants) without building or running the workload, validates the predictions on
the CPU, the core's bit-accurate model and two Verilator builds, and writes the Pareto plot, the
FPGA time breakdown and the tables (docs/codesign.md is made from this run).
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import qfab
from qfab.design.report import summary, write_report
from qfab.design.validate import validate
from qfab.scheduling.calibrate import ensure_calibrated

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="qfab-codesign", help="report folder")
    parser.add_argument("--figures", help="also copy the two PNGs here as codesign_*.png (e.g. docs)")
    args = parser.parse_args()

    profile = ensure_calibrated(["cpu", "fpga"])  # this machine's cost models (seconds, once)
    start = time.perf_counter()
    result = qfab.codesign(HERE / "digits_codesign.toml", profile=profile)
    explored = time.perf_counter() - start
    validate(result, builds=3, verilator=2)
    validated = time.perf_counter() - start - explored
    report = write_report(result, args.out)
    print(summary(result))
    print(f"explored in {explored:.1f} s, validated in {validated:.1f} s; report: {report}")
    if args.figures:
        for name in ("pareto", "breakdown"):
            shutil.copy(Path(args.out) / f"{name}.png", Path(args.figures) / f"codesign_{name}.png")


if __name__ == "__main__":
    main()
