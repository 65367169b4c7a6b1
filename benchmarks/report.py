"""The markdown report (docs/performance.md) and PNG plots from one run's results dict."""
from __future__ import annotations

import math
import os

from . import bandwidth, measure, workload

ROW_TITLES = {
    "forward": "1. One forward state vector",
    "gradient": "2. Full gradient (all parameters)",
    "batch": "3. Gradients for a batch of parameter sets",
}
ORDER = ("qfab", "aer", "qulacs", "lightning")
SEVERAL = 3.0  # "several times faster" on the batch rows, read as at least this factor


def _sims(results) -> list[str]:
    return [s for s in ORDER if s in results.get("sims", {})] + [s for s in results.get("sims", {}) if s not in ORDER]


def _label(results, sim) -> str:
    return results["sims"][sim]["label"]


def _fmt_t(t: float) -> str:
    if t >= 100:
        return f"{t:.0f} s"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def _mib(x: float) -> str:
    return f"{x:.0f} MiB" if abs(x) >= 10 else f"{x:.2f} MiB"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _cell_text(results, cell, qfab_time, is_qfab) -> str:
    if cell is None:
        return "—"
    if cell.get("error"):
        return f"n/a: {_escape(cell['error'])}"
    t = cell["time"]
    txt = ("≈" if cell.get("extrapolated") else "") + _fmt_t(t)
    txt += f" ({cell['runs']}×)" if not cell.get("extrapolated") else " †"
    if not is_qfab and qfab_time:
        txt += f" **×{t / qfab_time:.2f}**"
    if cell.get("check") is not None and cell["check"] > measure.TOLERANCE:
        txt += f" ⚠ differs by {cell['check']:.1e}"
    return txt


def _qfab_time(cells) -> float | None:
    c = cells.get("qfab")
    return c["time"] if c and not c.get("error") else None


def _peer_times(cells) -> dict[str, float]:
    return {s: c["time"] for s, c in cells.items() if s != "qfab" and c and not c.get("error") and c["time"]}


def behind_sentence(results, row: str) -> str:
    """One plain sentence: where qfab is behind on this row (or that it is not)."""
    data = results.get(row, {})
    behind, margins, missing = [], [], []
    for n, cells in data.items():
        tq = _qfab_time(cells)
        peers = _peer_times(cells)
        if tq is None:
            missing.append(n)
            continue
        faster = sorted((tq / t, s) for s, t in peers.items() if t < tq)
        if faster:
            behind.append(f"n={n} (" + ", ".join(f"{_label(results, s)} {f:.2f}x faster" for f, s in reversed(faster)) + ")")
        if peers:
            best = min(peers, key=peers.get)
            margins.append((peers[best] / tq, n, best))
    parts = []
    if missing:
        parts.append(f"qfab produced no result at n={', '.join(missing)}, so it is behind there by default.")
    if behind:
        parts.append("qfab is behind at " + "; ".join(behind) + ".")
    elif margins:
        r, n, s = min(margins)
        parts.append(f"qfab is the fastest at every n of this row; its smallest lead is {r:.2f}x over {_label(results, s)} at n={n}.")
    elif not missing:
        parts.append("No peer produced a time on this row, so nothing was compared.")
    if row == "batch" and margins:
        short = [f"n={n} ({r:.2f}x over {_label(results, s)})" for r, n, s in sorted(margins) if 1 <= r < SEVERAL]
        if short:
            parts.append(f"The goal of several times (read here as >= {SEVERAL:.0f}x) faster than the fastest peer is "
                         f"not met at " + ", ".join(short) + ".")
    return " ".join(parts)


def _row_table(results, row) -> list[str]:
    sims = _sims(results)
    data = results.get(row, {})
    unit = {"forward": "", "gradient": f" (P = 20n parameters)", "batch": ""}[row]
    lines = [f"## {ROW_TITLES[row]}{unit}", ""]
    if row == "batch":
        lines += [f"Batch of B = {results['config']['batch_size']} parameter sets, gradient of <Z0> for each: output (B, P).", ""]
    lines.append("| n | " + " | ".join(_label(results, s) for s in sims) + " | fastest peer / qfab |")
    lines.append("|---|" + "---|" * len(sims) + "---|")
    for n, cells in data.items():
        tq = _qfab_time(cells)
        row_cells = [_cell_text(results, cells.get(s), tq, s == "qfab") for s in sims]
        peers = _peer_times(cells)
        fastest = "—"
        if tq and peers:
            best = min(peers, key=peers.get)
            fastest = f"{peers[best] / tq:.2f} ({_label(results, best)})"
        lines.append(f"| {n} | " + " | ".join(row_cells) + f" | {fastest} |")
    lines += ["", behind_sentence(results, row), ""]
    return lines


