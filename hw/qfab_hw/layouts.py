"""Data layouts shared by the hardware blocks."""

from amaranth.hdl import signed
from amaranth.lib import data

#: One program word or output beat, with the AXI-Stream TLAST bit beside it.
BEAT_LAYOUT = data.StructLayout({"data": 64, "last": 1})


def complex_layout(width: int) -> data.StructLayout:
    """A fixed-point complex number: {im, re} in one 2W-bit word, re in the low bits."""
    return data.StructLayout({"re": signed(width), "im": signed(width)})
