"""Warm start (qfab.qml.init.warm_start): a bigger ansatz starts exactly where a smaller trained one
ended, checked against Qiskit's Statevector, and keeps training from there."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from qiskit.quantum_info import SparsePauliOp, Statevector
from scipy.optimize import minimize

import qfab
from qfab.qml import ansatz as A
from qfab.qml.init import warm_start


def qiskit_state(ansatz, theta):
    """The ansatz's state from its Qiskit circuit, parameters bound by name (independent of qfab)."""
    bound = ansatz.qiskit_circuit.assign_parameters(dict(zip(ansatz.parameters, theta)))
    return Statevector(bound).data


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 3), layers=st.integers(1, 3), more_qubits=st.integers(0, 2), more_layers=st.sampled_from([0, 2]),
       seed=st.integers(0, 2**16))
def test_warm_started_state_is_the_small_state_padded_with_zeros(n, layers, more_qubits, more_layers, seed):
    small = A.hardware_efficient(n, layers)
    trained = np.random.default_rng(seed).uniform(-np.pi, np.pi, small.num_parameters)
    big = A.hardware_efficient(n + more_qubits, layers + more_layers)
    theta = warm_start(trained, small)(big, 2, np.random.default_rng(seed))
    expected = np.kron(np.eye(2**more_qubits)[0], qiskit_state(small, trained))
    for row in theta:
        got = qiskit_state(big, row)
        assert abs(abs(np.vdot(expected, got)) - 1) < 1e-10


def test_warm_started_bigger_model_starts_at_the_trained_cost_and_trains():
    """Transverse-field Ising energy on 3 qubits: train HEA(3 qubits, 2 layers) for a few steps, grow
    it to 4 qubits and 4 layers (the energy acting on the first 3). The bigger model's first energy
    equals the smaller one's (Qiskit Statevector) and training it reaches the exact ground energy
    (numpy), which the 2-layer model cannot (it stalls at -3.4844)."""
    terms = [("X", [q], 1.0) for q in range(3)] + [("ZZ", [q, q + 1], 1.0) for q in range(2)]

    def energy_of(num_qubits):
        return SparsePauliOp.from_sparse_list(terms, num_qubits)

    def train(ansatz, theta0, num_qubits, steps):
        h = energy_of(num_qubits)

        def params(t):
            return ansatz.circuit_parameters(t)[0]

        found = minimize(lambda t: float(qfab.expectation(ansatz.circuit, h, params(t))), theta0, method="BFGS",
                         jac=lambda t: ansatz.trainable_gradient(qfab.gradient(ansatz.circuit, h, params(t))[None])[0],
                         options={"maxiter": steps})
        return found.x, found.fun

    small = A.hardware_efficient(3, 2)
    trained, small_energy = train(small, np.random.default_rng(1).uniform(-0.5, 0.5, small.num_parameters), 3, 5)
    reference = np.real(Statevector(qiskit_state(small, trained)).expectation_value(energy_of(3)))
    assert small_energy == pytest.approx(reference, abs=1e-10)

    big = A.hardware_efficient(4, 4)
    start = warm_start(trained, small)(big, 1, np.random.default_rng(0))[0]
    start_energy = np.real(Statevector(qiskit_state(big, start)).expectation_value(energy_of(4)))
    assert start_energy == pytest.approx(reference, abs=1e-10)
    _, big_energy = train(big, start, 4, 300)
    ground = np.linalg.eigvalsh(energy_of(3).to_matrix())[0]
    assert big_energy == pytest.approx(ground, abs=1e-6) and big_energy < reference - 0.1


def test_warm_start_refuses_growth_that_changes_the_state():
    small = A.hardware_efficient(2, 2, entangler="cx")
    trained = np.random.default_rng(0).uniform(-np.pi, np.pi, small.num_parameters)
    with pytest.raises(ValueError, match="change the state"):
        warm_start(trained, small)(A.hardware_efficient(2, 3, entangler="cx"), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no place"):
        warm_start(trained, small)(A.hardware_efficient(2, 1, entangler="cx"), 1, np.random.default_rng(0))
