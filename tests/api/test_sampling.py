"""Sampling: counts against exact probabilities, Qiskit's key format, seeds."""
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

import qfab

from tests.support.circuits import hardware_efficient


def test_counts_follow_exact_probabilities():
    qc = hardware_efficient(3, 2)
    values = np.random.default_rng(3).uniform(-np.pi, np.pi, qc.num_parameters)
    shots = 20000
    counts = qfab.sample(qfab.from_qiskit(qc), values, shots=shots, seed=11)
    probs = Statevector(qc.assign_parameters(dict(zip(qc.parameters, values)))).probabilities_dict()
    assert sum(counts.values()) == shots
    for key, p in probs.items():
        sigma = np.sqrt(shots * p * (1 - p)) + 1e-9
        assert abs(counts.get(key, 0) - shots * p) < 5 * sigma + 1


def test_measurements_map_qubits_to_clbits():
    qc = QuantumCircuit(3, 2)
    qc.x(2)
    qc.measure(2, 0)  # qubit 2 (=1) lands in clbit 0
    qc.measure(0, 1)
    assert qfab.sample(qfab.from_qiskit(qc), shots=50, seed=1) == {"01": 50}


def test_seed_reproduces_and_batches_give_lists():
    circ = qfab.from_qiskit(hardware_efficient(2, 1))
    values = np.random.default_rng(0).uniform(-1, 1, (2, 4))
    a = qfab.sample(circ, values, shots=100, seed=5)
    b = qfab.sample(circ, values, shots=100, seed=5)
    assert a == b and isinstance(a, list) and len(a) == 2


def test_shots_must_be_positive():
    circ = qfab.from_qiskit(hardware_efficient(2, 1))
    with pytest.raises(ValueError, match="shots must be a positive integer"):
        qfab.sample(circ, np.zeros(4), shots=0)


def _peak_bytes(call) -> int:
    import tracemalloc

    call()  # compiled and warm: the peak measured is the call's buffers, not numba's
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _uniform(n: int):
    """Every outcome equally likely: as many distinct outcomes as shots (the counts' worst case)."""
    qc = QuantumCircuit(n)
    qc.h(range(n))
    return qfab.from_qiskit(qc)


@pytest.mark.parametrize(("n", "batch", "shots", "circuit"), [
    (18, 2, 1024, "random"),      # the states dominate
    (20, 1, 4096, "random"),
    (18, 1, 20000, "uniform"),    # the counts dicts weigh as much as the state
    (16, 8, 5000, "uniform"),
])
def test_the_sample_memory_estimate_counts_every_buffer(n, batch, shots, circuit):
    """The issue: ``sample`` peaked at 3.6x what its memory check counted (one state vector),
    so a call that passed the check could exhaust memory. The estimate now covers the measured
    peak (tracemalloc: numpy's buffers and the counts) and is not far above it."""
    from qfab.api import sample_memory_bytes

    if circuit == "random":
        qc = hardware_efficient(n, 1)
        circ = qfab.from_qiskit(qc)
        params = np.random.default_rng(0).uniform(-np.pi, np.pi, (batch, qc.num_parameters))
    else:
        circ, params = _uniform(n), np.zeros((batch, 0))
    peak = _peak_bytes(lambda: qfab.sample(circ, params, shots=shots, seed=2))
    estimate = sample_memory_bytes(n, batch, shots)
    assert peak <= estimate <= 2 * peak, (peak, estimate, estimate / peak)


def test_a_sample_that_would_not_fit_is_refused_before_any_work(monkeypatch):
    """Free memory for the state vector (what the check counted before) but not for the
    probabilities and draws beside it: refused with the numbers, before the device runs."""
    import types

    import psutil

    from qfab.api import sample_memory_bytes

    n = 20
    state_bytes = 16 * 2**n
    need = sample_memory_bytes(n, 1, 1024)
    assert need > 1.9 * state_bytes
    free = int(1.5 * state_bytes / 0.9)  # room for 1.5 states
    monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=free))
    ran = []
    monkeypatch.setattr(qfab.api, "_run", lambda *a: ran.append(a))
    with pytest.raises(qfab.InsufficientMemoryError,
                       match=r"sample at n=20 needs 0\.03 GiB for 1 state vector\(s\) of complex128 \(2\^20 amplitudes\), "
                             r"one row's probabilities and draws, and up to 1024 counted outcomes a row, but only "
                             r"0\.03 GiB of memory is free"):
        qfab.sample(_uniform(n), shots=1024)
    assert ran == []
