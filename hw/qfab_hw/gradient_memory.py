"""Gradient unit: RUN_SHIFT's shift-rule MAC, the gradient contribution of RUN_SHIFT and
RUN_ADJOINT, a memory of ``max_params`` 64-bit saturating accumulators, and a set's 1 + P beats.

Bit-accurate model: :class:`qfab_hw.model.gradient_memory.GradientMemoryModel` (which calls
:mod:`qfab_hw.model.shift` and :mod:`qfab_hw.model.adjoint`). One multiplier (33 x 67 bits signed)
serves all three products, since they never happen in the same clock; it is pipelined
(:mod:`qfab_hw.multiplier`, P = ``GRAD_PRODUCT_LATENCY`` clocks, II = 1):

* ``mac`` (``value`` = the shifted replay's C_rk, ``weight`` = W_k from :class:`ShiftRuleTable`,
  ``first`` for an occurrence's first term): d = [d +] W_k * C_rk, exact (96 bits). A mac in
  cycle t is in d after the edge ending t + P; an update may use d from cycle t + P + 1 on (so the
  sequencer issues the mac in the replay's END cycle, where the value is final, and the update
  P - 1 cycles into the occurrence's GRAD_UPDATE).
* ``update``: grad[index] = sat64(grad[index] + g), with
  - RUN_SHIFT (``adjoint`` = 0): g = round_half_up(round_half_up(d / 2**30) * a / 2**28);
  - RUN_ADJOINT (``adjoint`` = 1): g = round_half_up(mu * f * a * 2**k / 2**28), f = 1 for RX, RY,
    RZ and -2 for P (``kind``), k = ``scale_shift``: the product mu * (+-a) shifted left by k (+1
    for P) before rounding at bit 28 (k + 1 < 28 for every build, so rounding stays exact).
  Stages: 1. the product (P clocks), 2. shift, round half up, 3. clamp to 66 bits (exact for the
  saturating sum, since |grad| < 2**63 < 2**65 - 2**63), the memory read of grad[index], 4. the
  sum, saturation to 64 bits, the write (``overflow`` pulses with a saturated write; the sequencer
  keeps it sticky). An update in cycle t is written by the edge ending t + P + 2; the read port is
  transparent, so updates may follow each other in consecutive clocks, to any indices, and an
  emission may start reading in cycle t + P + 2 (``emit`` in t + P + 1).
* ``emit`` (one clock, with ``emit_count`` = P): from the next cycle ``o`` carries the set's beats
  ``value`` (held by the sequencer), grad[0], ..., grad[P-1] (``o.payload.last`` on the final one),
  one per clock while ``o.ready``; each gradient entry is cleared as it is sent, so the memory is
  all zero for the next set. Entries >= P are never updated (the decoder refuses P_prog > P).
* the sweep: writes 0 into every entry, one per clock (``max_params`` cycles, ``clearing`` high).
  It runs after configuration and after every reset of the unit's domain, since ``clearing``
  resets to 1: the block RAM keeps its contents through the core's synchronous RESET
  (``ResetInserter``), and a RESET in the middle of a run leaves partial sums. ``clear_all`` (one
  clock) starts it again. The integration holds START off while ``clearing`` is high, so CYCLES
  starts after it and the model's cycle counts hold.

Updates and emissions must not overlap (the sequencer's order guarantees it); a write of an update
has priority over an emission's or the sweep's clearing write.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from qfab_hw.model import shift as shift_model
from qfab_hw.model.adjoint_reducer import accumulator_bits
from qfab_hw.model.gradient_memory import (
    CONTRIBUTION_BITS,
    UPDATE_LATENCY,
    d_bits,
    max_post_shift,
    shift_operand_bits,
)
from qfab_hw.model.lambda_prep import max_scale_shift
from qfab_hw.multiplier import PipelinedMultiplier
from qfab_hw.params import (
    AFFINE_FRAC_BITS,
    ANGLE_WORD_BITS,
    BEAT_BITS,
    GRAD_PRODUCT_LATENCY,
    SHIFT_WEIGHT_FRAC_BITS,
    CoreParams,
    require_core_params,
)
from qfab_hw.program import RotationKind

WEIGHT_BITS = 32


class ShiftRuleTable(wiring.Component):
    """RUN_SHIFT's rule as constants: for term k of an occurrence (``four_term`` for controlled
    RX/RY/RZ) the shift word sigma_k (to the rotation unit's ``shift``) and the weight W_k (to the
    gradient unit's mac); ``terms`` = 2 or 4. Combinational; model :func:`qfab_hw.model.shift.
    shift_rule`. A two-term rule ignores ``term``'s high bit."""

    def __init__(self):
        super().__init__(
            {
                "four_term": In(1),
                "term": In(2),
                "sigma": Out(ANGLE_WORD_BITS),
                "weight": Out(signed(WEIGHT_BITS)),
                "terms": Out(range(5)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        with m.If(self.four_term):
            m.d.comb += self.terms.eq(len(shift_model.FOUR_TERM))
            with m.Switch(self.term):
                for k, (sigma, weight) in enumerate(shift_model.FOUR_TERM):
                    with m.Case(k):
                        m.d.comb += [self.sigma.eq(sigma), self.weight.eq(weight)]
        with m.Else():
            m.d.comb += self.terms.eq(len(shift_model.TWO_TERM))
            with m.Switch(self.term[0]):
                for k, (sigma, weight) in enumerate(shift_model.TWO_TERM):
                    with m.Case(k):
                        m.d.comb += [self.sigma.eq(sigma), self.weight.eq(weight)]
        return m


def mac_layout() -> data.StructLayout:
    return data.StructLayout({"value": signed(BEAT_BITS), "weight": signed(WEIGHT_BITS), "first": 1})


def update_layout(params: CoreParams) -> data.StructLayout:
    return data.StructLayout({
        "index": range(params.max_params),
        "a": signed(ANGLE_WORD_BITS),
        "adjoint": 1,
        "mu": signed(accumulator_bits(params)),
        "kind": RotationKind,
        "scale_shift": range(max_scale_shift(params) + 1),
    })


BEAT_OUT_LAYOUT = data.StructLayout({"data": BEAT_BITS, "last": 1})


class GradientUnit(wiring.Component):
    def __init__(self, params: CoreParams):
        require_core_params(self, params)
        self.params = params
        super().__init__(
            {
                "mac": In(stream.Signature(mac_layout(), always_ready=True)),
                "update": In(stream.Signature(update_layout(params), always_ready=True)),
                "emit": In(1),
                "emit_count": In(range(params.max_params + 1)),
                "value": In(signed(BEAT_BITS)),
                "o": Out(stream.Signature(BEAT_OUT_LAYOUT)),
                "clear_all": In(1),
                "clearing": Out(1, init=1),  # after configuration and after every reset
                "busy": Out(1),
                "overflow": Out(1),
            }
        )

    @property
    def update_latency(self) -> int:
        return UPDATE_LATENCY

    @property
    def operand_bits(self) -> int:
        """The multiplier's wide operand: C (64), round(d / 2**30) or mu."""
        return max(shift_operand_bits(), accumulator_bits(self.params), BEAT_BITS)

    def elaborate(self, platform):
        m = Module()
        params = self.params
        depth = params.max_params
        m.submodules.memory = memory = Memory(shape=BEAT_BITS, depth=depth, init=[])
        write = memory.write_port()
        read = memory.read_port(transparent_for=(write,))

        # -- stage 0: operands -------------------------------------------------------------
        d = Signal(signed(d_bits()))
        shifted_d = Signal(signed(shift_operand_bits()))
        m.d.comb += shifted_d.eq((d + (1 << (SHIFT_WEIGHT_FRAC_BITS - 1))) >> SHIFT_WEIGHT_FRAC_BITS)
        small = Signal(signed(ANGLE_WORD_BITS + 1))
        wide = Signal(signed(self.operand_bits))
        post_shift = Signal(range(max_post_shift(params) + 1))
        mac, update = self.mac, self.update
        is_p = update.payload.kind == RotationKind.P
        with m.If(mac.valid):
            m.d.comb += [small.eq(mac.payload.weight), wide.eq(mac.payload.value)]
        with m.Elif(update.payload.adjoint):
            m.d.comb += [small.eq(Mux(is_p, -update.payload.a, update.payload.a)),
                         wide.eq(update.payload.mu),
                         post_shift.eq(update.payload.scale_shift + is_p)]
        with m.Else():
            m.d.comb += [small.eq(update.payload.a), wide.eq(shifted_d)]

        # -- stage 1: the product, with the operation's fields beside it ----------------------
        m.submodules.product = multiplier = PipelinedMultiplier(
            small.shape(), wide.shape(), latency=GRAD_PRODUCT_LATENCY)
        m.d.comb += [multiplier.a.eq(small), multiplier.b.eq(wide)]
        product = multiplier.product

        def delayed(value, name):
            """``value`` through the product's P registers: every stage, the last is in step."""
            stages = []
            for stage in range(GRAD_PRODUCT_LATENCY):
                register = Signal(value.shape(), name=f"{name}_d{stage + 1}")
                m.d.sync += register.eq(value)
                stages.append(register)
                value = register
            return stages

        mac_stages = delayed(mac.valid, "mac")
        update_stages = delayed(update.valid & ~mac.valid, "update")
        mac1, update1 = mac_stages[-1], update_stages[-1]
        first1 = delayed(mac.payload.first, "first")[-1]
        index1 = delayed(update.payload.index, "index")[-1]
        shift1 = delayed(post_shift, "shift")[-1]
        with m.If(mac1):
            m.d.sync += d.eq(Mux(first1, product, d + product))

        # -- stage 2: shift, round half up ------------------------------------------------------
        scaled = product << shift1
        rounded = Signal(signed(scaled.shape().width - AFFINE_FRAC_BITS + 1))
        m.d.sync += rounded.eq((scaled + (1 << (AFFINE_FRAC_BITS - 1))) >> AFFINE_FRAC_BITS)
        update2 = Signal()
        index2 = Signal(range(depth))
        m.d.sync += [update2.eq(update1), index2.eq(index1)]

        # -- stage 3: contribution, clamped; memory read -------------------------------------
        bound = (1 << (CONTRIBUTION_BITS - 1)) - 1
        contribution = Signal(signed(CONTRIBUTION_BITS))
        update3 = Signal()
        index3 = Signal(range(depth))
        m.d.sync += [update3.eq(update2), index3.eq(index2)]
        with m.If(rounded > bound):
            m.d.sync += contribution.eq(bound)
        with m.Elif(rounded < -bound):
            m.d.sync += contribution.eq(-bound)
        with m.Else():
            m.d.sync += contribution.eq(rounded)

        # -- stage 4: saturating sum, write --------------------------------------------------
        old = Signal(signed(BEAT_BITS))
        m.d.comb += old.eq(read.data)
        total = Signal(signed(CONTRIBUTION_BITS + 1))
        m.d.comb += total.eq(old + contribution)
        high, low = (1 << (BEAT_BITS - 1)) - 1, -(1 << (BEAT_BITS - 1))
        new = Signal(signed(BEAT_BITS))
        clipped = Signal()
        with m.If(total > high):
            m.d.comb += [new.eq(high), clipped.eq(1)]
        with m.Elif(total < low):
            m.d.comb += [new.eq(low), clipped.eq(1)]
        with m.Else():
            m.d.comb += new.eq(total)
        m.d.sync += self.overflow.eq(update3 & clipped)

        # -- emission and the sweep ------------------------------------------------------------
        emitting = Signal()
        beat = Signal(range(depth + 1))
        count = Signal(range(depth + 1))
        sweep = Signal(range(depth))
        transfer = Signal()
        m.d.comb += [
            self.o.valid.eq(emitting),
            self.o.payload.data.eq(Mux(beat == 0, self.value, read.data)),
            self.o.payload.last.eq(beat == count),
            transfer.eq(emitting & self.o.ready),
            self.busy.eq(emitting | self.clearing | Cat(*mac_stages, *update_stages).any()
                         | update2 | update3),
        ]
        with m.If(self.emit):
            m.d.sync += [emitting.eq(1), beat.eq(0), count.eq(self.emit_count)]
        with m.Elif(transfer):
            m.d.sync += beat.eq(beat + 1)
            with m.If(beat == count):
                m.d.sync += emitting.eq(0)
        with m.If(self.clear_all):
            m.d.sync += [self.clearing.eq(1), sweep.eq(0)]
        with m.Elif(self.clearing):
            m.d.sync += sweep.eq(sweep + 1)
            with m.If(sweep == depth - 1):
                m.d.sync += self.clearing.eq(0)

        # Read port: the emission's next entry, else the update's entry.
        with m.If(emitting):
            m.d.comb += [read.addr.eq(beat), read.en.eq(transfer & (beat < count))]
        with m.Else():
            m.d.comb += [read.addr.eq(index2), read.en.eq(update2)]
        # Write port: the update, else the emission's clear of the entry just sent, else the sweep.
        with m.If(update3):
            m.d.comb += [write.en.eq(1), write.addr.eq(index3), write.data.eq(new)]
        with m.Elif(transfer & (beat != 0)):
            m.d.comb += [write.en.eq(1), write.addr.eq(beat - 1), write.data.eq(0)]
        with m.Elif(self.clearing):
            m.d.comb += [write.en.eq(1), write.addr.eq(sweep), write.data.eq(0)]
        return m
