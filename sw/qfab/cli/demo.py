"""The main job: a trainability report for the classifier's ansatz (sampled gradient variances
with their 2-design and Lie predictions); ``qfab.qml.recommend`` racing classifier set-ups on
scikit-learn's digits and forecasting the winner's test accuracy; the winner trained in full with
adjoint gradients on the CPU engine, its achieved accuracy beside the forecast and beside the
set-up the trainability report alone would pick; then an evaluation planned over the CPU and the
simulated FPGA core (predicted and measured times); plots and an HTML report.

Each image is reduced (PCA) to one feature per qubit. The set-ups raced are the hardware-efficient
ansatz (RY and RZ on every qubit, then a CNOT ladder, per layer) at the given depth and twice it,
uniform or small-angle initialisation, local or global readout, angle or dense-angle encoding, plus
the trainability report's own choice, so the recommendation has beaten that choice in the race
before the demo compares the two on the test set.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DemoResult", "demo_candidates", "run_demo"]


@dataclass
class DemoResult:
    qubits: int
    layers: int
    train_accuracy: float
    test_accuracy: float
    fpga_test_accuracy: float | None
    compile_seconds: float
    train_seconds: float
    losses: list[float] = field(default_factory=list)
    plot: Path | None = None
    plan_text: str = ""
    run_report: str = ""
    report: Path | None = None
    config: dict = field(default_factory=dict)
    forecast: str = ""
    forecast_accuracy: float | None = None
    forecast_interval: tuple[float, float] | None = None
    recommend_seconds: float = 0.0
    recommendation: list[str] = field(default_factory=list)
    recommend_report: Path | None = None
    advice: str = ""
    verdict: list[str] = field(default_factory=list)
    alternative: dict = field(default_factory=dict)
    alternative_test_accuracy: float | None = None
    trainability_report: Path | None = None

    @property
    def setup(self) -> str:
        return setup_name(self.config)


def setup_name(config: dict) -> str:
    layers = "1 layer" if config["layers"] == 1 else f"{config['layers']} layers"
    return "{ansatz}, {layers}, {initializer} init, {cost} cost, {encoding} encoding".format(**{**config, "layers": layers})


def load_data(num_qubits: int, classes: tuple[int, int], seed: int, samples: int | None):
    """Two digits of scikit-learn's set, split 70/30 and reduced by PCA (fitted on the training
    part) to one feature per qubit; the classifier scales the features itself."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    keep = np.isin(digits.target, classes)
    x, y = digits.data[keep], digits.target[keep]
    if samples is not None:
        x, y = x[:samples], y[:samples]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    pca = PCA(n_components=num_qubits, random_state=seed).fit(x_train)
    return pca.transform(x_train), pca.transform(x_test), y_train, y_test


def demo_candidates(layers: int, trainability_choice: dict) -> list[dict]:
    """The demo's race: hardware-efficient ansatz (CX ladder) x {layers, 2 layers} x {uniform,
    small angle} x {local, global} x {angle, dense angle}, and the trainability report's choice."""
    grid = [dict(ansatz="hea", layers=L, initializer=i, cost=c, encoding=e)
            for L, i, c, e in itertools.product((layers, 2 * layers), ("uniform", "small_angle"),
                                                ("local", "global"), ("angle", "dense_angle"))]
    return grid + ([trainability_choice] if trainability_choice not in grid else [])


