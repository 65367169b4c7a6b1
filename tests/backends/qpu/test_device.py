"""Quantum hardware as a qfab device, on fake IBM backends (real calibration snapshots, Aer noise).

Small backends only (5-16 qubits): transpiling onto 127 qubits is for benchmarks/hardware_mapping.py.
"""
import numpy as np
import pytest

pytest.importorskip("qiskit_aer", reason="qiskit-aer simulates the fake backends; it is in the dev extra")
fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider", reason="fake backends: dev extra")

from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit import ParameterVector  # noqa: E402
from qiskit.circuit.library import get_standard_gate_name_mapping  # noqa: E402
from qiskit.circuit.library import real_amplitudes  # noqa: E402
from qiskit.providers.fake_provider import GenericBackendV2  # noqa: E402
from qiskit.quantum_info import SparsePauliOp, Statevector, random_pauli_list  # noqa: E402
from qiskit.transpiler import InstructionProperties  # noqa: E402
from qiskit_aer import AerSimulator  # noqa: E402
from qiskit_aer.noise.device import basic_device_readout_errors  # noqa: E402

import qfab  # noqa: E402
from qfab.backends import QPU, DeviceCapabilityError, Job  # noqa: E402
from qfab.backends.qpu import pauli_sum_to_sparse_pauli_op  # noqa: E402
from qfab.qml.hardware import (estimated_success_probability, hardware_efficient_ansatz, logical_ansatz,  # noqa: E402
                           map_circuit, to_qiskit)  # noqa: E402
from qfab.core.observables import PauliSum  # noqa: E402
from qfab.qiskit import EstimatorV2  # noqa: E402




def _circuit_with_every_rotation():
    theta = ParameterVector("a", 4)
    circuit = real_amplitudes(3, reps=1)
    circuit.crx(2 * theta[0] + 0.3, 0, 1)
    circuit.cry(theta[1], 1, 2)
    circuit.crz(theta[2], 2, 0)
    circuit.cp(theta[3], 0, 2)
    circuit.rzz(theta[0], 1, 2)
    circuit.p(-theta[1], 1)
    return circuit


def test_pauli_sum_round_trip():
    op = SparsePauliOp(random_pauli_list(4, 6, seed=1, phase=False), np.arange(1, 7) * 0.5)
    back = pauli_sum_to_sparse_pauli_op(PauliSum.from_sparse_pauli_op(op))
    assert back.simplify().equiv(op.simplify())


def test_exported_circuit_prepares_the_same_state():
    source = _circuit_with_every_rotation()
    circuit = qfab.from_qiskit(source)
    shiftable = to_qiskit(circuit)
    theta = np.random.default_rng(2).normal(size=circuit.num_parameters)
    angles = shiftable.plan.angles(theta)[0]
    exported = Statevector(shiftable.circuit.assign_parameters(dict(zip(shiftable.angles, angles))))
    expected = Statevector(source.assign_parameters(theta))
    assert abs(np.vdot(exported.data, expected.data)) == pytest.approx(1.0, abs=1e-10)


def test_exported_angles_shift_to_the_exact_gradient():
    """Controlled rotations go out as half-angle rotations, so every exported angle has the two-term
    rule; the plan's rows, run exactly on the exported circuit, give the exact gradient back."""
    source = _circuit_with_every_rotation()
    circuit = qfab.from_qiskit(source)
    shiftable = to_qiskit(circuit)
    plan = shiftable.plan
    assert plan.num_shifted == 2 * plan.num_angles
    observable = SparsePauliOp(["ZXY", "IZZ"], [0.6, -1.0])
    theta = np.random.default_rng(7).normal(size=circuit.num_parameters)
    values = [Statevector(shiftable.circuit.assign_parameters(dict(zip(shiftable.angles, row)))).expectation_value(
        observable).real for row in plan.rows(theta)]
    np.testing.assert_allclose(plan.gradients(np.array(values)[None, :, None])[0, 0],
                               qfab.gradient(circuit, observable, theta), atol=1e-10)


def test_qpu_device_refuses_what_hardware_cannot_do():
    device = QPU(GenericBackendV2(3, seed=1))
    circuit = qfab.from_qiskit(real_amplitudes(2, reps=1))
    with pytest.raises(DeviceCapabilityError):
        device.run([Job(circuit, np.zeros((1, 4)), want_state=True)])
    with pytest.raises(DeviceCapabilityError):
        device.run([Job(circuit, np.zeros((1, 4)), (PauliSum.from_sparse_pauli_op(SparsePauliOp("ZZ")),),
                        gradient="adjoint")])


