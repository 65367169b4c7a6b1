"""Figures for issue 19's training half: QPU calibration drift, adaptive shots, the plateau monitor.

1. QPU drift: a 4-qubit chain circuit mapped onto FakeGuadalupeV2 by the noise-aware layout; then
   every error on its qubits is multiplied by ``--drift`` in the backend's Target (a bad
   calibration); the next job re-reads it and re-maps. ESP before, after the drift, after re-mapping.
2. Adaptive against fixed shots for the same total budget: a 3-qubit regressor trained by
   gradient descent with shot estimates (drawn from the exact states) on targets it can fit
   exactly, the same learning rate and seed; the loss reached (exact, on the training set), the
   shots used and the steps taken.
3. The plateau monitor: an 8-qubit two-class classifier read from the global parity Z...Z stalls
   at the noise floor of its shots; the monitor switches it to local readouts (``"local_cost"``);
   loss and accuracy after the remedy against training on without it.

    .venv/bin/python benchmarks/adaptive_training.py [--write docs/qml.md]

``--write`` replaces the text between the adaptive_training markers of that file.
"""
from __future__ import annotations

import argparse
import re
import time

import numpy as np
from qiskit.circuit.library import real_amplitudes
from qiskit_ibm_runtime import fake_provider

import qfab
from qfab.backends import QPU
from qfab.backends.qpu import scale_errors
from qfab.qml import QuantumClassifier, QuantumRegressor
from qfab.qml.monitor import PlateauMonitor

BEGIN, END = "<!-- adaptive_training:begin -->", "<!-- adaptive_training:end -->"


def drift_table(factor: float) -> list[str]:
    device = QPU(fake_provider.FakeGuadalupeV2(), shots=1024, seed=1)
    circuit = qfab.from_qiskit(real_amplitudes(4, reps=2))
    theta = np.random.default_rng(0).normal(size=circuit.num_parameters)
    device.estimate(circuit, "ZZII", theta)
    mapped = device.map(circuit)[1]
    scale_errors(device.backend.target, set(mapped.layout) | set(mapped.final_layout), factor)
    start = time.perf_counter()
    device.estimate(circuit, "ZZII", theta)  # re-reads the calibration, re-maps, runs
    seconds = time.perf_counter() - start
    [event] = device.events
    return [
        "| backend | circuit | ESP when mapped (layout) | after the drift (errors x{:g}) | after re-mapping (layout) | job with re-mapping |".format(factor),
        "|---|---|---|---|---|---|",
        f"| fake_guadalupe | 4 qubits, RealAmplitudes reps=2 | {event['esp_mapped']:.3f} ({event['layout_before']}) | "
        f"{event['esp_drifted']:.3f} | {event['esp_remapped']:.3f} ({event['layout_after']}) | {seconds:.2f} s |",
    ]


def teacher_data(samples=24, seed=4):
    """Targets a 3-qubit, 2-layer regressor can fit exactly (its own readout at random angles), so
    the loss can fall to zero and the shot noise, not the model, limits how far it gets."""
    X = np.random.default_rng(seed).uniform(-1, 1, size=(samples, 3))
    teacher = QuantumRegressor(layers=2, epochs=0).fit(X, X.sum(axis=1))
    theta = np.random.default_rng(9).uniform(-np.pi, np.pi, teacher.ansatz_.num_parameters)
    return X, teacher.readout_values(X, theta)[:, 0]


def shots_table(budgets: tuple[int, ...], fixed: tuple[int, ...]) -> list[str]:
    X, y = teacher_data()
    exact = QuantumRegressor(layers=2, epochs=60, batch_size=8, optimizer="sgd", learning_rate=0.3).fit(X, y)
    lines = [f"Exact gradients, {exact.steps_trained_} steps: loss {exact.initial_loss_:.3f} → "
             f"{exact.history_[-1]['loss']:.4f}.", "",
             "| budget | shots per circuit | shots used | steps | loss reached (exact MSE) | seconds |",
             "|---|---|---|---|---|---|"]
    for budget in budgets:
        for shots in ("adaptive", *fixed):
            start = time.perf_counter()
            model = QuantumRegressor(layers=2, epochs=1000, batch_size=8, optimizer="sgd", learning_rate=0.3,
                                     shots=shots, shot_budget=budget, random_state=0).fit(X, y)
            label = "adaptive (iCANS)" if shots == "adaptive" else str(shots)
            lines.append(f"| {budget:,} | {label} | {model.shots_used_:,} | {model.steps_trained_} | "
                         f"{model.history_[-1]['loss']:.5f} | {time.perf_counter() - start:.1f} |")
    return lines


def plateau_table() -> list[str]:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(64, 8))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    lines = ["| training (8 qubits, global parity readout, 64 shots per circuit, Adam) | event | final loss (CE) | "
             "train accuracy | seconds |", "|---|---|---|---|---|"]
    for remedies in (("local_cost",), ()):
        start = time.perf_counter()
        monitor = PlateauMonitor(threshold="noise_floor", patience=3, remedies=remedies, max_remedies=len(remedies))
        clf = QuantumClassifier(layers=2, cost="global", epochs=8, batch_size=16, optimizer="adam", learning_rate=0.1,
                                shots=64, monitor=monitor).fit(X, y)
        event = clf.plateau_events_[0] if clf.plateau_events_ else None
        what = ("none (monitor off)" if event is None else
                f"step {event['step']}: norm {event['gradient_norm']:.3f} < 2 x floor {event['noise_floor']:.3f} → "
                f"{event['remedy']} (loss {event['loss_before']:.3f} → {event['loss_after']:.3f})")
        label = "with the monitor, remedies=('local_cost',)" if remedies else "training on without it"
        lines.append(f"| {label} | {what} | {clf.history_[-1]['loss']:.3f} | {clf.score(X, y):.3f} | "
                     f"{time.perf_counter() - start:.1f} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", metavar="PATH", help="replace the adaptive_training section of this markdown file")
    parser.add_argument("--drift", type=float, default=5.0, help="factor on the mapped qubits' errors (default 5)")
    args = parser.parse_args(argv)
    sections = [("QPU drift", drift_table(args.drift)), ("Adaptive against fixed shots", shots_table((100_000, 400_000), (8, 32, 128))),
                ("Plateau monitor", plateau_table())]
    text = "\n\n".join(f"**{title}**\n\n" + "\n".join(rows) for title, rows in sections)
    print(text)
    if args.write:
        with open(args.write) as f:
            doc = f.read()
        block = f"{BEGIN}\n{text}\n{END}"
        doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, doc, flags=re.S)
        with open(args.write, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
