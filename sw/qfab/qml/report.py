"""HTML trainability report with PNG plots: what ``qfab plateau`` writes.

The plots are the ones the literature uses to show a plateau: the gradient variance against the
number of qubits on a log scale (one line per cost and initialiser, 2-design and Lie-algebraic
predictions drawn dashed), and against depth at the largest n, where the variance settling
marks the scrambling depth.
"""
from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from qfab.qml.variance import ScanResult  # noqa: E402

__all__ = ["plot_variance_vs_qubits", "plot_variance_vs_depth", "write_report"]


_MARKERS = "osD^vP*X"


def _style(result: ScanResult, cost: str, init: str) -> dict:
    """Colour by cost, marker by initialiser, so that a dozen lines stay distinguishable."""
    costs = list(dict.fromkeys(p.cost for p in result.points))
    inits = list(dict.fromkeys(p.init for p in result.points))
    return {"color": f"C{costs.index(cost) % 10}", "marker": _MARKERS[inits.index(init) % len(_MARKERS)],
            "linestyle": "-" if inits.index(init) == 0 else ":"}


def plot_variance_vs_qubits(result: ScanResult, layers: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8.4, 4.6))
    for cost in dict.fromkeys(p.cost for p in result.points):
        for init in dict.fromkeys(p.init for p in result.points):
            points = sorted(result.select(cost=cost, init=init, layers=layers), key=lambda p: p.num_qubits)
            if not points:
                continue
            n = [p.num_qubits for p in points]
            errors = [[p.variance - p.interval[0] for p in points], [p.interval[1] - p.variance for p in points]]
            fit = result.decay(cost, init, layers)
            label = f"{cost}, {init}" + (f" (b={fit.base:.2f})" if fit else "")
            style = _style(result, cost, init)
            ax.errorbar(n, [p.variance for p in points], yerr=errors, capsize=3, label=label, **style)
            if init == "uniform":
                ax.plot(n, [p.two_design for p in points], "--", color=style["color"], alpha=0.5)
    ax.plot([], [], "k--", alpha=0.6, label="2-design prediction")
    ax.set_yscale("log")
    ax.set_xlabel("qubits n")
    ax.set_ylabel("Var[dC/dθ]")
    ax.set_title(f"Gradient variance against n (depth {layers})")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_variance_vs_depth(result: ScanResult, num_qubits: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8.4, 4.6))
    for cost in dict.fromkeys(p.cost for p in result.points):
        for init in dict.fromkeys(p.init for p in result.points):
            points = sorted(result.select(cost=cost, init=init, num_qubits=num_qubits), key=lambda p: p.layers)
            if points:
                style = _style(result, cost, init)
                ax.plot([p.layers for p in points], [p.variance for p in points], label=f"{cost}, {init}", **style)
                if init == "uniform":
                    ax.axhline(points[0].two_design, ls="--", color=style["color"], alpha=0.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("layers L")
    ax.set_ylabel("Var[dC/dθ]")
    ax.set_title(f"Gradient variance against depth (n = {num_qubits}); dashed: 2-design")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_noise(points, rate: float, path: Path) -> Path:
    """Noisy/ideal mean |gradient| against two-qubit gate count, with the fitted exp(-rate N)."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    gates = np.array([p.two_qubit_gates for p in points])
    ax.plot(gates, [p.ratio for p in points], "o-", label="measured")
    ax.plot(gates, np.exp(-rate * gates), "--", label=f"exp(-{rate:.2e} N)")
    ax.set_yscale("log")
    ax.set_xlabel("two-qubit gates N")
    ax.set_ylabel("noisy / ideal mean |dC/dθ|")
    ax.set_title("Noise-induced gradient decay")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(result: ScanResult, verdict_lines: list[str], folder: Path, title: str = "Trainability report",
                 elapsed: float | None = None, noise_points=None, noise_note: str = "", extra_html: str = "") -> Path:
    """Write ``index.html`` and its PNGs into ``folder``; return the HTML path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    deepest = max(p.layers for p in result.points)
    largest = max(p.num_qubits for p in result.points)
    images = [plot_variance_vs_qubits(result, deepest, folder / "variance_vs_qubits.png")]
    if len({p.layers for p in result.points}) > 1:
        images.append(plot_variance_vs_depth(result, largest, folder / "variance_vs_depth.png"))
    noise_html = ""
    if noise_points:
        from qfab.qml.noise import fit_noise_rate

        rate = fit_noise_rate(noise_points)
        image = plot_noise(noise_points, rate, folder / "noise.png")
        noise_rows = "".join(f"<tr><td>{p.layers}</td><td>{p.two_qubit_gates}</td><td>{p.ideal_mean_abs:.3e}</td>"
                             f"<td>{p.noisy_mean_abs:.3e}</td><td>{p.ratio:.3f}</td></tr>" for p in noise_points)
        noise_html = (f"<h2>Noise</h2><p>{html.escape(noise_note)} Fitted: noisy/ideal ≈ exp(−{rate:.3e}·N₂q).</p>"
                      f'<p><img src="{image.name}" alt="noise"></p><table><tr><th>L</th><th>2q gates</th>'
                      f"<th>ideal mean |g|</th><th>noisy mean |g|</th><th>ratio</th></tr>{noise_rows}</table>")
    rows = "".join(
        f"<tr><td>{html.escape(p.cost)}</td><td>{html.escape(p.init)}</td><td>{p.num_qubits}</td><td>{p.layers}</td>"
        f"<td>{p.samples}</td><td>{p.variance:.3e}</td><td>{p.interval[0]:.3e} – {p.interval[1]:.3e}</td>"
        f"<td>{p.two_design:.3e}</td><td>{'' if p.lie is None else f'{p.lie:.3e}'}</td>"
        f"<td>{'' if p.lie_dimension is None else p.lie_dimension}</td><td>{p.loss_variance:.3e}</td><td>{p.seconds:.2f}</td></tr>"
        for p in result.points)
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}td,th{{padding:2px 8px;text-align:right}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f3f3f3}}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Verdict</h2><ul>{''.join(f'<li>{html.escape(line)}</li>' for line in verdict_lines)}</ul>
{''.join(f'<p><img src="{img.name}" alt="{img.stem}"></p>' for img in images)}
<h2>All points</h2>
<p>Variance of dC/dθ over random initialisations (mean over the chosen parameters), 95% bootstrap interval,
the unitary 2-design prediction, the Lie-algebraic loss-variance prediction (Ragone et al. 2024; deep circuits,
observable in the algebra) with the algebra's dimension, and the sampled loss variance to compare it with.</p>
<table><tr><th>cost</th><th>init</th><th>n</th><th>L</th><th>samples</th><th>Var</th><th>95% CI</th><th>2-design</th>
<th>Lie Var[C]</th><th>dim g</th><th>Var[C]</th><th>s</th></tr>{rows}</table>
{noise_html}
{extra_html}
{'' if elapsed is None else f'<p>Scan time: {elapsed:.1f} s.</p>'}
</body></html>"""
    path = folder / "index.html"
    path.write_text(body)
    return path