def test_noisy_expectations_match_density_matrix_with_explicit_readout_error():
    """Shots on FakeManilaV2 vs an exact density matrix under the same gate noise, with the
    readout confusion applied by hand (not Aer's save_expectation_value, see qiskit-aer#2442)."""
    backend = fake_provider.FakeManilaV2()
    device = QPU(backend, shots=40_000, seed=11)
    logical = real_amplitudes(3, reps=2)
    theta = np.random.default_rng(3).uniform(-np.pi, np.pi, size=(2, logical.num_parameters))
    observables = [SparsePauliOp("IZZ"), SparsePauliOp("ZIZ"), SparsePauliOp("ZII")]
    job = Job(qfab.from_qiskit(logical), theta, tuple(PauliSum.from_sparse_pauli_op(o) for o in observables))
    measured = device.run([job])[0]

    shiftable, mapped = device.map(job.circuit)
    gate_noise = backend._get_noise_model_from_backend_v2(readout_error=False)
    simulator = AerSimulator(method="density_matrix", noise_model=gate_noise)
    confusion = {qubits[0]: np.asarray(error.probabilities) for qubits, error in
                 basic_device_readout_errors(backend.properties())}
    n = backend.num_qubits
    for row, angles in enumerate(shiftable.plan.angles(theta)):
        bound = mapped.mapped.assign_parameters({p: angles[p.index] for p in mapped.mapped.parameters})
        bound.save_density_matrix()
        rho = simulator.run(bound).result().data()["density_matrix"]
        probabilities = np.real(np.diag(np.asarray(rho))).reshape((2,) * n)  # axis k is qubit n-1-k
        for qubit, matrix in confusion.items():  # P(read b | true a) = matrix[a, b]
            axis = n - 1 - qubit
            probabilities = np.moveaxis(np.tensordot(probabilities, matrix, axes=([axis], [0])), -1, axis)
        probabilities = probabilities.reshape(-1)
        outcomes = np.arange(2**n)
        for k, observable in enumerate(observables):
            support = [q for q, label in enumerate(reversed(observable.paulis[0].to_label())) if label == "Z"]
            mask = sum(1 << mapped.final_layout[q] for q in support)
            signs = 1 - 2 * (np.bitwise_count(outcomes & mask).astype(np.int64) % 2)
            reference = float(probabilities @ signs)
            std = measured.expectation_stds[row, k]
            assert 0 < std < 0.01
            assert abs(measured.expectations[row, k] - reference) < 4.5 * std, (row, k, reference)
        ideal = qfab.expectation(logical, observables, theta[row])
        assert np.max(np.abs(ideal - measured.expectations[row])) > 0.01  # the noise is really there


@pytest.mark.filterwarnings("ignore:Qiskit backend .* has no QubitProperties")
def test_parameter_shift_gradient_with_shots_is_within_its_error_bars():
    backend = GenericBackendV2(3, noise_info=False, seed=5)
    device = QPU(backend, shots=8192, seed=13)
    source = _circuit_with_every_rotation()
    theta = np.random.default_rng(4).normal(size=source.num_parameters)
    observables = (SparsePauliOp("ZZI"), SparsePauliOp("IXY"))
    job = Job(qfab.from_qiskit(source), theta[None], tuple(PauliSum.from_sparse_pauli_op(o) for o in observables),
              gradient="parameter-shift")
    result = device.run([job])[0]
    exact = qfab.gradient(source, list(observables), theta)
    assert result.gradients.shape == result.gradient_stds.shape == (1, 2, source.num_parameters)
    deviations = (result.gradients[0] - exact) / result.gradient_stds[0]
    assert np.all(result.gradient_stds > 0)
    assert np.max(np.abs(deviations)) < 4.5
    assert 0.3 < np.sqrt(np.mean(deviations**2)) < 2.0  # the error bars are the right size too
    estimate = device.estimate(source, list(observables), theta, gradient=True)
    np.testing.assert_array_equal(estimate.gradients, result.gradients)  # same seed, same shots
    api_gradient = qfab.gradient(source, observables[0], theta, device=device, method="parameter-shift")
    assert np.max(np.abs(api_gradient - exact[0]) / result.gradient_stds[0, 0]) < 4.5


