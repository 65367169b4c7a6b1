"""Readout: output-beat formatting and the on-chip Z-string expectation reducer.

QML needs <Z...Z> values, not 2**n amplitudes: the reducer reads all banks at once (2*lanes
amplitudes per clock), so an expectation costs 2**n / (2*lanes) clocks and one output beat.
Model: the READ_* branches of :class:`qfab_hw.model.CoreModel`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.params import ZSTRING_LATENCY, CoreParams


def squared_magnitude(amplitude):
    """re**2 + im**2, exact: at most 2 * (2**(W-1))**2 = 2**(2W-1)."""
    return amplitude.re * amplitude.re + amplitude.im * amplitude.im


def amplitude_beat(m: Module, amplitude):
    """Payload-format beat: re and im sign-extended to 32 bits each."""
    re, im = Signal(signed(32)), Signal(signed(32))
    m.d.comb += [re.eq(amplitude.re), im.eq(amplitude.im)]
    return Cat(re, im)


class ZStringReducer(wiring.Component):
    """Accumulates sum_a (-1)**popcount(a & mask) |amp_a|**2 over streamed amplitude rows.

    ``clear`` zeroes the sum; each clock with ``valid`` adds one row of ``2 * lanes``
    amplitudes with their addresses. ``total`` is final ``ZSTRING_LATENCY`` clocks after
    the last row is presented: a register stage for the squares (a multiplier's product
    register each, so no adder follows a multiplier in the same clock; docs/fpga.md,
    "Pipelining for Fmax"), one for the signed terms, one for the sum.
    """

    def __init__(self, params: CoreParams):
        self.params = params
        cplx = complex_layout(params.width)
        super().__init__(
            {
                "clear": In(1),
                "valid": In(1),
                "amplitudes": In(data.ArrayLayout(cplx, params.banks)),
                "addresses": In(data.ArrayLayout(params.max_qubits, params.banks)),
                "mask": In(32),
                "total": Out(signed(params.reduce_accumulator_bits)),
            }
        )

    @property
    def latency(self) -> int:
        return ZSTRING_LATENCY

    def elaborate(self, platform):
        m = Module()
        params = self.params
        square_shape = unsigned(2 * params.width - 1)  # at most 2**(2W-2)
        term_shape = signed(2 * params.width + 1)
        terms = []
        for port in range(params.banks):
            amplitude = self.amplitudes[port]
            squares = [Signal(square_shape, name=f"square{port}_{part}") for part in ("re", "im")]
            negative = Signal(name=f"negative{port}")
            m.d.sync += [squares[0].eq(amplitude.re * amplitude.re), squares[1].eq(amplitude.im * amplitude.im),
                         negative.eq((self.addresses[port] & self.mask[: params.max_qubits]).xor())]
            magnitude = squares[0] + squares[1]
            term = Signal(term_shape, name=f"term{port}")
            m.d.sync += term.eq(Mux(negative, -magnitude, magnitude))
            terms.append(term)
        squares_valid, terms_valid = Signal(), Signal()
        m.d.sync += [squares_valid.eq(self.valid & ~self.clear), terms_valid.eq(squares_valid & ~self.clear)]
        with m.If(self.clear):
            m.d.sync += self.total.eq(0)
        with m.Elif(terms_valid):
            m.d.sync += self.total.eq(self.total + sum(terms))
        return m
