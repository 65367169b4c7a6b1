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