def test_noise_aware_layout_beats_trivial_layout():
    for backend in (fake_provider.FakeLagosV2(), fake_provider.FakeGuadalupeV2()):
        logical = logical_ansatz(5)
        ours, trivial = map_circuit(logical, backend), map_circuit(logical, backend, "trivial")
        assert ours.estimated_success >= trivial.estimated_success
        assert ours.estimated_success == pytest.approx(
            estimated_success_probability(ours.mapped, backend.target, list(ours.final_layout)))
        assert 0 < ours.estimated_success < 1


def test_hardware_efficient_ansatz_needs_no_routing():
    backend = fake_provider.FakeGuadalupeV2()
    ansatz = hardware_efficient_ansatz(backend, 6, layers=3)
    native = set(backend.target.operation_names)
    assert set(ansatz.circuit.count_ops()) <= native
    mapped = map_circuit(ansatz.circuit, backend, initial_layout=list(ansatz.physical_qubits))
    assert mapped.two_qubit_gates == 3 * (6 - 1)  # no SWAPs were added
    assert mapped.layout == ansatz.physical_qubits
    generic = map_circuit(logical_ansatz(6), backend)
    assert mapped.estimated_success > generic.estimated_success
    theta = np.random.default_rng(6).normal(size=ansatz.circuit.num_parameters)  # and qfab simulates it
    assert np.isclose(np.linalg.norm(qfab.statevector(ansatz.circuit, theta)), 1.0)


def test_qpu_profile_and_estimator_on_hardware():
    backend = fake_provider.FakeManilaV2()
    device = QPU(backend, shots=2000, seed=1)
    parameters = device.profile().parameters
    for key in ("queue_seconds", "latency_seconds", "shot_seconds", "median_two_qubit_error", "median_readout_error"):
        assert parameters[key] is not None
    assert parameters["kind"] == "qpu" and parameters["exact"] is False
    circuit = real_amplitudes(2, reps=1)
    theta = np.random.default_rng(7).normal(size=(3, circuit.num_parameters))
    result = EstimatorV2(device=device).run([(circuit, ["ZZ", "XI"], theta[:, None, :])]).result()[0]
    assert result.data.evs.shape == (3, 2)
    assert np.all(result.data.stds > 0)
    assert 0 < device.expected_error(qfab.from_qiskit(circuit)) < 1
    assert device.estimated_seconds(qfab.from_qiskit(circuit), batch=3, gradient=True) > 0


def test_dead_couplers_are_avoided_and_zero_the_success_estimate():
    backend = GenericBackendV2(5, coupling_map=[[0, 1], [1, 2], [2, 3], [3, 4]], seed=3)
    gate = next(g for g in ("ecr", "cz", "cx") if g in backend.target.operation_names)
    for pair in list(backend.target[gate]):
        if set(pair) == {1, 2}:
            backend.target.update_instruction_properties(gate, pair, InstructionProperties(error=1.0))
    ansatz = hardware_efficient_ansatz(backend, 3, layers=1)
    assert all(set(pair) != {1, 2} for pair in ansatz.couplers)
    assert set(ansatz.physical_qubits) == {2, 3, 4}
    chain = QuantumCircuit(3)
    chain.append(get_standard_gate_name_mapping()[gate], [0, 1])
    chain.append(get_standard_gate_name_mapping()[gate], [1, 2])
    assert map_circuit(chain, backend, "trivial").estimated_success == 0.0
    assert map_circuit(chain, backend).estimated_success > 0.5


def test_planner_weighs_the_qpu_by_its_profile():
    from qfab.scheduling import Workload, plan, run

    qpu = QPU(fake_provider.FakeManilaV2(), shots=1000, seed=1)
    circuit = real_amplitudes(3, reps=1)
    work = Workload()
    work.add(circuit, SparsePauliOp("ZZI"), np.zeros((4, 6)), gradient=False, shots=1000, accuracy=0.2)
    work.add(circuit, SparsePauliOp("ZZI"), np.zeros((4, 6)), gradient=True, accuracy=1e-6)
    schedule = plan(work, devices=["cpu", qpu])
    explanation = schedule.explain()
    assert "qpu:fake_manila" in explanation.split("job 1")[0]  # a candidate for the loose-accuracy job
    assert "expected error" in explanation.split("job 1")[1]  # excluded from the exact one
    seconds_per_shot = qpu.profile().parameters["shot_seconds"]
    assert qpu.estimated_seconds(qfab.from_qiskit(circuit), 4, 1000) >= 4 * 1000 * seconds_per_shot
    assert len(run(schedule, progress=False)) == 2
