"""The qfab core's RTL under Verilator (cocotb), compared with the bit-accurate model.

Five builds: one lane (so 1-qubit programs run), two and four lanes (the bank crossbar and
lane parallelism) at W = 18, a 16-bit, 6-qubit build for the width and depth parameters, and a
6-qubit build with bank B (RUN_ADJOINT).
Each build is compiled once per design change (in the user cache, see
:mod:`qfab_hw.verilator.build`) and shared by the tests. The benches are ``cocotb_core.py``
beside this file; the simulator finds it on the path pytest gives this test module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qfab_hw import CoreParams
from qfab_hw.verilator.build import build_core, run_cocotb

#: Measured figures for docs/fpga.md (``report.py`` reads them).
RESULTS_DIR = Path(__file__).resolve().parent / "sim_build"

pytestmark = [pytest.mark.verilator, pytest.mark.xdist_group("verilator")]

BUILDS = {
    "lanes1": CoreParams(max_qubits=8, lanes=1, width=18),
    "lanes2": CoreParams(max_qubits=8, lanes=2, width=18),
    "lanes4": CoreParams(max_qubits=8, lanes=4, width=18),
    "w16": CoreParams(max_qubits=6, lanes=2, width=16),
    "adjoint": CoreParams(max_qubits=6, lanes=2, width=18, adjoint=True),
}

TESTCASES = [
    "random_programs_match_model",
    "every_opcode_target_and_control",
    "back_pressure_on_both_streams",
    "reset_in_the_middle_of_a_program",
    "overflow_sets_the_sticky_flag",
    "malformed_instruction_sets_error_and_core_stays_usable",
    "cycle_counts_per_gate_kind",
    # instruction set v2: PROGRAM, LOAD_PARAMS, RUN
    "v2_random_programs_match_model",
    "v2_back_pressure_on_both_streams",
    "v2_errors_keep_or_invalidate",
    "v2_reset_in_the_middle_of_a_run",
    "v2_cycle_counts_of_gate_rot_and_obs",
    # RUN_SHIFT (every build) and RUN_ADJOINT (the builds with bank B)
    "v2_gradient_runs_match_model",
    "v2_gradient_back_pressure",
    "v2_gradient_reset_in_the_middle",
    "v2_gradient_cycle_counts",
]


@pytest.fixture(scope="module", params=sorted(BUILDS))
def built_core(request):
    return request.param, build_core(BUILDS[request.param])


@pytest.mark.parametrize("testcase", TESTCASES)
def test_core_rtl(built_core, testcase):
    name, build_dir = built_core
    RESULTS_DIR.mkdir(exist_ok=True)
    results = RESULTS_DIR / f"{testcase}_{name}.json"
    run_cocotb(build_dir, "cocotb_core", testcase, QFAB_SIM_RESULTS=str(results))
