"""``qfab codesign WORKLOAD.toml``: explore, recommend, validate, write the report."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["cli_main"]


def cli_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="qfab codesign",
        description="Choose the board, core build, device mix and circuit for a QML workload, before building "
                    "or running it: a Pareto table and plot, the recommendation with its build and run commands, "
                    "and predicted vs measured times on what runs here.")
    parser.add_argument("workload", help="workload file (TOML), e.g. examples/digits_codesign.toml")
    parser.add_argument("--out", default="qfab-codesign", help="folder for the report (index.html, pareto.png, ...)")
    parser.add_argument("--boards", help="comma-separated board keys (default: the workload's, else all)")
    parser.add_argument("--no-validate", action="store_true", help="skip running slices on the CPU, model and RTL")
    parser.add_argument("--builds", type=int, default=3, help="FPGA builds to validate on the bit-accurate model")
    parser.add_argument("--verilator", type=int, default=1, help="of those, how many to validate under Verilator")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="use the stored profile or the models' defaults, even if this machine has no profile")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from qfab.design.explore import codesign
    from qfab.design.report import summary, write_report
    from qfab.design.validate import validate
    from qfab.design.workload import WorkloadError, load_workload

    from qfab.scheduling.calibrate import ensure_calibrated

    try:
        workload = load_workload(args.workload)
        if args.boards:
            from dataclasses import replace

            workload = replace(workload, boards=tuple(args.boards.split(",")))
        # the host's devices are priced (and validated) with this machine's calibrated models
        profile = None if args.no_calibrate else ensure_calibrated(["cpu", "fpga"])
        result = codesign(workload, profile=profile, progress=not args.quiet)
    except (WorkloadError, FileNotFoundError) as err:
        from qfab.cli.main import one_line

        print(f"qfab codesign: {one_line(err)}", file=sys.stderr)
        return 2
    if not args.no_validate:
        validate(result, builds=args.builds, verilator=args.verilator, progress=not args.quiet)
    report = write_report(result, args.out)
    print(summary(result))
    print("\n".join(result.commands()))
    print(f"report: {report}")
    return 0
