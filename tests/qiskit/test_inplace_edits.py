"""A Qiskit circuit changed in place after qfab ran it: every primitive answers for the circuit as
it is now, never from a translation remembered for what it was (the cache is keyed on content:
``qfab.qiskit.pubs.fingerprint``). Each case edits the circuit one way Qiskit allows and compares
EstimatorV2, SamplerV2 and QfabBackend with Qiskit's exact reference after the edit."""
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import CircuitInstruction, Parameter
from qiskit.circuit.library import HGate, RYGate, UnitaryGate, XGate
from qiskit.quantum_info import SparsePauliOp, Statevector

from qfab.qiskit import EstimatorV2, QfabBackend, SamplerV2

THETA = Parameter("th")


def base() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.ry(THETA, 0)
    qc.x(1)
    qc.cx(0, 1)
    return qc


def assign_inplace(qc):
    qc.assign_parameters({THETA: 1.2}, inplace=True)


def replace_x_by_h(qc):
    qc.data[1] = CircuitInstruction(HGate(), qc.data[1].qubits)


def move_to_other_qubit(qc):
    qc.data[1] = CircuitInstruction(XGate(), (qc.qubits[0],))


def change_an_angle(qc):
    qc.data[0] = CircuitInstruction(RYGate(2 * THETA + 0.3), qc.data[0].qubits)


def append_a_gate(qc):
    qc.rz(0.7, 1)
    qc.h(0)


def delete_a_gate(qc):
    del qc.data[1]


def new_global_phase(qc):
    qc.global_phase = 0.9  # changes the state (statevectors), not probabilities


def replace_a_unitary(qc):
    qc.data[1] = CircuitInstruction(UnitaryGate(np.array([[1, 1j], [1j, 1]]) / np.sqrt(2)), qc.data[1].qubits)


def compose_inplace(qc):
    other = QuantumCircuit(2)
    other.sx(0)
    other.cz(0, 1)
    qc.compose(other, inplace=True)


EDITS = [assign_inplace, replace_x_by_h, move_to_other_qubit, change_an_angle, append_a_gate,
         delete_a_gate, new_global_phase, replace_a_unitary, compose_inplace]
OBSERVABLE = SparsePauliOp(["ZI", "IX", "YY"], [1.0, 0.5, -0.3])


def bound(qc, value=0.4):
    return qc.assign_parameters({THETA: value}) if qc.parameters else qc


def estimate(qc, value=0.4):
    pub = (qc, OBSERVABLE, [value]) if qc.parameters else (qc, OBSERVABLE)
    return float(EstimatorV2().run([pub]).result()[0].data.evs)


def probabilities(qc, value=0.4):
    measured = qc.measure_all(inplace=False)
    pub = (measured, [value]) if qc.parameters else (measured,)
    counts = SamplerV2(seed=1).run([pub], shots=20000).result()[0].data.meas.get_counts()
    return {k: v / 20000 for k, v in counts.items()}


def backend_probabilities(qc, value=0.4):
    circuit = bound(qc, value).measure_all(inplace=False)
    counts = QfabBackend().run(circuit, shots=20000, seed_simulator=2).result().get_counts()
    return {k: v / 20000 for k, v in counts.items()}


def close(sampled, exact):
    for key in set(exact) | set(sampled):
        assert sampled.get(key, 0.0) == pytest.approx(exact.get(key, 0.0), abs=0.02), key


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__)
def test_primitives_follow_an_in_place_edit(edit):
    qc = base()
    before = Statevector(bound(qc)).probabilities_dict()
    estimate(qc), probabilities(qc), backend_probabilities(qc)  # translated and remembered
    edit(qc)
    reference = Statevector(bound(qc))
    assert estimate(qc) == pytest.approx(reference.expectation_value(OBSERVABLE).real, abs=1e-12)
    exact = reference.probabilities_dict()
    close(probabilities(qc), exact)
    close(backend_probabilities(qc), exact)
    if edit is not new_global_phase:  # the edit matters: the old answer would fail
        assert max(abs(before.get(k, 0) - exact.get(k, 0)) for k in set(before) | set(exact)) > 0.05


def test_an_unchanged_circuit_keeps_its_translation():
    from qfab.qiskit.pubs import prepared

    qc = base()
    first = prepared(qc)
    assert prepared(qc) is first
    assign_inplace(qc)
    assert prepared(qc) is not first
    new_global_phase(qc)
    assert prepared(qc).circuit.global_phase[0] == pytest.approx(0.9)
