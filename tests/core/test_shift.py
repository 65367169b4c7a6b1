"""qfab.core.shift, the one parameter-shift implementation, against independent references.

The rules are checked gate by gate against Qiskit's own gate matrices (an exact numpy derivative
of ``<psi| U(x)^dagger H U(x) |psi>``); whole gradients on random circuits of every rotation kind,
affine angles and shared parameters against the adjoint gradient and central finite differences
of Qiskit ``Statevector`` expectations.
"""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.quantum_info import SparsePauliOp

import qfab
from qfab.backends.cpu import CPUEngine
from qfab.core.gates import ROTATION_KINDS
from qfab.core.ir import Circuit, Operation, ParamRef
from qfab.core.observables import as_pauli_sums
from qfab.core.shift import (ParameterShifts, angle_circuit, parameter_shift, shift_parameters, shift_plan, shift_rule,
                             shifted_circuit_count)

from tests.support.reference import finite_difference

ROTATIONS = {name: ROTATION_KINDS[name].num_qubits for name in sorted(ROTATION_KINDS)}
_STANDARD = get_standard_gate_name_mapping()


@st.composite
def rotation_circuits(draw, max_qubits=4, max_gates=10):
    """Fixed gates that make the state generic, then rotations of every kind qfab keeps symbolic,
    each at an affine angle ``a * p + b`` of one of a few parameters (so parameters are shared)."""
    n = draw(st.integers(2, max_qubits))
    params = ParameterVector("t", draw(st.integers(1, 3)))
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.u(*draw(st.tuples(*[st.floats(-np.pi, np.pi)] * 3)), q)
    for _ in range(draw(st.integers(1, max_gates))):
        name = draw(st.sampled_from(sorted(ROTATIONS)))
        qubits = draw(st.permutations(range(n)))[: ROTATIONS[name]]
        slope = draw(st.sampled_from([1.0, -1.0, 0.5, 2.0, -1.5]))
        angle = slope * draw(st.sampled_from(list(params))) + draw(st.floats(-np.pi, np.pi))
        qc.append(_STANDARD[name].base_class(angle), qubits)
        if draw(st.booleans()):
            qc.cx(*draw(st.permutations(range(n)))[:2])
    return qc


def observable(n):
    return SparsePauliOp(["Z" + "I" * (n - 1), "X" * n, "I" * (n - 2) + "YZ"], [1.0, -0.4, 0.7])


@given(qc=rotation_circuits(), seed=st.integers(0, 2**16))
def test_shift_gradient_equals_adjoint_and_finite_differences(qc, seed):
    circuit = qfab.from_qiskit(qc)
    obs = observable(qc.num_qubits)
    thetas = np.random.default_rng(seed).uniform(-np.pi, np.pi, (2, qc.num_parameters))
    sums, _ = as_pauli_sums(obs, qc.num_qubits)
    engine = CPUEngine()
    shifted = parameter_shift(circuit, sums, thetas, engine.expectation)[:, 0]
    np.testing.assert_allclose(shifted, qfab.gradient(circuit, obs, thetas), atol=1e-9)
    for theta, gradient in zip(thetas, shifted):
        np.testing.assert_allclose(gradient, finite_difference(qc, obs, theta, eps=1e-6), atol=1e-6)
    plan = shift_plan(circuit)
    assert plan.rows(thetas).shape == (2 * shifted_circuit_count(circuit), plan.num_angles)
    assert plan.num_shifted == shifted_circuit_count(circuit)


