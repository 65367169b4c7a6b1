"""qfab's exact sampler gradient (``QfabSamplerGradient``) for qiskit-machine-learning: outcome
probability gradients against central finite differences of Qiskit's exact ``Statevector``
probabilities (non-affine feature maps, repeated parameters, a measured subset of qubits in
another clbit order, a parameter subset), and SamplerQNN's backward pass with it."""
import numpy as np
import pytest

pytest.importorskip("qiskit_machine_learning", reason="qiskit-machine-learning is in the dev extra")

from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit import Parameter  # noqa: E402
from qiskit.circuit.library import real_amplitudes, zz_feature_map  # noqa: E402
from qiskit.quantum_info import Statevector  # noqa: E402
from qiskit_machine_learning.neural_networks import SamplerQNN  # noqa: E402

from qfab.qiskit import QfabSamplerGradient, SamplerV2  # noqa: E402


def exact_distribution(circuit: QuantumCircuit, values) -> np.ndarray:
    """Outcome probabilities over the clbits the circuit's final measurements write (Qiskit's
    integer order), from Qiskit's Statevector."""
    bound = circuit.assign_parameters(values)
    measured = [(bound.find_bit(i.qubits[0]).index, bound.find_bit(i.clbits[0]).index)
                for i in bound.data if i.operation.name == "measure"]
    state = Statevector(bound.remove_final_measurements(inplace=False))
    probabilities = state.probabilities()
    out = np.zeros(2**circuit.num_clbits)
    for index, p in enumerate(probabilities):
        key = sum(((index >> q) & 1) << c for q, c in measured)
        out[key] += p
    return out


def finite_difference(circuit, values, eps=1e-5):
    values = np.asarray(values, dtype=float)
    columns = []
    for i in range(len(values)):
        step = np.zeros_like(values)
        step[i] = eps
        columns.append((exact_distribution(circuit, values + step) - exact_distribution(circuit, values - step)) / (2 * eps))
    return np.array(columns)  # (P, outcomes)


def as_array(gradient, outcomes):
    return np.array([[g.get(k, 0.0) for k in range(outcomes)] for g in gradient])


def feature_model(num_qubits=3):
    circuit = zz_feature_map(num_qubits).compose(real_amplitudes(num_qubits, reps=2))
    return circuit.measure_all(inplace=False)


def shared_and_partial():
    """A parameter used twice with a slope, another in two-qubit rotations, two of three qubits
    measured into clbits in reverse order."""
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(3, 2)
    qc.h([0, 1, 2])
    qc.ry(2 * a + 0.1, 0)
    qc.rzx(b, 0, 1)
    qc.rz(-a, 2)
    qc.cx(2, 1)
    qc.rxx(0.5 * b, 1, 2)
    qc.measure(2, 0)
    qc.measure(0, 1)
    return qc


@pytest.mark.parametrize("build", [feature_model, shared_and_partial], ids=lambda f: f.__name__)
def test_probability_gradients_equal_finite_differences(build):
    circuit = build()
    rows = np.random.default_rng(3).uniform(-np.pi, np.pi, (3, circuit.num_parameters))
    result = QfabSamplerGradient(device="cpu").run([circuit] * 3, rows).result()
    for gradient, values in zip(result.gradients, rows):
        np.testing.assert_allclose(as_array(gradient, 2**circuit.num_clbits), finite_difference(circuit, values),
                                   atol=1e-8)


def test_a_parameter_subset():
    circuit = shared_and_partial()
    values = np.array([0.3, -1.1])
    result = QfabSamplerGradient().run([circuit], [values], [[circuit.parameters[1]]]).result()
    assert len(result.gradients[0]) == 1
    np.testing.assert_allclose(as_array(result.gradients[0], 4), finite_difference(circuit, values)[1:], atol=1e-8)


def test_sampler_qnn_backward_with_the_exact_gradient():
    features, ansatz = zz_feature_map(2), real_amplitudes(2, reps=1)
    circuit = features.compose(ansatz).measure_all(inplace=False)
    qnn = SamplerQNN(circuit=circuit, sampler=SamplerV2(seed=1), input_params=list(features.parameters),
                     weight_params=list(ansatz.parameters), gradient=QfabSamplerGradient(), input_gradients=True)
    inputs = np.random.default_rng(0).uniform(0, np.pi, (4, 2))
    weights = np.random.default_rng(1).uniform(-np.pi, np.pi, qnn.num_weights)
    input_grad, weight_grad = qnn.backward(inputs, weights)
    for row, x in enumerate(inputs):
        exact = finite_difference(circuit, np.concatenate([x, weights]))  # (P, outcomes)
        np.testing.assert_allclose(input_grad[row].todense() if hasattr(input_grad[row], "todense") else input_grad[row],
                                   exact[:2].T, atol=1e-8)
        np.testing.assert_allclose(weight_grad[row].todense() if hasattr(weight_grad[row], "todense") else weight_grad[row],
                                   exact[2:].T, atol=1e-8)