def _memory_lines(results) -> list[str]:
    mem = results.get("memory")
    if not mem:
        return []
    n = results["config"]["memory_n"]
    state = 2**n * 16 / 2**20
    lines = [f"## 4. Peak memory, one forward state vector at n = {n}", "",
             f"Fresh subprocess per simulator (`benchmarks/memory.py`); extra peak resident memory over the baseline "
             f"taken after imports, a 4-qubit warm-up and building the Qiskit circuit (the process's high-water mark "
             f"`VmHWM`, reset at the baseline; `ru_maxrss` where /proc is missing). One complex128 state at n = {n} is "
             f"{_mib(state)}.", "",
             "| simulator | extra peak | in state vectors | baseline RSS | ratio to qfab |", "|---|---|---|---|---|"]
    q = mem.get("qfab", {})
    q_delta = q.get("delta_MiB") if "error" not in q else None
    for s in _sims(results):
        m = mem.get(s)
        if not m:
            lines.append(f"| {_label(results, s)} | — | | | |")
            continue
        if "error" in m:
            lines.append(f"| {_label(results, s)} | n/a: {_escape(m['error'])} | | | |")
            continue
        ratio = f"{m['delta_MiB'] / q_delta:.2f}" if q_delta and s != "qfab" else ""
        lines.append(f"| {_label(results, s)} | {_mib(m['delta_MiB'])} | {m['delta_MiB'] / state:.2f} | "
                     f"{_mib(m['baseline_MiB'])} | {ratio} |")
    peers = {s: m["delta_MiB"] for s, m in mem.items() if s != "qfab" and "error" not in m}
    if q_delta is None:
        lines += ["", "qfab produced no memory figure."]
    elif peers:
        best = min(peers, key=peers.get)
        if peers[best] < 0.99 * q_delta:  # within 1 %: one state vector each is a tie
            lines += ["", f"qfab is behind on memory: it needs {_mib(q_delta)} against {_mib(peers[best])} for "
                          f"{_label(results, best)} ({q_delta / peers[best]:.2f}x)."]
        else:
            lines += ["", f"qfab needs no more extra memory than the leanest peer ({_mib(q_delta)}; "
                          f"{_label(results, best)} {_mib(peers[best])})."]
    return lines + [""]


def _roofline_lines(results) -> list[str]:
    bw = results.get("bandwidth")
    if not bw:
        return []
    lines = ["## Memory bandwidth and the roofline of one gate pass", ""]
    if "error" in bw:
        return lines + [f"Bandwidth measurement failed: {bw['error']}", ""]
    lines += [f"numba `prange` over {bw['threads']} thread(s), arrays of 2^{bw['log2_size']} complex128 "
              f"({bw['array_MiB']:.0f} MiB each), best of {bw['repeats']} (`benchmarks/bandwidth.py`):", "",
              "| kernel | bytes counted per element | GB/s |", "|---|---|---|",
              f"| copy `b = a` | 32 | {bw['copy_GBps']:.1f} |",
              f"| triad `a = b + s*c` | 48 | {bw['triad_GBps']:.1f} |",
              f"| in-place update `a = s*a` (a gate pass's access pattern) | 32 | {bw['update_GBps']:.1f} |", ""]
    n = results["config"]["roofline_n"]
    gbps = bw["update_GBps"]
    bound = bandwidth.gate_pass_bound_s(n, gbps)
    lines.append(f"Roofline bound for one gate pass at n = {n}: read + write of 2^{n} x 16 B = "
                 f"{2 * 2**n * 16 / 2**20:.0f} MiB at {gbps:.1f} GB/s = **{_fmt_t(bound)}**.")
    fwd = results.get("forward", {}).get(str(n), {}).get("qfab")
    plan = results.get("fusion_plan")
    if fwd and not fwd.get("error"):
        if plan and plan.get("num_blocks"):
            passes = plan["num_blocks"]
            how = (f"qfab's fusion plan (`{plan.get('source')}`) has {passes} fused blocks"
                   + (f" (width {plan['width']}; kinds {plan.get('kinds')}; qubits per block {plan.get('block_widths')})"
                      if plan.get("width") else "") + ", i.e. that many passes over the state")
        else:
            passes = len(workload.ansatz_gates(n))
            how = (f"qfab exposed no fusion plan, so this **estimates** one pass per gate ({passes} gates); "
                   f"with fusion the true per-pass time is higher")
        per_pass = fwd["time"] / passes
        ratio = per_pass / bound
        verdict = ("within the 2x goal" if ratio <= 2 else "**outside the 2x goal: qfab is behind the bandwidth bound**")
        lines += ["", f"{how}. qfab's forward at n = {n} takes {_fmt_t(fwd['time'])}: **{_fmt_t(per_pass)} per fused pass, "
                      f"{ratio:.2f}x the bound** ({verdict}; effective {2 * 2**n * 16 * passes / fwd['time'] / 1e9:.1f} GB/s). "
                      f"The whole forward's bound is {passes} x {_fmt_t(bound)} = {_fmt_t(passes * bound)}."]
    else:
        lines += ["", f"qfab has no forward time at n = {n}, so its time per pass is not reported."]
    return lines + [""]


