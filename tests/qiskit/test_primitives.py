"""qfab's Qiskit primitives and backend against Qiskit's own reference implementations."""
import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit.library import efficient_su2, real_amplitudes
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2, StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp, Statevector

from qfab.qiskit import EstimatorV2, QfabBackend, SamplerV2


def _random(shape, seed=0):
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, size=shape)


def test_estimator_matches_statevector_estimator_with_broadcasting():
    circuit = efficient_su2(4, reps=2)
    observables = [[SparsePauliOp("ZZII")], [SparsePauliOp(["XIYZ", "IIZZ"], [0.5, -2.0])], [SparsePauliOp("IIII")]]
    values = _random((5, circuit.num_parameters))
    pubs = [(circuit, observables, values), (circuit, SparsePauliOp("XXXX"), values[0]),
            (real_amplitudes(3, reps=1), ["ZZI", "XIX"], _random((2, 1, 6), seed=1))]
    ours = EstimatorV2().run(pubs).result()
    reference = StatevectorEstimator().run(pubs).result()
    assert len(ours) == 3
    for mine, theirs in zip(ours, reference):
        assert mine.data.evs.shape == theirs.data.evs.shape
        np.testing.assert_allclose(mine.data.evs, theirs.data.evs, atol=1e-12)
        np.testing.assert_array_equal(mine.data.stds, 0.0)
    assert ours[0].data.evs.shape == (3, 5)
    assert ours[2].data.evs.shape == (2, 2)


def test_estimator_precision_policy():
    circuit = real_amplitudes(2, reps=1)
    values = _random(circuit.num_parameters)
    exact = EstimatorV2().run([(circuit, "ZZ", values)], precision=0.1).result()[0]
    assert exact.metadata["target_precision"] == 0.1
    noisy = EstimatorV2(emulate_shot_noise=True, seed=3).run([(circuit, "ZZ", np.tile(values, (2000, 1)))],
                                                             precision=0.1).result()[0]
    assert abs(noisy.data.evs.std() - 0.1) < 0.01
    assert abs(noisy.data.evs.mean() - exact.data.evs) < 0.01
    np.testing.assert_array_equal(noisy.data.stds, 0.1)
    aer_style = EstimatorV2(options={"default_precision": 0.1, "emulate_shot_noise": True, "seed": 3})
    same = aer_style.run([(circuit, "ZZ", np.tile(values, (2000, 1)))]).result()[0]
    np.testing.assert_array_equal(same.data.evs, noisy.data.evs)  # the same noise from the same seed
    with pytest.raises(ValueError, match=r"unknown EstimatorV2 option\(s\) \['shots'\]"):
        EstimatorV2(options={"shots": 100})


def test_estimator_refuses_a_bare_circuit():
    with pytest.raises(ValueError):
        EstimatorV2().run(real_amplitudes(2, reps=1)).result()


def _measured_circuit():
    ansatz = real_amplitudes(3, reps=2)
    qubits, alpha, beta = QuantumRegister(3), ClassicalRegister(2, "alpha"), ClassicalRegister(1, "beta")
    circuit = QuantumCircuit(qubits, alpha, beta)
    circuit.compose(ansatz, inplace=True)
    circuit.measure(0, alpha[1])
    circuit.measure(2, alpha[0])
    circuit.measure(1, beta[0])
    return ansatz, circuit


def _exact_register_probabilities(ansatz, values):
    """Exact distributions of the two registers from Statevector marginals."""
    probabilities = Statevector(ansatz.assign_parameters(values)).probabilities_dict(qargs=[2, 0])  # alpha = q0 q2
    beta = Statevector(ansatz.assign_parameters(values)).probabilities_dict(qargs=[1])
    return probabilities, beta


def test_sampler_counts_follow_exact_probabilities():
    ansatz, circuit = _measured_circuit()
    values = _random((3, ansatz.num_parameters), seed=4)
    shots = 20_000
    result = SamplerV2(seed=5).run([(circuit, values)], shots=shots).result()[0]
    assert result.data.alpha.shape == (3,) and result.data.alpha.num_shots == shots
    assert result.metadata["shots"] == shots
    for row in range(3):
        alpha, beta = _exact_register_probabilities(ansatz, values[row])
        for register, exact in ((result.data.alpha[row], alpha), (result.data.beta[row], beta)):
            counts = register.get_counts()
            for key, p in exact.items():
                sigma = np.sqrt(p * (1 - p) / shots) + 1e-9
                assert abs(counts.get(key, 0) / shots - p) < 5 * sigma + 1e-4, (key, counts, exact)


