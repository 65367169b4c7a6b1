"""The AXI4-Lite control/status registers of the core (the map: :mod:`qfab_hw.register_map`)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.axi import AXILiteSignature
from qfab_hw.pipeline import CYCLE_COUNTER_BITS
from qfab_hw.params import CoreParams
from qfab_hw.program import ErrorCode
from qfab_hw.register_map import (ADDRESS_BITS, CONTROL_RESET, CONTROL_START, STATUS_BUSY, STATUS_DONE,
                                  STATUS_ERROR_SHIFT, STATUS_OVERFLOW, STATUS_QUBITS_SHIFT, Register)


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