def _agreement_lines(results) -> list[str]:
    lines = ["## Agreement checks", "",
             f"Every result a peer returned was compared with qfab's for the same parameters (max absolute difference, "
             f"tolerance {measure.TOLERANCE:g}): states entry by entry in Qiskit's little-endian order (global phase "
             f"included), gradients entry by entry in `qc.parameters` order. For extrapolated cells, over the entries computed. "
             f"qfab's forward states are also checked against `qiskit.quantum_info.Statevector` up to n = "
             f"{results['config']['reference_max_n']}.", "",
             "| row | n | " + " | ".join(_label(results, s) for s in _sims(results)) + " |",
             "|---|---|" + "---|" * len(_sims(results))]
    for row in ("forward", "gradient", "batch"):
        for n, cells in results.get(row, {}).items():
            out = []
            for s in _sims(results):
                c = cells.get(s)
                if not c or c.get("error"):
                    out.append("—")
                elif c.get("check") is None:
                    out.append("reference" if s == "qfab" or c.get("check_ref") is None else "—")
                else:
                    mark = "ok" if c["check"] <= measure.TOLERANCE else "**MISMATCH**"
                    vs = "" if c["check_ref"] == "qfab" else f" vs {c['check_ref']}"
                    out.append(f"{c['check']:.1e} {mark}{vs}")
            lines.append(f"| {row} | {n} | " + " | ".join(out) + " |")
    return lines + [""]


def mismatches(results) -> list[str]:
    bad = []
    for row in ("forward", "gradient", "batch"):
        for n, cells in results.get(row, {}).items():
            for s, c in cells.items():
                if c and c.get("check") is not None and not (c["check"] <= measure.TOLERANCE):
                    bad.append(f"{row} n={n} {s}: max |diff| {c['check']:.2e} vs {c['check_ref']}")
    return bad


