"""Sin/cos unit: a binary angle in, (cos θ, sin θ) in Q2.F out, 3 cycles later.

Rotation instructions carry a parameter index and an affine pair; the sequencer forms the
angle and this unit turns it into the gate's coefficients when the instruction runs.
Bit-accurate model, table and error bound: :mod:`qfab_hw.model.trig`.

Method: a quarter-wave sine table with linear interpolation (one ROM with two read ports,
two small multipliers), chosen over CORDIC from the measured figures in the reference
(fpga-power-qml.md §1):

* **Latency.** It adds to every rotation instruction. The table answers in 3 cycles at every
  width; a CORDIC needs about F + 4 iterations for ~1.2 LSB (18–27 cycles pipelined, as many
  clocks word-serial) plus quadrant pre/post steps.
* **Accuracy.** Linear interpolation gains two bits per index bit, so ⌈F/2⌉ index bits, three
  guard bits and a centred (1 + h²/16)-scaled table give ≤ 0.72 LSB (rms 0.30) measured over
  every angle at every width (bound :func:`~qfab_hw.model.trig.max_error_lsb` ≤ 0.80), i.e.
  little more than the 0.5 LSB (rms 0.29) of rounding itself. The reference's CORDIC with 4
  guard bits stays at 1.18–1.25 LSB even at F + 4 iterations.
* **Area.** The table is 2**⌈F/2⌉ words of ≈ 2F + 7 − ⌈F/2⌉ bits (W = 18: 256 × 31 b; W = 25:
  4096 × 42 b); the products are (m + 2) × d_bits bits (at most 17 × 15), one DSP48 each.
  yosys ``synth_xilinx -family xc7``: 2 DSP48E1, 65–111 LUT, 90–144 FF, plus the ROM: logic
  for W ≤ 14 (≤ 150 LUT more), one RAMB36 (true dual port, two 36-bit read ports) for
  W = 15…21, 3 RAMB18 at W = 22, 5 RAMB18 at W = 23, 24, 5 RAMB36 at W = 25 (see
  ``BLOCK_ROM_ENTRIES``; W = 18: 81 LUT, 108 FF, 2 DSP48E1, 1 RAMB36). A pipelined CORDIC
  costs ~3·W·n LUT+FF (≈ 1.3 k at W = 18); word-serial needs barrel shifters and still ~20
  cycles. Throughput is irrelevant here (one pair per rotation per run), so two small DSPs
  and one BRAM are the cheapest way to 3 cycles.

Pipeline (q = quadrant bits, r = the next ``residual_bits`` bits of the angle):

1. The two ROM ports read the entries for r (sin φ) and ~r (cos φ = sin(π/2 − φ)), routed by
   q's low bit (odd quadrants swap sin and cos); the fractions 2f+1 are registered with the
   quadrant's sign folded in.
2. Products ``±(2f+1)·D`` and ``±T + 2**(G−1)`` (the rounding constant) registered.
3. Sum, arithmetic shift: the result register. Magnitudes stay ≤ 1.0, so no saturation.

Handshake (``lib.stream`` signatures, both ``always_ready``, like the gate lane):

* ``i.payload`` is the angle (unsigned ``ANGLE_BITS``: 2π·k/2**ANGLE_BITS), taken in every
  cycle ``i.valid`` (start) is 1. The unit is fully pipelined (II = 1) and never stalls.
* ``o.valid`` (done) is 1 for one cycle exactly :attr:`latency` cycles after the angle was
  taken; ``o.payload.cos`` / ``o.payload.sin`` (signed W bits, Q2.F) hold that result until the
  next result arrives, so a consumer may read it any time before issuing the next angle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from qfab_hw.model.trig import ANGLE_BITS, LATENCY, geometry, table_words
from qfab_hw.params import CoreParams, require_core_params

#: From this many table entries (W >= 15) the ROM goes to block RAM; smaller tables are
#: cheaper as logic (yosys xc7, W = 14: 64 entries in ~150 LUTs; W = 15: 128 entries ~360 LUTs,
#: W = 18: 256 entries ~1 k LUTs, against one RAMB36 in true dual-port mode).
BLOCK_ROM_ENTRIES = 128


def sincos_layout(width: int) -> data.StructLayout:
    """A (cos, sin) pair, each a signed Q2.(width−2) number; cos in the low bits."""
    return data.StructLayout({"cos": signed(width), "sin": signed(width)})


class SinCosUnit(wiring.Component):
    """(cos θ, sin θ) of a binary angle θ; see the module docstring for method and handshake.

    ``ram_style``: ``"block"`` puts the ROM in block RAM (the ``ram_style`` attribute yosys and
    Vivado read), ``"auto"`` leaves it to the tool (yosys builds small ROMs from LUTs); the
    default is ``"block"`` from ``BLOCK_ROM_ENTRIES`` entries (W ≥ 15), ``"auto"`` below.
    """

    def __init__(self, params: CoreParams, *, ram_style: str | None = None):
        require_core_params(self, params)
        self.params = params
        self.geometry = geometry(params)
        if ram_style is None:
            ram_style = "block" if self.geometry.entries >= BLOCK_ROM_ENTRIES else "auto"
        if ram_style not in ("block", "auto"):
            raise ValueError(f"ram_style must be 'block' or 'auto', not {ram_style!r}")
        self.ram_style = ram_style
        super().__init__({
            "i": In(stream.Signature(unsigned(ANGLE_BITS), always_ready=True)),
            "o": Out(stream.Signature(sincos_layout(params.width), always_ready=True)),
        })

    @property
    def latency(self) -> int:
        """Cycles from ``i.valid`` to ``o.valid``."""
        return LATENCY

    def elaborate(self, platform):
        m = Module()
        geo = self.geometry
        width = self.params.width
        frac_m, residual_bits = geo.fraction_bits, geo.residual_bits

        m.submodules.table = table = Memory(
            shape=unsigned(geo.word_bits), depth=geo.entries, init=table_words(self.params),
            attrs={"ram_style": "block"} if self.ram_style == "block" else {})
        ports = {"cos": table.read_port(), "sin": table.read_port()}

        # Stage 1: fold the quadrant, address the ROM, register the signed fractions.
        angle = self.i.payload
        q0, q1 = angle[ANGLE_BITS - 2], angle[ANGLE_BITS - 1]
        r = angle[ANGLE_BITS - 2 - residual_bits:ANGLE_BITS - 2]
        residual = {"cos": r ^ (~q0).replicate(residual_bits),  # even quadrants: cos from ~r
                    "sin": r ^ q0.replicate(residual_bits)}
        negative = {"cos": q0 ^ q1, "sin": q1}
        fraction_shape = signed(frac_m + 2)
        fraction = {k: Signal(fraction_shape, name=f"{k}_fraction") for k in ports}
        negative_d = {k: Signal(name=f"{k}_negative") for k in ports}
        valid = [Signal(name=f"valid{stage}") for stage in range(2)]
        for key, port in ports.items():
            odd_fraction = Cat(1, residual[key][:frac_m])  # 2f + 1: the dropped bits' middle
            m.d.comb += port.addr.eq(residual[key][frac_m:])
            m.d.sync += [
                fraction[key].eq(Mux(negative[key], -odd_fraction, odd_fraction)),
                negative_d[key].eq(negative[key]),
            ]
        m.d.sync += valid[0].eq(self.i.valid)

        # Stage 2: the product (a DSP's M register) and the signed base value with the rounding
        # constant (its C register): stored T_r = T + 2**(G-1), so -T + 2**(G-1) = 2**G - T_r.
        base = {k: Signal(signed(geo.t_bits + 2), name=f"{k}_base") for k in ports}
        product = {k: Signal(signed(frac_m + 2 + geo.d_bits + 1), name=f"{k}_product")
                   for k in ports}
        for key, port in ports.items():
            slope = port.data[:geo.d_bits]
            value = port.data[geo.d_bits:]
            m.d.sync += [
                product[key].eq(fraction[key] * slope),
                base[key].eq(Mux(negative_d[key], (1 << geo.guard_bits) - value, value)),
            ]
        m.d.sync += valid[1].eq(valid[0])

        # Stage 3: exact sum, shift (round half up): the result register, held until the next.
        with m.If(valid[1]):
            for key in ports:
                total = (base[key] << (frac_m + 1)) + product[key]
                m.d.sync += getattr(self.o.payload, key).eq((total >> geo.shift)[:width])
        m.d.sync += self.o.valid.eq(valid[1])
        return m
