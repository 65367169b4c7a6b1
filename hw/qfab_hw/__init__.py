"""qfab_hw: the qfab FPGA gate-application core (Amaranth 0.5) and its bit-accurate models.

Pure-Python entry points, importable without building any hardware:

* :class:`CoreParams` - a validated build configuration (max qubits, lanes, width);
* :mod:`qfab_hw.program` - the instruction word format and the :class:`Assembler`;
* :class:`CoreModel` - bit-accurate results and cycle counts of a program;
* :mod:`qfab_hw.boards` - board configurations and what fits on them.
"""

from qfab_hw.model import CoreModel, ProgramError, RunResult
from qfab_hw.params import CORE_VERSION, CoreParams
from qfab_hw.program import (
    Assembler,
    ErrorCode,
    Instruction,
    Opcode,
    RotationKind,
    decode_amplitudes,
    decode_expectation,
    decode_gradients,
    decode_probabilities,
    decode_program,
)

__all__ = [
    "CORE_VERSION",
    "Assembler",
    "CoreModel",
    "CoreParams",
    "ErrorCode",
    "Instruction",
    "Opcode",
    "ProgramError",
    "RotationKind",
    "RunResult",
    "decode_amplitudes",
    "decode_expectation",
    "decode_gradients",
    "decode_probabilities",
    "decode_program",
]
