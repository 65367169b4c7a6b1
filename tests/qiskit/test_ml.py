"""qiskit-machine-learning on qfab: EstimatorQNN with adjoint gradients inside a TorchConnector."""
import numpy as np
import pytest

pytest.importorskip("qiskit_machine_learning", reason="qiskit-machine-learning is in the dev extra")
torch = pytest.importorskip("torch", reason="torch (CPU wheel) is in the dev extra")

from qiskit.circuit.library import real_amplitudes, zz_feature_map  # noqa: E402
from qiskit.primitives import StatevectorEstimator  # noqa: E402
from qiskit.quantum_info import SparsePauliOp  # noqa: E402
from qiskit_machine_learning.connectors import TorchConnector  # noqa: E402
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient  # noqa: E402
from qiskit_machine_learning.neural_networks import EstimatorQNN  # noqa: E402

from qfab.qiskit import EstimatorV2, QfabEstimatorGradient  # noqa: E402


def _model_circuit(num_qubits=2):
    features, ansatz = zz_feature_map(num_qubits), real_amplitudes(num_qubits, reps=1)
    return features.compose(ansatz), list(features.parameters), list(ansatz.parameters)


def test_adjoint_gradient_matches_parameter_shift_with_nonaffine_feature_map():
    circuit, _, _ = _model_circuit()
    values = np.random.default_rng(0).normal(size=(3, circuit.num_parameters))
    observables = [SparsePauliOp("ZZ"), SparsePauliOp("XI"), SparsePauliOp("ZZ")]
    ours = QfabEstimatorGradient().run([circuit] * 3, observables, values).result().gradients
    reference = ParamShiftEstimatorGradient(StatevectorEstimator()).run([circuit] * 3, observables, values).result()
    np.testing.assert_allclose(np.array(ours), np.array(reference.gradients), atol=1e-10)
    subset = QfabEstimatorGradient().run([circuit], [observables[0]], values[:1], [circuit.parameters[2:4]]).result()
    np.testing.assert_allclose(subset.gradients[0], reference.gradients[0][2:4], atol=1e-10)


def _qnn(estimator, gradient, precision=0.015625):
    circuit, inputs, weights = _model_circuit()
    return EstimatorQNN(circuit=circuit, estimator=estimator, observables=SparsePauliOp("ZZ"), input_params=inputs,
                        weight_params=weights, gradient=gradient, input_gradients=True,
                        default_precision=precision)


def test_estimator_qnn_matches_qiskit_reference_forward_and_backward():
    # The QNN's default precision would make StatevectorEstimator add noise; qfab ignores it.
    ours = _qnn(EstimatorV2(), QfabEstimatorGradient())
    reference = _qnn(StatevectorEstimator(), ParamShiftEstimatorGradient(StatevectorEstimator()), precision=0.0)
    rng = np.random.default_rng(1)
    inputs, weights = rng.normal(size=(5, 2)), rng.normal(size=ours.num_weights)
    np.testing.assert_allclose(ours.forward(inputs, weights), reference.forward(inputs, weights), atol=1e-10)
    for mine, theirs in zip(ours.backward(inputs, weights), reference.backward(inputs, weights)):
        np.testing.assert_allclose(mine, theirs, atol=1e-10)


def test_torch_connector_trains_on_qfab():
    torch.manual_seed(0)
    model = TorchConnector(_qnn(EstimatorV2(), QfabEstimatorGradient()))
    rng = np.random.default_rng(2)
    features = torch.tensor(rng.uniform(0, 1, size=(16, 2)), dtype=torch.float64)
    labels = torch.where(features.sum(dim=1, keepdim=True) > 1, 1.0, -1.0).to(torch.float64)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(features), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]
