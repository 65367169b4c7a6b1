"""The CPU engine against Qiskit's Statevector and SparsePauliOp, on random circuits."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from qiskit.quantum_info import SparsePauliOp, Statevector

import qfab
from qfab.backends.cpu import CPUEngine
from qfab.backends.cpu.fusion import fuse

from tests.support.circuits import hardware_efficient, random_circuits


def bind(qc, values):
    return qc.assign_parameters(dict(zip(qc.parameters, values)))


def random_values(qc, seed):
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters)


@st.composite
def pauli_sums(draw, num_qubits):
    terms = draw(st.integers(1, 4))
    labels = [draw(st.text("IXYZ", min_size=num_qubits, max_size=num_qubits)) for _ in range(terms)]
    coeffs = [draw(st.floats(-2, 2, allow_nan=False)) for _ in range(terms)]
    return SparsePauliOp(labels, coeffs)


@given(qc=random_circuits(), seed=st.integers(0, 2**16), width=st.sampled_from([None, 1, 2, 3, 5]))
def test_statevector_equals_qiskit(qc, seed, width):
    values = random_values(qc, seed)
    psi = CPUEngine(width).statevector(qfab.from_qiskit(qc), values[None, :])[0]
    np.testing.assert_allclose(psi, Statevector(bind(qc, values)).data, atol=1e-10)


@given(data=st.data(), qc=random_circuits(max_qubits=8), seed=st.integers(0, 2**16))
def test_expectation_equals_qiskit(data, qc, seed):
    obs = data.draw(pauli_sums(qc.num_qubits))
    values = random_values(qc, seed)
    expected = Statevector(bind(qc, values)).expectation_value(obs).real
    assert qfab.expectation(qfab.from_qiskit(qc), obs, values) == pytest.approx(expected, abs=1e-10)


def test_batch_rows_equal_single_runs_for_both_parallel_modes():
    for n in (5, 15):  # over parameter sets, and over amplitudes
        qc = hardware_efficient(n, 2)
        circ = qfab.from_qiskit(qc)
        values = np.random.default_rng(n).uniform(-np.pi, np.pi, (3, qc.num_parameters))
        batch = qfab.statevector(circ, values)
        obs = [SparsePauliOp("Z" + "I" * (n - 1)), SparsePauliOp("X" * n, 0.5)]
        evs = qfab.expectation(circ, obs, values)
        for row, theta in enumerate(values):
            state = Statevector(bind(qc, theta))
            np.testing.assert_allclose(batch[row], state.data, atol=1e-10)
            np.testing.assert_allclose(evs[row], [state.expectation_value(o).real for o in obs], atol=1e-10)


def test_complex64_is_close_to_complex128():
    qc = hardware_efficient(6, 3)
    values = random_values(qc, 1)
    psi = qfab.statevector(qfab.from_qiskit(qc), values, dtype=np.complex64)
    assert psi.dtype == np.complex64
    np.testing.assert_allclose(psi, Statevector(bind(qc, values)).data, atol=1e-5)


def test_fusion_keeps_every_gate_once_and_respects_width():
    circ = qfab.from_qiskit(hardware_efficient(8, 3))
    for width in (1, 2, 3, 4, 5):
        blocks = fuse(circ.operations, circ.num_qubits, width)
        gates = sorted(g for b in blocks for g in b.gates)
        assert gates == list(range(len(circ.operations)))
        assert all(len(b.qubits) <= max(width, 2) for b in blocks)
    assert len(fuse(circ.operations, 8, 4)) < len(fuse(circ.operations, 8, 1))


def test_diagonal_and_permutation_blocks_take_fast_paths():
    from qiskit import QuantumCircuit
    from qfab.backends.cpu import kernels

    qc = QuantumCircuit(3)
    qc.cz(0, 1)
    qc.t(2)
    qc.rz(0.3, 1)
    circ = qfab.from_qiskit(qc)
    program = CPUEngine(3).program(circ)
    assert program.block_kinds == (kernels.DIAGONAL,)
    qc2 = QuantumCircuit(3)
    qc2.cx(0, 1)
    qc2.swap(1, 2)
    qc2.s(0)
    assert CPUEngine(3).program(qfab.from_qiskit(qc2)).block_kinds == (kernels.MONOMIAL,)
    for c, q in ((circ, qc), (qfab.from_qiskit(qc2), qc2)):
        np.testing.assert_allclose(CPUEngine(3).statevector(c, np.zeros((1, 0)))[0], Statevector(q).data, atol=1e-12)


def test_memory_refusal_names_the_numbers():
    circ = qfab.from_qiskit(hardware_efficient(40, 1))
    with pytest.raises(qfab.InsufficientMemoryError, match=r"statevector at n=40 needs 16384\.00 GiB for 1 state vector\(s\) .* GiB of memory is free"):
        qfab.statevector(circ, np.zeros(circ.num_parameters))


@pytest.mark.parametrize(
    "params, message",
    [(np.zeros(3), r"shape \(12,\) or \(B, 12\)"), (np.full(12, np.nan), "NaN"), (None, "no values given")],
)
def test_bad_parameters_are_refused(params, message):
    circ = qfab.from_qiskit(hardware_efficient(3, 2))
    with pytest.raises(ValueError, match=message):
        qfab.statevector(circ, params)


def test_unknown_device_and_mismatched_observable_are_refused():
    circ = qfab.from_qiskit(hardware_efficient(3, 1))
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        qfab.statevector(circ, np.zeros(6), device="tpu")
    with pytest.raises(ValueError, match="observable 0 acts on 2 qubits, the circuit has 3"):
        qfab.expectation(circ, SparsePauliOp("ZZ"), np.zeros(6))


def test_gradient_memory_counts_every_adjoint_vector():
    circ = qfab.from_qiskit(hardware_efficient(38, 1))
    obs = [SparsePauliOp("Z" + "I" * 37), SparsePauliOp("X" + "I" * 37)]
    with pytest.raises(qfab.InsufficientMemoryError, match=r"adjoint gradient at n=38 needs 12288\.00 GiB for 3 state vector"):
        qfab.gradient(circ, obs, np.zeros(circ.num_parameters))
