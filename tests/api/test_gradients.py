"""Adjoint gradients against finite differences of exact expectations, and parameter shift."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

import qfab

from tests.support.reference import finite_difference
from tests.support.circuits import hardware_efficient, random_circuits


@given(qc=random_circuits(max_qubits=6, max_gates=20), seed=st.integers(0, 2**16))
def test_adjoint_and_parameter_shift_equal_finite_differences(qc, seed):
    obs = SparsePauliOp(["Z" + "I" * (qc.num_qubits - 1), "X" * qc.num_qubits], [1.0, -0.4])
    values = np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters)
    circ = qfab.from_qiskit(qc)
    reference = finite_difference(qc, obs, values)
    np.testing.assert_allclose(qfab.gradient(circ, obs, values), reference, atol=1e-6)
    np.testing.assert_allclose(qfab.gradient(circ, obs, values, method="parameter-shift"), reference, atol=1e-6)


@pytest.mark.parametrize("gate", ["crx", "cry", "crz", "cp", "rzx", "rxx", "ryy", "rzz", "p"])
def test_every_rotation_kind_differentiates(gate):
    t = Parameter("t")
    qc = QuantumCircuit(2)
    qc.h([0, 1])
    qc.ry(0.3, 1)
    getattr(qc, gate)(1.5 * t - 0.2, 0, 1) if gate != "p" else qc.p(1.5 * t - 0.2, 1)
    qc.rx(0.7, 0)
    obs = SparsePauliOp(["XY", "ZZ", "YI"], [0.3, 1.0, 0.5])
    values = np.array([0.9])
    reference = finite_difference(qc, obs, values)
    circ = qfab.from_qiskit(qc)
    np.testing.assert_allclose(qfab.gradient(circ, obs, values), reference, atol=1e-7)
    np.testing.assert_allclose(qfab.gradient(circ, obs, values, method="parameter-shift"), reference, atol=1e-7)


@pytest.mark.parametrize("n", [4, 15])
def test_batched_gradients_for_several_observables(n):
    qc = hardware_efficient(n, 2)
    circ = qfab.from_qiskit(qc)
    obs = [SparsePauliOp("I" * (n - 1) + "Z"), SparsePauliOp("Z" * n), SparsePauliOp("X" + "I" * (n - 2) + "Y")]
    values = np.random.default_rng(n).uniform(-np.pi, np.pi, (3, qc.num_parameters))
    grads = qfab.gradient(circ, obs, values)
    assert grads.shape == (3, 3, qc.num_parameters)
    for b in range(3):
        for k, o in enumerate(obs):
            single = qfab.gradient(circ, o, values[b])
            np.testing.assert_allclose(grads[b, k], single, atol=1e-10)
    shift = qfab.gradient(circ, obs[1], values[0], method="parameter-shift")
    np.testing.assert_allclose(grads[0, 1], shift, atol=1e-9)


def test_shared_parameter_gradients_add_up():
    t = Parameter("t")
    qc = QuantumCircuit(2)
    qc.ry(t, 0)
    qc.cx(0, 1)
    qc.ry(-2 * t, 1)
    obs = SparsePauliOp("ZZ")
    values = np.array([0.37])
    np.testing.assert_allclose(qfab.gradient(qfab.from_qiskit(qc), obs, values), finite_difference(qc, obs, values), atol=1e-7)


def test_gradient_refuses_non_hermitian_and_unknown_method():
    circ = qfab.from_qiskit(hardware_efficient(2, 1))
    with pytest.raises(ValueError, match="not Hermitian"):
        qfab.gradient(circ, SparsePauliOp("ZZ", 1j), np.zeros(4))
    with pytest.raises(ValueError, match="unknown gradient method 'finite'"):
        qfab.gradient(circ, SparsePauliOp("ZZ"), np.zeros(4), method="finite")


def test_default_method_is_the_devices_best():
    """``method="best"`` (the default): the CPU's adjoint, and on an FPGA build the on-chip
    adjoint where it has bank B, else the on-chip shift loop, never a refusal. The result equals the named method's
    bit for bit and is within the fixed-point error of the exact gradient."""
    from qfab.backends.fpga import FPGADevice
    from qfab_hw import CoreParams

    qc = hardware_efficient(3, 2)
    obs = SparsePauliOp(["ZII", "IZZ"], [1.0, -0.5])
    values = np.random.default_rng(2).uniform(-np.pi, np.pi, qc.num_parameters)
    circ = qfab.from_qiskit(qc)
    exact = finite_difference(qc, obs, values)
    np.testing.assert_array_equal(qfab.gradient(circ, obs, values), qfab.gradient(circ, obs, values, method="adjoint"))
    for adjoint, best in ((True, "adjoint"), (False, "parameter-shift")):
        device = FPGADevice("model", CoreParams(max_qubits=4, lanes=2, width=18, max_params=16, adjoint=adjoint))
        assert device.capabilities.best_gradient_method == best
        default = qfab.gradient(circ, obs, values, device=device)
        np.testing.assert_array_equal(default, qfab.gradient(circ, obs, values, device=device, method=best))
        np.testing.assert_allclose(default, exact, atol=2e-3)
    with pytest.raises(ValueError, match="cannot compute gradients by 'adjoint'"):
        qfab.gradient(circ, obs, values, device=device, method="adjoint")
