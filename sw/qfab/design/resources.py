"""Resources of a core build on a board, before any build: yosys for the logic, geometry for memory.

The logic (lanes, crossbars, decoder, reducer) comes from ``qfab_hw.synth.synthesize_logic``,
one yosys run per (FPGA family, build), cached on disk by design hash, so a co-design run pays
for each synthesis once. The state memory comes from the bank geometry
(``qfab_hw.boards.state_memory_cost``), the other memories' block RAM (parameters, program,
gradients) from what yosys infers, and the fit from ``check_fit`` within FINN's planning
budget, with those memories beside the banks. Nothing here runs Vivado: the numbers are yosys estimates (docs/fpga.md says how they
compare; docs/fpga-resources.md has the v2 core's on every board, with and without adjoint).

An adjoint build (``CoreParams(adjoint=True)``) holds two states (psi and RUN_ADJOINT's lambda:
twice the banks, ``params.state_banks``) and adds the adjoint reducer's four multipliers per
lane and the lambda preparation's; when it does not fit, the reasons end with what the adjoint
adds over the same build without it, and whether that one fits (RUN_SHIFT).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from qfab_hw import CoreParams
from qfab_hw.boards import BUDGET, Board, LogicCost, check_fit

__all__ = ["BuildResources", "SynthLogic", "build_resources", "yosys_logic", "adjoint_note"]

RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")


@dataclass(frozen=True)
class SynthLogic(LogicCost):
    """The logic's cost from yosys, with the block RAM it infers for the core's other memories
    (parameters, program, gradients: RAMB36E1/E2 + RAMB18 / 2), which the state banks' geometry
    does not count."""

    bram36: float = 0.0


@dataclass(frozen=True)
class BuildResources:
    """What a build uses on a board and whether it fits. ``bram36``: the state banks' (geometry)
    plus the other memories' (``memories_bram36``, from yosys where ``logic`` is a :class:`SynthLogic`)."""

    logic: LogicCost
    bram36: float
    uram: int
    fits: bool
    reasons: tuple[str, ...]
    utilisation: dict[str, float]  # used / available per resource
    memories_bram36: float = 0.0

    @property
    def peak_utilisation(self) -> float:
        """The scarcest resource's share of the board: the Pareto axis "resources"."""
        return max(self.utilisation.values())


def yosys_logic(params: CoreParams, family: str) -> SynthLogic:
    """LUT/FF/DSP of the core's logic, and the block RAM of its non-state memories, from a
    (cached) yosys synthesis."""
    from qfab_hw.synth import synthesize_logic

    result = synthesize_logic(params, family)
    cells = result.get("cells", {})
    bram36 = sum(n for c, n in cells.items() if c.startswith("RAMB36")) + 0.5 * sum(
        n for c, n in cells.items() if c.startswith("RAMB18"))
    return SynthLogic(lut=result["lut"], ff=result["ff"], dsp=result["dsp"], bram36=bram36)


def _fit(params: CoreParams, board: Board, logic: LogicCost) -> tuple[bool, list[str], object]:
    """``check_fit``, with the other memories' BRAM (a :class:`SynthLogic`'s) beside the banks'."""
    fit = check_fit(params, board, logic)
    fits, reasons = fit.fits, list(fit.reasons)
    others = float(getattr(logic, "bram36", 0.0))
    if fit.memory is not None and others:
        total, budget = fit.memory.bram36 + others, board.budget("bram36")
        if total > budget:
            fits = False
            reasons.append(f"BRAM36 {total:g} (state banks {fit.memory.bram36:g} + parameter, program and gradient "
                           f"memories {others:g}) > {budget} ({BUDGET['bram36']:.0%} of {board.bram36})")
    return fits, reasons, fit.memory


def build_resources(params: CoreParams, board: Board,
                    logic_of: Callable[[CoreParams, str], LogicCost] = yosys_logic) -> BuildResources:
    """Resources of ``params`` on ``board``; ``logic_of(params, family)`` gives the logic cost."""
    logic = logic_of(params, board.family)
    fits, reasons, memory = _fit(params, board, logic)
    if params.adjoint and not fits:
        reasons.append(adjoint_note(params, board, logic, logic_of))
    others = float(getattr(logic, "bram36", 0.0))
    bram36 = memory.bram36 + others if memory else float("nan")
    uram = memory.uram if memory else 0
    used = {"lut": logic.lut, "ff": logic.ff, "dsp": logic.dsp, "bram36": bram36, "uram": uram}
    utilisation = {}
    for resource in RESOURCES:
        available = getattr(board, resource)
        if available:
            utilisation[resource] = float(used[resource]) / available if memory or resource not in ("bram36", "uram") else float("inf")
    return BuildResources(logic, bram36, uram, fits, tuple(reasons), utilisation, others)


def adjoint_note(params: CoreParams, board: Board, logic: LogicCost,
                 logic_of: Callable[[CoreParams, str], LogicCost] = yosys_logic) -> str:
    """What ``params``' adjoint (bank B, the adjoint reducer, the lambda preparation) adds over
    the same build without it on ``board``, and whether that build fits."""
    shift = replace(params, adjoint=False)
    base = logic_of(shift, board.family)
    base_fits = _fit(shift, board, base)[0]
    added = ", ".join(f"{getattr(logic, r) - getattr(base, r):+d} {r.upper()}" for r in ("dsp", "lut", "ff"))
    memory = f"{params.state_banks}x the state banks ({params.banks} -> {params.banks * params.state_banks})"
    return (f"the adjoint adds {added} and {memory}; without it the build "
            + ("fits (gradients by RUN_SHIFT)" if base_fits else "does not fit either"))
