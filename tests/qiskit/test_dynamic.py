"""Dynamic circuits (mid-circuit measurement, reset, initialize, if_test / if_else) in qfab's
SamplerV2 and QfabBackend against qiskit-aer: qfab's exact outcome distribution
(``dynamic_distribution``, every branch) against Aer's counts, and qfab's own counts against that
distribution, each within 5 standard errors; Qiskit's bit order and registers; the estimator's
refusal; initialize on fresh qubits as a state preparation in the exact (static) path."""
import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector

import qfab
from qfab.backends.cpu.dynamic import dynamic_clbits, dynamic_distribution
from qfab.core.dynamic import dynamic_from_qiskit, is_dynamic
from qfab.core.frontend import UnsupportedInstruction
from qfab.qiskit import EstimatorV2, QfabBackend, SamplerV2

aer = pytest.importorskip("qiskit_aer", reason="qiskit-aer is in the qpu extra")
SHOTS = 20000


def mid_measure_reset_reuse():
    qc = QuantumCircuit(2, 3)
    qc.h(0)
    qc.ry(0.8, 1)
    qc.measure(0, 0)
    qc.reset(0)
    qc.cx(1, 0)
    qc.measure(0, 1)
    qc.rx(1.1, 0)
    qc.measure(0, 2)
    return qc


def conditioned_on_a_clbit():
    qc = QuantumCircuit(3, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as else_:
        qc.ry(0.6, 1)
    with else_:
        qc.h(1)
        qc.cx(1, 2)
    qc.measure(1, 1)
    return qc


def teleportation():
    """Teleport RY(1.2)|0>: two mid-circuit measurements, two corrections by a register."""
    q = QuantumRegister(3)
    m, out = ClassicalRegister(2, "m"), ClassicalRegister(1, "out")
    qc = QuantumCircuit(q, m, out)
    qc.ry(1.2, 0)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)
    qc.measure(0, m[0])
    qc.measure(1, m[1])
    with qc.if_test((m[1], 1)):
        qc.x(2)
    with qc.if_test((m[0], 1)):
        qc.z(2)
    with qc.if_test((m, 3)):
        qc.rz(0.3, 2)
    qc.measure(2, out[0])
    return qc


def initialize_mid_circuit():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.initialize([0.6, 0.8j], [1])  # qubit 1 is entangled: a reset, then the preparation
    qc.measure(0, 0)
    qc.measure(1, 1)
    return qc


def switch_on_a_register():
    q = QuantumRegister(3)
    c, out = ClassicalRegister(2, "c"), ClassicalRegister(1, "o")
    qc = QuantumCircuit(q, c, out)
    qc.h([0, 1])
    qc.measure([0, 1], c)
    with qc.switch(c) as case:
        with case(0):
            qc.x(2)
        with case(1, 2):
            qc.ry(0.9, 2)
        with case(case.DEFAULT):
            qc.h(2)
    qc.measure(2, out[0])
    return qc


def repeat_until_success():
    """A while_loop: re-prepare until the measurement gives 1 (it ends with probability 1)."""
    qc = QuantumCircuit(2, 2)
    qc.ry(0.7, 0)
    qc.measure(0, 0)
    with qc.while_loop((qc.clbits[0], 0)):
        qc.reset(0)
        qc.ry(1.3, 0)
        qc.cx(0, 1)
        qc.measure(0, 0)
    qc.measure(1, 1)
    return qc


CIRCUITS = [mid_measure_reset_reuse, conditioned_on_a_clbit, teleportation, initialize_mid_circuit,
            switch_on_a_register, repeat_until_success]



def aer_frequencies(qc):
    simulator = aer.AerSimulator()
    counts = simulator.run(transpile(qc, simulator), shots=SHOTS, seed_simulator=11).result().get_counts()
    return {int(key.replace(" ", ""), 2): value / SHOTS for key, value in counts.items()}


def within_statistics(frequencies, exact):
    for key in set(frequencies) | set(exact):
        p = exact.get(key, 0.0)
        sigma = np.sqrt(max(p * (1 - p), 1 / SHOTS) / SHOTS)
        assert abs(frequencies.get(key, 0.0) - p) <= 5 * sigma + 1e-12, (key, frequencies.get(key), p)


def integers(clbits):
    return (clbits.astype(np.int64) << np.arange(clbits.shape[-1])).sum(axis=-1)


@pytest.mark.parametrize("build", CIRCUITS, ids=lambda f: f.__name__)
def test_exact_distribution_agrees_with_aer(build):
    qc = build()
    assert is_dynamic(qc)
    exact = dynamic_distribution(dynamic_from_qiskit(qc))
    assert sum(exact.values()) == pytest.approx(1.0, abs=1e-12)  # (a while_loop: within the branches dropped)
    within_statistics(aer_frequencies(qc), exact)


