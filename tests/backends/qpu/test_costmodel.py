"""The QPU's cost model is the backend's own estimate (time and error), with nothing to calibrate."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qiskit_aer", reason="qiskit-aer simulates the fake backends; it is in the dev extra")
fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider", reason="fake backends: dev extra")

from qfab.backends import QPU, Job  # noqa: E402
from qfab.backends.calibration import benchmark_circuit  # noqa: E402
from qfab.backends.qpu.costmodel import QPUCostModel  # noqa: E402
from qfab.core.observables import as_pauli_sums  # noqa: E402


def test_the_qpu_prices_itself_and_fits_nothing():
    qpu = QPU(fake_provider.FakeManilaV2(), shots=1000, seed=1)
    circuit = benchmark_circuit(3, 1)
    sums, _ = as_pauli_sums("ZII", 3)
    job = Job(circuit, np.zeros((4, circuit.num_parameters)), tuple(sums), gradient="parameter-shift", shots=1000)
    model = qpu.cost_model()
    assert type(model) is QPUCostModel
    assert model.predict(job) == pytest.approx(qpu.estimated_seconds(circuit, 4, 1000, gradient=True))
    assert model.expected_error(job) == pytest.approx(qpu.expected_error(circuit))
    assert model.gradient_floor(circuit, 1000) == pytest.approx(1 / np.sqrt(2000))
    assert qpu.calibrate(repeats=1) == {}
