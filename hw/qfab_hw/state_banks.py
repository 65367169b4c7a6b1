"""The state memory of a build: bank A (psi) and, with ``params.adjoint``, bank B (lambda).

Two :class:`qfab_hw.state_memory.BankedStateMemory` of the same geometry (2 * lanes 1R1W banks
each, ``blackbox`` forwarded), so every address maps to the same bank and offset in both. The
port plan serves every pass RUN_ADJOINT needs with one read-address bus and one write bus:

* **reads**: both memories read the same ``rd_addr`` in every clock ``rd_en`` is high:
  ``rd_data_a`` (psi) and ``rd_data_b`` (lambda) arrive together ``MEMORY_READ_LATENCY`` clocks
  of ``rd_en`` later (:class:`~qfab_hw.state_memory.BankedStateMemory`), and ``rd_data`` is the
  one ``rd_bank`` selected (registered with the read, so it follows the data; held while
  ``rd_en`` is low). The gate lanes take ``rd_data``; the adjoint reducer takes ``rd_data_a`` and
  ``rd_data_b`` at the lanes' pair addresses; the Z-string reducer ``rd_data_a`` and the lambda
  preparation both at the OBS row addresses.
* **writes**: one ``wr_addr`` / ``wr_data`` / ``wr_en`` bus, into the bank ``wr_bank`` selects
  (the pipeline delays the select with the pair addresses, like ``i0_stages``). No pass writes
  both banks in the same clock: the backward sweep's pass over bank A ends its writes (issue +
  GATE_DRAIN_CYCLES) exactly where the back-to-back pass over bank B starts its own, and the OBS
  pass writes only bank B (lambda), INIT and LOAD only bank A.

Without ``adjoint`` there is no bank B (no ``rd_data_b``, ``rd_bank`` and ``wr_bank`` ignored): the
build is v1's memory. Resources: bank B doubles the state BRAM/URAM
(:func:`qfab_hw.boards.state_memory_cost` counts ``params.state_banks``); its crossbars' address
decoding is identical to bank A's and shares its inputs (``BankedStateMemory.wr_enable`` selects
the written bank, so both memories see the same crossbar inputs and synthesis merges that logic):
bank B adds its read-data multiplexers and the lanes' A/B multiplexer.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.params import MEMORY_READ_LATENCY, CoreParams, require_core_params
from qfab_hw.state_memory import BankedStateMemory


class StateBanks(wiring.Component):
    def __init__(self, params: CoreParams, *, blackbox: bool = False):
        require_core_params(self, params)
        self.params = params
        self.blackbox = blackbox
        ports, addr = params.banks, params.max_qubits
        cplx = data.ArrayLayout(complex_layout(params.width), ports)
        members = {
            "rd_addr": In(data.ArrayLayout(addr, ports)),
            "rd_en": In(1),
            "rd_ports": In(ports),
            "rd_bank": In(1),
            "rd_data": Out(cplx),
            "rd_data_a": Out(cplx),
            "wr_addr": In(data.ArrayLayout(addr, ports)),
            "wr_data": In(cplx),
            "wr_en": In(ports),
            "wr_bank": In(1),
        }
        if params.adjoint:
            members["rd_data_b"] = Out(cplx)
        super().__init__(members)

    @property
    def has_lambda(self) -> bool:
        return self.params.adjoint

    def elaborate(self, platform):
        m = Module()
        params = self.params
        memories = [BankedStateMemory(params, blackbox=self.blackbox)
                    for _ in range(params.state_banks)]
        m.submodules.bank_a = memories[0]
        for bank, memory in enumerate(memories):
            if bank:
                m.submodules.bank_b = memory
            # Identical crossbar inputs for both memories (synthesis shares that logic); the bank
            # is selected by the memory's global write enable.
            m.d.comb += [
                memory.rd_addr.eq(self.rd_addr),
                memory.rd_en.eq(self.rd_en),
                memory.rd_ports.eq(self.rd_ports),
                memory.wr_addr.eq(self.wr_addr),
                memory.wr_data.eq(self.wr_data),
                memory.wr_en.eq(self.wr_en),
                memory.wr_enable.eq(self.wr_bank == bank if len(memories) > 1 else 1),
            ]
        m.d.comb += self.rd_data_a.eq(memories[0].rd_data)
        if len(memories) > 1:
            bank_d = self.rd_bank
            for stage in range(MEMORY_READ_LATENCY):
                register = Signal(name=f"rd_bank_d{stage + 1}")
                with m.If(self.rd_en):
                    m.d.sync += register.eq(bank_d)
                bank_d = register
            m.d.comb += [self.rd_data_b.eq(memories[1].rd_data),
                         self.rd_data.eq(Mux(bank_d, memories[1].rd_data, memories[0].rd_data))]
        else:
            m.d.comb += self.rd_data.eq(memories[0].rd_data)
        return m
