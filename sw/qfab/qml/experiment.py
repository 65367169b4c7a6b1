"""The digits experiment behind ``qfab demo``: diagnose the classifier's ansatz, then train it with
the remedy the diagnosis recommends and with plain uniform initialisation, and report both.

``digits_experiment(folder)`` returns the accuracies, the recommendation and the report's path, so
the demo command only has to call it and print where the report is.
"""
from __future__ import annotations

import html
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from qfab.qml.models import QuantumClassifier  # noqa: E402
from qfab.qml.report import write_report  # noqa: E402
from qfab.qml.trainability import recommendation, scan, verdict  # noqa: E402

__all__ = ["digits_experiment"]

_REMEDY_SETTINGS = {
    "uniform": {},
    "gaussian": {"initializer": "gaussian"},
    "small_angle": {"initializer": "small_angle"},
    "identity_blocks": {"identity_block_layers": 2},
}


def digits_experiment(folder, layers: int = 8, epochs: int = 10, samples: int = 200, seed: int = 0,
                      max_train: int | None = None, device="cpu", progress: bool = False) -> dict:
    """Amplitude-encoded digits (64 pixels -> 6 qubits), a CZ hardware-efficient ansatz, 10 classes;
    ``max_train`` caps the training set (for quick runs)."""
    folder = Path(folder)
    num_qubits = 6
    start = time.perf_counter()
    result = scan("hea", ["local_pauli", "global_pauli"], [2, 4, num_qubits], [2, layers], samples,
                  inits=["uniform", "gaussian", "identity_blocks"], seed=seed, device=device, progress=progress)
    scan_seconds = time.perf_counter() - start
    lines = verdict(result)
    # The classifier reads local observables, so rank initialisers by the local cost at the model's size.
    recommended, advice = recommendation(result, "local_pauli")
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    X_train, y_train = X_train[:max_train], y_train[:max_train]
    runs = {}
    for init in dict.fromkeys([recommended, "uniform"]):
        t0 = time.perf_counter()
        model = QuantumClassifier(encoding="amplitude", layers=layers, epochs=epochs, learning_rate=0.05, batch_size=64,
                                  random_state=seed, device=device, **_REMEDY_SETTINGS[init]).fit(X_train, y_train)
        runs[init] = {"accuracy": float(model.score(X_test, y_test)), "seconds": time.perf_counter() - t0,
                      "losses": [h["loss"] for h in model.history_]}
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for init, run in runs.items():
        ax.plot(range(1, len(run["losses"]) + 1), run["losses"], "o-", label=f"{init} (test accuracy {run['accuracy']:.2f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training cross-entropy")
    ax.set_title("Digits classifier")
    ax.legend()
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / "training.png", dpi=110)
    plt.close(fig)
    table = "".join(f"<tr><td>{html.escape(i)}</td><td>{r['accuracy']:.3f}</td><td>{r['seconds']:.1f}</td></tr>"
                    for i, r in runs.items())
    extra = (f"<h2>Digits classifier</h2><p>Amplitude encoding on {num_qubits} qubits, hardware-efficient ansatz, "
             f"{layers} layers, {epochs} epochs of Adam. The diagnosis: {html.escape(advice)} Trained with "
             f"<b>{html.escape(recommended)}</b> initialisation, and with uniform for comparison.</p><p><img src='training.png' alt='training'></p>"
             f"<table><tr><th>initialisation</th><th>test accuracy</th><th>training s</th></tr>{table}</table>")
    path = write_report(result, lines, folder, title="qfab demo: trainability and the digits classifier",
                        elapsed=scan_seconds, extra_html=extra)
    return {"report": str(path), "recommended": recommended, "scan_seconds": scan_seconds,
            "accuracies": {i: r["accuracy"] for i, r in runs.items()}, "verdict": lines}
