"""Random and structured circuits shared by the tests."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import get_standard_gate_name_mapping

_SKIP = {"measure", "reset", "delay", "global_phase", "barrier"}
STANDARD_GATES = {
    name: gate for name, gate in sorted(get_standard_gate_name_mapping().items()) if name not in _SKIP
}


def hardware_efficient(num_qubits: int, layers: int) -> QuantumCircuit:
    """Per layer RY and RZ on every qubit, then a CNOT ladder (the benchmark workload)."""
    theta = ParameterVector("theta", 2 * num_qubits * layers)
    qc = QuantumCircuit(num_qubits)
    k = 0
    for _ in range(layers):
        for q in range(num_qubits):
            qc.ry(theta[k], q)
            k += 1
        for q in range(num_qubits):
            qc.rz(theta[k], q)
            k += 1
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
    return qc


@st.composite
def random_circuits(draw, min_qubits=1, max_qubits=10, max_gates=30, parametric=True):
    """A circuit of standard gates with some angles bound to affine expressions of parameters."""
    num_qubits = draw(st.integers(min_qubits, max_qubits))
    names = [n for n, g in STANDARD_GATES.items() if g.num_qubits <= num_qubits]
    params = [Parameter(f"p{i}") for i in range(draw(st.integers(1, 4)))]
    qc = QuantumCircuit(num_qubits)
    angle = st.floats(-np.pi, np.pi, allow_nan=False)
    for _ in range(draw(st.integers(0, max_gates))):
        gate = STANDARD_GATES[draw(st.sampled_from(names))]
        qubits = draw(st.permutations(range(num_qubits)))[: gate.num_qubits]
        values = []
        for _ in gate.params:
            if parametric and draw(st.booleans()):
                values.append(draw(st.floats(-2, 2, allow_nan=False)) * draw(st.sampled_from(params)) + draw(angle))
            else:
                values.append(draw(angle))
        qc.append(gate.base_class(*values) if values else gate, qubits)
    return qc
