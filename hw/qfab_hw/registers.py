"""AXI4-Lite control/status registers of the core.

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

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.axi import AXILiteSignature
from qfab_hw.pipeline import CYCLE_COUNTER_BITS
from qfab_hw.params import CoreParams
from qfab_hw.program import ErrorCode

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


class ControlRegisters(wiring.Component):
    def __init__(self, params: CoreParams):
        self.params = params
        super().__init__(
            {
                "bus": In(AXILiteSignature(ADDRESS_BITS)),
                "start": Out(1),
                "reset": Out(1),
                "busy": In(1),
                "done": In(1),
                "overflow": In(1),
                "error": In(ErrorCode),
                "cycles": In(CYCLE_COUNTER_BITS),
                "n_qubits": In(8),
            }
        )

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        # Write: take address and data together, answer once on B.
        write = Signal()
        m.d.comb += write.eq(bus.awvalid & bus.wvalid & ~bus.bvalid)
        m.d.comb += [bus.awready.eq(write), bus.wready.eq(write)]
        m.d.sync += [self.start.eq(0), self.reset.eq(0)]
        with m.If(write):
            m.d.sync += bus.bvalid.eq(1)
            with m.If((bus.awaddr == Register.CONTROL) & bus.wstrb[0]):
                m.d.sync += [self.start.eq(bus.wdata[CONTROL_START]),
                             self.reset.eq(bus.wdata[CONTROL_RESET])]
        with m.Elif(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)

        # Read: one outstanding read, data registered.
        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.arvalid & ~bus.rvalid):
            m.d.sync += bus.rvalid.eq(1)
            with m.Switch(bus.araddr):
                with m.Case(Register.STATUS):
                    m.d.sync += bus.rdata.eq(
                        (self.busy << STATUS_BUSY) | (self.done << STATUS_DONE)
                        | (self.overflow << STATUS_OVERFLOW)
                        | (self.error << STATUS_ERROR_SHIFT)
                        | (self.n_qubits << STATUS_QUBITS_SHIFT)
                    )
                with m.Case(Register.CYCLES_LO):
                    m.d.sync += bus.rdata.eq(self.cycles[:32])
                with m.Case(Register.CYCLES_HI):
                    m.d.sync += bus.rdata.eq(self.cycles[32:])
                with m.Case(Register.BUILD):
                    m.d.sync += bus.rdata.eq(self.params.build_word)
                with m.Case(Register.BUILD2):
                    m.d.sync += bus.rdata.eq(self.params.build2_word)
                with m.Default():
                    m.d.sync += bus.rdata.eq(0)
        with m.Elif(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        return m
