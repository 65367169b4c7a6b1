"""Pipelined wide multiplier: registered operands, 18 x 18 partial products, a registered adder tree.

The v2 units multiply words far wider than one DSP (the observable MAC 32 x (2W + n + 1) bits,
the affine angle 32 x 32, the gradient unit 33 x 67). Left to synthesis as one ``a * b`` in one
clock, such a product is a cascade of DSPs and wide adders with no register in between (measured
on ECP5: the gradient unit's product alone held the whole core at 31 MHz). Here every stage ends
in a register, so the longest path is one DSP or one adder:

1. the operands (a DSP's A/B input registers);
2. the partial products a_i * b_j of 17-bit digits (the top digit signed, up to 18 bits), each a
   signed 18 x 18 product, one MULT18X18D / DSP48 (its product register);
3. ... a binary adder tree, one registered two-input sum per level (``ceil(log2(digits))``).

:attr:`PipelinedMultiplier.latency` is the clocks from an operand pair to its product; the
pipeline has no enable and no reset (a consumer takes the product ``latency`` clocks after it
presented the operands, as the bit-accurate models' latencies say).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Bits of an unsigned digit: it sign-extends to 18 bits, one signed 18 x 18 DSP product.
DIGIT_BITS = 17
#: Widest signed top digit a 18 x 18 multiplier takes.
TOP_DIGIT_BITS = 18


def digit_count(width: int) -> int:
    """Digits of a signed ``width``-bit operand: 17-bit unsigned ones, then a signed top digit."""
    if width <= TOP_DIGIT_BITS:
        return 1
    return 1 + -(-(width - TOP_DIGIT_BITS) // DIGIT_BITS)


def adder_levels(terms: int) -> int:
    """Registered two-input sum levels that reduce ``terms`` partial products to one."""
    return max(terms - 1, 0).bit_length()


def multiplier_latency(a_width: int, b_width: int) -> int:
    """Clocks from operands to product: operand registers, partial products, the adder tree."""
    return 2 + adder_levels(digit_count(a_width) * digit_count(b_width))


def _digits(value, width: int) -> list:
    """(digit, weight exponent) pairs of a signed value: value = sum digit * 2**exponent."""
    count = digit_count(width)
    digits = []
    for index in range(count):
        low = index * DIGIT_BITS
        if index == count - 1:
            digit = value[low:].as_signed()
        else:
            digit = Cat(value[low:low + DIGIT_BITS], Const(0, 1)).as_signed()
        digits.append((digit, low))
    return digits


class PipelinedMultiplier(wiring.Component):
    """``product`` = ``a * b`` (signed operands, exact) :attr:`latency` clocks after ``a``, ``b``.

    ``latency`` (default: the shortest, :func:`multiplier_latency`) pads the product with delay
    registers, so that a unit's latency can be one constant across the builds' operand widths.
    """

    def __init__(self, a_shape, b_shape, *, latency: int | None = None):
        a_shape, b_shape = Shape.cast(a_shape), Shape.cast(b_shape)
        shortest = multiplier_latency(a_shape.width, b_shape.width)
        if not (a_shape.signed and b_shape.signed):
            self._MustUse__silence = True
            raise TypeError(f"operands must be signed shapes, not {a_shape!r} and {b_shape!r}")
        if latency is not None and latency < shortest:
            self._MustUse__silence = True
            raise ValueError(f"a {a_shape.width} x {b_shape.width} bit product takes at least "
                             f"{shortest} clocks, not latency={latency}")
        self.a_width, self.b_width = a_shape.width, b_shape.width
        self._latency = shortest if latency is None else latency
        super().__init__({
            "a": In(a_shape),
            "b": In(b_shape),
            "product": Out(signed(a_shape.width + b_shape.width)),
        })

    @property
    def latency(self) -> int:
        return self._latency

    def elaborate(self, platform):
        m = Module()
        a = Signal.like(self.a, name="a_reg", reset_less=True)
        b = Signal.like(self.b, name="b_reg", reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b)]

        terms = []  # (registered value, weight exponent)
        for i, (a_digit, a_low) in enumerate(_digits(a, self.a_width)):
            for j, (b_digit, b_low) in enumerate(_digits(b, self.b_width)):
                partial = Signal(signed(len(a_digit) + len(b_digit)), name=f"partial{i}_{j}",
                                 reset_less=True)
                m.d.sync += partial.eq(a_digit * b_digit)
                terms.append((partial, a_low + b_low))

        level = 0
        while len(terms) > 1:
            summed = []
            for k in range(0, len(terms), 2):
                pair = terms[k:k + 2]
                exponent = min(e for _, e in pair)
                total = sum(value << (e - exponent) for value, e in pair)
                register = Signal(signed(len(total)), name=f"sum{level}_{k // 2}", reset_less=True)
                m.d.sync += register.eq(total)
                summed.append((register, exponent))
            terms = summed
            level += 1
        (value, exponent), = terms
        for delay in range(self._latency - multiplier_latency(self.a_width, self.b_width)):
            register = Signal(signed(len(value)), name=f"delay{delay}", reset_less=True)
            m.d.sync += register.eq(value)
            value = register
        m.d.comb += self.product.eq(value << exponent)
        return m
