"""Resources of a core build on a board, before any build: yosys for the logic, geometry for memory.

The logic (lanes, crossbars, decoder, reducer) comes from ``qfab_hw.synth.synthesize_logic``,
one yosys run per (FPGA family, build), cached on disk by design hash, so a co-design run pays
for each synthesis once. The state memory comes from the bank geometry
(``qfab_hw.boards.state_memory_cost``) and the fit from ``check_fit`` within FINN's planning
budget. Nothing here runs Vivado: the numbers are yosys estimates (docs/fpga.md says how they
compare).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from qfab_hw import CoreParams
from qfab_hw.boards import Board, LogicCost, check_fit

__all__ = ["BuildResources", "build_resources", "yosys_logic"]

RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")


@dataclass(frozen=True)
class BuildResources:
    """What a build uses on a board and whether it fits."""

    logic: LogicCost
    bram36: float
    uram: int
    fits: bool
    reasons: tuple[str, ...]
    utilisation: dict[str, float]  # used / available per resource

    @property
    def peak_utilisation(self) -> float:
        """The scarcest resource's share of the board: the Pareto axis "resources"."""
        return max(self.utilisation.values())


def yosys_logic(params: CoreParams, family: str) -> LogicCost:
    """LUT/FF/DSP of the core's logic from a (cached) yosys synthesis."""
    from qfab_hw.synth import synthesize_logic

    result = synthesize_logic(params, family)
    return LogicCost(lut=result["lut"], ff=result["ff"], dsp=result["dsp"])


def build_resources(params: CoreParams, board: Board,
                    logic_of: Callable[[CoreParams, str], LogicCost] = yosys_logic) -> BuildResources:
    """Resources of ``params`` on ``board``; ``logic_of(params, family)`` gives the logic cost."""
    logic = logic_of(params, board.family)
    fit = check_fit(params, board, logic)
    bram36 = fit.memory.bram36 if fit.memory else float("nan")
    uram = fit.memory.uram if fit.memory else 0
    used = {"lut": logic.lut, "ff": logic.ff, "dsp": logic.dsp, "bram36": bram36, "uram": uram}
    utilisation = {}
    for resource in RESOURCES:
        available = getattr(board, resource)
        if available:
            utilisation[resource] = float(used[resource]) / available if fit.memory or resource not in ("bram36", "uram") else float("inf")
    return BuildResources(logic, bram36, uram, fit.fits, fit.reasons, utilisation)
