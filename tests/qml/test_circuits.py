"""Ansätze, encodings and costs against independent numpy constructions."""
import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp

import qfab
from qfab.qml import ansatz as A
from qfab.qml import costs as C
from qfab.qml import encoding as E
from qfab.qml.init import identity_blocks, uniform

I2 = np.eye(2)
PAULI = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])]


def rotation(axis, angle):
    return np.cos(angle / 2) * I2 - 1j * np.sin(angle / 2) * PAULI[axis]


def on_qubits(matrices):
    """Kronecker product with qubit 0 least significant (Qiskit order)."""
    out = np.array([[1.0]])
    for m in matrices:
        out = np.kron(m, out)
    return out


def cz_ladder(n):
    diag = np.ones(2**n)
    for q in range(n - 1):
        for j in range(2**n):
            if (j >> q) & 1 and (j >> (q + 1)) & 1:
                diag[j] *= -1
    return np.diag(diag)


def test_mcclean_batch_equals_numpy_random_circuits():
    n, layers, batch = 3, 4, 5
    ansatz = A.mcclean_random(n, layers)
    rng = np.random.default_rng(1)
    theta = rng.uniform(0, 2 * np.pi, (batch, ansatz.num_parameters))
    axes = ansatz.sample_structure(rng, batch)
    states = qfab.statevector(ansatz.circuit, ansatz.circuit_parameters(theta, axes))
    for b in range(batch):
        psi = np.zeros(2**n, complex)
        psi[0] = 1
        psi = on_qubits([rotation(1, np.pi / 4)] * n) @ psi
        for layer in range(layers):
            sites = range(layer * n, (layer + 1) * n)
            psi = cz_ladder(n) @ on_qubits([rotation(axes[b, j], theta[b, j]) for j in sites]) @ psi
        assert np.allclose(states[b], psi, atol=1e-10)


@pytest.mark.parametrize("builder", [lambda: A.mcclean_random(4, 4), lambda: A.hardware_efficient(3, 4),
                                     lambda: A.alternating_layered(4, 2)])
def test_identity_block_initialisation_gives_the_input_state(builder):
    base = builder()
    ansatz = A.with_identity_blocks(base, layers_per_half=2)
    assert ansatz.num_parameters == 2 * base.num_parameters
    rng = np.random.default_rng(2)
    theta = identity_blocks()(ansatz, 4, rng)
    axes = ansatz.sample_structure(rng, 4)
    states = qfab.statevector(ansatz.circuit, ansatz.circuit_parameters(theta, axes))
    prefix = np.zeros(2**base.num_qubits, complex)
    prefix[0] = 1
    if base.name == "mcclean":
        prefix = on_qubits([rotation(1, np.pi / 4)] * base.num_qubits) @ prefix
    assert np.allclose(np.abs(states @ prefix.conj()), 1, atol=1e-10)
    # A uniform draw without the mirror constraint is not the identity.
    other = ansatz.circuit_parameters(uniform()(ansatz, 4, rng), axes)
    assert np.all(np.abs(qfab.statevector(ansatz.circuit, other) @ prefix.conj()) < 0.99)


def test_shared_parameters_reuse_one_layer():
    shared = A.hardware_efficient(3, 5, share_parameters=True)
    assert shared.num_parameters == 6 and shared.circuit.num_parameters == 6
    assert len([op for op in shared.circuit.operations if op.is_parametric]) == 30


def test_hea_follows_a_coupling_map_and_native_gate():
    ansatz = A.hardware_efficient(4, 2, entangler="cx", coupling_map=[(0, 2), (2, 3), (3, 1)])
    pairs = [op.qubits for op in ansatz.circuit.operations if len(op.qubits) == 2]
    assert pairs == [(0, 2), (2, 3), (3, 1)] * 2


def test_qcnn_halves_active_qubits():
    ansatz = A.qcnn(8)
    assert ansatz.num_layers == 3  # 8 -> 4 -> 2 -> 1


def test_amplitude_encoding_prepares_normalised_features():
    rng = np.random.default_rng(3)
    for features in (3, 5, 8):
        encoding = E.amplitude_encoding(features)
        circuit = qfab.from_qiskit(encoding.qiskit_circuit)
        x = rng.normal(size=(4, features))
        order = [circuit.parameters.index(p.name) for p in encoding.parameters]
        values = np.zeros((4, circuit.num_parameters))
        values[:, order] = encoding.angles(x)
        expected = np.zeros((4, 2**encoding.num_qubits))
        expected[:, :features] = x / np.linalg.norm(x, axis=1, keepdims=True)
        assert np.allclose(qfab.statevector(circuit, values), expected, atol=1e-12)


def test_angle_and_dense_angle_encodings_match_products_of_rotations():
    x = np.array([[0.1, 0.7, 0.4]])
    angle = E.angle_encoding(3)
    psi = qfab.statevector(qfab.from_qiskit(angle.qiskit_circuit), angle.angles(x)[0])
    expected = on_qubits([rotation(1, np.pi * v)[:, :1] for v in x[0]])[:, 0]
    assert np.allclose(psi, expected)
    dense = E.dense_angle_encoding(3)
    assert dense.num_qubits == 2
    psi = qfab.statevector(qfab.from_qiskit(dense.qiskit_circuit), dense.angles(x)[0])
    q0 = rotation(2, np.pi * 0.7) @ rotation(1, np.pi * 0.1)
    q1 = rotation(2, 0.0) @ rotation(1, np.pi * 0.4)
    assert np.allclose(psi, np.kron(q1, q0)[:, 0])


def test_projector_observable_is_the_projector():
    op = C.projector_observable("0110")
    expected = np.zeros((16, 16))
    expected[6, 6] = 1
    assert np.allclose(op.to_matrix(), expected)


def test_global_and_local_costs_match_the_state():
    n = 4
    ansatz = A.hardware_efficient(n, 2)
    rng = np.random.default_rng(4)
    params = rng.uniform(0, 2 * np.pi, (6, ansatz.num_parameters))
    probs = np.abs(qfab.statevector(ansatz.circuit, params)) ** 2
    assert np.allclose(C.global_fidelity_cost(n).value(ansatz.circuit, params), 1 - probs[:, 0])
    bits = (np.arange(16)[:, None] >> np.arange(n)) & 1
    assert np.allclose(C.local_fidelity_cost(n).value(ansatz.circuit, params), 1 - (probs @ (1 - bits)).mean(axis=1))


def test_state_based_global_gradient_matches_the_adjoint_one():
    n = 4
    ansatz = A.hardware_efficient(n, 3)
    params = np.random.default_rng(5).uniform(0, 2 * np.pi, (5, ansatz.num_parameters))
    expanded = C.global_fidelity_cost(n).gradient(ansatz.circuit, params)
    from_states = C.global_fidelity_cost(n, max_expanded_qubits=2)
    assert from_states.state_based
    chosen = [0, 5, 11]
    assert np.allclose(from_states.gradient(ansatz.circuit, params, parameter_indices=chosen), expanded[:, chosen], atol=1e-10)


def test_local_pauli_cost_is_z0z1():
    assert C.local_pauli_cost(5).observable == SparsePauliOp("IIIZZ")
