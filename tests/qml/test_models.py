"""scikit-learn estimators, optimisers, checkpoint/resume and the plateau monitor."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from qfab.qml import QuantumClassifier, QuantumRegressor
from qfab.qml.monitor import PlateauMonitor, perturb


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def test_classifier_fits_and_beats_chance(iris):
    Xtr, Xte, ytr, yte = iris
    clf = QuantumClassifier(layers=3, epochs=15, learning_rate=0.1).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.8  # chance is 1/3
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 3) and np.allclose(proba.sum(axis=1), 1)
    assert set(clf.predict(Xte)) <= set(clf.classes_)
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]


def test_spsa_trains_too(iris):
    Xtr, Xte, ytr, yte = iris
    clf = QuantumClassifier(layers=3, epochs=15, optimizer="spsa", learning_rate=0.5).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.6


def test_estimator_parameters_round_trip():
    clf = QuantumClassifier(layers=4, encoding="dense_angle", initializer="gaussian", sigma=0.2)
    params = clf.get_params()
    assert params["layers"] == 4 and params["sigma"] == 0.2
    assert clone(clf).get_params() == params


def test_loss_gradient_matches_finite_differences(iris):
    Xtr, _, ytr, _ = iris
    clf = QuantumClassifier(layers=2, epochs=1).fit(Xtr[:20], ytr[:20])
    labels = np.searchsorted(clf.classes_, ytr[:20])
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, clf.theta_.shape)
    analytic = clf.loss_gradient(Xtr[:20], labels, theta)
    step = 1e-6
    for j in (0, 3, len(theta) - 1):
        e = np.zeros_like(theta)
        e[j] = step
        numeric = (clf.loss(Xtr[:20], labels, theta + e) - clf.loss(Xtr[:20], labels, theta - e)) / (2 * step)
        assert analytic[j] == pytest.approx(numeric, abs=1e-6)


def test_regressor_fits_a_smooth_function():
    X = np.linspace(0, 1, 60)[:, None]
    y = np.sin(3 * X[:, 0])
    reg = QuantumRegressor(layers=2, epochs=30, learning_rate=0.1).fit(X, y)
    assert reg.score(X, y) > 0.5  # R^2 of predicting the mean is 0


@pytest.mark.parametrize("optimizer", ["adam", "spsa"])
def test_checkpoint_resume_continues_from_the_saved_epoch(iris, tmp_path, optimizer):
    Xtr, _, ytr, _ = iris
    settings = dict(layers=2, learning_rate=0.1, optimizer=optimizer, batch_size=16, random_state=3)
    straight = QuantumClassifier(epochs=4, **settings).fit(Xtr, ytr)
    path = tmp_path / "model.npz"
    first = QuantumClassifier(epochs=2, checkpoint=path, **settings).fit(Xtr, ytr)
    assert len(first.history_) == 2 and path.exists()
    resumed = QuantumClassifier(epochs=4, checkpoint=path, **settings).fit(Xtr, ytr)
    assert [h["epoch"] for h in resumed.history_] == [0, 1, 2, 3]
    assert resumed.history_[:2] == first.history_
    assert np.allclose(resumed.theta_, straight.theta_, atol=1e-12)


def test_identity_block_model_starts_at_identity(iris):
    Xtr, _, ytr, _ = iris
    clf = QuantumClassifier(layers=4, identity_block_layers=2, epochs=1).fit(Xtr, ytr)
    assert clf.ansatz_.mirror_of is not None and clf.ansatz_.num_layers == 4


def test_monitor_applies_remedy_after_a_stall():
    monitor = PlateauMonitor(threshold=1e-3, patience=3, remedy=perturb(0.5))
    rng = np.random.default_rng(0)
    theta = np.zeros(4)
    fired = [monitor.observe(step, theta, np.full(4, 1e-5), rng) for step in range(7)]
    assert [f is not None for f in fired] == [False, False, True, False, False, True, False]
    assert [e["step"] for e in monitor.events] == [2, 5]
    assert monitor.gradient_norms[0] == pytest.approx(2e-5)
    assert monitor.observe(7, theta, np.ones(4), rng) is None


def test_monitor_is_wired_into_training(iris):
    Xtr, _, ytr, _ = iris
    monitor = PlateauMonitor(threshold=1e9, patience=2, max_remedies=1)  # every step "stalls": fires once
    clf = QuantumClassifier(layers=2, epochs=1, batch_size=32, monitor=monitor).fit(Xtr, ytr)
    assert len(monitor.gradient_norms) == int(np.ceil(len(Xtr) / 32))
    assert len(monitor.events) == 1 and monitor.events[0]["step"] == 1
    assert clf.theta_ is not None


def test_layerwise_schedule_freezes_deeper_layers_until_their_turn(iris):
    Xtr, Xte, ytr, yte = iris
    early = QuantumClassifier(layers=3, epochs=1, schedule="layerwise").fit(Xtr, ytr)
    deeper = early.ansatz_.layer_of > 0
    assert np.all(early.theta_[deeper] == 0) and np.any(early.theta_[~deeper] != 0)
    full = QuantumClassifier(layers=3, epochs=15, schedule="layerwise", learning_rate=0.1).fit(Xtr, ytr)
    # Every layer was unfrozen at some point (some RZ before a Z readout have zero gradient and stay put).
    for layer in range(1, 3):
        assert np.any(np.abs(full.theta_[full.ansatz_.layer_of == layer]) > 1e-3)
    assert full.score(Xte, yte) > 0.8


def test_warm_start_continues_from_the_previous_fit(iris):
    Xtr, _, ytr, _ = iris
    clf = QuantumClassifier(layers=2, epochs=3, warm_start=True).fit(Xtr, ytr)
    first_loss = clf.history_[-1]["loss"]
    clf.fit(Xtr, ytr)
    assert clf.history_[0]["loss"] < QuantumClassifier(layers=2, epochs=1).fit(Xtr, ytr).history_[0]["loss"]
    assert clf.history_[-1]["loss"] <= first_loss + 1e-9


def test_warm_start_from_a_shallower_model_keeps_its_function(iris):
    """Extra HEA layers at zero angle add only CZ ladders, which commute with the Z readouts: the
    deeper model starts with exactly the shallow model's loss."""
    Xtr, _, ytr, _ = iris
    shallow = QuantumClassifier(layers=2, epochs=5).fit(Xtr, ytr)
    deep = QuantumClassifier(layers=4, epochs=1, warm_start_from=shallow).fit(Xtr, ytr)
    assert deep.initial_loss_ == pytest.approx(shallow.history_[-1]["loss"], abs=1e-12)
    assert deep.history_[-1]["loss"] <= deep.initial_loss_ + 1e-9
    with pytest.raises(ValueError, match="fewer layers"):
        QuantumClassifier(layers=3, encoding="dense_angle", warm_start_from=shallow).fit(Xtr, ytr)
