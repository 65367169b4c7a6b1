"""The GPU device under numba's CUDA simulator: against Qiskit, finite differences and the CPU engine.

The simulator runs every CUDA thread as a Python thread, so circuits stay small (2-6 qubits)
and property tests draw few examples; the CPU engine's own tests cover the wide ground, these
check that the kernels reproduce it.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numba import cuda
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector

import qfab
from qfab.backends import DeviceCapabilityError, get_device
from qfab.backends.cpu import kernels as cpu_kernels
from qfab.backends.cpu.simulator import InsufficientMemoryError
from qfab.backends.gpu import simulator as gpu_engine
from qfab.backends.gpu import kernels as gpu_kernels

from tests.support.circuits import hardware_efficient, random_circuits

FEW = settings(max_examples=6)
small_circuits = random_circuits(min_qubits=2, max_qubits=5, max_gates=14)


def bind(qc, values):
    return qc.assign_parameters(dict(zip(qc.parameters, values)))


def random_values(qc, seed, batch=None):
    shape = (qc.num_parameters,) if batch is None else (batch, qc.num_parameters)
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, shape)


def observables(n):
    return [SparsePauliOp(["Z" + "I" * (n - 1), "X" * n], [1.0, -0.4]),
            SparsePauliOp(["I" * (n - 2) + "YZ", "Y" * n], [0.7, 0.2])]


def finite_difference(qc, obs, values, eps=1e-5):
    def value(theta):
        return Statevector(bind(qc, theta)).expectation_value(obs).real

    steps = np.eye(len(values)) * eps
    return np.array([(value(values + s) - value(values - s)) / (2 * eps) for s in steps])


@FEW
@given(qc=small_circuits, seed=st.integers(0, 2**16))
def test_statevector_equals_qiskit(qc, seed):
    values = random_values(qc, seed)
    np.testing.assert_allclose(qfab.statevector(qc, values, device="gpu"), Statevector(bind(qc, values)).data, atol=1e-10)


@FEW
@given(qc=small_circuits, seed=st.integers(0, 2**16))
def test_expectations_equal_qiskit(qc, seed):
    obs = observables(qc.num_qubits)
    values = random_values(qc, seed)
    state = Statevector(bind(qc, values))
    expected = [state.expectation_value(o).real for o in obs]
    np.testing.assert_allclose(qfab.expectation(qc, obs, values, device="gpu"), expected, atol=1e-10)


@FEW
@given(qc=random_circuits(min_qubits=2, max_qubits=4, max_gates=10), seed=st.integers(0, 2**16))
def test_adjoint_gradient_equals_finite_differences(qc, seed):
    obs = observables(qc.num_qubits)[0]
    values = random_values(qc, seed)
    np.testing.assert_allclose(qfab.gradient(qc, obs, values, device="gpu"), finite_difference(qc, obs, values), atol=1e-6)


@FEW
@given(qc=random_circuits(min_qubits=2, max_qubits=6, max_gates=16), seed=st.integers(0, 2**16))
def test_gpu_equals_cpu_on_batches(qc, seed):
    """States, expectations and adjoint gradients of a batch of three sets, entry by entry."""
    obs = observables(qc.num_qubits)
    values = random_values(qc, seed, batch=3)
    np.testing.assert_allclose(qfab.statevector(qc, values, device="gpu"), qfab.statevector(qc, values), atol=1e-12)
    np.testing.assert_allclose(qfab.expectation(qc, obs, values, device="gpu"), qfab.expectation(qc, obs, values), atol=1e-12)
    np.testing.assert_allclose(qfab.gradient(qc, obs, values, device="gpu"), qfab.gradient(qc, obs, values), atol=1e-10)


def test_every_rotation_kind_differentiates():
    t = Parameter("t")
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    for position, gate in enumerate(["crx", "cry", "crz", "cp", "rzx", "rxx", "ryy", "rzz"]):
        getattr(qc, gate)((0.5 + 0.25 * position) * t - 0.2, position % 3, (position + 1) % 3)
        qc.rx(0.3 * position, position % 3)
    qc.p(1.5 * t, 2)
    obs = SparsePauliOp(["XYI", "ZZZ", "IYX"], [0.3, 1.0, 0.5])
    values = np.array([0.9])
    np.testing.assert_allclose(qfab.gradient(qc, obs, values, device="gpu"), finite_difference(qc, obs, values), atol=1e-7)


def fast_path_circuit():
    """Dense parametric blocks around one diagonal and one monomial block, on overlapping qubits."""
    t = [Parameter(f"t{i}") for i in range(8)]
    qc = QuantumCircuit(4)
    for q in range(4):
        qc.ry(t[q], q)  # dense blocks {0, 1} and {2, 3}
    qc.cz(1, 2), qc.rzz(t[4], 1, 2), qc.p(t[5], 1)  # a diagonal block {1, 2}
    qc.cx(0, 3), qc.rz(t[6], 0), qc.x(3), qc.swap(0, 3)  # a monomial block {0, 3}
    qc.rxx(t[7], 0, 1), qc.ryy(0.4, 2, 3)  # dense blocks {0, 1} and {2, 3} again
    return qc


def test_diagonal_and_monomial_blocks_take_their_fast_paths_forward_and_back():
    qc = fast_path_circuit()
    kinds = get_device("gpu").engine.program(qfab.from_qiskit(qc)).block_kinds
    assert kinds.count(cpu_kernels.DIAGONAL) == 1 and kinds.count(cpu_kernels.MONOMIAL) == 1
    obs = SparsePauliOp(["XXYY", "YZXZ"], [0.6, 1.0])
    values = random_values(qc, 3)
    np.testing.assert_allclose(qfab.statevector(qc, values, device="gpu"), Statevector(bind(qc, values)).data, atol=1e-12)
    np.testing.assert_allclose(qfab.gradient(qc, obs, values, device="gpu"), finite_difference(qc, obs, values), atol=1e-7)


def test_every_block_kind_applies_like_the_cpu_kernel_and_its_dagger_undoes_it():
    """Kernel level: each block of the fast-path circuit, forward on a random state against the
    CPU engine's ``apply_block``, then ``dagger=True`` back to the start."""
    qc = fast_path_circuit()
    gpu = get_device("gpu").engine
    program = gpu.program(qfab.from_qiskit(qc))
    device_program = gpu_engine.DeviceProgram(program)
    thetas = random_values(qc, 11, batch=1)
    mats = device_program.matrices(thetas, np.complex128)
    host_mats = mats.copy_to_host()[0]
    kern = gpu_kernels.for_dtype(np.complex128)
    sizes, qubits, offsets = program.arrays[0], program.arrays[1], program.arrays[2]
    rng = np.random.default_rng(0)
    for bi, kind in enumerate(program.block_kinds):
        start = rng.normal(size=(1, 16)) + 1j * rng.normal(size=(1, 16))
        expected = start[0].copy()
        dim = 1 << sizes[bi]
        cpu_kernels.apply_block(expected, host_mats[bi, :dim, :dim], kind, qubits[bi], sizes[bi], offsets[bi], False)
        state = cuda.to_device(start)
        gpu.apply_block(kern, device_program, state, mats, bi, rows_per_set=1, dagger=False)
        np.testing.assert_allclose(state.copy_to_host()[0], expected, atol=1e-13, err_msg=f"block {bi} kind {kind}")
        gpu.apply_block(kern, device_program, state, mats, bi, rows_per_set=1, dagger=True)
        np.testing.assert_allclose(state.copy_to_host(), start, atol=1e-13, err_msg=f"block {bi} kind {kind} dagger")