def render(results) -> str:
    m = results["machine"]
    sims = _sims(results)
    cfg = results["config"]
    L = ["# qfab performance", ""]
    if results.get("quick"):
        L += ["> **Quick smoke run (`--quick`): tiny sizes, timings meaningless. Not the benchmark.**", ""]
    L += [f"Generated by `benchmarks/run_all.py` on {results['started_utc']} in {results['wall_s'] / 60:.1f} min. "
          f"Reproduce with `make bench`, which runs:", "", "```", results["command"], "```", "",
          "## Machine", "",
          f"- CPU: {m['cpu']} ({m.get('simd', '?')}); {m['logical_cores']} logical cores"
          + (f", {m['physical_cores']} physical" if m.get("physical_cores") else "")
          + (f"; {m['memory_GiB']} GiB memory" if m.get("memory_GiB") else ""),
          f"- {m['platform']}, Python {m['python']}; numba threads {m.get('numba_threads', '?')}, "
          f"OMP_NUM_THREADS {m['OMP_NUM_THREADS']}",
          f"- load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in results['load_before'])}; "
          f"after: {', '.join(f'{x:.2f}' for x in results['load_after'])} (a busy machine makes every number noisy)",
          "- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()), ""]
    L += ["## Workload", "",
          f"Hardware-efficient ansatz (`benchmarks/workload.py`): {workload.LAYERS} layers of RY then RZ on every qubit, "
          "then the CNOT ladder CX(0,1), ..., CX(n-2,n-1); P = 20n parameters in one `ParameterVector`; observable Z on "
          "qubit 0. Every simulator gets the same gates in the same parameter order. Each time is the median of up to "
          f"7 (n <= 16), 5 (n <= 20) or 3 (n >= 22) runs, cut short once {cfg['budget_s']:.0f} s are spent on a cell "
          f"(the number of runs in parentheses). Every simulator gets one untimed warm-up call first (qfab at every n; the "
          f"peers up to n = {cfg['warmup_max_n']}, above which their first call is already steady state and a warm-up "
          "would cost minutes). Every cell runs in a fresh worker process (`benchmarks/worker.py`), so no simulator's "
          "threads or memory linger into another's timing and a crash becomes an n/a cell; each simulator uses its "
          "default threading (all cores). `×r` after a peer's time is **peer time / qfab time**: above 1, qfab is faster. "
          "† marks a time extrapolated from part of the work (see the notes), ≈ the same.", ""]
    first = results.get("qfab_first_call_s")
    if first:
        if "error" in first:
            L += [f"qfab's first call failed: {first['error']}", ""]
        else:
            L += ["qfab's first calls in the process (numba compiling, or loading its on-disk cache), not in any row: "
                  + ", ".join(f"{k} {_fmt_t(v)}" for k, v in first.items()) + ".", ""]
    L += ["## How each simulator runs each row", ""]
    for s in sims:
        info = results["sims"][s]
        if not info["available"]:
            L.append(f"- **{info['label']}**: n/a: {_escape(info['reason'])}")
            continue
        L.append(f"- **{info['label']}** ({', '.join(f'{k} {v}' for k, v in info['versions'].items())}):")
        for row in ("forward", "gradient", "batch"):
            if row in info["methods"]:
                L.append(f"  - {row}: {info['methods'][row]}")
    L.append("")
    for row in ("forward", "gradient", "batch"):
        if row in results:
            L += _row_table(results, row)
    L += _memory_lines(results)
    L += _roofline_lines(results)
    L += _agreement_lines(results)
    notes = []
    for row in ("forward", "gradient", "batch"):
        for n, cells in results.get(row, {}).items():
            for s, c in cells.items():
                if c and c.get("extrapolated"):
                    notes.append(f"- † {row} n={n} {_label(results, s)}: {c['extrapolated']}; measured "
                                 f"{', '.join(_fmt_t(t) for t in c['times'])}.")
    if notes:
        L += ["## Notes", "", "Cells whose full run would not fit the per-cell budget (peers only; qfab always runs in full):", ""]
        L += notes + [""]
    if results.get("plots"):
        L += ["## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})" for p in results["plots"]] + [""]
    bad = mismatches(results)
    if bad:
        L += ["## MISMATCHES (these comparisons are invalid until fixed)", ""] + [f"- {b}" for b in bad] + [""]
    return "\n".join(L)


def plot(results, out_dir: str) -> list[str]:
    """perf_forward.png, perf_gradient.png (time vs n) and perf_batch.png beside the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    styles = {"qfab": ("C3", "o"), "aer": ("C0", "s"), "qulacs": ("C2", "^"), "lightning": ("C1", "D")}
    for row in ("forward", "gradient", "batch"):
        data = results.get(row)
        if not data:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        for s in _sims(results):
            pts = [(int(n), c[s]["time"], bool(c[s].get("extrapolated"))) for n, c in data.items()
                   if s in c and not c[s].get("error") and c[s]["time"]]
            if not pts:
                continue
            color, marker = styles.get(s, ("k", "x"))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color, marker=marker, label=_label(results, s))
            ext = [p for p in pts if p[2]]
            if ext:
                ax.scatter([p[0] for p in ext], [p[1] for p in ext], s=110, facecolors="none", edgecolors=color)
        ax.set_yscale("log")
        ax.set_xticks(sorted({int(n) for n in data}))
        ax.set_xlabel("qubits n")
        ax.set_ylabel("seconds (median)")
        title = ROW_TITLES[row].split(". ", 1)[1]
        if row == "batch":
            title += f" (B = {results['config']['batch_size']})"
        ax.set_title(title + (" [quick run]" if results.get("quick") else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        if any(c.get("extrapolated") for cells in data.values() for c in cells.values() if c):
            ax.text(0.01, 0.01, "hollow ring: extrapolated", transform=ax.transAxes, fontsize=7, va="bottom")
        fig.tight_layout()
        path = os.path.join(out_dir, f"perf_{row}.png")
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
