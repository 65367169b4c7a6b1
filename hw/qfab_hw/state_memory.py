"""State memory: 2**max_qubits complex amplitudes in 2*lanes banks of 1R1W memory.

Each of the ``2 * lanes`` ports reads one amplitude and writes one amplitude per clock by
full amplitude address (``rd_ports`` selects the ports in use); the crossbars route each
address to its bank (see :mod:`qfab_hw.model.addressing` for the mapping and why the lanes
never collide). Read data arrive ``MEMORY_READ_LATENCY`` = 2 clocks after the address: the
block RAM's read, then a register on each bank's output (the RAM's own output register where the
tools fold it: Vivado's DOB_REG; on the ECP5 yosys keeps it in fabric), so the RAM's slow
clock-to-out ends at a flip-flop, not in a multiplier (docs/fpga.md, "Pipelining for Fmax").
Both stages advance with ``rd_en``: low, it holds them (output back-pressure), so the clock
after a pass's last read keeps ``rd_en`` high to bring that read out.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, ClockSignal, Instance, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.params import MEMORY_READ_LATENCY, CoreParams


#: Module name of a bank when the memory is a black box (see ``blackbox_stub``).
BANK_BLACKBOX = "qfab_state_bank"


def blackbox_stub(params: CoreParams) -> str:
    """Verilog declaration of the black-box bank, for logic-only synthesis."""
    addr = max(params.max_qubits - params.lane_bits - 1, 1)
    word = 2 * params.width
    return (
        f"(* blackbox *)\nmodule {BANK_BLACKBOX}(input clk, input [{addr - 1}:0] rd_addr, "
        f"input rd_en, output [{word - 1}:0] rd_data, input [{addr - 1}:0] wr_addr, "
        f"input wr_en, input [{word - 1}:0] wr_data);\nendmodule\n"
    )


class BankedStateMemory(wiring.Component):
    """``blackbox=True`` instantiates each bank as the external module ``qfab_state_bank``
    instead of inferring memory, so yosys can measure the logic alone; the banks' BRAM/URAM
    is computed from the geometry (:func:`qfab_hw.boards.state_memory_cost`)."""

    def __init__(self, params: CoreParams, *, blackbox: bool = False):
        self.params = params
        self.blackbox = blackbox
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
                # All writes of this memory (default 1: unconnected, the v1 behaviour). A build
                # with two state banks gives both the same crossbar inputs (so synthesis shares
                # the crossbars' logic) and selects the bank here.
                "wr_enable": In(1, init=1),
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
            read, write = self._bank(m, bank, cplx)
            output = Signal(cplx, name=f"bank{bank}_q")
            with m.If(self.rd_en):
                m.d.sync += output.eq(read.data)
            banks.append(output.as_value())
            m.d.comb += read.en.eq(self.rd_en)
            for port in range(params.banks):
                with m.If(self.rd_ports[port] & (self.bank_of(self.rd_addr[port]) == bank)):
                    m.d.comb += read.addr.eq(self.offset_of(self.rd_addr[port]))
                with m.If(self.wr_en[port] & (self.bank_of(self.wr_addr[port]) == bank)):
                    m.d.comb += [
                        write.en.eq(self.wr_enable),
                        write.addr.eq(self.offset_of(self.wr_addr[port])),
                        write.data.eq(self.wr_data[port]),
                    ]
        bank_data = Array(banks)
        for port in range(params.banks):
            selected = self.bank_of(self.rd_addr[port])
            for stage in range(MEMORY_READ_LATENCY):  # the bank select travels with the read
                register = Signal(range(params.banks), name=f"rd_bank{port}_d{stage + 1}")
                with m.If(self.rd_en):
                    m.d.sync += register.eq(selected)
                selected = register
            m.d.comb += self.rd_data[port].eq(bank_data[selected])
        return m

    def _bank(self, m: Module, bank: int, cplx):
        """Read and write ports of one bank: an inferred 1R1W memory or the black box."""
        if not self.blackbox:
            memory = Memory(shape=cplx, depth=self.params.bank_depth, init=[])
            m.submodules[f"bank{bank}"] = memory
            return memory.read_port(), memory.write_port()
        read_signature = ReadPort.Signature(addr_width=self._offset_bits, shape=cplx)
        write_signature = WritePort.Signature(addr_width=self._offset_bits, shape=cplx)
        read = read_signature.create(path=(f"bank{bank}_rd",))
        write = write_signature.create(path=(f"bank{bank}_wr",))
        m.submodules[f"bank{bank}"] = Instance(
            BANK_BLACKBOX,
            i_clk=ClockSignal(), i_rd_addr=read.addr, i_rd_en=read.en, o_rd_data=read.data,
            i_wr_addr=write.addr, i_wr_en=write.en, i_wr_data=write.data,
        )
        return read, write

    @property
    def _offset_bits(self) -> int:
        return max(self.params.max_qubits - self.params.lane_bits - 1, 1)
