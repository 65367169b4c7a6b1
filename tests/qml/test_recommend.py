"""qfab.qml.recommend on tiny data: structure, the forecast's interval, the set-up trains, determinism."""
import numpy as np
import pytest

from qfab.qml.models import QuantumClassifier
from qfab.qml.recommender import CONFIG_KEYS, Recommendation, default_grid, fit_learning_curve, recommend

CANDIDATES = [
    dict(ansatz="hea", layers=1, initializer="uniform", cost="local", encoding="angle"),
    dict(ansatz="hea", layers=2, initializer="small_angle", cost="local", encoding="angle"),
    dict(ansatz="alternating", layers=2, initializer="uniform", cost="local", encoding="angle"),
    dict(ansatz="hea", layers=1, initializer="small_angle", cost="global", encoding="angle"),
    dict(ansatz="hea", layers=1, initializer="uniform", cost="local", encoding="dense_angle"),  # 1 qubit: 2 classes do not fit
]


def _data():
    from sklearn.datasets import make_moons

    X, y = make_moons(60, noise=0.15, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def rec():
    X, y = _data()
    return recommend(X, y, budget_s=20, candidates=CANDIDATES, seed=3, epochs=8)


def test_default_grid_is_small_and_spans_every_knob():
    grid = default_grid()
    assert len(grid) <= 24 and len({tuple(sorted(c.items())) for c in grid}) == len(grid)
    for key in CONFIG_KEYS:
        assert len({c[key] for c in grid}) >= 2, key


def test_structure_and_recommended_config_is_in_the_table(rec):
    assert isinstance(rec, Recommendation)
    assert set(rec.config) == set(CONFIG_KEYS) and rec.config in CANDIDATES
    table = rec.table
    assert len(table) == len(CANDIDATES)
    chosen = [row for row in table if row["dropped"] is None]
    assert len(chosen) == 1 and {k: chosen[0][k] for k in CONFIG_KEYS} == rec.config
    assert all(row["dropped"] for row in table if row is not chosen[0])
    unbuildable = table[-1]
    assert unbuildable["dropped"].startswith("cannot be built") and unbuildable["rung"] == -1
    raced = [row for row in rec.table if row["rung"] >= 0]
    assert raced and all(row["gradient_variance"] > 0 and row["effective_dimension"] > 0 for row in raced)
    low, high = rec.forecast.interval
    assert 0 <= low <= rec.forecast.accuracy <= high <= 1 and rec.forecast.epochs == 8
    assert rec.seconds < 20 + 10 and len(rec.summary()) >= 3


def test_forecast_interval_contains_the_winners_measured_validation_accuracy(rec):
    winner = rec.winner
    assert rec.forecast.measured == winner.val_accuracy[-1]
    assert rec.forecast.interval[0] <= winner.val_accuracy[-1] <= rec.forecast.interval[1]
    assert winner.epochs == list(range(1, winner.epochs[-1] + 1))  # resumed, not restarted, across rungs


def test_recommended_config_trains(rec):
    X, y = _data()
    model = QuantumClassifier(**rec.config, epochs=2).fit(X, y)
    assert 0 <= model.score(X, y) <= 1
    same = QuantumClassifier.from_recommendation(rec, epochs=1)
    assert same.epochs == 1 and same.get_params()["ansatz"] == rec.config["ansatz"]
    assert QuantumClassifier.from_recommendation(rec).epochs == rec.epochs == rec.classifier().epochs


def test_deterministic_with_a_seed(rec):
    X, y = _data()
    again = recommend(X, y, budget_s=20, candidates=CANDIDATES, seed=3, epochs=8)
    assert again.config == rec.config
    assert again.forecast.accuracy == rec.forecast.accuracy and again.forecast.interval == rec.forecast.interval
    assert [r["val_accuracy"] for r in again.table] == [r["val_accuracy"] for r in rec.table]


def test_report_embeds_png_plots(rec, tmp_path):
    path = rec.report(tmp_path / "rec.html")
    page = path.read_text()
    assert page.count("data:image/png;base64,iVBOR") == 3 and "Candidates" in page


def test_qubit_cap_and_errors():
    X, y = _data()
    with pytest.raises(ValueError, match="no candidate can be built"):
        recommend(X, y, qubits=1, budget_s=5, candidates=CANDIDATES[:1] + CANDIDATES[-1:], epochs=4)
    with pytest.raises(ValueError, match="unknown settings"):
        recommend(X, y, candidates=[dict(ansatz="hea", depth=3)])
    with pytest.raises(ValueError, match="two classes"):
        recommend(X, np.zeros(len(y)))


def test_learning_curve_fit_extrapolates_a_saturating_curve():
    t = np.arange(1, 11)
    acc = 0.9 - 0.4 * np.exp(-0.3 * t)
    value, sd, curve, method = fit_learning_curve(t, acc, 30, 1000)
    assert value == pytest.approx(0.9 - 0.4 * np.exp(-9), abs=0.01) and curve is not None
    assert sd < 0.03
    value, sd, curve, method = fit_learning_curve([1, 2], [0.5, 0.7], 30, 40)
    assert curve is None and value == pytest.approx(0.6) and sd > 0


def test_a_binding_budget_stops_the_race_and_says_so():
    X, y = _data()
    rec = recommend(X, y, budget_s=0.01, candidates=CANDIDATES[:3], seed=0, epochs=16)
    assert any(note.startswith("budget: stopped the race before rung 1") for note in rec.notes)
    assert rec.forecast.measured_epochs == 4 and rec.forecast.epochs == 16
    assert sum(row["dropped"] is None for row in rec.table) == 1
