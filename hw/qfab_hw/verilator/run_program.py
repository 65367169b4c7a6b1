"""Run one gate program on a built core under Verilator:
``python -m qfab_hw.verilator.run_program BUILD_DIR PROGRAM.json RESULT.json``.

A separate process per program, because cocotb owns the simulator's event loop; the caller
bounds it with a timeout (qfab's Verilator transport). ``PROGRAM.json`` holds ``{"words": [...],
"beats": n}``; ``RESULT.json`` gets the beats, the error code, the overflow flag and the cycles.
Exit status 0 when a result was written.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from qfab_hw.verilator.build import run_cocotb


def main(build_dir: str, program: str, result: str) -> int:
    with tempfile.TemporaryDirectory(prefix="qfab-run-") as test_dir:
        run_cocotb(Path(build_dir), "qfab_hw.verilator.cocotb_program", "run_program",
                   test_dir=Path(test_dir), QFAB_PROGRAM=program, QFAB_RESULT=result)
    return 0 if Path(result).exists() else 1


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__.splitlines()[1].strip("`:"), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:4]))