@pytest.mark.parametrize("name", sorted(ROTATIONS))
def test_every_rule_is_exact_for_the_gate_it_was_derived_for(name):
    """``sum w C(x + s)`` equals dC/dx of ``C(x) = <psi|U(x)^dagger H U(x)|psi>`` built from Qiskit's
    matrix of the gate, for random H and psi; the derivative by an exact Fourier fit of C (its
    frequencies are at most 1, so 9 samples per period determine it)."""
    rng = np.random.default_rng(sorted(ROTATIONS).index(name))
    dim = 2 ** ROTATIONS[name]
    h = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    h = h + h.conj().T
    psi = rng.normal(size=dim) + 1j * rng.normal(size=dim)
    psi /= np.linalg.norm(psi)

    def cost(x):
        state = _STANDARD[name].base_class(x).to_matrix() @ psi
        return float(np.real(state.conj() @ h @ state))

    # C(x) = c0 + sum_{k in 1..4} (a_k cos(k x / 2) + b_k sin(k x / 2)): a 4 pi-periodic fit, exact.
    grid = np.linspace(0, 4 * np.pi, 9, endpoint=False)
    basis = np.column_stack([np.ones_like(grid)] + [f(k * grid / 2) for k in range(1, 5) for f in (np.cos, np.sin)])
    coef = np.linalg.solve(basis, [cost(x) for x in grid])
    for x in rng.uniform(-np.pi, np.pi, 3):
        derivative = sum(k / 2 * (-coef[2 * k - 1] * np.sin(k * x / 2) + coef[2 * k] * np.cos(k * x / 2))
                         for k in range(1, 5))
        assert sum(w * cost(x + s) for s, w in shift_rule(name)) == pytest.approx(derivative, abs=1e-10)


def test_rules_are_the_two_term_rule_and_anselmettis_four_term_rule():
    for name in ("rx", "ry", "rz", "p", "rxx", "ryy", "rzz", "rzx", "cp"):
        assert np.allclose(shift_rule(name), ((math.pi / 2, 0.5), (-math.pi / 2, -0.5)), atol=1e-14)
    root = math.sqrt(2)
    four = ((math.pi / 2, (root + 1) / (4 * root)), (-math.pi / 2, -(root + 1) / (4 * root)),
            (3 * math.pi / 2, -(root - 1) / (4 * root)), (-3 * math.pi / 2, (root - 1) / (4 * root)))
    for name in ("crx", "cry", "crz"):
        assert np.allclose(shift_rule(name), four, atol=1e-14)
    with pytest.raises(ValueError, match="not a rotation"):
        shift_rule("h")


def test_shared_affine_parameter_sums_its_occurrences_by_the_chain_rule():
    t = Parameter("t")
    qc = QuantumCircuit(2)
    qc.h([0, 1])
    qc.crx(2 * t + 0.3, 0, 1)
    qc.rzz(-0.5 * t, 0, 1)
    qc.p(1.5 * t - 1.0, 1)
    circuit = qfab.from_qiskit(qc)
    plan = shift_plan(circuit)
    assert plan.num_angles == 3 and plan.num_shifted == 4 + 2 + 2 == shifted_circuit_count(circuit)
    np.testing.assert_allclose(plan.angles([0.7]), [[2 * 0.7 + 0.3, -0.35, 1.5 * 0.7 - 1.0]])
    obs = SparsePauliOp(["ZX", "YY"], [1.0, 0.5])
    values = np.array([0.7])
    np.testing.assert_allclose(qfab.gradient(circuit, obs, values, method="parameter-shift"),
                               finite_difference(qc, obs, values, eps=1e-6), atol=1e-7)
    assert angle_circuit(circuit)[1] == [2, 3, 4]  # after the two Hadamards


def test_rows_with_the_unshifted_set_first_and_the_error_propagation():
    """``rows(unshifted=True)`` puts each set's angles first; ``gradient_stds`` is the standard
    deviation of ``gradients`` over independent noisy estimates of the rows (Monte Carlo, seeded)."""
    t = Parameter("t")
    qc = QuantumCircuit(2)
    qc.cry(t, 0, 1)
    qc.rx(-2 * t, 0)
    plan = shift_plan(qfab.from_qiskit(qc))
    thetas = np.array([[0.2], [1.1]])
    rows = plan.rows(thetas, unshifted=True).reshape(2, 1 + plan.num_shifted, plan.num_angles)
    np.testing.assert_allclose(rows[:, 0], plan.angles(thetas))
    np.testing.assert_allclose(rows[:, 1:].reshape(-1, plan.num_angles), plan.rows(thetas))
    shifted = rows[:, 1:] - rows[:, :1]  # each shifted row moves one angle by its rule's shift
    np.testing.assert_allclose(shifted[0], shifted[1])
    expected = [[s, 0.0] for s, _ in shift_rule("cry")] + [[0.0, s] for s, _ in shift_rule("rx")]
    np.testing.assert_allclose(shifted[0], expected, atol=1e-12)
    rng = np.random.default_rng(0)
    stds = rng.uniform(0.5, 1.5, (2, plan.num_shifted, 1))
    draws = np.array([plan.gradients(rng.normal(0, stds)) for _ in range(20000)])
    np.testing.assert_allclose(draws.std(axis=0), plan.gradient_stds(stds), rtol=0.03)


