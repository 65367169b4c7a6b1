"""AXI-Stream and AXI4-Lite signatures with Xilinx port names (``s_axis__tdata`` ...).

Defined from the manager's (source's) side; a subordinate port is ``In(...)`` of them.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class AXIStreamSignature(wiring.Signature):
    """TDATA/TVALID/TREADY/TLAST, no TKEEP: every beat is full."""

    def __init__(self, data_bits: int):
        self.data_bits = data_bits
        super().__init__(
            {"tdata": Out(data_bits), "tvalid": Out(1), "tready": In(1), "tlast": Out(1)}
        )


class AXILiteSignature(wiring.Signature):
    def __init__(self, addr_bits: int, data_bits: int = 32):
        self.addr_bits, self.data_bits = addr_bits, data_bits
        super().__init__(
            {
                "awaddr": Out(addr_bits), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
                "wdata": Out(data_bits), "wstrb": Out(data_bits // 8), "wvalid": Out(1),
                "wready": In(1),
                "bresp": In(2), "bvalid": In(1), "bready": Out(1),
                "araddr": Out(addr_bits), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
                "rdata": In(data_bits), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
            }
        )
