"""Checking what a caller hands to qfab, before any device does work: a circuit (a
``qfab.Circuit`` or a Qiskit ``QuantumCircuit``) and its parameter values, so that a bad call fails
with a message naming the problem and not half-way."""
from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit

from qfab.core.frontend import from_qiskit
from qfab.core.ir import Circuit

__all__ = ["as_circuit", "as_params"]


def as_circuit(circuit) -> Circuit:
    """``circuit`` as a qfab Circuit (a Qiskit circuit is translated)."""
    if isinstance(circuit, QuantumCircuit):
        return from_qiskit(circuit)
    if not isinstance(circuit, Circuit):
        raise TypeError(f"expected a qfab.Circuit or qiskit.QuantumCircuit, got {type(circuit).__name__}")
    return circuit


def as_params(circuit: Circuit, params) -> tuple[np.ndarray, bool]:
    """Parameters as a (B, P) float array, and whether the caller gave a batch."""
    values = np.asarray([] if params is None else params, dtype=np.float64)
    if values.ndim == 1 and values.size == 0 and circuit.num_parameters > 0:
        raise ValueError(f"the circuit has {circuit.num_parameters} parameters; no values given")
    batched = values.ndim == 2
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != circuit.num_parameters:
        raise ValueError(
            f"params must have shape ({circuit.num_parameters},) or (B, {circuit.num_parameters}) "
            f"for parameters {list(circuit.parameters)[:8]}{'...' if circuit.num_parameters > 8 else ''}; "
            f"got shape {np.shape(params)}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("params contain NaN or infinity")
    return np.ascontiguousarray(values), batched
