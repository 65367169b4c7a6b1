"""Address generator: the amplitude pairs of pass step ``group`` for every lane.

Lane ``j`` at step ``g`` handles pair ``k = g*lanes + j``; its addresses are ``k`` with a 0
(i0) or a 1 (i1) inserted at bit ``target``. ``active`` is the control qubit's bit of i0 for a
controlled gate. Combinational; model: :func:`qfab_hw.model.pair_addresses`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.params import CoreParams


class AddressGenerator(wiring.Component):
    def __init__(self, params: CoreParams):
        self.params = params
        addr = params.max_qubits
        group_bits = params.max_qubits - 1 - params.lane_bits
        super().__init__(
            {
                "group": In(max(group_bits, 1)),
                "target": In(range(params.max_qubits)),
                "control": In(range(params.max_qubits)),
                "controlled": In(1),
                "i0": Out(data.ArrayLayout(addr, params.lanes)),
                "i1": Out(data.ArrayLayout(addr, params.lanes)),
                "active": Out(params.lanes),
            }
        )

    def elaborate(self, platform):
        m = Module()
        params = self.params
        pair_bits = params.max_qubits - 1
        group_bits = pair_bits - params.lane_bits
        low_mask = Signal(pair_bits)
        m.d.comb += low_mask.eq((Const(1, pair_bits + 1) << self.target) - 1)
        for lane in range(params.lanes):
            pair = Signal(pair_bits, name=f"pair{lane}")
            m.d.comb += pair.eq(Cat(Const(lane, params.lane_bits), self.group[:group_bits]))
            i0 = Signal(params.max_qubits, name=f"i0_{lane}")
            m.d.comb += [
                i0.eq(((pair & ~low_mask) << 1) | (pair & low_mask)),
                self.i0[lane].eq(i0),
                self.i1[lane].eq(i0 | (Const(1, params.max_qubits) << self.target)),
                self.active[lane].eq(~self.controlled | i0.bit_select(self.control, 1)),
            ]
        return m
