"""Shot-based training: the sampled gradient against exact Statevector math, iCANS's allocation
against its formula in numpy, and the total shot budget."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from qiskit.quantum_info import SparsePauliOp, Statevector

from qfab.errors import InputError
from qfab.qml import QuantumClassifier, QuantumRegressor
from qfab.qml.shots import AdaptiveShots, diagonal_readouts, readout_samples
from qfab.backends import get_device
import qfab


def _data(samples=6, features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(samples, features))
    return X, np.sin(X.sum(axis=1))


def _prepared_regressor(X, y, layers=2):
    model = QuantumRegressor(layers=layers, epochs=0).fit(X, y)  # builds the circuit, trains nothing
    return model, (y - model.target_center_) / model.target_half_range_


def _exact_readouts(model, X, theta):
    """<Z_0> of every sample by Qiskit Statevector on the model's own Qiskit circuits."""
    qc = model.encoding_.qiskit_circuit.compose(model.ansatz_.qiskit_circuit)
    observable = model.observables_[0]
    angles = model.encoded_angles(X)
    out = []
    for row in angles:
        binding = dict(zip(model.encoding_.parameters, row)) | dict(zip(model.ansatz_.parameters, theta))
        out.append(Statevector(qc.assign_parameters(binding)).expectation_value(observable).real)
    return np.array(out)


def _exact_gradient_and_per_shot_variance(model, X, targets, theta):
    """The loss gradient by the two-term shift of every RY/RZ parameter, and the per-shot variance
    of its shot estimate with exact weights: sum over samples and shifts of (w_b / 2)^2 (1 - <Z>^2)."""
    weights = 2 * (_exact_readouts(model, X, theta) - targets) / len(targets)
    gradient, variance = np.zeros(len(theta)), np.zeros(len(theta))
    for i in range(len(theta)):
        for sign in (1, -1):
            moved = theta.copy()
            moved[i] += sign * np.pi / 2
            values = _exact_readouts(model, X, moved)
            gradient[i] += sign * 0.5 * weights @ values
            variance[i] += np.sum((0.5 * weights) ** 2 * (1 - values**2))
    return gradient, variance


def test_shot_gradient_is_unbiased_with_the_exact_variance():
    X, y = _data()
    model, targets = _prepared_regressor(X, y)
    theta = np.random.default_rng(1).uniform(-np.pi, np.pi, model.ansatz_.num_parameters)
    exact, per_shot = _exact_gradient_and_per_shot_variance(model, X, targets, theta)
    np.testing.assert_allclose(model.loss_gradient(X, targets, theta), exact, atol=1e-9)
    rng = np.random.default_rng(2)
    shots = np.full(len(theta), 16)
    draws = [model.sampled_loss_gradient(X, targets, theta, shots, 50_000, rng) for _ in range(400)]
    gradients = np.array([d[0] for d in draws])
    reported = np.array([d[1] for d in draws]).mean(axis=0)
    assert all(d[2] == len(X) * (50_000 + 2 * shots.sum()) for d in draws)  # every shot counted
    standard_error = np.sqrt(per_shot / shots / len(draws))
    assert np.all(np.abs(gradients.mean(axis=0) - exact) < 4.5 * standard_error + 1e-3)
    informative = per_shot > 1e-4
    np.testing.assert_allclose(reported[informative], per_shot[informative], rtol=0.1)  # the measured variance
    np.testing.assert_allclose(gradients.var(axis=0)[informative] * shots[informative], per_shot[informative],
                               rtol=0.35)


def test_readouts_drawn_from_states_share_their_shots():
    """Z0 and Z0 Z1 of one row come from the same bits: their covariance is <Z1> - <Z0><Z0Z1>."""
    circuit = qfab.from_qiskit(_bell_like())
    readouts = [SparsePauliOp("IZ"), SparsePauliOp("ZZ")]
    rng = np.random.default_rng(0)
    samples = readout_samples(get_device("cpu"), circuit, readouts, np.zeros((1, 0)), 200_000, rng)
    state = Statevector(_bell_like())
    z0, z0z1, z1 = (state.expectation_value(SparsePauliOp(p)).real for p in ("IZ", "ZZ", "ZI"))
    np.testing.assert_allclose(samples.means[0], [z0, z0z1], atol=0.01)
    assert samples.covariances[0, 0, 1] == pytest.approx(z1 - z0 * z0z1, abs=0.01)
    assert samples.covariances[0, 0, 0] == pytest.approx(1 - z0**2, abs=0.01)
    with pytest.raises(InputError, match="X or Y"):
        diagonal_readouts([SparsePauliOp("XI")], 2)


def _bell_like():
    from qiskit import QuantumCircuit
    qc = QuantumCircuit(2)
    qc.ry(1.1, 0)
    qc.cx(0, 1)
    qc.ry(0.4, 1)
    return qc


