"""qfab: parameterized quantum circuits for QML on a fabric of devices.

>>> import qfab
>>> circ = qfab.from_qiskit(qc)
>>> qfab.gradient(circ, SparsePauliOp("Z" + "I" * (n - 1)), params)
"""
import os

# The engine's parallel regions are short (microseconds to milliseconds). libgomp lets threads
# that wait for the next region spin, which is fastest on an idle machine and ruinous on a busy
# one: when another process holds a core, every region waits for a scheduler tick (measured on
# the 2-core VM with one other busy process: an adjoint gradient of 6 qubits took 400 ms instead
# of 0.8 ms). Passive waiting is set before numba loads libgomp; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import devices  # noqa: E402
from .api import expectation, gradient, sample, statevector  # noqa: E402
from .engine import InsufficientMemoryError  # noqa: E402
from .frontend import UnsupportedInstruction, from_qiskit, load_qasm  # noqa: E402
from .ir import Circuit, Operation, ParamRef  # noqa: E402
from .scheduling import Workload, plan, run  # noqa: E402
from .design import codesign  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "devices", "Circuit", "Operation", "ParamRef", "from_qiskit", "load_qasm", "statevector", "expectation",
    "gradient", "sample", "UnsupportedInstruction", "InsufficientMemoryError", "Workload", "plan", "run",
    "codesign",
]
