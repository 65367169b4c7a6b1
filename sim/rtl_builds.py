"""The RTL builds the benches run on, and which benches each runs.

Shared by ``test_core_rtl.py`` (what to build and run) and ``functional_coverage.py`` (inside
the simulator: which lane counts, targets and error codes the builds can reach, so the
coverage goal is the same in every run and the runs' databases merge bin for bin).
"""

from __future__ import annotations

from dataclasses import dataclass

from qfab_hw import CoreParams
from qfab_hw.verilator.build import OVERLAY_TOPLEVEL, TOPLEVEL

#: Every bench of ``cocotb_core.py``.
TESTCASES = (
    "random_programs_match_model",
    "every_opcode_target_and_control",
    "back_pressure_on_both_streams",
    "long_stalls_mid_stream",
    "reset_in_the_middle_of_a_program",
    "reset_pin_in_the_middle_of_a_program_and_a_run",
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
)

#: What the overlay wrapper adds is wiring (Xilinx port names, active-low reset, TKEEP): the
#: benches that drive every port, both streams under stalls and the reset pin run through it.
WRAPPER_TESTCASES = (
    "random_programs_match_model",
    "back_pressure_on_both_streams",
    "long_stalls_mid_stream",
    "reset_pin_in_the_middle_of_a_program_and_a_run",
    "malformed_instruction_sets_error_and_core_stays_usable",
    "v2_random_programs_match_model",
)


@dataclass(frozen=True)
class Build:
    params: CoreParams
    toplevel: str = TOPLEVEL
    testcases: tuple[str, ...] = TESTCASES


BUILDS = {
    "lanes1": Build(CoreParams(max_qubits=8, lanes=1, width=18)),
    "lanes2": Build(CoreParams(max_qubits=8, lanes=2, width=18)),
    "lanes4": Build(CoreParams(max_qubits=8, lanes=4, width=18)),
    # eight lanes: 16 banks, n from 4; five qubits keep it fast
    "lanes8": Build(CoreParams(max_qubits=5, lanes=8, width=18)),
    "w16": Build(CoreParams(max_qubits=6, lanes=2, width=16)),
    "adjoint": Build(CoreParams(max_qubits=6, lanes=2, width=18, adjoint=True)),
    # the top level a PYNQ overlay instantiates (qfab_hw.bitstream.overlay_wrapper)
    "overlay": Build(CoreParams(max_qubits=6, lanes=2, width=18), OVERLAY_TOPLEVEL, WRAPPER_TESTCASES),
}
