"""State memory: 2**max_qubits complex amplitudes in 2*lanes banks of 1R1W memory.

Each of the ``2 * lanes`` ports reads one amplitude and writes one amplitude per clock by
full amplitude address (``rd_ports`` selects the ports in use); the crossbars route each address to its bank (see
:mod:`qfab_hw.model.addressing` for the mapping and why the lanes never collide). Read data
arrive one clock after the address (``rd_en`` low holds the data, for output back-pressure).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .layouts import complex_layout
from .params import CoreParams


class BankedStateMemory(wiring.Component):
    def __init__(self, params: CoreParams):
        self.params = params
        ports, addr = params.banks, params.max_qubits
        cplx = complex_layout(params.width)
        super().__init__(
            {
                "rd_addr": In(data.ArrayLayout(addr, ports)),
                "rd_en": In(1),
                "rd_ports": In(ports),  # ports whose address is used this clock
                "rd_data": Out(data.ArrayLayout(cplx, ports)),
                "wr_addr": In(data.ArrayLayout(addr, ports)),
                "wr_data": In(data.ArrayLayout(cplx, ports)),
                "wr_en": In(ports),
            }
        )

    def bank_of(self, address):
        """Bank of an amplitude: low lane bits, then the parity of the remaining bits."""
        lane_bits = self.params.lane_bits
        return Cat(address[:lane_bits], address[lane_bits:].xor())

    def offset_of(self, address):
        return address[self.params.lane_bits + 1 :]

    def elaborate(self, platform):
        m = Module()
        params = self.params
        cplx = complex_layout(params.width)
        banks = []
        for bank in range(params.banks):
            memory = Memory(shape=cplx, depth=params.bank_depth, init=[])
            m.submodules[f"bank{bank}"] = memory
            read, write = memory.read_port(), memory.write_port()
            banks.append(read.data.as_value())
            m.d.comb += read.en.eq(self.rd_en)
            for port in range(params.banks):
                with m.If(self.rd_ports[port] & (self.bank_of(self.rd_addr[port]) == bank)):
                    m.d.comb += read.addr.eq(self.offset_of(self.rd_addr[port]))
                with m.If(self.wr_en[port] & (self.bank_of(self.wr_addr[port]) == bank)):
                    m.d.comb += [
                        write.en.eq(1),
                        write.addr.eq(self.offset_of(self.wr_addr[port])),
                        write.data.eq(self.wr_data[port]),
                    ]
        bank_data = Array(banks)
        for port in range(params.banks):
            selected = Signal(range(params.banks), name=f"rd_bank{port}")
            with m.If(self.rd_en):
                m.d.sync += selected.eq(self.bank_of(self.rd_addr[port]))
            m.d.comb += self.rd_data[port].eq(bank_data[selected])
        return m
