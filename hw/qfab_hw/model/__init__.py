"""Bit-accurate numpy models of the qfab hardware blocks and of the whole core.

The FPGA device runs :class:`CoreModel` to get exactly the bits (and the cycle count) the RTL
produces for a gate program; the cocotb benches compare the RTL against it word for word.
"""

from qfab_hw.model.addressing import bank_of, offset_of, pair_addresses
from qfab_hw.model.core import CoreModel, ProgramError, RunResult
from qfab_hw.model.cost import StepCost, step_cost
from qfab_hw.model.cycles import (
    instruction_cycles,
    load_params_cycles,
    program_cycles,
    run_cycles,
    set_cycles,
)
from qfab_hw.model.gate_lane import LaneOp, apply_lane

__all__ = [
    "CoreModel",
    "LaneOp",
    "ProgramError",
    "RunResult",
    "apply_lane",
    "bank_of",
    "StepCost",
    "instruction_cycles",
    "load_params_cycles",
    "program_cycles",
    "run_cycles",
    "set_cycles",
    "step_cost",
    "offset_of",
    "pair_addresses",
]
