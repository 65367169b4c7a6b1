"""qfab: parameterized quantum circuits for QML on a fabric of devices.

>>> import qfab
>>> circ = qfab.from_qiskit(qc)
>>> qfab.gradient(circ, SparsePauliOp("Z" + "I" * (n - 1)), params)

``import qfab`` loads the core (IR, frontend) and the public calls; a backend loads when its
device is first made, and the scheduler, co-design, QML and Qiskit layers when first used
(``qfab.plan``, ``qfab.qml``, ...).
"""
import importlib
import os

# The engine's parallel regions are short (microseconds to milliseconds). libgomp lets threads
# that wait for the next region spin, which is fastest on an idle machine and ruinous on a busy
# one: when another process holds a core, every region waits for a scheduler tick (measured on
# the 2-core VM with one other busy process: an adjoint gradient of 6 qubits took 400 ms instead
# of 0.8 ms). Passive waiting is set before numba loads libgomp; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from qfab import moved  # noqa: E402
from qfab.api import expectation, gradient, sample, statevector  # noqa: E402
from qfab.backends import DeviceCapabilityError, DeviceUnavailable, InsufficientMemoryError  # noqa: E402
from qfab.core import Circuit, Operation, ParamRef, UnsupportedInstruction, from_qiskit, load_qasm  # noqa: E402

moved.install()

__version__ = "0.1.0"

# Public names whose layer loads on first use: name -> module that defines it.
_LAZY = {"Workload": "qfab.scheduling", "plan": "qfab.scheduling", "run": "qfab.scheduling",
         "codesign": "qfab.design"}
_SUBPACKAGES = ("api", "backends", "cli", "core", "design", "errors", "qiskit", "qml", "scheduling", "testing")

__all__ = [
    "Circuit", "Operation", "ParamRef", "from_qiskit", "load_qasm", "statevector", "expectation", "gradient",
    "sample", "UnsupportedInstruction", "InsufficientMemoryError", "DeviceCapabilityError", "DeviceUnavailable",
    "Workload", "plan", "run", "codesign",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBPACKAGES or f"qfab.{name}" in moved.MOVED:
        return importlib.import_module(f"qfab.{name}")
    raise AttributeError(f"module 'qfab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))
