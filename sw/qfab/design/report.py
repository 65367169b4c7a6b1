"""What ``qfab codesign`` writes: the Pareto plot, the FPGA time breakdown, tables, an HTML page.

``pareto.png``: predicted training time against error for every evaluated point (colour: the
scarcest FPGA resource's share; grey crosses: infeasible, with the reason in the table), the
Pareto front joined and the recommendation starred. ``breakdown.png``: where a board's time goes
when the FPGA trains alone (``FPGADevice.cost_breakdown``: core cycles, the PS-PL link with its
DMA round trips, the driver's host time on the PS) for the fastest point of each board and every build of the best
board, which says what to improve next. ``energy.png``: predicted energy per training step
against training time for every feasible point (the FPGA's PL and processing system, the CPU's
package power: ``qfab_hw.power``), the CPU alone marked, so the power-delay products compare at
a glance.
"""
from __future__ import annotations

import html
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from qfab.design.explore import CodesignResult, DesignPoint, duration_text, build_label  # noqa: E402
from qfab.backends.fpga.costmodel import BOARD_CALL_OVERHEAD_S, DMA_EFFICIENCY, PS_SLOWDOWN  # noqa: E402
from qfab.design.validate import median_time_error, validation_table  # noqa: E402
from qfab.design.workload import BOARD_KIND  # noqa: E402

__all__ = ["plot_pareto", "plot_breakdown", "plot_energy", "write_report"]


