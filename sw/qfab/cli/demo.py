"""The main job: a trainability report for the classifier's ansatz (sampled gradient variances
with their 2-design and Lie predictions), a variational quantum classifier on scikit-learn's
digits trained with adjoint gradients on the CPU engine from the initialisation the report
recommends and, for comparison, from plain uniform angles; then an evaluation planned over the
CPU and the simulated FPGA core (predicted and measured times); plots and an HTML report.

Each image is reduced (PCA) to one angle per qubit and encoded with RY rotations, followed by a
hardware-efficient ansatz (RY and RZ on every qubit, then a CNOT ladder, per layer). The
prediction is <Z_0>; the loss is the mean squared error against labels ±1. Data angles are
circuit parameters like the weights, so a whole training set is one batched
``qfab.expectation`` and one batched ``qfab.gradient`` call per step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from qfab import api
from qfab.core.frontend import from_qiskit

__all__ = ["DemoResult", "classifier_circuit", "run_demo"]


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
    initialisation: str = "small_angle"
    advice: str = ""
    verdict: list[str] = field(default_factory=list)
    alternative: str = ""
    alternative_test_accuracy: float | None = None
    trainability_report: Path | None = None


def classifier_circuit(num_qubits: int, layers: int) -> tuple[QuantumCircuit, list, list]:
    """RY angle encoding of one feature per qubit, then ``qfab.qml``'s hardware-efficient ansatz
    (RY·RZ per qubit, a CX chain per layer); returns the circuit, its feature and weight
    parameters."""
    from qfab.qml.ansatz import hardware_efficient
    from qfab.qml.encoding import angle_encoding

    encoding = angle_encoding(num_qubits)
    ansatz = hardware_efficient(num_qubits, layers, entangler="cx")
    return encoding.qiskit_circuit.compose(ansatz.qiskit_circuit), list(encoding.parameters), ansatz.parameters


def load_data(num_qubits: int, classes: tuple[int, int], seed: int, samples: int | None):
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    digits = load_digits()
    keep = np.isin(digits.target, classes)
    x, y = digits.data[keep], np.where(digits.target[keep] == classes[0], 1.0, -1.0)
    if samples is not None:
        x, y = x[:samples], y[:samples]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    pca = PCA(n_components=num_qubits, random_state=seed).fit(x_train)
    scaler = MinMaxScaler((0, np.pi)).fit(pca.transform(x_train))
    encode = lambda data: np.clip(scaler.transform(pca.transform(data)), 0, np.pi)  # noqa: E731
    return encode(x_train), encode(x_test), y_train, y_test


# Initial weights per initialiser name (qfab.qml.init's schemes, for a flat weight vector).
# Identity blocks need a mirrored ansatz; for this classifier the nearest scheme, starting close
# to the identity, is small angles.
_INITIALISERS = {
    "uniform": lambda rng, size, layers: rng.uniform(0.0, 2 * np.pi, size),
    "gaussian": lambda rng, size, layers: rng.normal(0.0, 1 / np.sqrt(layers), size),
    "small_angle": lambda rng, size, layers: rng.uniform(-0.05, 0.05, size),
    "identity_blocks": lambda rng, size, layers: rng.uniform(-0.05, 0.05, size),
}


def diagnose(qubits: int, layers: int, samples: int, seed: int, folder: Path, progress: bool):
    """Sampled and predicted gradient variances of the hardware-efficient ansatz up to the
    classifier's size, at its depth and four times deeper; the verdict and recommendation."""
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
             diagnosis_samples: int = 100) -> DemoResult:
    """Diagnose, train, evaluate, plot; returns the accuracies and times (used by tests and later jobs)."""
    from tqdm.auto import tqdm

    folder = Path(report_dir)
    if diagnosis_samples:
        initialisation, advice, verdict_lines, trainability_report = diagnose(
            qubits, layers, diagnosis_samples, seed, folder, progress)
    else:
        initialisation, advice, verdict_lines, trainability_report = "small_angle", "", [], None

    qc, features, weights = classifier_circuit(qubits, layers)
    circuit = from_qiskit(qc)
    names = list(circuit.parameters)
    feature_columns = [names.index(p.name) for p in features]
    weight_columns = [names.index(p.name) for p in weights]
    observable = SparsePauliOp("I" * (qubits - 1) + "Z")
    x_train, x_test, y_train, y_test = load_data(qubits, classes, seed, samples)
    rng = np.random.default_rng(seed)

    def parameters(x, w):
        values = np.empty((len(x), circuit.num_parameters))
        values[:, feature_columns] = x
        values[:, weight_columns] = w
        return values

    start = time.perf_counter()
    api.gradient(circuit, observable, parameters(x_train[:2], np.zeros(len(weight_columns))))  # numba compiles (or loads its cache)
    compile_seconds = time.perf_counter() - start

    def train(weights, label):
        moment, velocity, losses = np.zeros_like(weights), np.zeros_like(weights), []
        bar = tqdm(range(1, epochs + 1), desc=f"training ({label})", unit="epoch", disable=not progress)
        for step in bar:
            values = parameters(x_train, weights)
            predictions = api.expectation(circuit, observable, values)
            gradients = api.gradient(circuit, observable, values)[:, weight_columns]
            residual = predictions - y_train
            losses.append(float(np.mean(residual**2)))
            grad = np.mean(2 * residual[:, None] * gradients, axis=0)
            moment = 0.9 * moment + 0.1 * grad  # Adam
            velocity = 0.999 * velocity + 0.001 * grad**2
            weights = weights - learning_rate * (moment / (1 - 0.9**step)) / (np.sqrt(velocity / (1 - 0.999**step)) + 1e-8)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        return weights, losses

    start = time.perf_counter()
    draw = _INITIALISERS[initialisation]
    weights, losses = train(draw(rng, len(weight_columns), layers), initialisation)
    train_seconds = time.perf_counter() - start
    # The comparison: plain uniform angles, or when the report found no plateau (so uniform is
    # the recommendation), the near-identity start that the report would otherwise suggest.
    alternative = "small_angle" if initialisation == "uniform" else "uniform"
    alternative_weights, _ = train(_INITIALISERS[alternative](rng, len(weight_columns), layers), alternative)

    def accuracy(x, y, device="cpu", w=None):
        w = weights if w is None else w
        return float(np.mean(np.sign(api.expectation(circuit, observable, parameters(x, w), device=device)) == y))

    result = DemoResult(qubits, layers, accuracy(x_train, y_train), accuracy(x_test, y_test), None,
                        compile_seconds, train_seconds, losses, initialisation=initialisation, advice=advice,
                        verdict=verdict_lines, trainability_report=trainability_report)
    result.alternative = alternative
    result.alternative_test_accuracy = accuracy(x_test, y_test, w=alternative_weights)
    result.plot = _plot(result, folder)
    if check_fpga and qubits <= 16:
        result.fpga_test_accuracy = accuracy(x_test, y_test, device="fpga")
        _planned_evaluation(result, circuit, observable, parameters(x_test, weights), folder, progress)
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
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>qfab demo</title></head><body>
<h1>qfab demo: {result.qubits}-qubit digits classifier</h1>
<p>train accuracy {result.train_accuracy:.1%}, test accuracy {result.test_accuracy:.1%}
(FPGA model: {'-' if result.fpga_test_accuracy is None else f'{result.fpga_test_accuracy:.1%}'});
training {result.train_seconds:.1f} s, first call {result.compile_seconds:.1f} s.</p>
{images}
<h2>Trainability</h2><p>{escape(result.advice)}</p><pre>{escape(chr(10).join(result.verdict))}</pre>
<p>Trained from <b>{result.initialisation}</b> initialisation: test accuracy {result.test_accuracy:.1%};
from {result.alternative} angles: {result.alternative_test_accuracy:.1%}.
{f'<a href="trainability/index.html">full trainability report</a>' if result.trainability_report else ''}</p>
<h2>Plan</h2><pre>{escape(result.plan_text)}</pre>
<h2>Predicted vs measured</h2><pre>{escape(result.run_report)}</pre>
</body></html>"""
    path = folder / "index.html"
    path.write_text(page)
    return path


def _plot(result: DemoResult, folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(range(1, len(result.losses) + 1), result.losses, marker=".")
    axis.set_xlabel("epoch")
    axis.set_ylabel("mean squared error")
    axis.set_title(f"{result.qubits}-qubit classifier, {result.layers} layers: "
                   f"test accuracy {result.test_accuracy:.1%}")
    axis.grid(alpha=0.3)
    path = folder / "demo_training.png"
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