def _icans_by_hand(gradient, variance, rate, lipschitz, min_shots, regulariser):
    """iCANS1's allocation written out in numpy: s_i, then the cap at the best-gain component's s."""
    step = rate * lipschitz
    wanted = np.maximum(np.ceil(2 * step / (2 - step) * variance / (gradient**2 + regulariser)), min_shots)
    gain = ((rate - lipschitz * rate**2 / 2) * gradient**2 - lipschitz * rate**2 * variance / (2 * wanted)) / wanted
    return np.clip(wanted, min_shots, wanted[np.argmax(gain)])


def test_allocation_follows_the_measured_variance():
    """Fed the model's exact gradient and per-shot variances, the rule gives iCANS1's numbers; where
    a component's gradient and noise both shrink, it gets fewer shots in proportion to its variance."""
    X, y = _data()
    model, targets = _prepared_regressor(X, y)
    theta = np.random.default_rng(3).uniform(-np.pi, np.pi, model.ansatz_.num_parameters)
    gradient, variance = _exact_gradient_and_per_shot_variance(model, X, targets, theta)
    rule = AdaptiveShots(min_shots=4, running=0.5, bias=1e-8, lipschitz=8.0)
    for _ in range(40):
        rule.update(gradient, variance)
    shots = rule.allocate(0.2, len(theta))
    np.testing.assert_array_equal(shots, _icans_by_hand(gradient, variance, 0.2, 8.0, 4, 1e-8 * 0.5**40))
    assert shots.min() > 4  # the measured noise set it, not the floor
    # Three components whose gradient and noise shrink together: shots in proportion to variance / gradient^2.
    gradient, variance = np.array([1.0, 0.25, 0.125]), np.array([2.0, 0.0625, 0.0078125])
    rule = AdaptiveShots(min_shots=2, running=0.0, bias=0.0, lipschitz=6.0)  # L a = 1.5: s = 6 xi / chi^2
    rule.update(gradient, variance)
    shots = rule.allocate(0.25, 3)
    np.testing.assert_array_equal(shots, _icans_by_hand(gradient, variance, 0.25, 6.0, 2, 0.0))
    np.testing.assert_array_equal(shots, [12, 6, 3])  # none capped: the first has the best gain per shot


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-3, 1.0), st.floats(1e-4, 10.0)), min_size=2, max_size=8),
       st.integers(2, 50))
def test_allocations_stay_between_the_floor_and_the_cap(components, min_shots):
    gradient = np.array([c[0] for c in components])
    variance = np.array([c[1] for c in components])
    rule = AdaptiveShots(min_shots=min_shots)
    assert np.all(rule.allocate(0.1, len(gradient)) == min_shots)  # nothing measured yet
    rule.update(gradient, variance)
    shots = rule.allocate(0.1, len(gradient))
    assert shots.dtype.kind == "i" and np.all(shots >= min_shots)
    order = np.argsort(variance / gradient**2)
    assert np.all(np.diff(shots[order]) >= 0)


@settings(max_examples=4, deadline=None)
@given(st.integers(3_000, 40_000), st.sampled_from([16, "adaptive"]))
def test_training_never_spends_more_than_the_budget(budget, shots):
    X, y = _data(samples=8)
    model = QuantumRegressor(layers=1, epochs=50, batch_size=4, optimizer="sgd", learning_rate=0.2,
                             shots=shots, shot_budget=budget).fit(X, y)
    assert model.shots_used_ <= budget
    assert model.budget_exhausted_ and model.epochs_trained_ < 50
    used = [h["shots"] for h in model.history_]
    assert used == sorted(used) and used[-1] == model.shots_used_
    assert budget - model.shots_used_ < model.step_shots(np.full(model.ansatz_.num_parameters, 2), 4)  # it spent it


def test_shot_training_learns_and_bad_settings_are_refused():
    X, y = _data(samples=16, seed=4)
    model = QuantumRegressor(layers=1, epochs=6, batch_size=8, optimizer="sgd", learning_rate=0.3,
                             shots="adaptive", shot_budget=2_000_000).fit(X, y)
    assert model.history_[-1]["loss"] < model.initial_loss_
    for settings_ in ({"shots": 1}, {"shots": "adaptive", "optimizer": "adam"}, {"shots": 16, "optimizer": "spsa"},
                      {"shot_budget": 100}, {"shots": 16, "shot_budget": 0}):
        with pytest.raises(InputError):
            QuantumRegressor(epochs=1, **settings_).fit(X, y)
    with pytest.raises(InputError):
        QuantumClassifier(epochs=1, shots=16, checkpoint="unused.npz").fit(X, y > 0)
