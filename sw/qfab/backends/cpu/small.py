"""Small jobs in numpy, so that a new process's first small call does not wait for numba.

A job of a few qubits and a few gates costs microseconds of arithmetic; what it costs the numba
engine in a new process is numba's start: its import, its CPU target's set-up and the load of the
cached machine code the call needs, 0.5-1 s measured here (``benchmarks/latency.py``), against an
issue-16 goal of 0.5 s for the whole first call. Until a process has started the engine
(:attr:`CPUDevice.engine`: a job above these limits, a gradient, a calibration), the CPU device
runs statevector and expectation jobs within them here, gate by gate on the state as a tensor
(one index per qubit), and numba is never imported. Once the engine is up, every job goes to it:
then this path would only be a second, slower engine.

It also holds the engine's numpy helpers that both paths use (the global phase, the memory check),
so that this module and the device's checks import no numba.
"""
from __future__ import annotations

import numpy as np

from qfab.backends.job import Job, JobResult, check_free_memory
from qfab.core.ir import Circuit
from qfab.core.observables import PauliSum

#: The most qubits a job may have to run here: 2^10 amplitudes, about 10 us a gate in numpy.
SMALL_MAX_QUBITS = 10
#: The most gate applications (parameter sets x operations) a job may have to run here: at about
#: 10 us each, 256 of them stay below a few ms, where numba's per-call cost is already ~1 ms.
SMALL_MAX_GATE_APPLICATIONS = 256


def is_small(job: Job) -> bool:
    """Whether ``job`` is one this path runs: no gradient, few qubits, few gate applications."""
    return (job.gradient is None and job.circuit.num_qubits <= SMALL_MAX_QUBITS
            and job.params.shape[0] * max(len(job.circuit.operations), 1) <= SMALL_MAX_GATE_APPLICATIONS)


def check_memory(num_qubits: int, vectors: int, dtype, what: str) -> None:
    """Refuse, with the numbers, ``vectors`` states of ``num_qubits`` that do not fit in free memory."""
    itemsize = np.dtype(dtype).itemsize
    check_free_memory(vectors * (2**num_qubits) * itemsize, f"{what} at n={num_qubits}",
                      f"{vectors} state vector(s) of {np.dtype(dtype).name} (2^{num_qubits} amplitudes x "
                      f"{itemsize} B each)")


def apply_global_phase(states: np.ndarray, circuit: Circuit, thetas: np.ndarray) -> None:
    """Multiply each row of ``states`` by the circuit's global phase at its parameters (kernels
    leave it out; Qiskit's Statevector carries it)."""
    phases = np.array([circuit.phase(t) for t in thetas])
    if np.any(phases != 0):
        states *= np.exp(1j * phases)[:, None].astype(states.dtype)


def statevectors(circuit: Circuit, thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
    """``U(thetas[b])|0...0>`` for every row ``b``: ``(B, 2^n)``, Qiskit's order, global phase in."""
    n, batch = circuit.num_qubits, thetas.shape[0]
    psi = np.zeros((batch, 2**n), np.complex128)
    psi[:, 0] = 1.0
    psi = psi.reshape((batch,) + (2,) * n)  # axis 1 + n - 1 - q is qubit q (little-endian index)
    for op in circuit.operations:
        if op.is_parametric:
            u = np.stack([op.unitary(t) for t in thetas])  # (B, d, d)
        else:
            u = op.matrix[None]
        # The matrix's index has qubits[0] as its least significant bit, i.e. the last axis.
        axes = [n - q for q in reversed(op.qubits)]
        moved = np.moveaxis(psi, axes, range(n + 1 - len(axes), n + 1))
        shape = moved.shape
        flat = moved.reshape(batch, -1, u.shape[-1])
        moved = (flat @ np.swapaxes(u, -1, -2)).reshape(shape)
        psi = np.moveaxis(moved, range(n + 1 - len(axes), n + 1), axes)
    out = np.ascontiguousarray(psi.reshape(batch, 2**n)).astype(dtype, copy=False)
    apply_global_phase(out, circuit, thetas)
    return out


def pauli_expectations(states: np.ndarray, sums: list[PauliSum]) -> np.ndarray:
    """``<psi_b|O_k|psi_b>``: ``(B, K)``; a term is ``prefactor * Z^z X^x``, so it maps amplitude
    ``i ^ x`` to ``i`` with the sign ``(-1)^popcount(i & z)``."""
    index = np.arange(states.shape[1], dtype=np.int64)
    states = states.astype(np.complex128, copy=False)
    out = np.zeros((states.shape[0], len(sums)))
    for k, s in enumerate(sums):
        for x, z, prefactor in zip(s.x_masks, s.z_masks, s.prefactors):
            sign = 1.0 - 2.0 * (np.bitwise_count(index & z) & 1)
            out[:, k] += np.real(prefactor * np.einsum("bi,bi->b", states.conj(), sign * states[:, index ^ x]))
    return out


def execute(job: Job):
    """The job's states and expectation values, as :meth:`EngineDevice.execute` returns them."""
    result = JobResult(device="cpu", seconds=0.0)
    states = statevectors(job.circuit, job.params, job.dtype)
    if job.want_state or job.shots:
        result.states = states
    if job.observables:
        result.expectations = pauli_expectations(states, list(job.observables))
    return result
