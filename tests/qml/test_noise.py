"""Noise-induced decay: the density-matrix path against qfab at zero noise and an exact contraction."""
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

import qfab
from qfab.qml import ansatz as A
from qfab.qml import costs as C
from qfab.qml import noise


def test_zero_noise_matches_qfab():
    ansatz, cost = A.hardware_efficient(3, 3), C.local_pauli_cost(3)
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, ansatz.num_parameters)
    matrix = cost.observable.to_matrix()
    assert noise.density_matrix_expectation(ansatz.circuit, matrix, theta, 0.0) == pytest.approx(
        float(qfab.expectation(ansatz.circuit, cost.observable, theta)))
    assert noise.noisy_gradient(ansatz.circuit, matrix, theta, 4, 0.0) == pytest.approx(
        qfab.gradient(ansatz.circuit, cost.observable, theta)[4])


def test_single_qubit_depolarizing_on_zero_state():
    rho = np.diag([1.0, 0.0]).astype(complex)
    out = noise.depolarize(rho, (0,), 0.3, 1)
    assert np.allclose(out, np.diag([0.85, 0.15]))


def test_gradient_contracts_by_one_minus_p_per_two_qubit_gate():
    """RY(theta) on q0 then 2K CZ gates (the identity) each followed by two-qubit depolarizing p:
    <Z0> = (1-p)^(2K) cos(theta), so the gradient shrinks by exactly (1-p)^N_2q."""
    p, theta = 0.05, 0.9
    points = []
    for pairs in (1, 3, 6):
        qc = QuantumCircuit(2)
        qc.ry(Parameter("t"), 0)
        for _ in range(2 * pairs):
            qc.cz(0, 1)
        circuit = qfab.from_qiskit(qc)
        z0 = C.pauli_cost("IZ").observable.to_matrix()
        noisy = noise.noisy_gradient(circuit, z0, np.array([theta]), 0, p)
        assert noisy == pytest.approx(-(1 - p) ** (2 * pairs) * np.sin(theta))
        points.append(noise.NoisePoint(pairs, 2 * pairs, np.sin(theta), abs(noisy)))
    assert noise.fit_noise_rate(points) == pytest.approx(-np.log(1 - p))


def test_noise_scan_shows_decay_with_gate_count():
    points = noise.noise_scan("mcclean", "local_pauli", 3, [2, 8, 24], 20, two_qubit_error=0.02, seed=1)
    ratios = [p.ratio for p in points]
    assert ratios[0] > ratios[1] > ratios[2]
    assert points[-1].two_qubit_gates == 2 * 12 * 2
    assert 0 < noise.fit_noise_rate(points) < -np.log(1 - 0.02) * 1.5


def test_fake_backend_noise_scan_matches_qfab_without_noise_and_decays_with_it():
    """FakeManilaV2 through qiskit-aer's density-matrix simulator. Without the noise model the
    parameter-shift gradients of the transpiled circuits equal qfab's; with it the mean |gradient|
    falls with the CX count at a rate of the order of the backend's own CX error (calibration data,
    independent of the simulation): a depolarizing CX of error e contracts a Pauli by ~(1 - 16e/15)."""
    pytest.importorskip("qiskit_aer")
    pytest.importorskip("qiskit_ibm_runtime")
    ideal = noise.fake_backend_noise_scan("hea", "local_pauli", 3, (2, 12), 8, noise=False, seed=2)
    for point in ideal:
        assert point.noisy_mean_abs == pytest.approx(point.ideal_mean_abs, rel=1e-9)
        assert point.noisy_variance == pytest.approx(point.ideal_variance, rel=1e-9)
    points = noise.fake_backend_noise_scan("hea", "local_pauli", 3, (2, 6, 12), 8, seed=2)
    assert [p.two_qubit_gates for p in points] == [4, 12, 24]
    ratios = [p.ratio for p in points]
    assert 1 > ratios[0] > ratios[1] > ratios[2]
    target = noise.fake_backend("FakeManilaV2").target
    cx_error = np.mean([target["cx"][pair].error for pair in [(0, 1), (1, 2)]])
    assert 0.5 * cx_error < noise.fit_noise_rate(points) < 3 * cx_error
    assert noise.fit_noise_rate_per_layer(points) == pytest.approx(2 * noise.fit_noise_rate(points))


def test_fake_backend_noise_scan_refuses_random_axes():
    pytest.importorskip("qiskit_aer")
    pytest.importorskip("qiskit_ibm_runtime")
    with pytest.raises(ValueError, match="random axes"):
        noise.fake_backend_noise_scan("mcclean", "local_pauli", 2, (2,), 2)


def test_plateau_command_diagnoses_noise_on_a_fake_backend(tmp_path, capsys):
    pytest.importorskip("qiskit_aer")
    pytest.importorskip("qiskit_ibm_runtime")
    from qfab.qml.trainability import cli_main

    assert cli_main(["--qubits", "2,3", "--layers", "2,4", "--samples", "10", "--costs", "local_pauli", "--inits",
                     "uniform", "--fake-backend", "FakeManilaV2", "--noise-qubits", "2", "--out", str(tmp_path),
                     "--no-progress"]) == 0
    assert "FakeManilaV2's noise model" in capsys.readouterr().out
    assert (tmp_path / "noise.png").read_bytes()[:4] == b"\x89PNG"
