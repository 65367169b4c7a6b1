"""The model-quality indicators against exact small cases."""
import numpy as np
import pytest

from qfab.qml import indicators as I
from qfab.qml.ansatz import build_ansatz
from qfab.qml.init import small_angle


def test_meyer_wallach_exact_states():
    zero = np.zeros(8)
    zero[0] = 1
    ghz = np.zeros(8)
    ghz[[0, 7]] = 2**-0.5
    w = np.zeros(8)
    w[[1, 2, 4]] = 3**-0.5
    product = np.kron(np.kron([0.6, 0.8], [1, 1j]) / np.sqrt(2), [1, 0])
    bell = np.array([1, 0, 0, 1]) / np.sqrt(2)
    assert I.meyer_wallach(zero, 3)[0] == pytest.approx(0, abs=1e-12)
    assert I.meyer_wallach(product, 3)[0] == pytest.approx(0, abs=1e-12)
    assert I.meyer_wallach(ghz, 3)[0] == pytest.approx(1)
    assert I.meyer_wallach(w, 3)[0] == pytest.approx(8 / 9)
    assert I.meyer_wallach(np.stack([bell, [1, 0, 0, 0]]), 2) == pytest.approx([1, 0], abs=1e-12)


def test_entangling_capability_of_a_product_ansatz_is_zero():
    assert I.entangling_capability(build_ansatz("tensor_product", 3, 2), samples=50) == pytest.approx(0, abs=1e-10)
    assert I.entangling_capability(build_ansatz("hea", 3, 4), samples=100) > 0.3


def test_haar_bins_are_a_distribution():
    for n in (1, 3, 5):
        p = I.haar_fidelity_bins(n, 40)
        assert p.sum() == pytest.approx(1) and np.all(p >= 0)


def test_expressibility_deep_circuit_near_haar_idle_circuit_far():
    deep = build_ansatz("hea", 3, 8)
    near_haar = I.expressibility(deep, pairs=400, bins=30, seed=1)
    idle = I.expressibility(deep, pairs=100, bins=30, initializer=small_angle(1e-9))
    product = I.expressibility(build_ansatz("tensor_product", 3, 1), pairs=400, bins=30, seed=1)
    assert near_haar < 0.15
    assert idle > 5
    assert near_haar < product < idle


def test_effective_dimension_exact_and_bounded():
    P, n = 6, 1000
    kappa = n / (2 * np.pi * np.log(n))
    identity = np.stack([np.eye(P) * 0.3] * 4)
    assert I.effective_dimension(identity, n) == pytest.approx(P * np.log1p(kappa) / np.log(kappa))
    v = np.arange(1.0, P + 1)
    rank_one = np.stack([np.outer(v, v)] * 4)
    assert I.effective_dimension(rank_one, n) == pytest.approx(np.log1p(kappa * P) / np.log(kappa))
    assert I.effective_dimension(np.zeros((3, P, P)), n) == 0.0


def _prepared(cost="local", layers=2, n=4):
    from qfab.qml.models import QuantumClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, n))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = QuantumClassifier(ansatz="hea", layers=layers, cost=cost)
    Xp, labels = model.prepare(X, y)
    return model, Xp, labels


def test_effective_dimension_of_a_model_is_below_its_parameter_count():
    from qfab.qml.init import uniform

    model, X, labels = _prepared()
    fisher = I.fisher_information(model, X[:20], uniform()(model.ansatz_, 6, np.random.default_rng(1)))
    assert fisher.shape == (6, model.ansatz_.num_parameters, model.ansatz_.num_parameters)
    assert np.allclose(fisher, np.swapaxes(fisher, 1, 2))
    assert np.all(np.linalg.eigvalsh(fisher) > -1e-10)
    d = I.effective_dimension(fisher, len(X))
    assert 0 < d <= model.ansatz_.num_parameters


def test_data_gradient_variance_has_an_interval_and_sees_the_global_cost():
    from qfab.qml.init import uniform

    local, X, _ = _prepared("local", layers=4, n=6)
    glob, _, _ = _prepared("global", layers=4, n=6)
    v_local, (lo, hi) = I.data_gradient_variance(local, X, uniform(), samples=64)
    v_global, (glo, ghi) = I.data_gradient_variance(glob, X, uniform(), samples=64)
    assert lo <= v_local <= hi and glo <= v_global <= ghi
    assert v_global < v_local


def test_kernel_alignment_of_orthogonal_class_states():
    states = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=complex)
    assert I.kernel_target_alignment(states, [0, 0, 1, 1]) == pytest.approx(2**-0.5)


def test_indicators_bundle():
    from qfab.qml.init import uniform

    model, X, labels = _prepared()
    ind = I.indicators(model, X, labels, uniform(), pairs=50, samples=32, fisher_thetas=4, fisher_rows=16)
    assert ind.num_parameters == model.ansatz_.num_parameters
    assert 0 <= ind.entangling_capability <= 1 and ind.expressibility >= 0
    assert ind.gradient_interval[0] <= ind.gradient_variance <= ind.gradient_interval[1]
