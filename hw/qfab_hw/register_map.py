"""The AXI4-Lite control/status register map of the core, as data: the gateware
(:class:`qfab_hw.registers.ControlRegisters`) and the host drivers read the same offsets and
bits, and a driver imports this without Amaranth.

=======  ==========  ====  ===========================================================
Offset   Name        R/W   Bits
=======  ==========  ====  ===========================================================
0x00     CONTROL     W     0: START (run the program on s_axis), 1: RESET (abort,
                           invalidate the state, discard the rest of the packet)
0x04     STATUS      R     0: BUSY, 1: DONE, 2: OVERFLOW (sticky per run),
                           [15:8] ERROR code, [23:16] qubits of the current state
0x08     CYCLES_LO   R     clock cycles of the current/last run, bits [31:0]
0x0C     CYCLES_HI   R     bits [47:32]
0x10     BUILD       R     [7:0] max qubits, [15:8] lanes, [23:16] width, [31:24] version
0x14     BUILD2      R     [7:0] log2(program_depth), [15:8] log2(param_depth),
                           [28:16] max_params, [31] adjoint (``CoreParams.build2_word``)
=======  ==========  ====  ===========================================================

Reads of other offsets return 0; all accesses answer OKAY.
"""

from __future__ import annotations

from enum import IntEnum

ADDRESS_BITS = 6


class Register(IntEnum):
    CONTROL = 0x00
    STATUS = 0x04
    CYCLES_LO = 0x08
    CYCLES_HI = 0x0C
    BUILD = 0x10
    BUILD2 = 0x14


CONTROL_START, CONTROL_RESET = 0, 1
STATUS_BUSY, STATUS_DONE, STATUS_OVERFLOW, STATUS_ERROR_SHIFT, STATUS_QUBITS_SHIFT = 0, 1, 2, 8, 16