def test_backend_runs_under_qiskit_transpiler_and_backend_primitives():
    backend = QfabBackend(num_qubits=8)
    assert backend.num_qubits == 8 and "rzz" in backend.operation_names
    ansatz, circuit = _measured_circuit()
    values = _random(ansatz.num_parameters, seed=6)
    bound = transpile(circuit.assign_parameters(values), backend, initial_layout=[7, 3, 5], seed_transpiler=1)
    assert bound.num_qubits == 8  # five idle qubits, which the backend drops before simulating
    shots = 20_000
    counts = backend.run(bound, shots=shots, seed_simulator=7).result().get_counts()
    alpha, beta = _exact_register_probabilities(ansatz, values)
    for key, p in alpha.items():
        observed = sum(c for k, c in counts.items() if k.split()[1] == key) / shots
        assert abs(observed - p) < 5 * np.sqrt(p * (1 - p) / shots) + 1e-4
    sampled = BackendSamplerV2(backend=backend).run([circuit.assign_parameters(values)], shots=shots).result()[0]
    for key, p in beta.items():
        assert abs(sampled.data.beta.get_counts().get(key, 0) / shots - p) < 5 * np.sqrt(p * (1 - p) / shots) + 1e-4
    estimated = BackendEstimatorV2(backend=backend).run([(ansatz, "ZIZ", values)], precision=0.01).result()[0]
    exact = Statevector(ansatz.assign_parameters(values)).expectation_value(SparsePauliOp("ZIZ")).real
    assert abs(estimated.data.evs - exact) < 5 * max(float(estimated.data.stds), 0.005)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_backend_in_qiskit_ibm_runtime_local_mode():
    runtime = pytest.importorskip("qiskit_ibm_runtime", reason="qiskit-ibm-runtime is in the dev extra")
    from qiskit.transpiler import generate_preset_pass_manager

    backend = QfabBackend(num_qubits=4)
    circuit = real_amplitudes(3, reps=1)
    values = _random(circuit.num_parameters, seed=8)
    mapped = generate_preset_pass_manager(backend=backend, optimization_level=1).run(circuit)
    observable = SparsePauliOp("ZZI").apply_layout(mapped.layout)
    data = runtime.EstimatorV2(mode=backend).run([(mapped, observable, values)]).result()[0].data
    exact = Statevector(circuit.assign_parameters(values)).expectation_value(SparsePauliOp("ZZI")).real
    assert abs(data.evs - exact) < 5 * float(data.stds)


def test_circuits_without_parameters():
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    evs = EstimatorV2().run([(bell, ["ZZ", "XX", "ZI"])]).result()[0].data.evs
    np.testing.assert_allclose(evs, [1.0, 1.0, 0.0], atol=1e-12)
    bell.measure_all()
    counts = SamplerV2(seed=1).run([bell], shots=1000).result()[0].data.meas.get_counts()
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 1000


def test_malformed_pubs_and_arguments_are_qfab_errors_before_any_work():
    """Qiskit's TypeError/ValueError come back as qfab's InputTypeError/InputError (the same
    built-in types) naming the PUB; what Qiskit lets through (NaN precisions, complex or NaN
    parameter values, infinite coefficients, shots beyond 2**63) is refused too."""
    from qfab.errors import InputError, InputTypeError

    circuit = real_amplitudes(2, reps=1)
    values = _random(circuit.num_parameters)
    estimator, sampler = EstimatorV2(device="cpu"), SamplerV2(device="cpu")
    measured = circuit.measure_all(inplace=False)
    for pubs, precision, error, message in [
        ([(circuit, "ZZZ", values)], None, InputError, "EstimatorV2 PUB 0: The number of qubits of the circuit"),
        ([(circuit, "ZZ", values[:3])], None, InputError, "EstimatorV2 PUB 0: Length of .* inconsistent"),
        ([(circuit, ["ZZ", "XX"], np.tile(values, (3, 1)))], None, InputError, "not broadcastable"),
        ([(circuit, "ZZ", values + 0.5j)], None, InputError, "PUB 0: parameter values is a complex array"),
        ([(circuit, "ZZ", values), (circuit, "ZZ", np.full(4, np.nan))], None, InputError, "PUB 1: parameter values contain NaN"),
        ([(circuit, {"ZZ": np.inf}, values)], None, InputError, "coefficients must be finite"),
        ([(circuit, "ZZ", values, np.nan)], None, InputError, "PUB 0: precision must be a finite number"),
        ([(circuit, "ZZ", values)], -0.1, InputError, "run precision must be a finite number >= 0, got -0.1"),
        ([(circuit, "ZZ", values)], True, InputTypeError, "run precision must be a real number, got True"),
        ([(circuit,)], None, InputError, "The length of pub must be 2, 3 or 4"),
        (5, None, InputTypeError, "takes a list of PUBs, got int"),
    ]:
        with pytest.raises(error, match=message):
            estimator.run(pubs, precision=precision)
    for pubs, shots, error, message in [
        ([(measured, values, 2**70)], None, InputError, "SamplerV2 PUB 0: shots must be a positive integer"),
        ([(measured, values)], True, InputError, "SamplerV2.run shots must be a positive integer"),
        ([(measured, values > 0)], None, InputError, "PUB 0: parameter values must be real numbers; got an array of dtype bool"),
        ([(measured, values[:2])], None, InputError, "SamplerV2 PUB 0: Length of .* inconsistent"),
    ]:
        with pytest.raises(error, match=message):
            sampler.run(pubs, shots=shots)
    with pytest.raises(InputError, match="default_precision must be a finite number"):
        EstimatorV2(default_precision=float("inf"))
    with pytest.raises(InputError, match="default_shots must be a positive integer"):
        SamplerV2(default_shots=0)