def test_a_circuit_without_rotations_has_no_shifted_rows():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    circuit = qfab.from_qiskit(qc)
    sums, _ = as_pauli_sums(SparsePauliOp("ZZ"), 2)
    assert shifted_circuit_count(circuit) == shift_plan(circuit).num_shifted == 0

    def never(*_):
        raise AssertionError("nothing to shift, nothing to run")

    assert parameter_shift(circuit, sums, np.zeros((3, 0)), never).shape == (3, 1, 0)


def test_shifting_circuit_parameters_equals_the_adjoint_gradient():
    """Each chosen parameter drives one rotation (of any kind, at an affine angle); different sets
    differentiate different columns in one slot, and a slot mixing a two-term and a four-term
    rotation is padded with zero-weight rows."""
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    p = ParameterVector("p", 4)
    qc.crz(1.5 * p[0] - 0.2, 0, 1)
    qc.ry(-2 * p[1] + 0.4, 2)
    qc.cp(0.5 * p[2], 2, 0)
    qc.rzx(p[3], 1, 2)
    circuit = qfab.from_qiskit(qc)
    obs = SparsePauliOp(["XZY", "ZZI", "IYX"], [0.4, 1.0, -0.6])
    params = np.random.default_rng(5).uniform(-np.pi, np.pi, (3, 4))
    columns = np.array([[0, 2], [1, 3], [0, 1]])
    shifts = shift_parameters(circuit, params, columns)
    assert isinstance(shifts, ParameterShifts) and shifts.rows.shape == (4 + 2, 3, 4)
    values = qfab.expectation(circuit, obs, shifts.rows.reshape(-1, 4)).reshape(6, 3)
    adjoint = qfab.gradient(circuit, obs, params)
    np.testing.assert_allclose(shifts.gradients(values), np.take_along_axis(adjoint, columns, axis=1), atol=1e-10)
    same_for_all = shift_parameters(circuit, params, [3])
    values = qfab.expectation(circuit, obs, same_for_all.rows.reshape(-1, 4)).reshape(-1, 3)
    np.testing.assert_allclose(same_for_all.gradients(values)[:, 0], adjoint[:, 3], atol=1e-10)


def test_shifting_a_parameter_refuses_shared_and_constant_ones():
    """A parameter in two rotations, or entering with slope 0, has no shift of its own
    (:class:`ShiftPlan` handles both)."""
    circuit = Circuit(2, (Operation("rx", (0,), param=ParamRef(0)), Operation("ry", (1,), param=ParamRef(0, 2.0)),
                          Operation("rz", (1,), param=ParamRef(1, 0.0, 0.2))), parameters=("t", "s"))
    with pytest.raises(ValueError, match=r"parameter 't' drives \['rx', 'ry'\]"):
        shift_parameters(circuit, np.zeros((1, 2)), [0])
    with pytest.raises(ValueError, match="parameter 's' enters its rotation with slope 0"):
        shift_parameters(circuit, np.zeros((1, 2)), [1])
    obs = SparsePauliOp("ZY")
    theta = np.array([0.3, -0.8])
    np.testing.assert_allclose(qfab.gradient(circuit, obs, theta, method="parameter-shift"),
                               qfab.gradient(circuit, obs, theta), atol=1e-12)
