"""The public functions: ``statevector``, ``expectation``, ``gradient``, ``sample``.

Each takes ``params`` of shape ``(P,)`` for one parameter set or ``(B, P)`` for a batch, in the
order of ``circuit.parameters`` (Qiskit's order), and a ``device``. Inputs are checked here,
before any device does work, so that a bad call fails with a message and not half-way.
"""
from __future__ import annotations

import numpy as np

from qfab.backends import Job, best_gradient_method, get_device
from qfab.core.inputs import as_circuit, as_params
from qfab.core.observables import as_pauli_sums
from qfab.errors import InputError

__all__ = ["statevector", "expectation", "gradient", "sample"]


def _run(device, job: Job):
    """Run one job on ``device``; ``"auto"`` lets the planner choose (and split) among every
    available device."""
    if isinstance(device, str) and device == "auto":
        from qfab.scheduling import Workload, plan, run

        return run(plan(Workload.from_jobs([job])), progress=False)[0]
    return get_device(device).run([job])[0]


def _require_hermitian(sums, what: str) -> None:
    for position, s in enumerate(sums):
        if not s.hermitian:
            terms = ", ".join(f"{c:.3g}" for c in s.prefactors[np.abs(np.imag(s.prefactors)) > 1e-12][:3])
            raise InputError(f"observable {position} is not Hermitian (complex coefficients: {terms}); {what}")


def statevector(circuit, params=None, device="cpu", dtype=np.complex128) -> np.ndarray:
    """``U(params)|0...0>`` in Qiskit's little-endian order, global phase included."""
    circuit = as_circuit(circuit)
    values, batched = as_params(circuit, params)
    out = _run(device, Job(circuit, values, want_state=True, dtype=dtype)).states
    return out if batched else out[0]


def expectation(circuit, observables, params=None, device="cpu", dtype=np.complex128) -> np.ndarray:
    """``<psi|O|psi>`` for one observable -> ``()``/``(B,)``, or a list of K -> ``(K,)``/``(B, K)``."""
    circuit = as_circuit(circuit)
    sums, many = as_pauli_sums(observables, circuit.num_qubits)
    _require_hermitian(sums, "its expectation value is not real; split it into Hermitian parts (O + O^dagger)/2 "
                             "and (O - O^dagger)/2i")
    values, batched = as_params(circuit, params)
    out = _run(device, Job(circuit, values, tuple(sums), dtype=dtype)).expectations
    out = out if many else out[:, 0]
    return out if batched else out[0]


def gradient(circuit, observables, params=None, device="cpu", method="best", dtype=np.complex128) -> np.ndarray:
    """d<O>/dparams: ``(P,)``, ``(B, P)``, or with a list of K observables ``(K, P)``/``(B, K, P)``.

    ``method="adjoint"`` (one forward and one backward pass for every parameter and observable)
    or ``"parameter-shift"`` (the rule hardware uses); ``"best"`` (the default): the device's
    best method (``Capabilities.best_gradient_method``), the adjoint wherever it has one.
    """
    circuit = as_circuit(circuit)
    sums, many = as_pauli_sums(observables, circuit.num_qubits)
    _require_hermitian(sums, "its gradient is undefined")
    if method == "best":
        method = best_gradient_method(device)
    if method not in ("adjoint", "parameter-shift"):
        raise InputError(f"unknown gradient method {method!r}; use 'best', 'adjoint' or 'parameter-shift'")
    values, batched = as_params(circuit, params)
    out = _run(device, Job(circuit, values, tuple(sums), gradient=method, dtype=dtype)).gradients
    out = out if many else out[:, 0, :]
    return out if batched else out[0]


def sample(circuit, params=None, shots: int = 1024, seed=None, device="cpu"):
    """Measurement counts as Qiskit writes them (``{'0110': 12, ...}``, clbit 0 rightmost).

    The circuit's final measurements decide which qubits land in which clbits; a circuit without
    measurements is measured on every qubit. A batch of parameter sets gives a list of dicts.
    """
    circuit = as_circuit(circuit)
    if not isinstance(shots, (int, np.integer)) or isinstance(shots, bool) or shots < 1:
        raise InputError(f"shots must be a positive integer, got {shots!r}")
    values, batched = as_params(circuit, params)
    result = _run(device, Job(circuit, values, shots=int(shots), seed=seed))
    if result.counts is not None:  # shot-based devices count for themselves
        return result.counts if batched else result.counts[0]
    probabilities = np.abs(result.states) ** 2
    rng = np.random.default_rng(seed)
    if circuit.measurements:
        pairs = [(m.qubit, m.clbit) for m in circuit.measurements]
        width = circuit.num_clbits
    else:
        pairs = [(q, q) for q in range(circuit.num_qubits)]
        width = circuit.num_qubits
    indices = np.arange(2**circuit.num_qubits)
    keys = np.zeros_like(indices)
    for qubit, clbit in pairs:
        keys |= ((indices >> qubit) & 1) << clbit
    results = []
    for probs in probabilities:
        probs = probs / probs.sum()
        draws = rng.multinomial(shots, probs)
        hit = np.nonzero(draws)[0]
        counts: dict[str, int] = {}
        for index, count in zip(keys[hit], draws[hit]):
            key = format(int(index), f"0{width}b")
            counts[key] = counts.get(key, 0) + int(count)
        results.append(counts)
    return results if batched else results[0]
