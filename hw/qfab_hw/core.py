"""Top level: AXI-Stream program input, AXI-Stream result output, AXI4-Lite registers.

RESET is a synchronous reset of the engine (state invalid, flags cleared). If it interrupts a
program whose packet is still arriving, the core keeps TREADY high and discards words up to
TLAST, so the host's DMA send completes instead of hanging.
"""

from __future__ import annotations

from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.axi import AXILiteSignature, AXIStreamSignature
from qfab_hw.pipeline import QfabPipeline
from qfab_hw.params import BEAT_BITS, CoreParams, require_core_params
from qfab_hw.registers import ADDRESS_BITS, ControlRegisters


class QfabCore(wiring.Component):
    """``blackbox_memory=True`` leaves the state banks as external modules (logic-only
    synthesis, see :mod:`qfab_hw.synth`)."""

    def __init__(self, params: CoreParams, *, blackbox_memory: bool = False):
        require_core_params(self, params)
        self.params = params
        self.blackbox_memory = blackbox_memory
        #: The pipeline (its status signals are what the registers show; testbenches read them).
        self.engine = QfabPipeline(params, blackbox_memory=blackbox_memory)
        super().__init__(
            {
                "s_axis": In(AXIStreamSignature(BEAT_BITS)),
                "m_axis": Out(AXIStreamSignature(BEAT_BITS)),
                "s_axil": In(AXILiteSignature(ADDRESS_BITS)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.registers = registers = ControlRegisters(self.params)
        engine = self.engine
        m.submodules.engine = ResetInserter(registers.reset)(engine)
        wiring.connect(m, wiring.flipped(self.s_axil), registers.bus)
        m.d.comb += [
            engine.start.eq(registers.start),
            registers.busy.eq(engine.busy),
            registers.done.eq(engine.done),
            registers.overflow.eq(engine.overflow),
            registers.error.eq(engine.error),
            registers.cycles.eq(engine.cycles),
            registers.n_qubits.eq(engine.n_qubits),
            self.m_axis.tdata.eq(engine.o.payload.data),
            self.m_axis.tlast.eq(engine.o.payload.last),
            self.m_axis.tvalid.eq(engine.o.valid),
            engine.o.ready.eq(self.m_axis.tready),
        ]

        # Track packet boundaries so RESET can discard the rest of an interrupted packet.
        s_axis = self.s_axis
        in_packet = Signal()  # the last accepted word had no TLAST
        flushing = Signal()
        accepted = s_axis.tvalid & s_axis.tready
        with m.If(accepted):
            m.d.sync += in_packet.eq(~s_axis.tlast)
        with m.If(registers.reset):
            m.d.sync += flushing.eq(in_packet & ~(accepted & s_axis.tlast))
        with m.Elif(flushing & s_axis.tvalid & s_axis.tlast):
            m.d.sync += flushing.eq(0)
        with m.If(flushing):
            m.d.comb += s_axis.tready.eq(1)
        with m.Else():
            m.d.comb += [
                engine.i.payload.data.eq(s_axis.tdata),
                engine.i.payload.last.eq(s_axis.tlast),
                engine.i.valid.eq(s_axis.tvalid),
                s_axis.tready.eq(engine.i.ready),
            ]
        return m
