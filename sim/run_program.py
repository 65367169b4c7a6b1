"""Run one gate program on a built core under Verilator: ``run_program.py BUILD PROGRAM RESULT``.

A separate process per program, because cocotb owns the simulator's event loop; the caller
bounds it with a timeout (qfab's Verilator transport).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rtl_build import TOPLEVEL, setup_verilator_environment  # noqa: E402


def main(build_dir: str, program: str, result: str) -> int:
    from cocotb_tools.runner import get_runner

    setup_verilator_environment()
    with tempfile.TemporaryDirectory(prefix="qfab-run-") as test_dir:
        get_runner("verilator").test(
            hdl_toplevel=TOPLEVEL,
            hdl_toplevel_lang="verilog",
            test_module="cocotb_program",
            testcase="run_program",
            build_dir=build_dir,
            test_dir=test_dir,
            extra_env={"QFAB_PROGRAM": program, "QFAB_RESULT": result},
        )
    return 0 if Path(result).exists() else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
