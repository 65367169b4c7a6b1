"""Before training: forecast how well a model will learn, and recommend the set-up that trains best.

:func:`recommend` (``qfab.qml.recommend``) takes the user's data and a grid of set-ups (ansatz family x depth x
initialisation x cost x encoding: :func:`default_grid`, at most 24, or the user's ``candidates``) and

1. prepares every candidate as a :class:`~qfab.qml.models.QuantumClassifier` and computes its cheap
   :mod:`~qfab.qml.indicators` on the training data (gradient variance over data-encoded states,
   expressibility, entangling capability, effective dimension, kernel alignment); a candidate whose
   gradients are flat on the data (its variance's upper bound below 1 % of the best candidate's lower
   bound) is dropped before any training;
2. races the rest by successive halving, on stratified folds of the data (``folds``; each sample
   validates once, so a candidate's validation curve pools all of them) or on one train/validation
   split: every survivor trains to the next rung's epochs (``min_epochs * eta^k``, then ``epochs``
   itself: the estimator's own adjoint-gradient Adam, resumed from its checkpoint, so a survivor
   continues where it stopped), and the better ``1/eta`` by validation accuracy (by the
   learning-curve forecast once a curve has four points; ties broken by validation loss, then by
   the gradient variance) goes on, while ``budget_s`` allows the next rung;
3. fits a saturating exponential ``acc(t) = a - b exp(-c t)`` to each last-rung survivor's
   validation accuracy per epoch (:func:`fit_learning_curve`) and evaluates it at the full
   training length ``epochs`` (an extrapolation when the budget stopped the race early); the
   interval combines the fit's uncertainty (delta method on the covariance, at least the residual
   scatter) with the binomial noise of an accuracy measured on as many samples as were validated.

The winner is the survivor with the highest forecast (within half a point: the one with fewer
parameters). The race's schedule depends on the wall clock only when ``budget_s`` binds; otherwise
the result is a function of the data and ``seed``.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["Forecast", "Candidate", "Recommendation", "default_grid", "fit_learning_curve", "recommend",
           "CONFIG_KEYS"]

#: The estimator settings a recommendation chooses (``QuantumClassifier(**rec.config)``).
CONFIG_KEYS = ("ansatz", "layers", "initializer", "cost", "encoding")

#: Flat gradients: a candidate is dropped when its variance's upper bound is below this share of the best lower bound.
FLAT_GRADIENT_SHARE = 1e-2


def default_grid() -> list[dict]:
    """24 set-ups: {hea, alternating} x {1, 3} layers x {uniform, small_angle} x {angle, dense_angle}
    with the local cost (16), and hea with the global cost over the same depths, initialisations and
    encodings (8)."""
    grid = [dict(ansatz=a, layers=L, initializer=i, cost="local", encoding=e)
            for a, L, i, e in itertools.product(("hea", "alternating"), (1, 3), ("uniform", "small_angle"),
                                                ("angle", "dense_angle"))]
    grid += [dict(ansatz="hea", layers=L, initializer=i, cost="global", encoding=e)
             for L, i, e in itertools.product((1, 3), ("uniform", "small_angle"), ("angle", "dense_angle"))]
    return grid


def _name(config: dict) -> str:
    return "{ansatz}-L{layers}-{initializer}-{cost}-{encoding}".format(**config)


@dataclass
class Forecast:
    """Predicted test accuracy after ``epochs`` epochs, with a 95% interval; ``measured`` is the last
    validation accuracy the race saw (after ``measured_epochs``)."""

    accuracy: float
    interval: tuple[float, float]
    epochs: int
    measured: float
    measured_epochs: int
    method: str
    curve: tuple[float, float, float] | None = None  # (a, b, c) of a - b exp(-c t)

    def describe(self) -> str:
        return (f"{self.accuracy:.1%} (95% interval {self.interval[0]:.1%}..{self.interval[1]:.1%}) after "
                f"{self.epochs} epochs; the race measured {self.measured:.1%} after {self.measured_epochs}")


@dataclass
class Candidate:
    config: dict
    indicators: object | None = None
    epochs: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    rung: int = -1  # last rung trained (-1: never raced)
    dropped: str | None = None
    forecast: Forecast | None = None
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return _name(self.config)

    def row(self) -> dict:
        ind = self.indicators.as_dict() if self.indicators is not None else {}
        return {"candidate": self.name, **self.config, **{k: v for k, v in ind.items() if k != "seconds"},
                "indicator_seconds": ind.get("seconds"), "epochs_raced": self.epochs[-1] if self.epochs else 0,
                "rung": self.rung, "val_accuracy": self.val_accuracy[-1] if self.val_accuracy else None,
                "val_loss": self.val_loss[-1] if self.val_loss else None,
                "forecast": self.forecast.accuracy if self.forecast else None,
                "forecast_interval": self.forecast.interval if self.forecast else None,
                "train_seconds": self.seconds, "dropped": self.dropped}


def fit_learning_curve(epochs: Sequence[int], accuracy: Sequence[float], target_epochs: int, num_validation: int):
    """Saturating exponential ``a - b exp(-c t)`` fitted to validation accuracy per epoch, evaluated
    at ``target_epochs``: ``(forecast, standard deviation, (a, b, c) or None, method)``. The
    deviation adds the fit's (delta method) and a binomial term for ``num_validation`` samples.
    Fewer than four points, or a failed fit: the mean of the last two points."""
    t = np.asarray(epochs, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    tail = float(np.mean(acc[-2:]))
    binomial2 = max(tail * (1 - tail), 0.02) / max(num_validation, 1)
    if len(t) < 4 or np.ptp(acc) == 0:
        spread = float(np.std(acc[-3:])) if len(acc) > 1 else 0.0
        return tail, float(np.sqrt(binomial2 + spread**2)), None, "last epochs (too few points to fit a curve)"
    from scipy.optimize import curve_fit

    def curve(x, a, b, c):
        return a - b * np.exp(-c * x)

    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, cov = curve_fit(curve, t, acc, p0=(min(acc.max() + 0.02, 1.0), acc.max() - acc[0] + 0.05, 0.3),
                                    bounds=([0.0, -1.0, 0.02], [1.0, 1.0, 3.0]), maxfev=2000)
    except (RuntimeError, ValueError):
        spread = float(np.std(acc[-3:]))
        return tail, float(np.sqrt(binomial2 + spread**2)), None, "last epochs (curve fit failed)"
    a, b, c = params
    value = float(np.clip(curve(target_epochs, a, b, c), 0.0, 1.0))
    jacobian = np.array([1.0, -np.exp(-c * target_epochs), b * target_epochs * np.exp(-c * target_epochs)])
    residual = acc - curve(t, *params)
    fit_var = float(jacobian @ cov @ jacobian) if np.all(np.isfinite(cov)) else float(np.var(residual))
    # the fit's own scatter bounds how well it can know the level, even when the covariance is tiny
    fit_var = max(fit_var, float(np.mean(residual**2)) / len(t))
    return value, float(np.sqrt(fit_var + binomial2)), (float(a), float(b), float(c)), "learning-curve fit a - b exp(-c t)"


@dataclass
class Recommendation:
    """What :func:`recommend` chose. ``config`` goes straight into the estimators:
    ``QuantumClassifier(**rec.config, epochs=rec.epochs)`` or ``QuantumClassifier.from_recommendation(rec)``."""

    config: dict
    forecast: Forecast
    candidates: list[Candidate]
    epochs: int
    seconds: float
    budget_s: float
    notes: list[str] = field(default_factory=list)
    num_train: int = 0
    num_validation: int = 0
    folds: int = 1
    work: int = 0  # training sample-epochs the race spent (a full training of one candidate: samples x epochs)

    @property
    def table(self) -> list[dict]:
        """One row per candidate: its set-up, indicators, race results, forecast and why it was dropped."""
        return [c.row() for c in self.candidates]

    @property
    def winner(self) -> Candidate:
        return next(c for c in self.candidates if c.config == self.config)

    def classifier(self, **overrides):
        from qfab.qml.models import QuantumClassifier

        return QuantumClassifier.from_recommendation(self, **overrides)

    def summary(self) -> list[str]:
        raced = sum(1 for c in self.candidates if c.rung >= 0)
        lines = [f"recommended: {_name(self.config)}  (" + ", ".join(f"{k}={self.config[k]}" for k in CONFIG_KEYS) + ")",
                 f"forecast test accuracy: {self.forecast.describe()}",
                 f"{len(self.candidates)} candidates, {raced} raced on {self.num_train} samples "
                 + (f"({self.folds}-fold, every sample validates once)" if self.folds > 1 else
                    f"({self.num_validation} of them for validation)")
                 + f"; {self.seconds:.1f} s of a {self.budget_s:g} s budget"]
        return lines + self.notes

    def report(self, path) -> Path:
        """Write an HTML report with embedded PNG plots (learning curves of the race, the forecast
        against what the race measured, the indicators) and the full table."""
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            path.mkdir(parents=True, exist_ok=True)
            path = path / "recommend.html"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        images = [_plot_curves(self), _plot_forecasts(self), _plot_indicators(self)]
        keys = ["candidate", "gradient_variance", "expressibility", "entangling_capability", "effective_dimension",
                "num_parameters", "kernel_alignment", "epochs_raced", "val_accuracy", "forecast", "dropped"]
        rows = []
        for row in self.table:
            cells = []
            for k in keys:
                v = row.get(k)
                if isinstance(v, float):
                    v = f"{v:.3g}" if k not in ("val_accuracy", "forecast") else f"{v:.1%}"
                cells.append(f"<td>{html.escape('' if v is None else str(v))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        body = "".join(f'<img src="data:image/png;base64,{img}" style="max-width:100%"><br>' for img in images)
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>qfab recommend</title></head><body>"
                f"<h1>qfab recommend</h1><pre>{html.escape(chr(10).join(self.summary()))}</pre>{body}"
                f"<h2>Candidates</h2><table border='1' cellspacing='0' cellpadding='3'><tr>"
                + "".join(f"<th>{k}</th>" for k in keys) + "</tr>" + "".join(rows) + "</table></body></html>")
        path.write_text(page)
        return path


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(rec: Recommendation) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    finalists = [c for c in rec.candidates if c.forecast is not None]
    for c in rec.candidates:
        if c.epochs and c.forecast is None:
            ax.plot(c.epochs, c.val_accuracy, color="0.75", lw=0.8)
    for k, c in enumerate(finalists):
        color = f"C{k % 10}"
        ax.plot(c.epochs, c.val_accuracy, "o-", color=color, ms=3, label=c.name + (" (chosen)" if c.config == rec.config else ""))
        f = c.forecast
        if f.curve is not None:
            t = np.linspace(1, f.epochs, 100)
            a, b, cc = f.curve
            ax.plot(t, a - b * np.exp(-cc * t), "--", color=color, lw=1)
        ax.errorbar([f.epochs], [f.accuracy], yerr=[[f.accuracy - f.interval[0]], [f.interval[1] - f.accuracy]],
                    fmt="s", color=color, capsize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Race: validation accuracy per epoch (grey: dropped), fits extrapolated to the full training")
    ax.legend(fontsize=7)
    return _png(fig)


def _plot_forecasts(rec: Recommendation) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for c in rec.candidates:
        if c.forecast is None:
            continue
        f = c.forecast
        ax.errorbar([f.measured], [f.accuracy], yerr=[[f.accuracy - f.interval[0]], [f.interval[1] - f.accuracy]],
                    fmt="o" if c.config != rec.config else "*", ms=6 if c.config != rec.config else 12, capsize=3)
    ax.plot([0.4, 1.0], [0.4, 1.0], "k:", lw=1)
    ax.set_xlabel("validation accuracy measured in the race (last rung)")
    ax.set_ylabel(f"forecast after {rec.epochs} epochs")
    ax.set_title("Forecast against the race (star: chosen)")
    return _png(fig)


def _plot_indicators(rec: Recommendation) -> str:
    plt = _pyplot()
    rows = [c for c in rec.candidates if c.indicators is not None]
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(rows))
    var = np.array([c.indicators.gradient_variance for c in rows])
    low = np.array([c.indicators.gradient_interval[0] for c in rows])
    high = np.array([c.indicators.gradient_interval[1] for c in rows])
    colors = [f"C{max(c.rung, -1) + 1}" for c in rows]
    ax.bar(x, var, color=colors)
    ax.errorbar(x, var, yerr=[var - low, high - var], fmt="none", ecolor="k", capsize=2)
    ax.set_yscale("log")
    ax.set_xticks(x, [c.name for c in rows], rotation=90, fontsize=6)
    ax.set_ylabel("Var[d<O>/dθ] over data states")
    ax.set_title("Gradient variance on the data (colour: last rung reached)")
    return _png(fig)


def recommend(X, y, qubits: int | None = None, budget_s: float = 60, candidates: Sequence[dict] | None = None,
              seed: int = 0, epochs: int = 30, folds: int = 2, validation: float = 0.25, min_epochs: int = 4,
              eta: int = 2, batch_size: int = 32, learning_rate: float = 0.1, device="cpu") -> Recommendation:
    """Race ``candidates`` (default :func:`default_grid`) on ``X``, ``y`` and recommend the set-up
    whose forecast test accuracy after ``epochs`` epochs is highest. ``qubits`` caps the width:
    candidates whose encoding needs more qubits are dropped. With ``folds >= 2`` every candidate
    races on that many stratified folds and its validation curve pools them (every sample validates
    once: less noise, ``folds`` times the training); ``folds=1`` uses one split of ``validation``.
    The race runs rungs of ``min_epochs * eta^k`` epochs and a last one of ``epochs`` while the
    budget allows. See the module docstring."""
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.utils.validation import check_X_y

    from qfab.qml.indicators import indicators
    from qfab.qml.init import build_initializer
    from qfab.qml.models import QuantumClassifier

    start = time.perf_counter()
    X, y = check_X_y(X, y)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("recommend needs at least two classes in y")
    if folds >= 2 and counts.min() >= folds:
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y))
    else:
        stratify = y if counts.min() >= 2 else None
        train_rows, val_rows = train_test_split(np.arange(len(y)), test_size=validation, random_state=seed,
                                                stratify=stratify)
        splits = [(np.sort(train_rows), np.sort(val_rows))]
    num_validation = sum(len(v) for _, v in splits)
    configs = [dict(c) for c in (default_grid() if candidates is None else candidates)]
    if not configs:
        raise ValueError("no candidates to race")
    defaults = QuantumClassifier().get_params()
    pool: list[Candidate] = []
    models: dict[int, list] = {}
    scores: dict[int, list] = {}  # per candidate, per fold: [(correct, loss sum) per epoch]
    notes: list[str] = []
    tmp = tempfile.TemporaryDirectory(prefix="qfab-recommend-")
    try:
        for k, config in enumerate(configs):
            unknown = set(config) - set(defaults)
            if unknown:
                raise ValueError(f"candidate {config} has unknown settings {sorted(unknown)}; use {list(CONFIG_KEYS)}")
            config = {key: config.get(key, defaults[key]) for key in CONFIG_KEYS} | {
                key: v for key, v in config.items() if key not in CONFIG_KEYS}
            cand = Candidate(config)
            pool.append(cand)
            probe = QuantumClassifier(**config, random_state=seed, device=device)
            try:
                Xp, labels = probe.prepare(X, y)
            except ValueError as err:
                if str(err).startswith("unknown"):  # a misspelt setting is the user's error, not a weak candidate
                    raise ValueError(f"candidate {_name(config)}: {err}") from None
                cand.dropped = f"cannot be built: {err}"
                continue
            if qubits is not None and probe.encoding_.num_qubits > qubits:
                cand.dropped = f"needs {probe.encoding_.num_qubits} qubits > qubits={qubits}"
                continue
            cand.indicators = indicators(probe, Xp, labels, build_initializer(probe.initializer, probe.sigma),
                                         seed=seed + k, device=device)
            scores[id(cand)] = [[] for _ in splits]
            fold_models = []
            for f, (_, val_rows) in enumerate(splits):
                def record(model, epoch, theta, out=scores[id(cand)][f], rows=val_rows):
                    target = np.searchsorted(model.classes_, y[rows])
                    p = model.probabilities(model.readout_values(X[rows], theta))
                    out.append((int(np.sum(np.argmax(p, axis=1) == target)),
                                float(-np.sum(np.log(p[np.arange(len(rows)), target] + 1e-12)))))

                fold_models.append(QuantumClassifier(
                    **config, epochs=min_epochs, batch_size=batch_size, learning_rate=learning_rate, random_state=seed,
                    device=device, callback=record, checkpoint=str(Path(tmp.name) / f"candidate{k}_fold{f}.npz")))
            models[id(cand)] = fold_models
        alive = [c for c in pool if c.dropped is None]
        if not alive:
            raise ValueError("no candidate can be built for this data: " + "; ".join(sorted({c.dropped for c in pool})))
        best_low = max(c.indicators.gradient_interval[0] for c in alive)
        for c in alive:
            if c.indicators.gradient_interval[1] < FLAT_GRADIENT_SHARE * best_low:
                c.dropped = (f"flat gradients on the data (variance {c.indicators.gradient_variance:.2g} < "
                             f"{FLAT_GRADIENT_SHARE:g} x the best candidate's): barren plateau")
        alive = [c for c in alive if c.dropped is None]
        # successive halving: rungs min_epochs * eta^k below epochs, then epochs itself
        rungs = []
        e = min_epochs
        while e < epochs:
            rungs.append(e)
            e *= eta
        rungs.append(epochs)
        rate: dict[int, float] = {}  # seconds per epoch of a candidate (all folds)
        work = 0  # training sample-epochs, the machine-independent cost
        for r, rung_epochs in enumerate(rungs):
            if r > 0:
                done = alive[0].epochs[-1]
                predicted = sum(rate[id(c)] * (rung_epochs - done) for c in alive)
                if time.perf_counter() - start + predicted > budget_s:
                    notes.append(f"budget: stopped the race before rung {r} ({rung_epochs} epochs; it needed "
                                 f"~{predicted:.0f} s more); the forecast extrapolates from {done} epochs")
                    break
            for c in alive:
                before = c.epochs[-1] if c.epochs else 0
                t0 = time.perf_counter()
                for model, (train_rows, _) in zip(models[id(c)], splits):
                    model.set_params(epochs=rung_epochs)
                    model.fit(X[train_rows], y[train_rows])
                    work += len(train_rows) * (rung_epochs - before)
                    c.train_loss = [h["loss"] for h in model.history_]  # the last fold's, for the table
                elapsed = time.perf_counter() - t0
                c.seconds += elapsed
                c.rung = r
                rate[id(c)] = elapsed / max(rung_epochs - before, 1)
                per_epoch = np.array(scores[id(c)], dtype=float)  # (folds, epochs, 2)
                c.epochs = list(range(1, per_epoch.shape[1] + 1))
                c.val_accuracy = (per_epoch[:, :, 0].sum(axis=0) / num_validation).tolist()
                c.val_loss = (per_epoch[:, :, 1].sum(axis=0) / num_validation).tolist()
                value, sd, curve, method = fit_learning_curve(c.epochs, c.val_accuracy, epochs, num_validation)
                low, high = max(0.0, value - 1.96 * sd), min(1.0, value + 1.96 * sd)
                c.forecast = Forecast(value, (low, high), epochs, c.val_accuracy[-1], c.epochs[-1], method, curve)
            if r == len(rungs) - 1 or len(alive) <= 1:
                break
            keep = max(1, int(np.ceil(len(alive) / eta)))
            ranked = sorted(alive, key=_race_score)
            for c in ranked[keep:]:
                c.dropped = (f"race rung {r} ({c.epochs[-1]} epochs): validation accuracy {c.val_accuracy[-1]:.1%}, "
                             f"forecast {c.forecast.accuracy:.1%}, not in the best {keep} of {len(alive)}")
                c.forecast = None
            alive = ranked[:keep]
        winner = min(alive, key=lambda c: (-round(c.forecast.accuracy * 200) / 200, c.indicators.num_parameters,
                                           _race_score(c)))
        for c in alive:
            if c is not winner:
                c.dropped = (f"finalist: forecast {c.forecast.accuracy:.1%} against the chosen "
                             f"{winner.forecast.accuracy:.1%}")
    finally:
        tmp.cleanup()
    return Recommendation(dict(winner.config), winner.forecast, pool, epochs, time.perf_counter() - start, budget_s,
                          notes, len(y), num_validation, len(splits), work)


def _race_score(c: Candidate):
    """Sort key, best first: forecast once a curve is fitted, else the mean of the last two epochs'
    validation accuracy; then validation loss; then the larger gradient variance."""
    score = c.forecast.accuracy if c.forecast is not None and c.forecast.curve is not None else float(np.mean(c.val_accuracy[-2:]))
    return (-round(score, 3), round(c.val_loss[-1], 4), -c.indicators.gradient_variance)
