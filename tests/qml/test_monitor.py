"""The plateau monitor that acts: the noise-floor threshold, the structural remedies a model applies
to itself (checked against Qiskit Statevector), and the event kept on the fitted model."""
import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp, Statevector

from qfab.errors import InputError
from qfab.qml import QuantumClassifier
from qfab.qml.monitor import PlateauMonitor


def _two_class_data(samples=32, features=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(samples, features))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def _statevector_readouts(model, X, theta, observables):
    qc = model.encoding_.qiskit_circuit.compose(model.ansatz_.qiskit_circuit)
    rows = []
    for angles in model.encoded_angles(X):
        binding = dict(zip(model.encoding_.parameters, angles)) | dict(zip(model.ansatz_.parameters, theta))
        state = Statevector(qc.assign_parameters(binding))
        rows.append([state.expectation_value(o).real for o in observables])
    return np.array(rows)


def test_the_noise_floor_threshold_counts_steps_inside_the_floor():
    monitor = PlateauMonitor(threshold="noise_floor", patience=2, noise_factor=2.0, remedy=lambda t, r: t + 1.0)
    rng = np.random.default_rng(0)
    theta, gradient = np.zeros(4), np.full(4, 0.5)  # norm 1
    assert monitor.observe(0, theta, gradient, rng, noise_floor=0.4) is None  # 1 > 0.8: signal
    assert monitor.observe(1, theta, gradient, rng, noise_floor=0.6) is None  # inside, once
    fired = monitor.observe(2, theta, gradient, rng, noise_floor=0.6)
    np.testing.assert_array_equal(fired, theta + 1.0)
    assert monitor.noise_floors == [0.4, 0.6, 0.6] and monitor.gradient_norms == [1.0, 1.0, 1.0]
    assert monitor.events[0]["step"] == 2 and monitor.events[0]["noise_floor"] == 0.6
    with pytest.raises(InputError):
        PlateauMonitor(remedies=("prayer",))
    with pytest.raises(InputError):
        PlateauMonitor(threshold="loud")


def test_local_cost_remedy_reads_the_same_labels_from_one_qubit():
    X, y = _two_class_data()
    model = QuantumClassifier(layers=2, cost="global")
    X, labels = model.prepare(X, y)
    theta = np.random.default_rng(1).uniform(-np.pi, np.pi, model.ansatz_.num_parameters)
    parity = SparsePauliOp("Z" * 6)
    np.testing.assert_allclose(model.readout_values(X, theta),
                               _statevector_readouts(model, X, theta, [parity, -parity]), atol=1e-10)
    kept = model.apply_plateau_remedy("local_cost", theta, np.zeros_like(theta), np.random.default_rng(0))
    np.testing.assert_array_equal(kept, theta)
    local = [SparsePauliOp("IIIIIZ"), SparsePauliOp("IIIIZI")]
    np.testing.assert_allclose(model.readout_values(X, theta), _statevector_readouts(model, X, theta, local),
                               atol=1e-10)
    assert model.cost_ == "local"
    assert model.apply_plateau_remedy("local_cost", theta, theta, np.random.default_rng(0)) is None  # done already


def test_reinitialise_redraws_only_the_flat_block_and_layerwise_restarts_from_one_layer():
    X, y = _two_class_data()
    model = QuantumClassifier(layers=3, monitor=PlateauMonitor(threshold=0.1))
    model.prepare(X, y)
    theta = np.random.default_rng(2).uniform(1.0, 2.0, model.ansatz_.num_parameters)
    layer = model.ansatz_.layer_of
    gradient = np.where(layer == 1, 1e-6, 0.5)  # layer 1 is flat, the others are not
    fresh = model.apply_plateau_remedy("reinitialise", theta, gradient, np.random.default_rng(3))
    np.testing.assert_array_equal(fresh[layer != 1], theta[layer != 1])
    assert np.all(np.abs(fresh[layer == 1]) <= 0.1)
    grown = model.apply_plateau_remedy("layerwise", theta, gradient, np.random.default_rng(3), step=10)
    np.testing.assert_array_equal(grown[layer == 0], theta[layer == 0])
    assert np.all(grown[layer > 0] == 0.0)
    assert model.apply_plateau_remedy("layerwise", theta, gradient, np.random.default_rng(3)) is None  # once


def test_a_stalled_global_cost_fit_switches_to_local_readouts_and_keeps_the_event():
    """Six-qubit parity readout with 32 shots per circuit: the gradient is inside its shot noise, the
    monitor switches to local readouts, and the fitted model predicts from them."""
    X, y = _two_class_data(samples=32)
    monitor = PlateauMonitor(threshold="noise_floor", patience=2, remedies=("local_cost", "reinitialise"),
                             max_remedies=1)
    clf = QuantumClassifier(layers=2, cost="global", epochs=8, batch_size=16, learning_rate=0.1, shots=32,
                            monitor=monitor).fit(X, y)
    [event] = clf.plateau_events_
    assert event is monitor.events[0] and event["remedy"] == "local_cost"
    assert event["gradient_norm"] < 2 * event["noise_floor"]
    assert event["step"] == 1 and event["epoch"] == 0
    assert clf.cost_ == "local"
    local = [SparsePauliOp("IIIIIZ"), SparsePauliOp("IIIIZI")]
    exact = _statevector_readouts(clf, X, clf.theta_, local)
    logits = clf.output_scale * exact
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-9)
    assert clf.history_[-1]["loss"] < event["loss_after"]  # and it learns from the local readouts
