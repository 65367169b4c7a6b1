"""Functional coverage of the RTL benches with cocotb-coverage: which instructions the core ran
on which lane count, gates on which target under which control, and which error codes it
reported, counted only for packets whose every beat, TLAST and STATUS field matched the model.

Each simulation (the benches of one build) samples into cocotb-coverage's ``coverage_db``
and exports it after every bench to the YAML file named by ``QFAB_SIM_COVERAGE``;
``report.py`` merges the builds' files with ``cocotb_coverage.coverage.merge_coverage``. The bins are the same in every
run (the goal is what the builds of ``rtl_builds.BUILDS`` can reach, not what one build can),
so the files merge bin for bin. A packet the core refused part-way counts only for its
error code: the instructions before the fault ran, the ones after it did not.
"""

from __future__ import annotations

import os

from cocotb_coverage.coverage import CoverCross, CoverPoint, coverage_db, coverage_section

from qfab_hw import CoreParams, ErrorCode, Opcode
from qfab_hw.program import PROGRAM_GATE_OPCODES, decode_program
from rtl_builds import BUILDS

__all__ = ["CROSSES", "export", "sample_packet"]

ROOT = "qfab"
COVERAGE_FILE = os.environ.get("QFAB_SIM_COVERAGE")

OPCODES = [opcode.name for opcode in Opcode]
GATES = [opcode.name for opcode in sorted(PROGRAM_GATE_OPCODES)]
ERRORS = [code.name for code in ErrorCode]
LANES = sorted({build.params.lanes for build in BUILDS.values()})
QUBITS = {lanes: max(b.params.max_qubits for b in BUILDS.values() if b.params.lanes == lanes)
          for lanes in LANES}
TARGETS = list(range(max(QUBITS.values())))
UNCONTROLLED = "none"
CONTROLS = [UNCONTROLLED] + TARGETS
ADJOINT_LANES = {b.params.lanes for b in BUILDS.values() if b.params.adjoint}
PLAIN_LANES = {b.params.lanes for b in BUILDS.values() if not b.params.adjoint}


def _unreachable_gates() -> tuple[list, list, list]:
    """Ignore patterns (``None``: any bin) of the (gate, target, lanes), (gate, control, lanes)
    and (gate, target, control, lanes) crosses: qubits beyond the largest build of that lane
    count, and a control on the target itself."""
    beyond = [(q, lanes) for lanes in LANES for q in TARGETS if q >= QUBITS[lanes]]
    targets = [(None, q, lanes) for q, lanes in beyond]
    controls = [(None, q, lanes) for q, lanes in beyond]
    pairs = ([(None, q, None, lanes) for q, lanes in beyond]
             + [(None, None, q, lanes) for q, lanes in beyond]
             + [(None, q, q, None) for q in TARGETS])
    return targets, controls, pairs


def _unreachable_opcodes() -> list:
    """RUN_ADJOINT runs only on a build with bank B (the others answer NO_ADJOINT)."""
    return [(Opcode.RUN_ADJOINT.name, lanes) for lanes in LANES if lanes not in ADJOINT_LANES]


def _unreachable_errors() -> list:
    """NO_ADJOINT is the answer of a build without bank B only."""
    return [(ErrorCode.NO_ADJOINT.name, lanes) for lanes in LANES if lanes not in PLAIN_LANES]


_TARGETS_OFF, _CONTROLS_OFF, _PAIRS_OFF = _unreachable_gates()

#: The crosses the report prints (name under ``qfab.``: what it crosses).
CROSSES = {
    "instructions.opcode_x_lanes": "every opcode on every lane count",
    "instructions.gate_x_target_x_lanes": "every gate opcode on every target, per lane count",
    "instructions.gate_x_control_x_lanes": "every gate opcode under every control, per lane count",
    "instructions.gate_x_target_x_control_x_lanes": "opcode x target x control x lanes (gates)",
    "results.error_x_lanes": "every error code (and NONE) on every lane count",
}


def _at(index: int):
    return lambda *sample: sample[index]


@coverage_section(
    CoverPoint(f"{ROOT}.instructions.opcode", xf=_at(0), bins=OPCODES),
    CoverPoint(f"{ROOT}.instructions.gate", xf=_at(0), bins=GATES),
    CoverPoint(f"{ROOT}.instructions.target", xf=_at(1), bins=TARGETS),
    CoverPoint(f"{ROOT}.instructions.control", xf=_at(2), bins=CONTROLS),
    CoverPoint(f"{ROOT}.instructions.lanes", xf=_at(3), bins=LANES),
    CoverCross(f"{ROOT}.instructions.opcode_x_lanes",
               items=[f"{ROOT}.instructions.opcode", f"{ROOT}.instructions.lanes"],
               ign_bins=_unreachable_opcodes()),
    CoverCross(f"{ROOT}.instructions.gate_x_target_x_lanes",
               items=[f"{ROOT}.instructions.{p}" for p in ("gate", "target", "lanes")],
               ign_bins=_TARGETS_OFF),
    CoverCross(f"{ROOT}.instructions.gate_x_control_x_lanes",
               items=[f"{ROOT}.instructions.{p}" for p in ("gate", "control", "lanes")],
               ign_bins=_CONTROLS_OFF),
    CoverCross(f"{ROOT}.instructions.gate_x_target_x_control_x_lanes",
               items=[f"{ROOT}.instructions.{p}" for p in ("gate", "target", "control", "lanes")],
               ign_bins=_PAIRS_OFF),
)
def _sample_instruction(opcode: str, target, control, lanes: int) -> None:
    """One instruction the core ran (``target``, ``control``: ``None`` for a non-gate)."""


@coverage_section(
    CoverPoint(f"{ROOT}.results.error", xf=_at(0), bins=ERRORS),
    CoverPoint(f"{ROOT}.results.lanes", xf=_at(1), bins=LANES),
    CoverCross(f"{ROOT}.results.error_x_lanes",
               items=[f"{ROOT}.results.error", f"{ROOT}.results.lanes"],
               ign_bins=_unreachable_errors()),
)
def _sample_result(error: str, lanes: int) -> None:
    """The STATUS error code of one packet."""


def sample_packet(words, error: ErrorCode, params: CoreParams) -> None:
    """Sample one packet the RTL ran exactly as the model did, with the error code it ended
    with: its error code, and (when it ran to its END) every instruction in it, PROGRAM
    bodies included."""
    _sample_result(ErrorCode(error).name, params.lanes)
    if error != ErrorCode.NONE:
        return
    for instruction in decode_program(words, params.width):
        gate = instruction.opcode in PROGRAM_GATE_OPCODES
        control = instruction.control if instruction.control is not None else UNCONTROLLED
        _sample_instruction(instruction.opcode.name, instruction.target if gate else None,
                            control if gate else None, params.lanes)


def export() -> None:
    """Write this run's coverage database where the runner asked (``QFAB_SIM_COVERAGE``)."""
    if COVERAGE_FILE:
        coverage_db.export_to_yaml(COVERAGE_FILE)
