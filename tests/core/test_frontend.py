"""from_qiskit: what it keeps, what it translates and what it refuses (with the reason)."""
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import Statevector

import qfab
from qfab.core.ir import Circuit, Operation, ParamRef

from tests.support.circuits import hardware_efficient


def test_parameters_follow_qiskit_order():
    qc = hardware_efficient(3, 2)
    circ = qfab.from_qiskit(qc)
    assert circ.parameters == tuple(p.name for p in qc.parameters)
    assert circ.num_qubits == 3


def test_affine_angle_is_kept_symbolic():
    t = Parameter("t")
    qc = QuantumCircuit(1)
    qc.rx(2 * t + 0.5, 0)
    (op,) = qfab.from_qiskit(qc).operations
    assert op.name == "rx" and op.param == ParamRef(0, 2.0, 0.5)


def test_parametric_u_gate_is_translated_with_its_global_phase():
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc = QuantumCircuit(2)
    qc.u(a, b, c, 0)
    qc.cu(a, 0.3, c, 0.2, 0, 1)
    circ = qfab.from_qiskit(qc)
    values = np.array([0.4, -1.1, 2.3])
    bound = qc.assign_parameters(dict(zip(qc.parameters, values)))
    np.testing.assert_allclose(qfab.statevector(circ, values), Statevector(bound).data, atol=1e-12)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda qc, t: qc.rx(t * t, 0), "not affine"),
        (lambda qc, t: (qc.measure(0, 0), qc.x(0)), "mid-circuit measurement"),
        (lambda qc, t: qc.reset(0), "reset"),
    ],
)
def test_refusals_name_the_instruction(build, message):
    t = Parameter("t")
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    build(qc, t)
    with pytest.raises(qfab.UnsupportedInstruction, match=message) as err:
        qfab.from_qiskit(qc)
    assert "instruction 1" in str(err.value)


def test_classical_control_is_refused():
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    with pytest.raises(qfab.UnsupportedInstruction, match="instruction 1 .*classical control"):
        qfab.from_qiskit(qc)


def test_angle_linear_in_two_parameters_splits_into_two_rotations():
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(a - 2 * b + 0.1, 0)
    circ = qfab.from_qiskit(qc)
    assert [op.param for op in circ.operations[1:]] == [ParamRef(0, 1.0, 0.1), ParamRef(1, -2.0, 0.0)]
    values = np.array([0.3, 0.8])
    bound = qc.assign_parameters(dict(zip(qc.parameters, values)))
    np.testing.assert_allclose(qfab.statevector(circ, values), Statevector(bound).data, atol=1e-12)


def test_barriers_and_final_measurements_are_accepted():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.barrier()
    qc.cx(0, 1)
    qc.measure([0, 1], [1, 0])
    circ = qfab.from_qiskit(qc)
    assert [m.clbit for m in circ.measurements] == [1, 0]
    assert len(circ.operations) == 2


def test_non_unitary_matrix_is_refused():
    with pytest.raises(ValueError, match="not unitary"):
        Operation("bad", (0,), matrix=np.array([[1, 0], [0, 2]], dtype=complex))


def test_operation_outside_the_register_is_refused():
    op = Operation("x", (3,), matrix=np.array([[0, 1], [1, 0]], dtype=complex))
    with pytest.raises(ValueError, match=r"qubits \(3,\) outside 0..1"):
        Circuit(num_qubits=2, operations=(op,))


@pytest.mark.parametrize("version", [2, 3])
def test_qasm_files_load_through_qiskit(tmp_path, version):
    from qiskit import qasm2, qasm3

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.crx(0.7, 0, 1)
    qc.u(0.1, 0.2, 0.3, 1)
    text = qasm2.dumps(qc) if version == 2 else qasm3.dumps(qc)
    path = tmp_path / "c.qasm"
    path.write_text(text)
    circ = qfab.load_qasm(path)
    np.testing.assert_allclose(qfab.statevector(circ), Statevector(qc).data, atol=1e-12)
