"""The public functions: ``statevector``, ``expectation``, ``gradient``, ``sample``.

Each takes ``params`` of shape ``(P,)`` for one parameter set or ``(B, P)`` for a batch, in the
order of ``circuit.parameters`` (Qiskit's order), and a ``device``. Inputs are checked here,
before any device does work, so that a bad call fails with a message and not half-way.
"""
from __future__ import annotations

import numpy as np

from qfab.backends import Job, best_gradient_method, get_device
from qfab.backends.job import check_free_memory
from qfab.core.inputs import as_circuit, as_dtype, as_params, as_seed, as_shots
from qfab.core.observables import as_pauli_sums
from qfab.errors import InputError

__all__ = ["statevector", "expectation", "gradient", "sample", "sample_memory_bytes"]


def _run(device, job: Job):
    """Run one job on ``device``; ``"auto"`` lets the planner choose (and split) among every
    available device (:mod:`qfab.scheduling.fastpath`: a small job of a shape planned before goes
    straight to the device chosen then)."""
    if isinstance(device, str) and device == "auto":
        from qfab.scheduling.fastpath import run_job

        return run_job(job)
    return get_device(device).run([job])[0]


def _require_hermitian(sums, what: str) -> None:
    for position, s in enumerate(sums):
        if not s.hermitian:
            terms = ", ".join(f"{c:.3g}" for c in s.prefactors[np.abs(np.imag(s.prefactors)) > 1e-12][:3])
            raise InputError(f"observable {position} is not Hermitian (complex coefficients: {terms}); {what}")


def statevector(circuit, params=None, device="cpu", dtype=np.complex128) -> np.ndarray:
    """``U(params)|0...0>`` in Qiskit's little-endian order, global phase included."""
    circuit, dtype = as_circuit(circuit), as_dtype(dtype)
    values, batched = as_params(circuit, params)
    out = _run(device, Job(circuit, values, want_state=True, dtype=dtype)).states
    if out is None:  # a rank other than 0 of device "mpi": rank 0 returns the result
        return None
    return out if batched else out[0]


def expectation(circuit, observables, params=None, device="cpu", dtype=np.complex128) -> np.ndarray:
    """``<psi|O|psi>`` for one observable -> ``()``/``(B,)``, or a list of K -> ``(K,)``/``(B, K)``."""
    circuit, dtype = as_circuit(circuit), as_dtype(dtype)
    sums, many = as_pauli_sums(observables, circuit.num_qubits)
    _require_hermitian(sums, "its expectation value is not real; split it into Hermitian parts (O + O^dagger)/2 "
                             "and (O - O^dagger)/2i")
    values, batched = as_params(circuit, params)
    out = _run(device, Job(circuit, values, tuple(sums), dtype=dtype)).expectations
    if out is None:  # a rank other than 0 of device "mpi"
        return None
    out = out if many else out[:, 0]
    return out if batched else out[0]


def gradient(circuit, observables, params=None, device="cpu", method="best", dtype=np.complex128) -> np.ndarray:
    """d<O>/dparams: ``(P,)``, ``(B, P)``, or with a list of K observables ``(K, P)``/``(B, K, P)``.

    ``method="adjoint"`` (one forward and one backward pass for every parameter and observable)
    or ``"parameter-shift"`` (the rule hardware uses); ``"best"`` (the default): the device's
    best method (``Capabilities.best_gradient_method``), the adjoint wherever it has one.
    """
    circuit, dtype = as_circuit(circuit), as_dtype(dtype)
    sums, many = as_pauli_sums(observables, circuit.num_qubits)
    _require_hermitian(sums, "its gradient is undefined")
    if method == "best":
        method = best_gradient_method(device)
    if method not in ("adjoint", "parameter-shift"):
        raise InputError(f"unknown gradient method {method!r}; use 'best', 'adjoint' or 'parameter-shift'")
    values, batched = as_params(circuit, params)
    out = _run(device, Job(circuit, values, tuple(sums), gradient=method, dtype=dtype)).gradients
    if out is None:  # a rank other than 0 of device "mpi"
        return None
    out = out if many else out[:, 0, :]
    return out if batched else out[0]