@pytest.mark.parametrize("build", CIRCUITS, ids=lambda f: f.__name__)
def test_sampler_and_backend_counts_follow_the_distribution(build):
    qc = build()
    exact = dynamic_distribution(dynamic_from_qiskit(qc))
    result = SamplerV2(seed=5).run([(qc,)], shots=SHOTS).result()[0]
    # the registers joined as Qiskit's counts keys are (last register leftmost)
    keys = np.zeros(SHOTS, dtype=np.int64)
    offset = 0
    for register in qc.cregs:
        bits = getattr(result.data, register.name)
        keys |= np.array([int(b, 2) for b in bits.get_bitstrings()]) << offset
        offset += register.size
    within_statistics({k: c / SHOTS for k, c in zip(*np.unique(keys, return_counts=True))}, exact)
    counts = QfabBackend().run(transpile(qc, QfabBackend()), shots=SHOTS, seed_simulator=3).result().get_counts()
    within_statistics({int(k.replace(" ", ""), 2): v / SHOTS for k, v in counts.items()}, exact)


def test_teleportation_delivers_the_state():
    exact = dynamic_distribution(dynamic_from_qiskit(teleportation()))
    one = sum(p for key, p in exact.items() if key >> 2 & 1)
    assert one == pytest.approx(np.sin(0.6) ** 2, abs=1e-12)


def test_parameter_rows_and_final_measurements_need_no_branching():
    theta = Parameter("t")
    qc = QuantumCircuit(2, 2)
    qc.ry(theta, 0)
    qc.measure(0, 0)
    qc.reset(0)
    qc.rx(2 * theta, 0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    dynamic = dynamic_from_qiskit(qc)
    assert len(dynamic.final) == 2  # the closing measurements are drawn, not branched on
    for value in (0.4, 2.0):
        exact = dynamic_distribution(dynamic, [value])
        p = np.sin(value) ** 2  # rx(2t) from |0>: P(1) = sin^2(t), the cx copies it
        assert exact.get(3, 0.0) == pytest.approx(p, abs=1e-12)
        assert exact.get(0, 0.0) == pytest.approx(1 - p, abs=1e-12)
    clbits = dynamic_clbits(dynamic, [0.4], 4000, np.random.default_rng(0))
    assert clbits.shape == (4000, 2) and set(np.unique(integers(clbits))) <= {0, 3}
    rows = SamplerV2(seed=1).run([(qc, [[0.4], [2.0]])], shots=500).result()[0].data.c
    assert rows.shape == (2,) and rows.num_shots == 500


def test_estimator_refuses_and_unsupported_control_flow_is_named():
    qc = mid_measure_reset_reuse().remove_final_measurements(inplace=False)
    qc.measure(0, 0)
    qc.h(0)
    with pytest.raises(UnsupportedInstruction, match="mid-circuit measurements, resets or classical control"):
        EstimatorV2().run([(qc, SparsePauliOp("ZI"))]).result()
    from qiskit.circuit.classical import expr

    conditioned = QuantumCircuit(2, 2)
    conditioned.h(0)
    conditioned.measure([0, 1], [0, 1])
    with conditioned.if_test(expr.logic_and(conditioned.clbits[0], conditioned.clbits[1])):
        conditioned.x(1)
    with pytest.raises(UnsupportedInstruction, match="conditions on classical expressions are not supported"):
        SamplerV2().run([(conditioned,)]).result()


def test_a_for_loop_is_its_body_once_per_index():
    looped = QuantumCircuit(2, 2)
    with looped.for_loop(range(3)) as index:
        looped.rx(0.5 * index, 0)
        looped.cx(0, 1)
    looped.measure(0, 0)
    looped.reset(1)
    looped.measure(1, 1)
    unrolled = QuantumCircuit(2)
    for index in range(3):
        unrolled.rx(0.5 * index, 0)
        unrolled.cx(0, 1)
    p1 = Statevector(unrolled).probabilities([0])[1]
    exact = dynamic_distribution(dynamic_from_qiskit(looped))
    assert exact.get(1, 0.0) == pytest.approx(p1, abs=1e-12)
    assert exact.get(0, 0.0) == pytest.approx(1 - p1, abs=1e-12)


def test_initialize_on_fresh_qubits_is_a_state_preparation():
    state = np.array([0.5, 0.5j, -0.5, 0.5])
    qc = QuantumCircuit(3)
    qc.initialize(state, [0, 1])
    qc.h(2)
    qc.cx(2, 0)
    assert not is_dynamic(qc)
    np.testing.assert_allclose(qfab.statevector(qfab.from_qiskit(qc)), Statevector(qc).data, atol=1e-12)
