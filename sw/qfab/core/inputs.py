"""Checking what a caller hands to qfab, before any device does work: a circuit (a
``qfab.Circuit`` or a Qiskit ``QuantumCircuit``) and its parameter values, so that a bad call fails
with a message naming the problem and not half-way."""
from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit

from qfab.core.frontend import from_qiskit
from qfab.core.ir import Circuit
from qfab.errors import InputError, InputTypeError

__all__ = ["as_circuit", "as_params", "real_values", "as_shots", "as_seed", "as_dtype"]

#: The most shots a call takes: numpy's random generator counts them in a signed 64-bit integer.
MAX_SHOTS = 2**63 - 1


def as_circuit(circuit) -> Circuit:
    """``circuit`` as a qfab Circuit (a Qiskit circuit is translated)."""
    if isinstance(circuit, QuantumCircuit):
        return from_qiskit(circuit)
    if not isinstance(circuit, Circuit):
        raise InputTypeError(f"expected a qfab.Circuit or qiskit.QuantumCircuit, got {type(circuit).__name__}")
    return circuit


def real_values(params, what: str = "params") -> np.ndarray:
    """``params`` as a float64 array of any shape; no silent coercion of complex, boolean or text
    values, and no masked entries silently taken at their hidden values. ``what`` names the
    argument in the messages (a PUB's parameter values, say)."""
    if np.ma.is_masked(params):
        raise InputError(f"{what} is a masked array with {int(np.ma.count_masked(params))} masked value(s); "
                         "fill them (params.filled(value)) or drop them first")
    try:
        raw = np.asarray([] if params is None else params)
    except (ValueError, TypeError, OverflowError) as err:  # ragged nesting, objects numpy cannot hold
        raise InputError(f"{what} must be an array of real numbers; got {type(params).__name__} ({err})") from err
    kind = raw.dtype.kind
    if kind == "c":
        imaginary = np.abs(np.imag(raw))
        raise InputError(f"{what} is a complex array ({raw.dtype}, largest imaginary part {imaginary.max(initial=0.0):.3g}); "
                         "parameters are real angles: pass their .real if the imaginary parts are to be dropped")
    if kind in "fiu":
        return raw.astype(np.float64, copy=False)
    if kind == "O":
        odd = [v for v in raw.ravel() if v is None or isinstance(v, (complex, np.complexfloating, bool, np.bool_, str, bytes))]
        if odd:  # float() would take "4" and True, and None becomes NaN
            raise InputError(f"{what} must be real numbers; got {odd[0]!r} ({type(odd[0]).__name__}) among them")
        try:
            values = raw.astype(np.float64)
        except (ValueError, TypeError, OverflowError) as err:  # containers, ints beyond a float
            raise InputError(f"{what} must be real numbers; got objects that are not ({err})") from err
        return values
    raise InputError(f"{what} must be real numbers; got an array of dtype {raw.dtype} ({'booleans' if kind == 'b' else 'not numbers'})")


def as_params(circuit: Circuit, params) -> tuple[np.ndarray, bool]:
    """Parameters as a (B, P) float array, and whether the caller gave a batch."""
    values = real_values(params)
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


def as_shots(shots, what: str = "shots") -> int:
    """``shots`` as an int: a positive integer (not a boolean, not 2.0), at most :data:`MAX_SHOTS`."""
    if isinstance(shots, (bool, np.bool_)) or not isinstance(shots, (int, np.integer)) or not 1 <= shots <= MAX_SHOTS:
        raise InputError(f"{what} must be a positive integer (at most 2**63 - 1), got {shots!r}")
    return int(shots)


def as_seed(seed):
    """``seed`` if numpy's ``default_rng`` takes it (None, a non-negative integer or a sequence of
    them, a ``SeedSequence``, ``BitGenerator`` or ``Generator``), checked before any work."""
    try:
        np.random.default_rng(seed)
    except (TypeError, ValueError) as err:
        raise InputError(f"seed must be None, a non-negative integer or a numpy SeedSequence/Generator, "
                         f"got {seed!r} ({err})") from err
    return seed


def as_dtype(dtype) -> type:
    """``dtype`` as numpy's scalar type (``np.complex128``); anything numpy cannot read as a dtype is
    refused here (which dtypes a device runs, its capabilities say)."""
    try:
        return np.dtype(dtype).type
    except TypeError as err:
        raise InputTypeError(f"dtype must be a numpy dtype such as np.complex128 or np.complex64, got {dtype!r}") from err
