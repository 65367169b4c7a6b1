"""Observable unit: the weighted OBS terms of a replay and its cost value.

Each OBS term's pass reduces E_j = sum_i (-1)**popcount(i & m_j) |psi_i|**2 exactly in the
Z-string reducer (READ_EXPZ's sum); this unit then accumulates ``acc += c_j * E_j`` exactly (the
weight MAC: the pipelined product of :mod:`qfab_hw.multiplier`, ``OBS_PRODUCT_LATENCY`` clocks,
then the sum) and gives the value
``C = sat64(round_half_up(acc / 2**24))`` with 2F fraction bits. Bit-accurate model:
:func:`qfab_hw.model.observable.cost_value` and the OBS branch of ``CoreModel._replay``.

* ``clear`` (one clock, the replay's INIT): acc = 0.
* ``weight`` (signed Q8.24, held by the sequencer) and ``i.valid`` with ``i.payload`` = E_j: one
  term; acc holds the sum :attr:`latency` clocks later.
* ``value`` and ``overflow`` (it saturated) are combinational from acc.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.multiplier import PipelinedMultiplier
from qfab_hw.params import (
    BEAT_BITS,
    OBS_FRAC_BITS,
    OBS_MAC_LATENCY,
    OBS_PRODUCT_LATENCY,
    CoreParams,
    require_core_params,
)

WEIGHT_BITS = 32


class ObservableUnit(wiring.Component):
    def __init__(self, params: CoreParams):
        require_core_params(self, params)
        self.params = params
        super().__init__(
            {
                "clear": In(1),
                "weight": In(signed(WEIGHT_BITS)),
                "i": In(stream.Signature(signed(params.reduce_accumulator_bits), always_ready=True)),
                "value": Out(signed(BEAT_BITS)),
                "overflow": Out(1),
            }
        )

    @property
    def latency(self) -> int:
        return OBS_MAC_LATENCY

    @property
    def accumulator_bits(self) -> int:
        """c * E exactly, summed over at most program_depth / 2 terms."""
        terms = self.params.program_depth // 2
        return WEIGHT_BITS + self.params.reduce_accumulator_bits + terms.bit_length()

    def elaborate(self, platform):
        m = Module()
        m.submodules.product = multiplier = PipelinedMultiplier(
            signed(WEIGHT_BITS), signed(self.params.reduce_accumulator_bits),
            latency=OBS_PRODUCT_LATENCY)
        m.d.comb += [multiplier.a.eq(self.weight), multiplier.b.eq(self.i.payload)]
        product = multiplier.product
        valid = [self.i.valid]
        for stage in range(OBS_PRODUCT_LATENCY):
            valid.append(Signal(name=f"product_valid{stage}"))
            m.d.sync += valid[-1].eq(valid[-2])
        product_valid = valid[-1]
        accumulator = Signal(signed(self.accumulator_bits))
        with m.If(self.clear):
            m.d.sync += accumulator.eq(0)
        with m.Elif(product_valid):
            m.d.sync += accumulator.eq(accumulator + product)

        rounded = Signal(signed(self.accumulator_bits - OBS_FRAC_BITS + 1))
        m.d.comb += rounded.eq((accumulator + (1 << (OBS_FRAC_BITS - 1))) >> OBS_FRAC_BITS)
        high, low = (1 << (BEAT_BITS - 1)) - 1, -(1 << (BEAT_BITS - 1))
        with m.If(rounded > high):
            m.d.comb += [self.value.eq(high), self.overflow.eq(1)]
        with m.Elif(rounded < low):
            m.d.comb += [self.value.eq(low), self.overflow.eq(1)]
        with m.Else():
            m.d.comb += self.value.eq(rounded)
        return m
