"""qfab: parameterized quantum circuits for QML on a fabric of devices.

>>> import qfab
>>> circ = qfab.from_qiskit(qc)
>>> qfab.gradient(circ, SparsePauliOp("Z" + "I" * (n - 1)), params)
"""
from . import devices
from .api import expectation, gradient, sample, statevector
from .engine import InsufficientMemoryError
from .frontend import UnsupportedInstruction, from_qiskit, load_qasm
from .ir import Circuit, Operation, ParamRef
from .scheduling import Workload, plan, run
from .design import codesign

__version__ = "0.1.0"

__all__ = [
    "devices", "Circuit", "Operation", "ParamRef", "from_qiskit", "load_qasm", "statevector", "expectation",
    "gradient", "sample", "UnsupportedInstruction", "InsufficientMemoryError", "Workload", "plan", "run",
    "codesign",
]
