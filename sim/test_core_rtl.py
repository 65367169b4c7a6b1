"""The qfab core's RTL under Verilator (cocotb), compared with the bit-accurate model.

The builds and the benches each runs are ``rtl_builds.BUILDS``: one lane (so 1-qubit programs
run), two, four and eight lanes (the bank crossbar and lane parallelism) at W = 18, a 16-bit,
6-qubit build for the width and depth parameters, a 6-qubit build with bank B (RUN_ADJOINT),
and the overlay wrapper a PYNQ bitstream instantiates around the core (Xilinx port names,
active-low reset, TKEEP).
Each build is compiled once per design change (in the user cache, see
:mod:`qfab_hw.verilator.build`) and shared by the tests. The benches are ``cocotb_core.py``
beside this file; the simulator finds it on the path pytest gives this test module.

The selected benches of one build run in one simulation, one after another (each starts with
the reset pin), because starting a simulator costs seconds and a bench often less; each bench
is still its own pytest item, which reports that bench's outcome from the run's xUnit file.
Every run gets the session's seed (``conftest.py``: fresh, or ``QFAB_SIM_SEED``) and writes
its functional coverage database for the merge at the end of the session.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from qfab_hw.verilator.build import build_core, run_cocotb
from report import BUILD_ROOT
from rtl_builds import BUILDS

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("verilator")]

#: The simulator's output, in the run's folder.
LOG = "sim.log"
CASES = [(name, testcase) for name in sorted(BUILDS) for testcase in BUILDS[name].testcases]


@functools.cache
def simulate(name: str, testcases: tuple[str, ...], test_dir: Path) -> dict[str, str | None]:
    """Build ``BUILDS[name]`` if need be and run ``testcases`` on it in one simulation; for
    each bench, ``None`` when it passed, else its failure message."""
    build = BUILDS[name]
    build_dir = build_core(build.params, build.toplevel)
    test_dir.mkdir(parents=True, exist_ok=True)
    coverage = Path(os.environ["QFAB_SIM_COVERAGE_DIR"])  # conftest.py: this run's folder
    coverage.mkdir(parents=True, exist_ok=True)
    results = test_dir / "results.xml"
    ended = "the simulation ended before this bench reported"
    try:
        run_cocotb(build_dir, "cocotb_core", testcases, test_dir=test_dir, toplevel=build.toplevel,
                   log_file=test_dir / LOG, QFAB_SIM_SEED=os.environ["QFAB_SIM_SEED"],
                   QFAB_SIM_RESULTS=str(BUILD_ROOT / f"{{testcase}}_{name}.json"),
                   QFAB_SIM_COVERAGE=str(coverage / f"{name}.yml"))
    except SystemExit:  # cocotb's runner exits when a bench failed; the xUnit file says which
        pass
    except RuntimeError as error:  # the simulator itself failed (crashed, killed)
        ended += f" ({error})"
    outcome = dict.fromkeys(testcases, ended)
    if results.exists():
        for case in ElementTree.parse(results).getroot().iter("testcase"):
            failure = case.find("failure") if case.find("failure") is not None else case.find("error")
            if case.get("name") in outcome:
                outcome[case.get("name")] = None if failure is None else (
                    f"{failure.get('type', 'failed')}: {failure.get('message', '')}")
    return outcome


def selected(session, name: str) -> tuple[str, ...]:
    """The benches of build ``name`` this session runs (all of them, or what ``-k`` left)."""
    return tuple(item.callspec.params["testcase"] for item in session.items
                 if getattr(item, "originalname", None) == "test_core_rtl"
                 and item.callspec.params["name"] == name)


@pytest.mark.parametrize("name, testcase", CASES)
def test_core_rtl(name, testcase, request, tmp_path_factory):
    test_dir = tmp_path_factory.getbasetemp() / f"cocotb-{name}"
    failure = simulate(name, selected(request.session, name), test_dir)[testcase]
    if failure is not None:
        seed = os.environ["QFAB_SIM_SEED"]
        pytest.fail(f"{testcase} on the {name} build: {failure}\nthe simulator's log: {test_dir / LOG}; "
                    f"rerun with QFAB_SIM_SEED={seed} pytest '{request.node.nodeid}'", pytrace=False)
