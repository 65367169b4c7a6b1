"""Markdown tables for docs/fpga.md from the figures the RTL tests measured, and the merged
functional coverage of the runs.

Run ``pytest sim`` first (it writes ``sim/sim_build/<testcase>_<build>.json`` and one coverage
database per build in ``sim/sim_build/coverage/run-<pid>/``; at its end ``conftest.py`` merges
those into ``sim_build/coverage.yml`` and ``sim_build/coverage.json`` and prints the summary),
then ``python sim/report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path

#: Where ``test_core_rtl.py`` writes the figures (the builds themselves are in the user cache).
BUILD_ROOT = Path(__file__).resolve().parent / "sim_build"
#: Per pytest run a folder of cocotb-coverage databases (YAML), one per build's simulation.
COVERAGE_DIR = BUILD_ROOT / "coverage"
MERGED_COVERAGE = BUILD_ROOT / "coverage.yml"
COVERAGE_SUMMARY = BUILD_ROOT / "coverage.json"
#: Crosses this small list their missing bins in the summary.
LIST_MISSING_UP_TO = 8


def cycles_table(qubits=None) -> str:
    """One column per RTL build: cycles measured in simulation / the closed form."""
    rows = defaultdict(dict)
    builds = []
    for path in sorted(BUILD_ROOT.glob("cycle_counts_per_gate_kind_*.json")):
        build = path.stem.rsplit("_", 1)[-1]
        builds.append(build)
        for entry in json.loads(path.read_text()):
            rows[(entry["kind"], entry["n_qubits"])][build] = entry
    header = "| instruction | n | " + " | ".join(f"{b}: RTL / closed form" for b in builds)
    lines = [header + " |", "|---|---|" + "---|" * len(builds)]
    for (kind, n_qubits), by_build in sorted(rows.items()):
        if qubits and n_qubits not in qubits:
            continue
        cells = []
        for build in builds:
            entry = by_build.get(build)
            cells.append(f"{entry['measured']} / {entry['closed_form']}" if entry else "–")
        lines.append(f"| {kind} | {n_qubits} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _totals_table(testcase: str, columns: dict[str, str]) -> str:
    """One row per build of the figures ``testcase`` wrote: ``columns`` maps each JSON key to
    its header."""
    lines = ["| build | " + " | ".join(columns.values()) + " |", "|---|" + "---|" * len(columns)]
    for path in sorted(BUILD_ROOT.glob(f"{testcase}_*.json")):
        data = json.loads(path.read_text())
        build = path.stem.rsplit("_", 1)[-1]
        lines.append(f"| {build} | " + " | ".join(str(data[key]) for key in columns) + " |")
    return "\n".join(lines)


def comparison_table() -> str:
    return _totals_table("random_programs_match_model", {
        "programs": "programs", "instructions": "instructions", "words_in": "words in",
        "beats_out": "beats out (bit-exact)", "cycles": "cycles (exact)"})


def gradient_comparison_table() -> str:
    """RUN_SHIFT / RUN_ADJOINT packets compared with the model (``v2_gradient_runs_match_model``)."""
    return _totals_table("v2_gradient_runs_match_model", {
        "packets": "packets", "words_in": "words in",
        "beats_out": "value and gradient beats (bit-exact)", "cycles": "cycles (exact)"})


def gradient_cycles_table() -> str:
    """RUN_SHIFT / RUN_ADJOINT of the layered ansatz: CYCLES measured / the closed form."""
    lines = ["| build | run | n | P | sets | RTL cycles | closed form |", "|---|---|---|---|---|---|---|"]
    for path in sorted(BUILD_ROOT.glob("v2_gradient_cycle_counts_*.json")):
        build = path.stem.rsplit("_", 1)[-1]
        for e in json.loads(path.read_text()):
            lines.append(f"| {build} | {e['run']} | {e['n_qubits']} | {e['params']} | {e['sets']} | "
                         f"{e['measured']:,} | {e['closed_form']:,} |")
    return "\n".join(lines)


def coverage_files(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("*.yml"))


def merge_coverage_files(folder: Path) -> list[str]:
    """Merge the databases in ``folder`` (one per simulation of a run;
    ``cocotb_coverage.coverage.merge_coverage``) into :data:`MERGED_COVERAGE`, write
    :data:`COVERAGE_SUMMARY` (bins hit / total per cross, the missing bins of small crosses,
    the seed) and return its lines for the terminal."""
    import yaml
    from cocotb_coverage.coverage import merge_coverage

    from functional_coverage import CROSSES, ROOT

    files = coverage_files(folder)
    merge_coverage(lambda message: None, str(MERGED_COVERAGE), *map(str, files))
    merged = yaml.load(MERGED_COVERAGE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    summary = {"seed": os.environ.get("QFAB_SIM_SEED"), "simulations": len(files), "crosses": {}}
    lines = []
    for name, meaning in CROSSES.items():
        item = merged[f"{ROOT}.{name}"]
        missing = [bin_ for bin_, hits in item["bins:_hits"].items() if hits < item["at_least"]]
        entry = {"hit": item["coverage"], "bins": item["size"], "meaning": meaning}
        if len(missing) <= LIST_MISSING_UP_TO:
            entry["missing"] = missing
        summary["crosses"][name] = entry
        note = f"; missing {', '.join(map(str, missing))}" if missing and "missing" in entry else ""
        lines.append(f"{name}: {entry['hit']}/{entry['bins']} bins "
                     f"({100 * entry['hit'] / entry['bins']:.1f} %, {meaning}){note}")
    COVERAGE_SUMMARY.write_text(json.dumps(summary, indent=1))
    lines.append(f"{len(files)} simulations merged into {MERGED_COVERAGE}, summary {COVERAGE_SUMMARY}")
    return lines


def coverage_table() -> str:
    """The crosses of the last run's :data:`COVERAGE_SUMMARY`: bins hit / total."""
    summary = json.loads(COVERAGE_SUMMARY.read_text())
    lines = [f"Functional coverage of {summary['simulations']} simulations (seed {summary['seed']}):", "",
             "| cross | bins hit / total | % |", "|---|---|---|"]
    for name, entry in summary["crosses"].items():
        lines.append(f"| {entry['meaning']} | {entry['hit']} / {entry['bins']} | "
                     f"{100 * entry['hit'] / entry['bins']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="*", help="only these n in the cycle table")
    args = parser.parse_args()
    print(comparison_table())
    print()
    print(cycles_table(args.qubits))
    print()
    print(gradient_comparison_table())
    print()
    print(gradient_cycles_table())
    if COVERAGE_SUMMARY.exists():
        print()
        print(coverage_table())
