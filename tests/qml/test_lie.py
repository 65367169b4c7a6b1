"""Dynamical Lie algebras: known families, an independent dense closure, and Ragone's variance."""
import numpy as np
import pytest

import qfab
from qfab.qml import ansatz as A
from qfab.qml import costs as C
from qfab.qml import lie
from qfab.qml.init import uniform
from qfab.qml.trainability import lie_prediction, sample_gradients


def dense_closure_dimension(generators):
    """Independent check: closure of the anti-Hermitian matrices i G under commutators, by matrix rank."""
    basis = []

    def add(matrix):
        candidate = np.concatenate([m.ravel() for m in basis + [matrix]]).reshape(len(basis) + 1, -1)
        if np.linalg.matrix_rank(candidate, tol=1e-8) > len(basis):
            basis.append(matrix)
            return True
        return False

    for g in generators:
        add(1j * g.to_matrix())
    frontier = list(basis)
    while frontier:
        new = []
        for a in frontier:
            for b in list(basis):
                c = a @ b - b @ a
                if np.abs(c).max() > 1e-9 and add(c):
                    new.append(c)
        frontier = new
    return len(basis)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_open_tfim_is_so_2n(n):
    assert lie.lie_closure(lie.tfim_generators(n)).dimension == n * (2 * n - 1)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_commuting_generators_are_abelian(n):
    assert lie.lie_closure(lie.commuting_zz_generators(n)).dimension == 2 * n - 1


@pytest.mark.parametrize("n", [2, 3])
def test_hea_generators_give_su_2n(n):
    assert lie.lie_closure(lie.hea_generators(n)).dimension == 4**n - 1


@pytest.mark.parametrize("generators", [lie.qaoa_ring_generators(3), lie.qaoa_ring_generators(4),
                                        lie.tfim_generators(3, periodic=True), lie.tfim_generators(3)])
def test_closure_matches_dense_matrix_closure(generators):
    assert lie.lie_closure(generators).dimension == dense_closure_dimension(generators)


def test_hea_circuit_with_cz_entanglers_generates_su_2n():
    generators, _ = lie.circuit_generators(A.hardware_efficient(3, 2, rotations=("rx", "ry")).qiskit_circuit)
    assert lie.lie_closure(generators).dimension == 63


@pytest.mark.parametrize("n", [3, 4])
def test_ragone_variance_for_tfim_matches_sampled_loss_variance(n):
    """Reference section 1.5: (n-1)/(n(2n-1)) for O = X_0, rho = |0>, L = 4n layers — polynomial,
    far above the su(2^n) value 1/(2^n + 1) at n = 4."""
    ansatz = A.hamiltonian_variational(lie.tfim_generators(n), 4 * n)
    cost = C.pauli_cost("I" * (n - 1) + "X")
    dimension, predicted, _ = lie_prediction(ansatz, cost)
    assert dimension == n * (2 * n - 1)
    assert predicted == pytest.approx((n - 1) / (n * (2 * n - 1)))
    _, losses = sample_gradients(ansatz, cost, 3000, uniform(), [0], seed=7)
    # 3000 samples of a bounded loss: the variance's relative standard error is about 3 %.
    assert losses.var() == pytest.approx(predicted, rel=0.12)
    if n == 4:
        assert losses.var() > 1.5 / (2**n + 1)


def test_lie_variance_for_mcclean_is_the_haar_value():
    n = 3
    ansatz = A.mcclean_random(n, 40)
    cost = C.local_pauli_cost(n)
    dimension, predicted, _ = lie_prediction(ansatz, cost)
    assert dimension == 4**n - 1
    assert predicted == pytest.approx(1 / (2**n + 1))
    _, losses = sample_gradients(ansatz, cost, 3000, uniform(), [0], seed=8)
    assert losses.var() == pytest.approx(predicted, rel=0.12)


def test_lie_variance_refuses_an_observable_outside_the_algebra():
    algebra = lie.lie_closure(lie.commuting_zz_generators(3))
    variance, reason = lie.lie_variance(algebra, qfab.qml.costs.pauli_cost("IIX").observable, np.eye(8)[0])
    assert variance is None and "not in the DLA" in reason
