"""The FPGA backend: the compiler that lowers circuits to the core's operations, the driver that
assembles gate programs, the transports that run them (bit-accurate model, Verilator, PYNQ
board), and the device over them. The core itself (Amaranth) and its bit-accurate model are the
``qfab_hw`` package."""
from qfab.backends.fpga.compiler import lower, predicted_expectation_error, predicted_infidelity
from qfab.backends.fpga.device import DEFAULT_PARAMS, FPGADevice, fpga_status
from qfab.backends.fpga.driver import FPGAError, FPGAOverflowError
from qfab.backends.fpga.transports import FPGATimeoutError, ModelTransport, PynqTransport, Transport, VerilatorTransport

__all__ = ["FPGADevice", "FPGAError", "FPGAOverflowError", "FPGATimeoutError", "Transport", "ModelTransport",
           "VerilatorTransport", "PynqTransport", "lower", "predicted_infidelity", "predicted_expectation_error",
           "fpga_status", "DEFAULT_PARAMS"]
