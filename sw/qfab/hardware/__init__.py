"""qfab on quantum hardware: mapping circuits by calibration data, and ansätze that fit the chip."""
from .ansatz import HardwareAnsatz, good_connected_qubits, hardware_efficient_ansatz, logical_ansatz
from .circuits import ShiftableCircuit, to_qiskit
from .mapping import MappedCircuit, estimated_success_probability, map_circuit

__all__ = ["HardwareAnsatz", "MappedCircuit", "ShiftableCircuit", "estimated_success_probability",
           "good_connected_qubits", "hardware_efficient_ansatz", "logical_ansatz", "map_circuit", "to_qiskit"]
