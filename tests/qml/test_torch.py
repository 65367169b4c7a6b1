"""The PyTorch layer: gradients equal qfab's and torch's own finite differences; a hybrid model trains."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is optional (pip install torch)")

import qfab  # noqa: E402
from qiskit.quantum_info import SparsePauliOp  # noqa: E402

from qfab.qml.ansatz import hardware_efficient  # noqa: E402
from qfab.qml.encoding import angle_encoding  # noqa: E402
from qfab.qml.torch_layer import QuantumLayer  # noqa: E402


def make_layer():
    encoding, ansatz = angle_encoding(3), hardware_efficient(3, 2)
    observables = [SparsePauliOp("IIZ"), SparsePauliOp("ZZI")]
    return QuantumLayer.from_encoding_and_ansatz(encoding, ansatz, observables, seed=1), observables


def test_gradients_match_qfab_gradient():
    layer, observables = make_layer()
    inputs = torch.tensor(np.random.default_rng(0).uniform(0, np.pi, (5, 3)), requires_grad=True)
    upstream = torch.tensor(np.random.default_rng(1).normal(size=(5, 2)))
    (layer(inputs) * upstream).sum().backward()
    params = layer.circuit_parameters(inputs.detach().numpy(), layer.weights.detach().numpy())
    grads = qfab.gradient(layer.circuit, observables, params)  # (B, K, P)
    chained = np.einsum("bk,bkp->bp", upstream.numpy(), grads)
    assert np.allclose(layer.weights.grad.numpy(), chained[:, layer.weight_columns].sum(axis=0), atol=1e-12)
    assert np.allclose(inputs.grad.numpy(), chained[:, layer.input_columns], atol=1e-12)
    values = qfab.expectation(layer.circuit, observables, params)
    assert np.allclose(layer(inputs).detach().numpy(), values)


def test_torch_gradcheck():
    layer, _ = make_layer()
    inputs = torch.tensor(np.random.default_rng(2).uniform(0, np.pi, (3, 3)), requires_grad=True)
    weights = layer.weights.detach().clone().requires_grad_(True)
    from qfab.qml.torch_layer import QfabFunction

    assert torch.autograd.gradcheck(lambda x, w: QfabFunction.apply(x, w, layer), (inputs, weights), eps=1e-6, atol=1e-5)


def test_hybrid_model_trains():
    torch.manual_seed(0)
    layer, _ = make_layer()
    model = torch.nn.Sequential(torch.nn.Linear(2, 3, dtype=torch.float64), layer)
    x = torch.tensor(np.random.default_rng(3).normal(size=(32, 2)))
    target = torch.stack([torch.tanh(x[:, 0]), -torch.tanh(x[:, 1])], dim=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        optimiser.zero_grad()
        loss = torch.mean((model(x) - target) ** 2)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
