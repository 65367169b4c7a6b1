"""A PyTorch layer whose backward pass is qfab's batched adjoint gradient.

``QuantumLayer(circuit, observables, input_parameters, weight_parameters)`` maps a batch of input
angles ``(B, I)`` to expectation values ``(B, K)``. Forward runs one batched ``api.expectation``;
backward runs one batched ``api.gradient`` (one forward and one backward statevector pass per
sample, whatever the number of parameters) and contracts it with the incoming gradient, for the
weights *and* the inputs, so classical layers before the circuit train too. torch is imported
here only, so ``import qfab.qml`` works without it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from qfab import api
from qfab.core.frontend import from_qiskit
from qfab.core.ir import Circuit

from qfab.qml.ansatz import Ansatz
from qfab.qml.encoding import Encoding

__all__ = ["QfabFunction", "QuantumLayer"]


class QfabFunction(torch.autograd.Function):
    """``(inputs (B, I), weights (P,)) -> <O_k> (B, K)`` for a fixed circuit and observables."""

    @staticmethod
    def forward(ctx, inputs, weights, layer: "QuantumLayer"):
        params = layer.circuit_parameters(inputs.detach().cpu().numpy(), weights.detach().cpu().numpy())
        values = api.expectation(layer.circuit, layer.observables, params, device=layer.device)
        ctx.layer = layer
        ctx.save_for_backward(inputs, weights)
        return torch.as_tensor(np.asarray(values), dtype=inputs.dtype, device=inputs.device)

    @staticmethod
    def backward(ctx, grad_output):
        inputs, weights = ctx.saved_tensors
        layer = ctx.layer
        params = layer.circuit_parameters(inputs.detach().cpu().numpy(), weights.detach().cpu().numpy())
        grads = api.gradient(layer.circuit, layer.observables, params, device=layer.device)  # (B, K, P_circuit)
        upstream = grad_output.detach().cpu().numpy().astype(np.float64)
        chained = np.einsum("bk,bkp->bp", upstream, grads)
        grad_inputs = torch.as_tensor(chained[:, layer.input_columns], dtype=inputs.dtype, device=inputs.device)
        grad_weights = torch.as_tensor(chained[:, layer.weight_columns].sum(axis=0), dtype=weights.dtype, device=weights.device)
        return grad_inputs, grad_weights, None


class QuantumLayer(torch.nn.Module):
    """A parameterized circuit as a torch module; ``weights`` is its trainable ``nn.Parameter``."""

    def __init__(self, circuit, observables: Sequence, input_parameters: Sequence, weight_parameters: Sequence,
                 initial_weights=None, device="cpu", seed: int = 0):
        super().__init__()
        self.circuit = circuit if isinstance(circuit, Circuit) else from_qiskit(circuit)
        self.observables = list(observables)
        index = {name: i for i, name in enumerate(self.circuit.parameters)}
        self.input_columns = np.array([index[getattr(p, "name", p)] for p in input_parameters], dtype=np.int64)
        self.weight_columns = np.array([index[getattr(p, "name", p)] for p in weight_parameters], dtype=np.int64)
        if initial_weights is None:
            initial_weights = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(self.weight_columns))
        self.weights = torch.nn.Parameter(torch.as_tensor(np.asarray(initial_weights), dtype=torch.float64))
        self.device = device

    @classmethod
    def from_encoding_and_ansatz(cls, encoding: Encoding, ansatz: Ansatz, observables: Sequence, **kwargs) -> "QuantumLayer":
        """Inputs are the encoding's angles (for angle encoding: scale * features)."""
        qc = encoding.qiskit_circuit.compose(ansatz.qiskit_circuit)
        return cls(qc, observables, list(encoding.parameters), list(ansatz.parameters), **kwargs)

    def circuit_parameters(self, inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        inputs = np.atleast_2d(inputs).astype(np.float64)
        params = np.zeros((len(inputs), self.circuit.num_parameters))
        params[:, self.input_columns] = inputs
        params[:, self.weight_columns] = weights
        return params

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return QfabFunction.apply(inputs, self.weights.to(inputs.dtype), self)
