"""Lambda preparation: RUN_ADJOINT's bank B = O psi / 2**k, written during the OBS passes.

Each OBS term's pass (mask m, weight c in Q8.24, the program's lambda scale k) reads a row of
``2 * lanes`` amplitudes of psi (bank A, the Z-string reducer's row) and the same addresses of
lambda (bank B); this unit gives, per amplitude i and real part,

    lambda_i <- sat_W(lambda_i + round_half_up(c * (-1)**popcount(i & m) * psi_i / 2**(24 + k)))

with the old lambda ignored for the program's first term (``first``), for the sequencer to write
back into bank B at the same addresses. Bit-accurate model: :mod:`qfab_hw.model.lambda_prep`
(:func:`qfab_hw.model.observable.lambda_term`).

Stages (II = 1, never stalls): 1. the sign (parity of i & m) selects +c or -c (computed once for
all ports, 33 bits) and the product (+-c) * psi (33 x W bits: two DSP48 per real part), registered
with the old lambda and the address; 2. round half up at bit 24 + k as
(floor(x / 2**23) + 2**k) >> (k + 1) (the product's low 23 bits never matter, so the variable
shift spans only its top bits), the sum with the old lambda (unless ``first``), saturation to W
bits, registered. :attr:`latency` = 2: a
row presented in cycle c is on ``o`` in cycle c + 2 (``o.valid``), with its addresses; ``overflow``
pulses with a row in which a value saturated. ``weight``, ``mask``, ``scale_shift`` and ``first``
are held by the sequencer for the pass (taken with each row, so a change only affects later rows).

In the pass: addresses issued in cycle t, data here in t + 1, written back in t + 3 (the last
row's write falls in the third of OBS's four drain cycles, before the next term reads bank B).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.model.lambda_prep import LATENCY, max_scale_shift
from qfab_hw.params import OBS_FRAC_BITS, CoreParams, require_core_params

WEIGHT_BITS = 32


def lambda_input_layout(params: CoreParams) -> data.StructLayout:
    cplx = complex_layout(params.width)
    return data.StructLayout({"psi": cplx, "lam": cplx, "address": params.max_qubits})


def lambda_output_layout(params: CoreParams) -> data.StructLayout:
    return data.StructLayout({"lam": complex_layout(params.width), "address": params.max_qubits})


class LambdaPrep(wiring.Component):
    def __init__(self, params: CoreParams):
        require_core_params(self, params)
        self.params = params
        ports = params.banks
        super().__init__(
            {
                "weight": In(signed(WEIGHT_BITS)),
                "mask": In(32),
                "scale_shift": In(range(max_scale_shift(params) + 1)),
                "first": In(1),
                "i": In(stream.Signature(data.ArrayLayout(lambda_input_layout(params), ports),
                                         always_ready=True)),
                "o": Out(stream.Signature(data.ArrayLayout(lambda_output_layout(params), ports),
                                          always_ready=True)),
                "overflow": Out(1),
            }
        )

    @property
    def latency(self) -> int:
        return LATENCY

    def elaborate(self, platform):
        m = Module()
        params = self.params
        width = params.width
        low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
        weight_shape = signed(WEIGHT_BITS + 1)  # -c of c = -2**31 fits
        product_shape = signed(weight_shape.width + width)

        # Shared by every port: +c and -c (the sign is taken on the weight, so psi stays W bits
        # and a product is 33 x W bits: two DSP48), and 2**k, the rounding term after >> 23.
        weights = [Signal(weight_shape, name="c_pos"), Signal(weight_shape, name="c_neg")]
        m.d.comb += [weights[0].eq(self.weight), weights[1].eq(-self.weight)]
        valid1 = Signal()
        shift1 = Signal.like(self.scale_shift)
        first1 = Signal()
        m.d.sync += [valid1.eq(self.i.valid), shift1.eq(self.scale_shift), first1.eq(self.first),
                     self.o.valid.eq(valid1)]
        dropped = OBS_FRAC_BITS - 1
        # floor(x / 2**23), sign-extended far enough for + 2**k (k <= max_scale_shift).
        reduced_bits = max(product_shape.width - dropped, max_scale_shift(params) + 2)
        round_term = Signal(reduced_bits)
        m.d.comb += round_term.eq(Const(1, reduced_bits) << shift1)
        overflows = []
        for port in range(params.banks):
            row = self.i.payload[port]
            negative = Signal(name=f"negative{port}")
            m.d.comb += negative.eq((row.address & self.mask[: params.max_qubits]).xor())
            weight = Signal(weight_shape, name=f"c{port}")
            m.d.comb += weight.eq(Mux(negative, weights[1], weights[0]))
            lam1 = Signal(complex_layout(width), name=f"lam{port}_d1")
            address1 = Signal(params.max_qubits, name=f"address{port}_d1")
            m.d.sync += [lam1.eq(row.lam), address1.eq(row.address),
                         self.o.payload[port].address.eq(address1)]
            for part in ("re", "im"):
                product = Signal(product_shape, name=f"c_psi{port}_{part}")
                m.d.sync += product.eq(weight * getattr(row.psi, part))

                # round_half_up(x / 2**(24+k)) = (floor(x / 2**23) + 2**k) >> (k + 1): the low
                # 23 bits never matter, so the variable shift is only over the top bits.
                reduced = Signal(signed(reduced_bits), name=f"x{port}_{part}")
                m.d.comb += reduced.eq(product >> dropped)  # arithmetic, constant: wiring
                term = Signal(signed(reduced_bits + 1), name=f"term{port}_{part}")
                m.d.comb += term.eq((reduced + round_term) >> (shift1 + 1))
                total = Signal(signed(reduced_bits + 2), name=f"sum{port}_{part}")
                with m.If(first1):
                    m.d.comb += total.eq(term)
                with m.Else():
                    m.d.comb += total.eq(term + getattr(lam1, part))
                out = getattr(self.o.payload[port].lam, part)
                clipped = Signal(name=f"clip{port}_{part}")
                with m.If(total > high):
                    m.d.sync += out.eq(high)
                    m.d.comb += clipped.eq(1)
                with m.Elif(total < low):
                    m.d.sync += out.eq(low)
                    m.d.comb += clipped.eq(1)
                with m.Else():
                    m.d.sync += out.eq(total)
                overflows.append(clipped)
        any_clipped = overflows[0]
        for bit in overflows[1:]:
            any_clipped = any_clipped | bit
        m.d.sync += self.overflow.eq(valid1 & any_clipped)
        return m
