"""The QPU backend: any Qiskit ``BackendV2`` as a device (``device``), circuits mapped onto a chip
by its calibration data (``mapping``) and written back to Qiskit with one parameter per gate angle
(``circuits``)."""
from qfab.backends.qpu.circuits import ShiftableCircuit, to_qiskit
from qfab.backends.qpu.device import QPU, QPUResult, pauli_sum_to_sparse_pauli_op
from qfab.backends.qpu.mapping import (MappedCircuit, calibration_snapshot, estimated_success_probability, gate_error,
                                      map_circuit, scale_errors)

__all__ = ["QPU", "QPUResult", "pauli_sum_to_sparse_pauli_op", "ShiftableCircuit", "to_qiskit", "MappedCircuit",
           "estimated_success_probability", "gate_error", "map_circuit", "calibration_snapshot", "scale_errors"]
