"""qfab's core, below every backend: the circuit IR and its gates, observables, the Qiskit and
OpenQASM frontend, the checks on what a caller passes in, and the one parameter-shift rule.

Nothing here knows a device; everything above (backends, scheduling, QML) speaks these types.
"""
from qfab.core.frontend import UnsupportedInstruction, from_qiskit, load_qasm
from qfab.core.inputs import as_circuit, as_params
from qfab.core.ir import Circuit, Measurement, Operation, ParamRef
from qfab.core.observables import PauliSum, as_pauli_sums

__all__ = ["Circuit", "Operation", "ParamRef", "Measurement", "PauliSum", "as_pauli_sums", "from_qiskit", "load_qasm",
           "UnsupportedInstruction", "as_circuit", "as_params"]