#: Bytes of one counted outcome in the dicts :func:`sample` returns, besides its key's characters:
#: the key string's header (49 B), its count (an int, 28-32 B above 256) and its dict slot
#: (measured: 85-90 B in all at 16-18 clbits, counts below 256).
_OUTCOME_BYTES = 100
#: What else a call holds: the lists, the dicts' headers, the random generator.
_SAMPLE_OVERHEAD_BYTES = 64 << 10


def sample_memory_bytes(num_qubits: int, batch: int, shots: int, itemsize: int = 16, merged: bool = False,
                        width: int | None = None) -> int:
    """The most host memory :func:`sample` holds at once, in bytes, for a device that returns
    state vectors: the ``batch`` states (``itemsize`` bytes an amplitude; twice with ``merged``,
    the chunks of a ``device="auto"`` run and the array they are joined into); for the row being
    sampled its probabilities (float64) and its draws (int64), and the outcomes drawn (at most
    ``min(shots, 2**n)``: their indices, counts and keys with a temporary each); and the counts
    of every row (a dict entry per outcome, keyed by a string of ``width`` clbits)."""
    amplitudes = 2**num_qubits
    width = num_qubits if width is None else width
    outcomes = min(shots, amplitudes)  # per row, at most
    states = batch * amplitudes * itemsize * (2 if merged else 1)
    row = amplitudes * (8 + 8) + outcomes * 8 * 5
    counts = batch * outcomes * (_OUTCOME_BYTES + width)
    return states + row + counts + _SAMPLE_OVERHEAD_BYTES


def sample(circuit, params=None, shots: int = 1024, seed=None, device="cpu"):
    """Measurement counts as Qiskit writes them (``{'0110': 12, ...}``, clbit 0 rightmost).

    The circuit's final measurements decide which qubits land in which clbits; a circuit without
    measurements is measured on every qubit. A batch of parameter sets gives a list of dicts.
    Before any work, the memory the call holds at its peak (:func:`sample_memory_bytes`) is
    checked against the host's free memory (:class:`~qfab.backends.InsufficientMemoryError`).
    """
    circuit = as_circuit(circuit)
    shots, seed = as_shots(shots), as_seed(seed)
    values, batched = as_params(circuit, params)
    job = Job(circuit, values, shots=int(shots), seed=seed)
    auto = isinstance(device, str) and device == "auto"
    width = circuit.num_clbits if circuit.measurements else circuit.num_qubits
    if auto or get_device(device).capabilities.returns_state:
        n, batch = circuit.num_qubits, job.batch
        need = sample_memory_bytes(n, batch, int(shots), np.dtype(job.dtype).itemsize, merged=auto, width=width)
        check_free_memory(need, f"sample at n={n}",
                          f"{batch} state vector(s) of {np.dtype(job.dtype).name} (2^{n} amplitudes)"
                          + (" twice (device='auto' joins the chunks)" if auto else "")
                          + f", one row's probabilities and draws, and up to {min(int(shots), 2**n)} "
                          f"counted outcomes a row")
    result = _run(device, job)
    if result.counts is not None:  # shot-based devices count for themselves
        return result.counts if batched else result.counts[0]
    if result.states is None:  # a rank other than 0 of device "mpi" (rank 0 has the counts)
        return None
    rng = np.random.default_rng(seed)
    if circuit.measurements:
        pairs = [(m.qubit, m.clbit) for m in circuit.measurements]
    else:
        pairs = [(q, q) for q in range(circuit.num_qubits)]
    remapped = pairs != [(q, q) for q in range(circuit.num_qubits)]
    states, result = result.states, None  # row by row: one row's probabilities at a time
    results = []
    for state in states:
        probs = np.abs(state)
        np.square(probs, out=probs)
        probs /= probs.sum()
        draws = rng.multinomial(shots, probs)
        del probs
        hit = np.nonzero(draws)[0]
        keys = hit
        if remapped:  # the clbit keys of the outcomes drawn only, not of all 2**n
            keys = np.zeros_like(hit)
            for qubit, clbit in pairs:
                keys |= ((hit >> qubit) & 1) << clbit
        counts: dict[str, int] = {}
        for index, count in zip(keys, draws[hit]):
            key = format(int(index), f"0{width}b")
            counts[key] = counts.get(key, 0) + int(count)
        results.append(counts)
        del draws
    return results if batched else results[0]
