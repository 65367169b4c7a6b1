"""Adjoint reduction unit: RUN_ADJOINT's mu = Im<lambda|G|psi> (P: Im<lambda|P1|psi>) over a pass.

Per clock the unit takes the ``lanes`` pairs a gate pass reads: (x0, x1) of psi (bank A) and
(l0, l1) of lambda (bank B) at the same pair addresses, with the lane's ``active`` bit (the
control qubit; 1 for an uncontrolled gate), and accumulates exactly, for the held ``kind``:

    RX: Im(l0* x1) + Im(l1* x0)    RY: Re(l1* x0) - Re(l0* x1)
    RZ: Im(l0* x0) - Im(l1* x1)    P:  Im(l1* x1)

with Im(a* b) = a_re b_im - a_im b_re, Re(a* b) = a_re b_re + a_im b_im. Bit-accurate model:
:mod:`qfab_hw.model.adjoint_reducer` (which calls :func:`qfab_hw.model.adjoint.generator_overlap`).

Datapath per lane: four multipliers whose lambda operand is fixed (l0.re, l0.im, l1.re, l1.im) and
whose psi operand is chosen by the kind, so the four kinds share them (P uses two):

    slot            RX        RY        RZ        P
    l0.re * .     +x1.im    -x1.re    +x0.im     0
    l0.im * .     -x1.re    -x1.im    -x0.re     0
    l1.re * .     +x0.im    +x0.re    -x1.im    +x1.im
    l1.im * .     -x0.re    +x0.im    +x1.re    -x1.re

The signs are taken on the psi operand (W + 1 bits: -(-2**(W-1)) fits; a 19 x 18 product at
W = 18 still fits one DSP48E1 25 x 18 multiplier, at W = 25 a product takes two), so the lane's
term is the plain sum of its four products; an inactive pair gets 0 operands.

Stages (II = 1, never stalls): 1. the products (registered: a DSP48 each), 2. the lane's term
(the sum of its four products), 3. ``total += sum of the lanes' terms``. :attr:`latency` =
3: a row presented in cycle c is in ``total`` from cycle c + 3 on. With the memory's read
(``MEMORY_READ_LATENCY`` = 2) this is ADJOINT_REDUCE_DRAIN_CYCLES = 4 after a pass's last issue
cycle: ``total`` is final in the first cycle after the drain (the gradient update's first cycle).

``clear`` (one clock) zeroes ``total`` and drops what is in flight (every row presented up to and
including the clear cycle); rows from the next cycle on accumulate. ``total`` is signed
2W + max_qubits bits: a pass of up to 2**(max_qubits-1) pairs of |term| <= 2**(2W) - 2**W can
never overflow it (:func:`qfab_hw.model.adjoint_reducer.accumulator_bits`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from qfab_hw.layouts import complex_layout
from qfab_hw.model.adjoint_reducer import LATENCY, accumulator_bits, term_bits
from qfab_hw.params import CoreParams, require_core_params
from qfab_hw.program import RotationKind


def reducer_pair_layout(width: int) -> data.StructLayout:
    cplx = complex_layout(width)
    return data.StructLayout({"x0": cplx, "x1": cplx, "l0": cplx, "l1": cplx, "active": 1})


class AdjointReducer(wiring.Component):
    def __init__(self, params: CoreParams):
        require_core_params(self, params)
        self.params = params
        super().__init__(
            {
                "kind": In(RotationKind),
                "clear": In(1),
                "i": In(stream.Signature(
                    data.ArrayLayout(reducer_pair_layout(params.width), params.lanes),
                    always_ready=True)),
                "total": Out(signed(accumulator_bits(params))),
            }
        )

    @property
    def latency(self) -> int:
        return LATENCY

    def elaborate(self, platform):
        m = Module()
        params = self.params
        width = params.width
        product_shape = signed(2 * width + 1)  # W x (W + 1) bits

        valid1, valid2 = Signal(), Signal()
        m.d.sync += [valid1.eq(self.i.valid & ~self.clear), valid2.eq(valid1 & ~self.clear)]

        terms = []
        for lane in range(params.lanes):
            pair = self.i.payload[lane]
            x0, x1, l0, l1 = pair.x0, pair.x1, pair.l0, pair.l1
            # The signed psi operand of each slot, per kind (the table above): W + 1 bits, so a
            # negated -2**(W-1) does not wrap; 0 for an inactive pair (its term is then 0).
            negated = {}
            for name, value in (("x0re", x0.re), ("x0im", x0.im), ("x1re", x1.re), ("x1im", x1.im)):
                negated[name] = Signal(signed(width + 1), name=f"neg_{name}{lane}")
                m.d.comb += negated[name].eq(-value)
            choices = {
                RotationKind.RX: (x1.im, negated["x1re"], x0.im, negated["x0re"]),
                RotationKind.RY: (negated["x1re"], negated["x1im"], x0.re, x0.im),
                RotationKind.RZ: (x0.im, negated["x0re"], negated["x1im"], x1.re),
                RotationKind.P: (0, 0, x1.im, negated["x1re"]),
            }
            operands = [Signal(signed(width + 1), name=f"op{lane}_{s}") for s in range(4)]
            with m.If(pair.active):
                with m.Switch(self.kind):
                    for kind, values in choices.items():
                        with m.Case(kind):
                            m.d.comb += [op.eq(v) for op, v in zip(operands, values)]
            factors = (l0.re, l0.im, l1.re, l1.im)
            products = [Signal(product_shape, name=f"p{lane}_{s}") for s in range(4)]
            m.d.sync += [p.eq(f * op) for p, f, op in zip(products, factors, operands)]

            term = Signal(signed(term_bits(width)), name=f"term{lane}")
            m.d.sync += term.eq(sum(products))
            terms.append(term)

        with m.If(self.clear):
            m.d.sync += self.total.eq(0)
        with m.Elif(valid2):
            m.d.sync += self.total.eq(self.total + sum(terms))
        return m