def diagnose(qubits: int, layers: int, samples: int, seed: int, folder: Path, progress: bool):
    """Sampled and predicted gradient variances of the hardware-efficient ansatz up to the
    classifier's size, at its depth and four times deeper; the verdict and the initialisation
    the report recommends."""
    from qfab.qml.report import write_report
    from qfab.qml.trainability import recommendation, scan, verdict

    sizes = sorted({2, max(2, qubits // 2), qubits})
    result = scan("hea", ["local_pauli", "global_pauli"], sizes, [layers, 4 * layers], samples,
                  inits=["uniform", "gaussian", "small_angle"], seed=seed, progress=progress)
    lines = verdict(result)
    initialisation, advice = recommendation(result, "local_pauli")
    report = write_report(result, lines, folder / "trainability", title="Trainability of the classifier's ansatz")
    return initialisation, advice, lines, report


def run_demo(qubits: int = 8, layers: int = 2, epochs: int = 40, learning_rate: float = 0.1,
             classes: tuple[int, int] = (0, 1), seed: int = 7, samples: int | None = None,
             report_dir: Path | str = "qfab-report", check_fpga: bool = True, progress: bool = True,
             diagnosis_samples: int = 100, budget_s: float = 60) -> DemoResult:
    """Diagnose, recommend, train, evaluate, plot; returns the accuracies, the forecast and the
    times (used by tests and later jobs). ``budget_s``: the time ``recommend``'s race may take."""
    from qfab import api
    from qfab.qml.models import QuantumClassifier
    from qfab.qml.recommender import recommend

    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if diagnosis_samples:
        initialisation, advice, verdict_lines, trainability_report = diagnose(
            qubits, layers, diagnosis_samples, seed, folder, progress)
    else:
        initialisation, advice, verdict_lines, trainability_report = "small_angle", "", [], None
    x_train, x_test, y_train, y_test = load_data(qubits, classes, seed, samples)

    start = time.perf_counter()
    probe = QuantumClassifier(layers=layers, encoding="angle")
    probe.prepare(x_train, y_train)
    api.gradient(probe.circuit_, probe.observables_, np.zeros((2, probe.circuit_.num_parameters)))  # numba compiles (or loads its cache)
    compile_seconds = time.perf_counter() - start

    trainability_choice = dict(ansatz="hea", layers=layers, initializer=initialisation, cost="local", encoding="angle")
    rec = recommend(x_train, y_train, qubits=qubits, budget_s=budget_s, epochs=epochs, seed=seed,
                    learning_rate=learning_rate, candidates=demo_candidates(layers, trainability_choice))
    rec.report(folder / "recommend.html")

    start = time.perf_counter()
    model = rec.classifier(learning_rate=learning_rate, random_state=seed).fit(x_train, y_train)
    train_seconds = time.perf_counter() - start
    # The comparison: what the trainability report alone would train (raced too, and beaten there),
    # or, when the race chose exactly that, the plain uniform start it would have replaced.
    alternative = trainability_choice if trainability_choice != rec.config else {**rec.config, "initializer": (
        "small_angle" if rec.config["initializer"] == "uniform" else "uniform")}
    other = QuantumClassifier(**alternative, epochs=epochs, learning_rate=learning_rate,
                              random_state=seed).fit(x_train, y_train)

    result = DemoResult(qubits, layers, model.score(x_train, y_train), model.score(x_test, y_test), None,
                        compile_seconds, train_seconds, [h["loss"] for h in model.history_],
                        config=dict(rec.config), forecast=rec.forecast.describe(),
                        forecast_accuracy=rec.forecast.accuracy, forecast_interval=rec.forecast.interval,
                        recommend_seconds=rec.seconds, recommendation=rec.summary(),
                        recommend_report=folder / "recommend.html", advice=advice, verdict=verdict_lines,
                        alternative=alternative, alternative_test_accuracy=other.score(x_test, y_test),
                        trainability_report=trainability_report)
    result.plot = _plot(result, folder)
    if check_fpga and model.circuit_.num_qubits <= 16:
        model.set_params(device="fpga")
        result.fpga_test_accuracy = model.score(x_test, y_test)
        model.set_params(device="cpu")
        _planned_evaluation(result, model.circuit_, model.observables_, model.circuit_values(x_test), folder, progress)
    result.report = _html(result, folder)
    return result


def _planned_evaluation(result: DemoResult, circuit, observable, test_values, folder: Path, progress: bool):
    """Values and parameter-shift gradients of the test set as a workload the planner spreads
    over the CPU and the FPGA model; its predicted times are then compared with measured ones."""
    from qfab.scheduling import Workload, plan, run
    from qfab.scheduling.calibrate import ensure_calibrated

    ensure_calibrated(["cpu", "fpga"])
    work = Workload()
    # A sign classifier tolerates 1e-3: the FPGA's fixed-point error (~1e-4 here) is acceptable.
    work.add(circuit, observable, test_values, gradient=False, accuracy=1e-3)
    work.add(circuit, observable, test_values, gradient="parameter-shift", accuracy=1e-3)
    schedule = plan(work, devices=["cpu", "fpga"])
    schedule.gantt(folder / "demo_plan.png")
    outcome = run(schedule, progress=progress)
    result.plan_text, result.run_report = schedule.explain(), outcome.report()


def _html(result: DemoResult, folder: Path) -> Path:
    from html import escape

    images = "".join(f'<img src="{name}" style="max-width:48%">' for name in ("demo_training.png", "demo_plan.png")
                     if (folder / name).exists())
    links = " · ".join(f'<a href="{href}">{text}</a>' for href, text, present in (
        ("recommend.html", "the race (every candidate)", result.recommend_report is not None),
        ("trainability/index.html", "full trainability report", result.trainability_report is not None)) if present)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>qfab demo</title></head><body>
<h1>qfab demo: {result.qubits}-qubit digits classifier</h1>
<p>Recommended and trained: <b>{escape(result.setup)}</b>.<br>
forecast test accuracy {escape(result.forecast)}<br>
achieved: train accuracy {result.train_accuracy:.1%}, test accuracy {result.test_accuracy:.1%}
(FPGA model: {'-' if result.fpga_test_accuracy is None else f'{result.fpga_test_accuracy:.1%}'});
the trainability report's own choice ({escape(setup_name(result.alternative))}): {result.alternative_test_accuracy:.1%}.<br>
recommend {result.recommend_seconds:.1f} s, training {result.train_seconds:.1f} s, first call {result.compile_seconds:.1f} s.</p>
{images}
<h2>Recommendation</h2><pre>{escape(chr(10).join(result.recommendation))}</pre>
<h2>Trainability</h2><p>{escape(result.advice)}</p><pre>{escape(chr(10).join(result.verdict))}</pre>
<p>{links}</p>
<h2>Plan</h2><pre>{escape(result.plan_text)}</pre>
<h2>Predicted vs measured</h2><pre>{escape(result.run_report)}</pre>
</body></html>"""
    path = folder / "index.html"
    path.write_text(page)
    return path


def _plot(result: DemoResult, folder: Path) -> Path:
    """Training loss of the recommended set-up, and its test accuracy against the forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    loss_axis.plot(range(1, len(result.losses) + 1), result.losses, marker=".")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("cross-entropy (training set)")
    loss_axis.set_title(f"{result.qubits} qubits: {result.setup}", fontsize=9)
    loss_axis.grid(alpha=0.3)
    low, high = result.forecast_interval or (result.forecast_accuracy, result.forecast_accuracy)
    accuracy_axis.errorbar([0], [result.forecast_accuracy], yerr=[[result.forecast_accuracy - low], [high - result.forecast_accuracy]],
                           fmt="o", capsize=6, label="forecast (95% interval)")
    accuracy_axis.plot([1], [result.test_accuracy], "s", color="green", label="achieved (test)")
    accuracy_axis.plot([2], [result.alternative_test_accuracy], "^", color="grey", label="trainability's choice")
    accuracy_axis.set_xticks([0, 1, 2], ["forecast", "achieved", "other"])
    accuracy_axis.set_xlim(-0.6, 2.6)
    accuracy_axis.set_ylabel("test accuracy")
    accuracy_axis.grid(alpha=0.3)
    accuracy_axis.legend(fontsize=7, loc="lower right")
    path = folder / "demo_training.png"
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
