"""Gate lane: a 2x2 complex operation on one amplitude pair per clock (II=1, latency 2).

Stage 1 registers the sixteen real products of the matrix path (each a DSP48 with registered
operands/products). Stage 2 adds them, rounds half up, saturates to W bits and selects the
result of the operation; the multiplier-free operations (pair swap, quarter-turn phase) only
route and negate. Bit-accurate model: :mod:`qfab_hw.model.gate_lane`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.model.gate_lane import LaneOp
from qfab_hw.params import GATE_LANE_LATENCY


def saturate(m: Module, value, width: int, name: str):
    """``value`` clamped to ``width`` signed bits, and a flag that clamping happened."""
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    result = Signal(signed(width), name=f"{name}_sat")
    overflow = Signal(name=f"{name}_ovf")
    with m.If(value > high):
        m.d.comb += [result.eq(high), overflow.eq(1)]
    with m.Elif(value < low):
        m.d.comb += [result.eq(low), overflow.eq(1)]
    with m.Else():
        m.d.comb += result.eq(value)
    return result, overflow


def lane_input_layout(width: int) -> data.StructLayout:
    return data.StructLayout(
        {"x0": complex_layout(width), "x1": complex_layout(width), "active": 1}
    )


def lane_output_layout(width: int) -> data.StructLayout:
    return data.StructLayout({"y0": complex_layout(width), "y1": complex_layout(width)})


class GateLane(wiring.Component):
    """One lane. The operation, quarter turns and coefficients are held by the sequencer for
    the whole gate pass; ``i.payload.active`` is 0 for pairs whose control qubit is 0, which
    pass through unchanged.

    ``overflow`` pulses with an output whose rounding or negation saturated.
    """

    def __init__(self, width: int):
        self.width = width
        cplx = complex_layout(width)
        super().__init__(
            {
                "op": In(LaneOp),
                "quarter_turns": In(2),
                "coefficients": In(data.ArrayLayout(cplx, 4)),  # u00, u01, u10, u11
                "i": In(stream.Signature(lane_input_layout(width), always_ready=True)),
                "o": Out(stream.Signature(lane_output_layout(width), always_ready=True)),
                "overflow": Out(1),
            }
        )

    @property
    def latency(self) -> int:
        return GATE_LANE_LATENCY

    def elaborate(self, platform):
        m = Module()
        width, frac_bits = self.width, self.width - 2
        cplx = complex_layout(width)
        product = signed(2 * width)

        # Stage 1: products of the matrix path, and the inputs delayed alongside them.
        x = [self.i.payload.x0, self.i.payload.x1]
        u = self.coefficients
        # products[row][col] = (ur*xr, ui*xi, ur*xi, ui*xr) for u[row][col] * x[col]
        products = [[[Signal(product, name=f"p{r}{c}_{k}") for k in range(4)] for c in range(2)]
                    for r in range(2)]
        for row in range(2):
            for col in range(2):
                coef, amp = u[2 * row + col], x[col]
                p = products[row][col]
                m.d.sync += [
                    p[0].eq(coef.re * amp.re),
                    p[1].eq(coef.im * amp.im),
                    p[2].eq(coef.re * amp.im),
                    p[3].eq(coef.im * amp.re),
                ]
        x0_d, x1_d = Signal(cplx), Signal(cplx)
        active_d, valid_d = Signal(), Signal()
        m.d.sync += [
            x0_d.eq(self.i.payload.x0),
            x1_d.eq(self.i.payload.x1),
            active_d.eq(self.i.payload.active),
            valid_d.eq(self.i.valid),
        ]

        # Stage 2: sums, round half up, saturate; pick the operation's result.
        half_lsb = 1 << (frac_bits - 1)
        matrix_out, matrix_ovf = [], []
        for row in range(2):
            (a_rr, a_ii, a_ri, a_ir), (b_rr, b_ii, b_ri, b_ir) = products[row]
            re_sum = (a_rr - a_ii + b_rr - b_ii + half_lsb) >> frac_bits
            im_sum = (a_ri + a_ir + b_ri + b_ir + half_lsb) >> frac_bits
            re, re_ovf = saturate(m, re_sum, width, f"y{row}_re")
            im, im_ovf = saturate(m, im_sum, width, f"y{row}_im")
            matrix_out.append((re, im))
            matrix_ovf.append(re_ovf | im_ovf)

        neg_re, neg_re_ovf = saturate(m, -x1_d.re, width, "neg_re")
        neg_im, neg_im_ovf = saturate(m, -x1_d.im, width, "neg_im")

        y0, y1 = Signal(cplx), Signal(cplx)
        overflow = Signal()
        m.d.comb += [y0.eq(x0_d), y1.eq(x1_d)]
        with m.If(active_d):
            with m.Switch(self.op):
                with m.Case(LaneOp.MATRIX):
                    m.d.comb += [
                        y0.re.eq(matrix_out[0][0]), y0.im.eq(matrix_out[0][1]),
                        y1.re.eq(matrix_out[1][0]), y1.im.eq(matrix_out[1][1]),
                        overflow.eq(matrix_ovf[0] | matrix_ovf[1]),
                    ]
                with m.Case(LaneOp.SWAP):
                    m.d.comb += [y0.eq(x1_d), y1.eq(x0_d)]
                with m.Case(LaneOp.PHASE4):
                    with m.Switch(self.quarter_turns):
                        with m.Case(1):  # i * (re + i im) = -im + i re
                            m.d.comb += [y1.re.eq(neg_im), y1.im.eq(x1_d.re),
                                         overflow.eq(neg_im_ovf)]
                        with m.Case(2):
                            m.d.comb += [y1.re.eq(neg_re), y1.im.eq(neg_im),
                                         overflow.eq(neg_re_ovf | neg_im_ovf)]
                        with m.Case(3):  # -i * (re + i im) = im - i re
                            m.d.comb += [y1.re.eq(x1_d.im), y1.im.eq(neg_re),
                                         overflow.eq(neg_re_ovf)]

        m.d.sync += [
            self.o.payload.y0.eq(y0),
            self.o.payload.y1.eq(y1),
            self.o.valid.eq(valid_d),
            self.overflow.eq(valid_d & overflow),
        ]
        return m