def plot_pareto(result: CodesignResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8.6, 5.2))
    evaluated = [p for p in result.points if math.isfinite(p.train_seconds)]
    bad = [p for p in evaluated if not p.feasible]
    good = [p for p in evaluated if p.feasible]
    if bad:
        ax.scatter([p.train_seconds for p in bad], [p.error for p in bad], marker="x", color="0.7",
                   label=f"infeasible ({len(bad)})")
    if good:
        shade = ax.scatter([p.train_seconds for p in good], [p.error for p in good],
                           c=[100 * p.utilisation for p in good], cmap="viridis", s=36, edgecolor="k", linewidth=0.3,
                           label=f"feasible ({len(good)})")
        fig.colorbar(shade, ax=ax, label="scarcest FPGA resource used (%)")
    for front, style, name in ((result.front, "r-", "Pareto front"), (result.fpga_front, "b--", "front with an FPGA")):
        if front:
            ax.plot([p.train_seconds for p in front], [p.error for p in front], style, alpha=0.7, label=name)
    for point, colour, name in ((result.chosen, "red", "recommended"), (result.fpga_chosen, "blue", "recommended FPGA")):
        if point is not None:
            ax.scatter([point.train_seconds], [point.error], marker="*", s=260, color=colour, edgecolor="k",
                       label=f"{name}: {point.label}", zorder=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted time to train (s)")
    ax.set_ylabel("predicted error of an expectation value")
    ax.set_title(f"qfab codesign: {result.workload.name}")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_energy(result: CodesignResult, path: Path) -> Path | None:
    """Energy per training step against training time, feasible points with an energy figure."""
    points = [p for p in result.points if p.feasible and math.isfinite(p.energy_j) and math.isfinite(p.train_seconds)]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(8.6, 5.0))
    groups = {"CPU alone": [p for p in points if p.board is None],
              "FPGA alone": [p for p in points if p.devices == (BOARD_KIND,)],
              "CPU + FPGA": [p for p in points if p.board is not None and len(p.devices) > 1]}
    for (name, group), marker in zip(groups.items(), ("s", "o", "^")):
        if group:
            ax.scatter([p.train_seconds for p in group], [p.energy_j for p in group], marker=marker, s=30,
                       edgecolor="k", linewidth=0.3, label=f"{name} ({len(group)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted time to train (s)")
    ax.set_ylabel("predicted energy per training step (J)")
    ax.set_title(f"qfab codesign: {result.workload.name} — energy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def energy_table(result: CodesignResult) -> str:
    """The FPGA-alone points' power and energy per step against the CPU alone, fastest first."""
    rows = sorted((p for p in result.points if p.devices == (BOARD_KIND,) and p.feasible and p.fpga_power),
                  key=lambda p: p.train_seconds)
    lines = ["| variant | board | build | clock | PL power (static + dynamic) | energy / step | CPU energy / step "
             "| x less energy than CPU |", "|---|---|---|---|---|---|---|---|"]
    for p in rows:
        power = p.fpga_power
        lines.append(f"| {p.variant.label} | {p.board.key} | {build_label(p.build)} | {p.clock_mhz:.0f} MHz | "
                     f"{power.total_w:.3f} W ({power.static_w:.3f} + {power.dynamic_w:.3f}) | {p.energy_j:.3g} J | "
                     f"{p.cpu_energy_j:.3g} J | {p.energy_vs_cpu:.3g} |")
    return "\n".join(lines)


def _step_text(seconds: float) -> str:
    """A training step's time: milliseconds below a second (an adjoint build's step is a few)."""
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else duration_text(seconds)


def plot_breakdown(points: list[DesignPoint], path: Path) -> Path | None:
    points = [p for p in points if p.fpga_breakdown][:12]
    if not points:
        return None
    # FPGADevice.cost_breakdown's parts; the link's include its DMA round trips
    parts = {"core_s": "core", "link_s": "link (and DMA round trips)", "driver_s": "driver"}
    fig, ax = plt.subplots(figsize=(8.6, 0.9 + 0.45 * len(points)))
    totals = [sum(p.fpga_breakdown.values()) for p in points]
    left = [0.0] * len(points)
    for index, (part, label) in enumerate(parts.items()):
        shares = [100 * p.fpga_breakdown[part] / total for p, total in zip(points, totals)]
        ax.barh(range(len(points)), shares, left=left, color=f"C{index}", label=label)
        left = [a + b for a, b in zip(left, shares)]
    for row, total in enumerate(totals):
        ax.text(101, row, _step_text(total), va="center", fontsize=7)
    ax.set_yticks(range(len(points)), [f"{p.board.key} {build_label(p.build)}, {p.variant.label}"
                                       for p in points], fontsize=7)
    ax.set_xlim(0, 112)
    ax.set_xlabel("share of the FPGA's predicted time per training step (%), total at the right")
    ax.legend(fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fpga_alone(result: CodesignResult) -> list[DesignPoint]:
    """The FPGA doing a whole step alone: the fastest point per board, then every build of the best board."""
    alone = sorted((p for p in result.points if p.devices == (BOARD_KIND,) and p.feasible), key=lambda p: p.train_seconds)
    per_board: dict[str, DesignPoint] = {}
    for point in alone:
        per_board.setdefault(point.board.key, point)
    if not per_board:
        return []
    best = alone[0]
    per_build: dict = {}
    for point in alone:
        if point.board.key == best.board.key and point.variant == best.variant and point is not best:
            per_build.setdefault(point.build, point)
    return list(per_board.values()) + list(per_build.values())


def _markdown(result: CodesignResult) -> str:
    w = result.workload
    lines = [f"# qfab codesign: {w.name}", "",
             f"{w.qubits} qubits, {w.encoding} encoding, {w.observable} readout; {w.samples} samples x {w.epochs} "
             f"epochs in mini-batches of {w.batch_size}; accuracy {w.accuracy:g}.", "",
             f"{len(result.points)} points evaluated, {sum(p.feasible for p in result.points)} feasible.", "",
             "## Recommendation", "", f"**{result.chosen.label if result.chosen else 'none'}**: {result.why}", ""]
    lines += ["```", *result.commands(), "```", ""]
    if result.fpga_chosen is not None and result.fpga_chosen is not result.chosen:
        lines += ["With an FPGA: " + f"**{result.fpga_chosen.label}**: {result.fpga_why}", "", "```",
                  *result.commands(result.fpga_chosen), "```", ""]
    lines += ["## Pareto front", "", result.table(result.front), ""]
    if result.fpga_front:
        lines += ["## Pareto front of the points with an FPGA", "", result.table(result.fpga_front), ""]
    if any(p.fpga_power for p in result.points):
        lines += ["## Power and energy per training step (the FPGA alone against the CPU alone)", "",
                  energy_table(result), ""]
    lines += ["## Trainability of the variants (sampled, uniform initialisation)", "",
              "| variant | Var[dC/dθ] at n | sampled at n = | decay base | seconds |", "|---|---|---|---|---|"]
    for study in result.trainability.values():
        base = "-" if study.decay_base is None else f"{study.decay_base:.3f}" + (" (extrapolated)" if study.extrapolated else "")
        lines.append(f"| {study.variant.label} | {study.variance:.2e} | {study.sampled_qubits} | {base} | "
                     f"{study.seconds:.1f} |")
    if result.validation:
        lines += ["", "## Validation on what runs here", "", validation_table(result.validation), "",
                  f"Median |measured - predicted| / measured time: {median_time_error(result.validation):.0%}."]
    lines += ["", "## Assumptions", "",
              f"- Driver on the board's processor: this host's measured time per call and per word x "
              f"{PS_SLOWDOWN} (no board here to measure).",
              f"- Link: one DMA round trip from Python per call, {BOARD_CALL_OVERHEAD_S * 1e6:.0f} µs, and the "
              f"words at {DMA_EFFICIENCY} of the HP port's theoretical bandwidth.",
              "- CPU: this machine's CPU with its calibrated cost model (`qfab calibrate`).",
              "- Resources: yosys `synth_xilinx` for the logic, bank geometry for BRAM/URAM, FINN's planning budget.",
              "- Clock: min(board clock, the build's closure from the open place-and-route mapped to the part; "
              "docs/fpga.md, Timing closure).",
              "- Power: `qfab_hw.power` (vendor-estimator anchors, docs/fpga.md, Power and energy); the CPU's package "
              f"power: {result.cpu_power.source if result.cpu_power else 'not measured'}."]
    lines.append("- FPGA gradients: each build's best method, on chip: RUN_ADJOINT on `+adj` builds (the second state "
                 "bank), RUN_SHIFT (the parameter-shift loop) on the others.")
    return "\n".join(lines) + "\n"


def write_report(result: CodesignResult, folder: Path | str) -> Path:
    """Write ``pareto.png``, ``breakdown.png``, ``codesign.md``, ``points.json`` and ``index.html``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot_pareto(result, folder / "pareto.png")
    breakdown = plot_breakdown(_fpga_alone(result), folder / "breakdown.png")
    energy = plot_energy(result, folder / "energy.png")
    markdown = _markdown(result)
    (folder / "codesign.md").write_text(markdown)
    (folder / "points.json").write_text(json.dumps([{
        "variant": p.variant.label, "devices": p.devices, "used": p.used, "board": p.board.key if p.board else None,
        "lanes": p.build.lanes if p.build else None, "width": p.build.width if p.build else None,
        "adjoint": p.build.adjoint if p.build else None, "fpga_gradient": p.fpga_gradient or None,
        "train_seconds": p.train_seconds, "error": p.error, "utilisation": p.utilisation,
        "gradient_std": p.gradient_std, "gradient_floor": p.gradient_floor, "feasible": p.feasible,
        "problems": p.problems, "fpga_breakdown": p.fpga_breakdown, "clock_mhz": p.clock_mhz,
        "energy_j": p.energy_j, "cpu_energy_j": p.cpu_energy_j, "energy_vs_cpu": p.energy_vs_cpu,
        "fpga_power_w": p.fpga_power.total_w if p.fpga_power else None} for p in result.points], indent=1, default=str))
    body = html.escape(markdown)
    images = '<img src="pareto.png" alt="Pareto plot">' + (
        '<img src="breakdown.png" alt="FPGA time breakdown">' if breakdown else "") + (
        '<img src="energy.png" alt="energy per training step">' if energy else "")
    (folder / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>qfab codesign</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
        "pre{white-space:pre-wrap}</style>"
        f"<h1>qfab codesign: {html.escape(result.workload.name)}</h1>{images}<pre>{body}</pre>")
    return folder / "index.html"


def summary(result: CodesignResult) -> str:
    """A few lines for the terminal."""
    lines = [f"{len(result.points)} points, {sum(p.feasible for p in result.points)} feasible, "
             f"{len(result.front)} on the Pareto front"]
    if result.chosen:
        lines.append(f"recommended: {result.chosen.label} — {duration_text(result.chosen.train_seconds)}; {result.why}")
    if result.fpga_chosen and result.fpga_chosen is not result.chosen:
        lines.append(f"with an FPGA: {result.fpga_chosen.label} — {duration_text(result.fpga_chosen.train_seconds)}")
    return "\n".join(lines)
