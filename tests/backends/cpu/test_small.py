"""The CPU device's numpy path for small jobs (``qfab.backends.cpu.small``) against Qiskit's
Statevector on random circuits, and what it is for: a new process's first small call, with
``device="cpu"`` or ``"auto"``, starts no numba."""
import subprocess
import sys

import numpy as np
from hypothesis import given, settings, strategies as st
from qiskit.quantum_info import SparsePauliOp, Statevector

from qfab.backends import Job
from qfab.backends.cpu import small
from qfab.backends.cpu.device import CPUDevice
from qfab.core.frontend import from_qiskit
from qfab.core.observables import PauliSum

from tests.backends.cpu.test_engine import bind, pauli_sums
from tests.support.circuits import hardware_efficient, random_circuits


@settings(max_examples=60, deadline=None)
@given(qc=random_circuits(max_qubits=6, max_gates=20), seed=st.integers(0, 2**16), data=st.data())
def test_states_and_expectations_match_qiskit(qc, seed, data):
    rng = np.random.default_rng(seed)
    thetas = rng.uniform(-np.pi, np.pi, (3, qc.num_parameters))
    obs = data.draw(pauli_sums(qc.num_qubits))
    states = small.statevectors(from_qiskit(qc), thetas)
    values = small.pauli_expectations(states, [PauliSum.from_sparse_pauli_op(obs)])
    for b, row in enumerate(thetas):
        reference = Statevector(bind(qc, row))
        np.testing.assert_allclose(states[b], reference.data, atol=1e-12)
        assert abs(values[b, 0] - reference.expectation_value(obs).real) < 1e-11


def test_the_device_uses_it_until_the_engine_starts_and_then_never():
    qc = hardware_efficient(3, 2)
    circuit, obs = from_qiskit(qc), PauliSum.from_sparse_pauli_op(SparsePauliOp("XYZ"))
    thetas = np.random.default_rng(3).uniform(-1, 1, (2, qc.num_parameters))
    job = Job(circuit, thetas, (obs,))
    assert small.is_small(job)
    device = CPUDevice()
    before = device.run([job])[0].expectations
    assert device._engine is None  # noqa: SLF001 - the test's subject is when the engine starts
    _ = device.engine
    after = device.run([job])[0].expectations
    np.testing.assert_allclose(before, after, atol=1e-12)
    assert not small.is_small(Job(circuit, thetas, (obs,), gradient="adjoint"))
    wide = hardware_efficient(11, 1)
    assert not small.is_small(Job(from_qiskit(wide), np.zeros((1, wide.num_parameters)),
                                  (PauliSum.from_sparse_pauli_op(SparsePauliOp("Z" * 11)),)))


FIRST_CALL = """
import sys
import qfab
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
a = Parameter("a"); qc = QuantumCircuit(2); qc.ry(a, 0); qc.cx(0, 1)
print(float(qfab.expectation(qc, "ZZ", [0.2], device=sys.argv[1])), float(qfab.expectation(qc, "XX", [0.2], device=sys.argv[1])),
      "numba" in sys.modules)
"""


def test_a_new_process_first_small_call_imports_no_numba():
    for device in ("cpu", "auto"):
        out = subprocess.run([sys.executable, "-c", FIRST_CALL, device], capture_output=True, text=True, check=True)
        zz, xx, numba_loaded = out.stdout.split()
        assert abs(float(zz) - 1.0) < 1e-12 and abs(float(xx) - np.sin(0.2)) < 1e-12, out.stdout
        assert numba_loaded == "False", f"device={device}: the first small call started numba"
