"""Checking what a caller hands to qfab, before any device does work: a circuit (a
``qfab.Circuit`` or a Qiskit ``QuantumCircuit``) and its parameter values, so that a bad call fails
with a message naming the problem and not half-way."""
from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit

from qfab.core.frontend import from_qiskit
from qfab.core.ir import Circuit
from qfab.errors import InputError, InputTypeError

__all__ = ["as_circuit", "as_params"]


def as_circuit(circuit) -> Circuit:
    """``circuit`` as a qfab Circuit (a Qiskit circuit is translated)."""
    if isinstance(circuit, QuantumCircuit):
        return from_qiskit(circuit)
    if not isinstance(circuit, Circuit):
        raise InputTypeError(f"expected a qfab.Circuit or qiskit.QuantumCircuit, got {type(circuit).__name__}")
    return circuit


def _real_values(params) -> np.ndarray:
    """``params`` as a float64 array; no silent coercion of complex, boolean or text values."""
    try:
        raw = np.asarray([] if params is None else params)
    except (ValueError, TypeError) as err:  # ragged nesting, objects numpy cannot hold
        raise InputError(f"params must be a (P,) or (B, P) array of real numbers; got {type(params).__name__} ({err})") from err
    kind = raw.dtype.kind
    if kind == "c":
        imaginary = np.abs(np.imag(raw))
        raise InputError(f"params is a complex array ({raw.dtype}, largest imaginary part {imaginary.max(initial=0.0):.3g}); "
                         "parameters are real angles: pass params.real if the imaginary parts are to be dropped")
    if kind in "fiu":
        return raw.astype(np.float64, copy=False)
    if kind == "O":
        try:
            values = raw.astype(np.float64)
        except (ValueError, TypeError) as err:
            raise InputError(f"params must be real numbers; got objects that are not ({err})") from err
        if any(isinstance(v, (complex, np.complexfloating, bool, np.bool_)) for v in raw.ravel()):
            raise InputError("params must be real numbers; got complex or boolean values among them")
        return values
    raise InputError(f"params must be real numbers; got an array of dtype {raw.dtype} ({'booleans' if kind == 'b' else 'not numbers'})")


def as_params(circuit: Circuit, params) -> tuple[np.ndarray, bool]:
    """Parameters as a (B, P) float array, and whether the caller gave a batch."""
    values = _real_values(params)
    if values.ndim == 1 and values.size == 0 and circuit.num_parameters > 0:
        raise InputError(f"the circuit has {circuit.num_parameters} parameters {list(circuit.parameters)[:8]}; no values given")
    batched = values.ndim == 2
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != circuit.num_parameters:
        raise InputError(
            f"params must have shape ({circuit.num_parameters},) or (B, {circuit.num_parameters}) "
            f"for parameters {list(circuit.parameters)[:8]}{'...' if circuit.num_parameters > 8 else ''}; "
            f"got shape {np.shape(params)}"
        )
    if not np.all(np.isfinite(values)):
        row, column = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
        where = f"params[{row}, {column}]" if batched else f"params[{column}]"
        raise InputError(f"params contain NaN or infinity: {where} ({circuit.parameters[column]!r}) is {values[row, column]}")
    return np.ascontiguousarray(values), batched