def test_batch_in_chunks_equals_batch_in_one_launch(monkeypatch):
    qc = hardware_efficient(3, 2)
    obs = observables(3)
    values = random_values(qc, 5, batch=5)
    whole = (qfab.statevector(qc, values, device="gpu"), qfab.gradient(qc, obs, values, device="gpu"))
    monkeypatch.setattr(gpu_engine, "MAX_CHUNK", 2)
    chunked = (qfab.statevector(qc, values, device="gpu"), qfab.gradient(qc, obs, values, device="gpu"))
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)
    for row in range(5):
        np.testing.assert_allclose(whole[0][row], Statevector(bind(qc, values[row])).data, atol=1e-12)


def test_complex64_runs_in_single_precision_and_stays_close():
    qc = hardware_efficient(5, 2)
    obs = observables(5)
    values = random_values(qc, 7, batch=2)
    state = qfab.statevector(qc, values, device="gpu", dtype=np.complex64)
    assert state.dtype == np.complex64
    np.testing.assert_allclose(state, qfab.statevector(qc, values), atol=1e-6)
    np.testing.assert_allclose(qfab.expectation(qc, obs, values, device="gpu", dtype=np.complex64),
                               qfab.expectation(qc, obs, values), atol=1e-5)
    np.testing.assert_allclose(qfab.gradient(qc, obs, values, device="gpu", dtype=np.complex64),
                               qfab.gradient(qc, obs, values), atol=1e-5)


def test_refuses_vectors_beyond_free_gpu_memory_with_the_numbers(monkeypatch):
    monkeypatch.setattr(gpu_engine, "gpu_memory", lambda: (2**30, 2**31))
    with pytest.raises(InsufficientMemoryError, match=r"statevector at n=27 needs 2\.00 GiB for 1 state vector\(s\) of "
                       r"complex128 \(2\^27 amplitudes x 16 B each\), but only 1\.00 GiB of the GPU's 2\.00 GiB is free"):
        qfab.statevector(hardware_efficient(27, 1), np.zeros(54), device="gpu")
    obs = [SparsePauliOp("Z" + "I" * 24)] * 3
    with pytest.raises(InsufficientMemoryError, match=r"adjoint gradient at n=25 needs 1\.00 GiB for 4 state vector"):
        qfab.gradient(hardware_efficient(25, 1), obs, np.zeros(50), device="gpu", dtype=np.complex64)


def test_refuses_gates_wider_than_the_kernels_take():
    qc = QuantumCircuit(7)
    qc.mcx(list(range(6)), 6)
    with pytest.raises(DeviceCapabilityError, match="at most 5 qubits; the circuit has one on 7"):
        qfab.statevector(qc, device="gpu")


def test_profile_is_not_measured_without_a_measurement_file(monkeypatch, tmp_path):
    monkeypatch.setenv("QFAB_GPU_PROFILE", str(tmp_path / "none.json"))
    parameters = get_device("gpu").profile().parameters
    assert parameters["bandwidth_GBps"] is None and parameters["launch_overhead_s"] is None
    (tmp_path / "measured.json").write_text('{"bandwidth_GBps": 3000.0, "launch_overhead_s": 4e-06}')
    monkeypatch.setenv("QFAB_GPU_PROFILE", str(tmp_path / "measured.json"))
    parameters = get_device("gpu").profile().parameters
    assert parameters["bandwidth_GBps"] == 3000.0 and parameters["launch_overhead_s"] == 4e-06
