"""Parameter memory: the B x P angle words of LOAD_PARAMS, read by GATE_ROT.

``param_depth`` 32-bit half-angle words, set-major (angle ``s*P + i`` is parameter i of set s),
stored two per 64-bit memory word exactly as LOAD_PARAMS' payload carries them (the low half
holds the even angle), so a payload word is one write and the memory is ``param_depth / 2``
words of 64 bits: one RAMB36 at the default depth of 1024 angles. Bit-accurate model:
:class:`qfab_hw.model.param_memory.ParamMemory`.

* ``load`` (one clock, the LOAD_PARAMS header): P = ``load_count``, B = ``load_sets`` and the
  payload's word count ``load_words`` (``ceil(B*P/2)``, from the decoder) are taken and the write
  pointer goes to 0. The decoder has checked 1 <= P <= max_params, B >= 1, B*P <= param_depth.
* ``wr_en`` with ``wr_data``: one payload word at the write pointer; ``wr_last`` (combinational)
  says that this is the payload's final word.
* ``rd_en`` with ``rd_index`` (an angle index): ``rd_data`` is that angle as a signed 32-bit
  word one clock later, and holds while ``rd_en`` is low.
* ``count`` (P, 0: nothing loaded) and ``sets`` (B) feed the decoder's RUN checks; RESET (the
  core's reset) clears them.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from qfab_hw.params import ANGLE_WORD_BITS, BEAT_BITS, CoreParams, require_core_params

#: 16-bit immediates: LOAD_PARAMS' P and B, RUN's s0 and count.
FIELD_BITS = 16


class ParameterMemory(wiring.Component):
    def __init__(self, params: CoreParams):
        require_core_params(self, params)
        self.params = params
        super().__init__(
            {
                "load": In(1),
                "load_count": In(range(params.max_params + 1)),
                "load_sets": In(FIELD_BITS),
                "load_words": In(range(self.words + 1)),
                "wr_en": In(1),
                "wr_data": In(BEAT_BITS),
                "wr_last": Out(1),
                "rd_en": In(1),
                "rd_index": In(range(params.param_depth)),
                "rd_data": Out(signed(ANGLE_WORD_BITS)),
                "count": Out(range(params.max_params + 1)),
                "sets": Out(FIELD_BITS),
            }
        )

    @property
    def words(self) -> int:
        """64-bit words of the memory: two angles each."""
        return self.params.param_depth // 2

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = memory = Memory(shape=BEAT_BITS, depth=self.words, init=[])
        write, read = memory.write_port(), memory.read_port()

        pointer = Signal(range(self.words + 1))
        last_word = Signal(range(self.words + 1))
        m.d.comb += self.wr_last.eq(pointer + 1 == last_word)
        with m.If(self.load):
            m.d.sync += [self.count.eq(self.load_count), self.sets.eq(self.load_sets),
                         pointer.eq(0), last_word.eq(self.load_words)]
        with m.Elif(self.wr_en):
            m.d.sync += pointer.eq(pointer + 1)
        m.d.comb += [write.en.eq(self.wr_en), write.addr.eq(pointer), write.data.eq(self.wr_data)]

        # Read: the 64-bit word of the angle pair, then its half (registered with the read).
        high_half = Signal()
        m.d.comb += [read.en.eq(self.rd_en), read.addr.eq(self.rd_index >> 1)]
        with m.If(self.rd_en):
            m.d.sync += high_half.eq(self.rd_index[0])
        m.d.comb += self.rd_data.eq(
            Mux(high_half, read.data[ANGLE_WORD_BITS:], read.data[:ANGLE_WORD_BITS]))
        return m
