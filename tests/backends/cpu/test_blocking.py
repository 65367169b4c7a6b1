"""Cache blocking (regions of blocks on cache-sized chunks, the gather/scatter reordering) against
Qiskit's Statevector, at chunk sizes from 1 qubit to the whole state and with 1 or 2 workers."""
import numpy as np
from hypothesis import given, settings, strategies as st
from qiskit.quantum_info import SparsePauliOp, Statevector

import qfab
from qfab.backends.cpu import CPUEngine
from qfab.backends.cpu import program as prog
from qfab.backends.cpu.blocking import plan_regions
from qfab.backends.cpu.simulator import chunk_qubits, pack_observables
from qfab.core.observables import PauliSum

from tests.support.circuits import hardware_efficient, random_circuits


def bind(qc, values):
    return qc.assign_parameters(dict(zip(qc.parameters, values)))


def buffers(regions, workers, observables):
    size = 1 << regions.chunk_qubits
    sub = int(regions.arrays[13][-1])
    return (np.empty(sub), np.empty(sub), np.empty((workers, size)), np.empty((workers, size)),
            np.empty((workers, observables, size)), np.empty((workers, observables, size)))


@settings(max_examples=40, deadline=None)
@given(qc=random_circuits(max_qubits=7), data=st.data(), seed=st.integers(0, 2**16), width=st.sampled_from([1, 2, 3]))
def test_blocked_forward_equals_qiskit_at_every_chunk_size(qc, data, seed, width):
    n = qc.num_qubits
    bits = data.draw(st.integers(max(width, 1), max(n, width)))
    workers = data.draw(st.sampled_from([1, 2]))
    values = np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters)
    program = CPUEngine(width).program(qfab.from_qiskit(qc))
    regions = program.regions(min(bits, n))
    workers = min(workers, 1 << (n - regions.chunk_qubits))
    sub_re, sub_im, work_re, work_im, _, _ = buffers(regions, workers, 1)
    psi = np.empty(2**n, complex)
    scratch = prog.set_scratch(program.arrays)
    prog.load_set(program.arrays, values, scratch)
    prog.forward_blocked(program.arrays, regions.arrays, scratch, psi, sub_re, sub_im, work_re, work_im)
    ref = Statevector(bind(qc, values)).data
    phase = ref[np.argmax(np.abs(ref))] / psi[np.argmax(np.abs(ref))]  # kernels leave the global phase out
    np.testing.assert_allclose(psi * phase, ref, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(qc=random_circuits(max_qubits=8, max_gates=40), bits=st.integers(1, 8), width=st.sampled_from([1, 2, 3, 4]))
def test_regions_keep_every_block_once_within_the_chunk_and_in_dependency_order(qc, bits, width):
    program = CPUEngine(width).program(qfab.from_qiskit(qc))
    n = qc.num_qubits
    regions = plan_regions(program.block_qubits, program.block_select, n, max(bits, width))
    r_start, r_sorted, e_block = regions.arrays[0], regions.arrays[1], regions.arrays[4]
    assert sorted(e_block.tolist()) == list(range(program.num_blocks))
    position = {int(b): i for i, b in enumerate(e_block)}
    for r in range(regions.num_regions):
        local = set(r_sorted[r].tolist())
        assert len(local) == regions.chunk_qubits
        for e in range(r_start[r], r_start[r + 1]):
            assert set(program.block_qubits[e_block[e]]) <= local
    for a in range(program.num_blocks):  # blocks sharing a qubit keep their order
        for b in range(a + 1, program.num_blocks):
            if set(program.block_qubits[a]) & set(program.block_qubits[b]):
                assert position[a] < position[b]


def test_select_qubits_are_the_controls_and_diagonals():
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    qc = QuantumCircuit(3)
    qc.ry(Parameter("a"), 1)
    qc.cx(0, 1)  # control 0: select; target 1: mixed
    qc.rzz(Parameter("b"), 1, 2)  # diagonal, but qubit 1 is already mixed by the RY
    program = CPUEngine(3).program(qfab.from_qiskit(qc))
    assert program.block_qubits == ((0, 1, 2),)
    assert program.block_select == (0b101,)


def expectation(qc, values, op):
    return Statevector(bind(qc, values)).expectation_value(op).real


@settings(max_examples=15, deadline=None)
@given(data=st.data(), qc=random_circuits(max_qubits=6, max_gates=20), bits=st.integers(1, 6))
def test_blocked_adjoint_gradient_equals_qiskit_differences(data, qc, bits):
    n = qc.num_qubits
    labels = [data.draw(st.text("IXYZ", min_size=n, max_size=n)) for _ in range(2)]
    ops = [SparsePauliOp(labels[0], 0.7), SparsePauliOp([labels[1], "Z" * n], [1.0, -0.4])]
    values = np.random.default_rng(7).uniform(-np.pi, np.pi, qc.num_parameters)
    circuit = qfab.from_qiskit(qc)
    program = CPUEngine(2).program(circuit)
    regions = program.regions(min(bits, n))
    workers = min(2, 1 << (n - regions.chunk_qubits))
    sums = [PauliSum.from_sparse_pauli_op(op) for op in ops]
    x_all, z_all, pre_all, starts = pack_observables(sums)
    psi, lams = np.empty(2**n, complex), np.empty((2, 2**n), complex)
    grad = np.empty((2, circuit.num_parameters))
    sub_re, sub_im, work_re, work_im, lam_re, lam_im = buffers(regions, workers, 2)
    scratch = prog.set_scratch(program.arrays)
    prog.load_set(program.arrays, values, scratch)
    prog.forward_blocked(program.arrays, regions.arrays, scratch, psi, sub_re, sub_im, work_re, work_im)
    at_end = np.empty(2)
    prog.adjoint_blocked(program.arrays, regions.arrays, scratch, psi, lams, x_all, z_all, pre_all, starts, at_end, grad,
                         sub_re, sub_im, work_re, work_im, lam_re, lam_im)
    np.testing.assert_allclose(at_end, [expectation(qc, values, op) for op in ops], atol=1e-10)
    step = 1e-5
    for p in range(qc.num_parameters):
        up, down = values.copy(), values.copy()
        up[p] += step
        down[p] -= step
        for o, op in enumerate(ops):
            reference = (expectation(qc, up, op) - expectation(qc, down, op)) / (2 * step)
            assert abs(grad[o, p] - reference) < 1e-6


def test_engine_gradient_with_several_chunks_and_regions():
    """The default path at a size with several chunks and regions, against Qiskit differences
    of two parameters (the first and the last layer's)."""
    qc = hardware_efficient(15, 2)
    values = np.random.default_rng(3).uniform(-np.pi, np.pi, qc.num_parameters)
    op = SparsePauliOp("I" * 14 + "Z")
    engine = CPUEngine()
    circuit = qfab.from_qiskit(qc)
    assert engine.program(circuit).regions(chunk_qubits(15, 2, 2)).num_regions > 1
    grad = engine.adjoint_gradient(circuit, [PauliSum.from_sparse_pauli_op(op)], values[None])[0, 0]
    for p in (0, qc.num_parameters - 1):
        up, down = values.copy(), values.copy()
        up[p] += 1e-5
        down[p] -= 1e-5
        assert abs(grad[p] - (expectation(qc, up, op) - expectation(qc, down, op)) / 2e-5) < 1e-6
