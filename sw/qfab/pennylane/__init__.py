"""qfab as a PennyLane plugin: ``qml.device("qfab.cpu" | "qfab.fpga" | "qfab.auto", wires=n)``.

The devices are registered through the ``pennylane.plugins`` entry point (``pip install
qfab[pennylane]``); docs/pennylane.md lists what they support.
"""
from qfab.pennylane.device import QfabAuto, QfabCPU, QfabDevice, QfabFPGA

__all__ = ["QfabDevice", "QfabCPU", "QfabFPGA", "QfabAuto"]
