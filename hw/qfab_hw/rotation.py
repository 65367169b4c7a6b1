"""Rotation (coefficient) unit: GATE_ROT's angle word to the gate lane's u00, u01, u10, u11.

For a parameter word t (signed 32 bit, from the parameter memory), the payload (a, b) and a shift
word sigma (0 outside RUN_SHIFT's loop), exactly as :mod:`qfab_hw.model.rotation`:

1. product ``a * t`` (signed 32 x 32 bit; a is Q4.28), pipelined (:mod:`qfab_hw.multiplier`,
   ``AFFINE_PRODUCT_LATENCY`` clocks);
2. the half angle ``h = (round_half_up(a*t / 2**28) + b + sigma) mod 2**32`` (only bits
   [28, 60) of the rounded product matter), registered;
3. the sin/cos unit (:class:`qfab_hw.trig.SinCosUnit`) on ``h`` (RX, RY, RZ) or ``2h mod 2**32``
   (P, the full angle), rounded half up to its ``ANGLE_BITS`` if they are fewer than 32;
4. (c, s) placed into the coefficients: RX (c, 0), (0, -s), (0, -s), (c, 0); RY (c, 0), (-s, 0),
   (s, 0), (c, 0); RZ (c, -s), 0, 0, (c, s); P (2**F, 0), 0, 0, (c, s). |s| <= 2**F, so -s needs
   no saturation.

``kind``, ``a``, ``b`` and ``shift`` are held by the sequencer (like the gate lane's operation);
``i.valid`` with ``i.payload`` = t starts one rotation. ``o.valid`` pulses :attr:`latency` =
``AFFINE_LATENCY + trig.LATENCY`` clocks later and ``o.payload`` (combinational from the sin/cos
unit's held result) stays valid until the next rotation's result: the sequencer loads it into the
lane's coefficient registers in that clock, the "coefficient load" cycle of GATE_ROT's setup.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.model import trig as trig_model
from qfab_hw.multiplier import PipelinedMultiplier
from qfab_hw.params import (
    AFFINE_FRAC_BITS,
    AFFINE_LATENCY,
    AFFINE_PRODUCT_LATENCY,
    ANGLE_WORD_BITS,
    CoreParams,
    require_core_params,
)
from qfab_hw.program import RotationKind
from qfab_hw.trig import SinCosUnit


def coefficients_layout(width: int) -> data.ArrayLayout:
    """u00, u01, u10, u11 as complex Q2.F numbers."""
    return data.ArrayLayout(complex_layout(width), 4)


class RotationUnit(wiring.Component):
    def __init__(self, params: CoreParams):
        require_core_params(self, params)
        self.params = params
        super().__init__(
            {
                "kind": In(RotationKind),
                "a": In(signed(ANGLE_WORD_BITS)),
                "b": In(unsigned(ANGLE_WORD_BITS)),
                "shift": In(unsigned(ANGLE_WORD_BITS)),
                "i": In(stream.Signature(signed(ANGLE_WORD_BITS), always_ready=True)),
                "o": Out(stream.Signature(coefficients_layout(params.width), always_ready=True)),
            }
        )

    @property
    def latency(self) -> int:
        """Clocks from ``i.valid`` to ``o.valid``."""
        return AFFINE_LATENCY + trig_model.LATENCY

    def elaborate(self, platform):
        m = Module()
        params = self.params
        m.submodules.trig = trig = SinCosUnit(params)

        # The product (pipelined DSPs), then round, add b and the shift, mod 2**32: rounding half
        # up at bit 28 keeps bits [28, 60) plus the carry of bit 27.
        m.submodules.product = multiplier = PipelinedMultiplier(
            signed(ANGLE_WORD_BITS), signed(ANGLE_WORD_BITS), latency=AFFINE_PRODUCT_LATENCY)
        m.d.comb += [multiplier.a.eq(self.a), multiplier.b.eq(self.i.payload)]
        product = multiplier.product
        valid = [self.i.valid]
        for stage in range(AFFINE_LATENCY):
            valid.append(Signal(name=f"affine_valid{stage}"))
            m.d.sync += valid[-1].eq(valid[-2])
        half_angle = Signal(ANGLE_WORD_BITS)
        rounded = (product[AFFINE_FRAC_BITS:AFFINE_FRAC_BITS + ANGLE_WORD_BITS]
                   + product[AFFINE_FRAC_BITS - 1])
        m.d.sync += half_angle.eq(rounded + self.b + self.shift)

        # The sin/cos unit's angle: h, or 2h for P; rounded to its ANGLE_BITS.
        angle = Signal(ANGLE_WORD_BITS)
        with m.If(self.kind == RotationKind.P):
            m.d.comb += angle.eq(Cat(Const(0, 1), half_angle[:-1]))
        with m.Else():
            m.d.comb += angle.eq(half_angle)
        drop = ANGLE_WORD_BITS - trig_model.ANGLE_BITS
        if drop > 0:
            trig_angle = (angle + (1 << (drop - 1)))[drop:ANGLE_WORD_BITS]
        else:
            trig_angle = Cat(Const(0, -drop), angle)
        m.d.comb += [trig.i.payload.eq(trig_angle), trig.i.valid.eq(valid[AFFINE_LATENCY])]

        # Coefficients from the held (cos, sin).
        c, s = trig.o.payload.cos, trig.o.payload.sin
        width = params.width
        neg_s = Signal(signed(width))
        m.d.comb += neg_s.eq(-s)
        u = self.o.payload
        zero = Const(0, signed(width))
        one = Const(1 << params.frac_bits, signed(width))
        table = {
            RotationKind.RX: [(c, zero), (zero, neg_s), (zero, neg_s), (c, zero)],
            RotationKind.RY: [(c, zero), (neg_s, zero), (s, zero), (c, zero)],
            RotationKind.RZ: [(c, neg_s), (zero, zero), (zero, zero), (c, s)],
            RotationKind.P: [(one, zero), (zero, zero), (zero, zero), (c, s)],
        }
        with m.Switch(self.kind):
            for kind, entries in table.items():
                with m.Case(kind):
                    for k, (re, im) in enumerate(entries):
                        m.d.comb += [u[k].re.eq(re), u[k].im.eq(im)]
        m.d.comb += self.o.valid.eq(trig.o.valid)
        return m
