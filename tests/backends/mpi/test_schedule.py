"""The swap schedule, the per-rank restriction of diagonal gates and the slice views, in-process
(no launch): the schedule replayed on a whole numpy state against Qiskit's Statevector, its
counted exchanges against worked examples, and the restricted gates against the exact
sub-diagonal of the gate."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from qfab.backends.job import DeviceCapabilityError
from qfab.backends.mpi.schedule import Segment, Swap, plan_swaps
from qfab.backends.mpi.state import localise, part_view
from qfab.core import gates
from qfab.core.frontend import from_qiskit
from qfab.core.ir import Operation, ParamRef
from tests.support.circuits import random_circuits


def _apply(state: np.ndarray, matrix: np.ndarray, positions: list[int], n: int) -> np.ndarray:
    """``matrix`` (bit j of its index: ``positions[j]``) applied to a whole n-qubit state, in numpy."""
    k = len(positions)
    tensor = state.reshape((2,) * n)
    axes = [n - 1 - p for p in reversed(positions)]  # matrix index bits, most significant first
    moved = np.moveaxis(tensor, axes, range(k)).reshape(2**k, -1)
    out = (matrix @ moved).reshape((2,) * n)
    return np.moveaxis(out, range(k), axes).reshape(-1)


def _swap_positions(state: np.ndarray, a: int, b: int, n: int) -> np.ndarray:
    return np.swapaxes(state.reshape((2,) * n), n - 1 - a, n - 1 - b).reshape(-1)


def _replay(circuit, schedule, theta) -> np.ndarray:
    """The schedule run on one whole state in physical order, then put back in logical order."""
    n = circuit.num_qubits
    state = np.zeros(2**n, complex)
    state[0] = 1
    for step in schedule.steps:
        if isinstance(step, Swap):
            for a, b in zip(step.local, step.global_positions):
                state = _swap_positions(state, a, b, n)
        else:
            for i in step.operations:
                op = circuit.operations[i]
                state = _apply(state, op.unitary(theta), [step.layout[q] for q in op.qubits], n)
    layout = schedule.final_layout
    axes = [n - 1 - layout[n - 1 - a] for a in range(n)]
    return state.reshape((2,) * n).transpose(axes).reshape(-1)


@given(random_circuits(min_qubits=4, max_qubits=7, max_gates=25), st.integers(1, 2), st.integers(0, 2**31))
def test_the_schedule_replayed_on_a_whole_state_gives_qiskits_state(qc, num_global, seed):
    circuit = from_qiskit(qc)
    widest = max([len(op.qubits) for op in circuit.operations if not op.is_diagonal], default=1)
    num_global = min(num_global, circuit.num_qubits - widest)
    schedule = plan_swaps(circuit, num_global)
    local = schedule.num_local
    ran = [i for segment in schedule.segments for i in segment.operations]
    assert sorted(ran) == list(range(len(circuit.operations)))
    for q in range(circuit.num_qubits):  # gates sharing a qubit keep their order
        on_q = [i for i in ran if q in circuit.operations[i].qubits]
        assert on_q == sorted(on_q)
    for segment in schedule.segments:
        for i in segment.operations:
            op = circuit.operations[i]
            assert op.is_diagonal or all(segment.layout[q] < local for q in op.qubits)
    for swap in schedule.swaps:
        assert all(p < local for p in swap.local) and all(p >= local for p in swap.global_positions)
    assert schedule.messages_per_rank == sum(2**s.pairs - 1 for s in schedule.swaps)
    assert schedule.bytes_per_rank() == sum((1 - 2.0**-s.pairs) * 16 * 2**local for s in schedule.swaps)
    theta = np.random.default_rng(seed).uniform(-np.pi, np.pi, circuit.num_parameters)
    expected = Statevector(qc.assign_parameters(theta)).data * np.exp(-1j * circuit.phase(theta))
    np.testing.assert_allclose(_replay(circuit, schedule, theta), expected, atol=1e-10)


def test_one_exchange_brings_both_global_qubits_in_for_every_layer_of_hadamards():
    n, layers = 8, 3
    qc = QuantumCircuit(n)
    for _ in range(layers):
        for q in range(n):
            qc.h(q)
    schedule = plan_swaps(from_qiskit(qc), 2)
    # the local qubits' later layers run ahead of the swap (they commute with it): one exchange
    # of both global qubits, where a swap per gate on a global qubit would make 2 * layers
    assert schedule.exchanges == 1 and schedule.swaps[0].pairs == 2
    assert schedule.messages_per_rank == 3
    assert schedule.bytes_per_rank() == 3 * 2 ** (n - 2 - 2) * 16


def test_diagonal_gates_on_global_qubits_need_no_exchange():
    qc = QuantumCircuit(6)
    qc.rz(0.3, 5)
    qc.cz(4, 5)
    qc.rzz(0.2, 0, 5)
    qc.cp(0.1, 5, 4)
    qc.crz(0.4, 4, 1)
    qc.ccz(3, 4, 5)
    qc.h(0)
    assert plan_swaps(from_qiskit(qc), 2).exchanges == 0


def test_qubits_used_last_start_global_and_a_later_gate_on_them_swaps_them_in():
    qc = QuantumCircuit(5)
    for q in range(4):
        qc.h(q)
    qc.cx(3, 4)  # qubit 4 is needed last: it starts global, then comes in for this gate
    schedule = plan_swaps(from_qiskit(qc), 1)
    assert schedule.initial_layout[4] == 4 and schedule.exchanges == 1
    assert schedule.final_layout[4] < 4
    assert isinstance(schedule.steps[-1], Segment)


def test_too_many_ranks_for_the_widest_gate_are_refused_with_the_limit():
    qc = QuantumCircuit(4)
    qc.ccx(0, 1, 2)
    with pytest.raises(DeviceCapabilityError, match=r"operation 0 \(ccx on 3 qubits\).*use at most 2 ranks"):
        plan_swaps(from_qiskit(qc), 2)
    with pytest.raises(DeviceCapabilityError, match="leave 0 local qubits"):
        plan_swaps(from_qiskit(qc), 4)


def _diagonal(ops: list[Operation], num_local: int, theta: np.ndarray) -> np.ndarray:
    """Diagonal of the product of diagonal ``ops`` on ``num_local`` qubits."""
    out = np.ones(2**num_local, complex)
    for op in ops:
        d = np.diag(op.unitary(theta))
        for j in range(out.size):
            out[j] *= d[sum(((j >> p) & 1) << t for t, p in enumerate(op.qubits))]
    return out


@pytest.mark.parametrize("name", [n for n, kind in gates.ROTATION_KINDS.items() if kind.diagonal] + ["cz", "ccz"])
@pytest.mark.parametrize("rank", range(4))
def test_a_diagonal_gate_restricted_to_a_ranks_global_bits_is_its_exact_sub_diagonal(name, rank):
    num_local, num_global = 3, 2
    n = num_local + num_global
    rng = np.random.default_rng(rank)
    width = {"cz": 2, "ccz": 3}.get(name) or gates.ROTATION_KINDS[name].num_qubits
    for _ in range(6):
        qubits = tuple(int(q) for q in rng.permutation(n)[:width])
        if name in ("cz", "ccz"):
            diag = np.ones(2**width, complex)
            diag[-1] = -1
            op = Operation(name, qubits, matrix=np.diag(diag))
        else:
            op = Operation(name, qubits, param=ParamRef(0, float(rng.uniform(-2, 2)), float(rng.uniform(-1, 1))))
        layout = tuple(int(p) for p in rng.permutation(n))
        ops = localise(op, layout, num_local, rank)
        assert all(p < num_local for o in ops for p in o.qubits)
        for theta in (np.array([0.7]), np.array([-2.1])):
            full = np.diag(op.unitary(theta))
            expected = np.empty(2**num_local, complex)
            for j in range(expected.size):
                physical = j | (rank << num_local)
                expected[j] = full[sum(((physical >> layout[q]) & 1) << t for t, q in enumerate(op.qubits))]
            np.testing.assert_allclose(_diagonal(ops, num_local, theta), expected, atol=1e-12)


@given(st.integers(2, 8), st.data())
def test_a_part_view_holds_exactly_the_amplitudes_with_those_bits(num_local, data):
    positions = tuple(data.draw(st.permutations(range(num_local)))[: data.draw(st.integers(1, min(3, num_local)))])
    bits = data.draw(st.integers(0, 2 ** len(positions) - 1))
    psi = np.arange(2**num_local).astype(complex)
    view = part_view(psi, num_local, positions, bits)
    index = np.arange(2**num_local)
    match = np.all([((index >> p) & 1) == ((bits >> i) & 1) for i, p in enumerate(positions)], axis=0)
    np.testing.assert_array_equal(view.reshape(-1), psi[match])
    view[...] = -1  # a view: writing it writes the slice
    assert np.all(psi[match] == -1) and np.all(psi[~match] != -1)
