"""Inverse-coefficient stage: the gate lane's U^dagger for RUN_ADJOINT's backward sweep.

A registered stage between the sequencer's coefficient registers and the gate lanes. With
``inverse`` low it passes the coefficients and the quarter turns through unchanged (v1, RUN,
RUN_SHIFT, the adjoint's forward replay), so :class:`qfab_hw.gate_lane.GateLane` is used as it
is. With ``inverse`` high (the backward sweep) the lane gets

* U^dagger = (u00*, u10*; u01*, u11*): u01 and u10 exchanged, every imaginary part negated with
  saturation (-(-2**(W-1)) becomes 2**(W-1) - 1, ``overflow``), for GATE_U, GATE_DIAG and
  GATE_ROT (MATRIX);
* -k mod 4 quarter turns (GATE_PHASE4: Z, S, S-dagger, CZ);
* GATE_X (SWAP) is its own inverse: the lane ignores the coefficients and quarter turns.

``overflow`` is set only for the MATRIX operation (the core model's rule: ``rotation.dagger``'s
flag). Bit-accurate model: :func:`qfab_hw.model.inverse.lane_inverse`.

Timing: :attr:`latency` = 1. The lane reads its coefficients in the product stage, one memory-read
cycle after a pass's first issue cycle, so coefficients loaded in cycle t (the last COEFFICIENTS
word, or ROT_SETUP's load from the rotation unit) and registered here in t + 1 reach the first
pair's products (cycle t + 2) without an extra cycle; the quarter turns are used one stage later.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.model.gate_lane import LaneOp
from qfab_hw.model.inverse import LATENCY

#: Where each output coefficient comes from: U^dagger[r][c] = conj(U[c][r]).
_TRANSPOSE = (0, 2, 1, 3)


class InverseCoefficients(wiring.Component):
    def __init__(self, width: int):
        if isinstance(width, bool) or not isinstance(width, int):
            self._MustUse__silence = True  # rejected, so not an unused elaboratable either
            raise TypeError(f"width must be an integer, not {width!r}")
        self.width = width
        coefficients = data.ArrayLayout(complex_layout(width), 4)  # u00, u01, u10, u11
        super().__init__(
            {
                "inverse": In(1),
                "op": In(LaneOp),
                "coefficients": In(coefficients),
                "quarter_turns": In(2),
                "lane_coefficients": Out(coefficients),
                "lane_quarter_turns": Out(2),
                "overflow": Out(1),
            }
        )

    @property
    def latency(self) -> int:
        return LATENCY

    def elaborate(self, platform):
        m = Module()
        width = self.width
        high = (1 << (width - 1)) - 1
        clipped = []
        with m.If(self.inverse):
            for k, source in enumerate(_TRANSPOSE):
                u = self.coefficients[source]
                # -im saturates only for im = -2**(W-1).
                negated = Signal(signed(width), name=f"conj{k}")
                is_low = Signal(name=f"conj{k}_low")
                m.d.comb += [is_low.eq(u.im == -(1 << (width - 1))),
                             negated.eq(-u.im)]
                clipped.append(is_low)
                m.d.sync += [self.lane_coefficients[k].re.eq(u.re),
                             self.lane_coefficients[k].im.eq(Mux(is_low, high, negated))]
            m.d.sync += [self.lane_quarter_turns.eq(-self.quarter_turns),
                         self.overflow.eq((self.op == LaneOp.MATRIX) & _any(clipped))]
        with m.Else():
            m.d.sync += [self.lane_coefficients.eq(self.coefficients),
                         self.lane_quarter_turns.eq(self.quarter_turns),
                         self.overflow.eq(0)]
        return m


def _any(bits):
    result = bits[0]
    for bit in bits[1:]:
        result = result | bit
    return result
