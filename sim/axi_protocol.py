"""AXI4-Lite and AXI4-Stream protocol monitors, started by every bench in ``cocotb_core.py``.

The benches compare what the core computes with the model; these check *how* it is
transferred, on every port and in both directions (the core's outputs and what cocotbext-axi
drives into it), once per clock, so a rule broken in a cycle that no result depends on still
fails the test. A broken rule raises :class:`ProtocolError` naming the rule, the channel and
the cycle.

The rules (AMBA AXI4 and AXI4-Stream, "handshake process" and "reset"):

* VALID, once asserted, stays asserted until the cycle READY is high;
* the payload (TDATA, TLAST, TKEEP; AWADDR, WDATA, ...) does not change while VALID && !READY;
* after reset, VALID is never X or Z, nor are READY and the payload while VALID is high;
* VALID is low while reset is held (from its second cycle: the first edge applies it);
* AXI-Lite: BVALID only once both the AW and the W handshake of that write are done, RVALID
  only after the AR handshake, and every response is OKAY (the register file answers all
  accesses so).

The checks are plain classes fed one sample per clock (:class:`HandshakeRules`,
:class:`LiteRules`), so ``test_axi_protocol.py`` proves each rule fires without a simulator;
:class:`ProtocolMonitor` is the cocotb coroutine that samples the ports at each rising edge,
as cocotbext-axi's models do (the values the edge registers; cocotb applies the writes made
in the same step after it), sharing their wake-up instead of adding one per clock. READY and
the payload are read only while VALID is high, since no rule needs them otherwise: the
monitors cost the simulation per clock, and this keeps it to a few reads.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import RisingEdge

from qfab_hw.verilator.bench import Ports, ports_of

__all__ = ["HandshakeRules", "LiteRules", "ProtocolError", "ProtocolMonitor"]

OKAY = 0


class ProtocolError(AssertionError):
    """An AXI rule broken on one channel in one cycle."""

    def __init__(self, channel: str, cycle: int, rule: str, note: str = ""):
        super().__init__(f"AXI protocol: {channel}: {rule} (cycle {cycle} after the bench started)"
                         + (f" [{note}]" if note else ""))
        self.channel, self.cycle, self.rule = channel, cycle, rule


def resolved(value):
    """An int for a 0/1 value, ``None`` for one with X, Z, U ... bits."""
    return int(value) if value.is_resolvable else None


class HandshakeRules:
    """The VALID/READY rules of one channel, fed :meth:`step` once per clock."""

    def __init__(self, name: str):
        self.name = name
        self.handshakes = 0
        #: Cycles of the current and of the longest run of VALID && !READY (back-pressure).
        self.stall = 0
        self.longest_stall = 0
        self._held = None  # the payload VALID && !READY left pending, or None
        self._reset_cycles = 0

    def step(self, cycle: int, in_reset: bool, valid, ready, payload=()) -> bool:
        """One clock's sample (``valid``/``ready``: 0, 1 or ``None`` for X/Z; ``ready`` and
        ``payload``, the raw values, are needed only while VALID is high); True when a
        transfer happens in it."""
        if in_reset:
            self._reset_cycles += 1
            if self._reset_cycles > 1 and valid != 0:
                self.fail(cycle, "VALID not low while reset is held")
            self._held, self.stall = None, 0
            return False
        self._reset_cycles = 0
        if valid is None:
            self.fail(cycle, "VALID is X or Z after reset")
        if valid and ready is None:
            self.fail(cycle, "READY is X or Z while VALID")
        if self._held is not None:
            if not valid:
                self.fail(cycle, "VALID withdrawn before the handshake (READY never came)")
            if tuple(payload) != self._held:
                self.fail(cycle, "payload changed while VALID && !READY")
        if valid and not all(value.is_resolvable for value in payload):
            self.fail(cycle, "payload is X or Z while VALID")
        fire = bool(valid and ready)
        self.handshakes += fire
        if valid and not ready:
            self._held = tuple(payload)
            self.stall += 1
            self.longest_stall = max(self.longest_stall, self.stall)
        else:
            self._held, self.stall = None, 0
        return fire

    def fail(self, cycle: int, rule: str):
        raise ProtocolError(self.name, cycle, rule)


class LiteRules:
    """AXI4-Lite: the five channels' handshakes plus the write/read response ordering and
    OKAY responses. ``step`` takes ``{channel: (valid, ready, payload)}`` for AW, W, B, AR, R,
    with the response field first in B's and R's payload."""

    CHANNELS = ("aw", "w", "b", "ar", "r")

    def __init__(self, name: str):
        self.channels = {c: HandshakeRules(f"{name} {c.upper()}") for c in self.CHANNELS}

    def step(self, cycle: int, in_reset: bool, samples: dict) -> None:
        done = {c: rules.handshakes for c, rules in self.channels.items()}  # before this cycle
        for channel in ("b", "r"):
            valid, _, payload = samples[channel]
            if in_reset or not valid:
                continue
            rules = self.channels[channel]
            if channel == "b" and not (done["aw"] > done["b"] and done["w"] > done["b"]):
                rules.fail(cycle, f"BVALID before both the AW and the W handshake "
                                   f"(AW {done['aw']}, W {done['w']}, B {done['b']} so far)")
            if channel == "r" and not done["ar"] > done["r"]:
                rules.fail(cycle, f"RVALID without an AR handshake (AR {done['ar']}, R {done['r']} so far)")
            if payload[0].is_resolvable and int(payload[0]) != OKAY:
                rules.fail(cycle, f"{channel.upper()}RESP is {int(payload[0])}, not OKAY")
        for channel, (valid, ready, payload) in samples.items():
            self.channels[channel].step(cycle, in_reset, valid, ready, payload)


class ProtocolMonitor:
    """Checks every AXI port of the top level once per clock (:meth:`start`); what it counted
    (handshakes, the longest stall per channel) is there for the benches to assert on. A
    broken rule ends the test with a :class:`ProtocolError` that ends with ``note`` (the seed)."""

    LITE = {"aw": ("awvalid", "awready", ("awaddr", "awprot")),
            "w": ("wvalid", "wready", ("wdata", "wstrb")),
            "b": ("bvalid", "bready", ("bresp",)),
            "ar": ("arvalid", "arready", ("araddr", "arprot")),
            "r": ("rvalid", "rready", ("rresp", "rdata"))}

    def __init__(self, dut, ports: Ports | None = None, note: str = ""):
        ports = ports or ports_of(dut)
        self.ports, self.note = ports, note
        self.clock = getattr(dut, ports.clock)
        self.reset = getattr(dut, ports.reset)
        self.cycle = 0

        def handles(bus, names):
            return tuple(ports.signal(dut, bus, name) for name in names)

        self.streams = {}
        for bus in (ports.stream_in, ports.stream_out):
            payload = ["tdata", "tlast"] + (["tkeep"] if hasattr(dut, f"{bus}{ports.separator}tkeep") else [])
            self.streams[bus] = (HandshakeRules(bus), *handles(bus, ("tvalid", "tready")), handles(bus, payload))
        self.lite = LiteRules(ports.lite)
        self.lite_handles = {c: (*handles(ports.lite, (v, r)), handles(ports.lite, p))
                             for c, (v, r, p) in self.LITE.items()}

    def start(self) -> ProtocolMonitor:
        cocotb.start_soon(self._run())
        return self

    def stream(self, bus: str) -> HandshakeRules:
        """The rules (and counts) of ``bus``: ``ports.stream_in`` or ``ports.stream_out``."""
        return self.streams[bus][0]

    async def _run(self) -> None:
        try:
            await self._check_every_clock()
        except ProtocolError as error:
            raise ProtocolError(error.channel, error.cycle, error.rule, self.note) from None

    async def _check_every_clock(self) -> None:
        edge = RisingEdge(self.clock)
        active = int(self.ports.reset_active_level)
        while True:
            await edge
            self.cycle += 1
            in_reset = resolved(self.reset.value) != int(not active)
            for rules, valid, ready, payload in self.streams.values():
                rules.step(self.cycle, in_reset, *sample(valid, ready, payload))
            self.lite.step(self.cycle, in_reset, {
                c: sample(*signals) for c, signals in self.lite_handles.items()})


def sample(valid, ready, payload) -> tuple:
    """(VALID, READY, payload values) of one channel now; READY and the payload only while
    VALID is high (0 and nothing otherwise)."""
    valid_value = resolved(valid.value)
    if not valid_value:
        return valid_value, 0, ()
    return valid_value, resolved(ready.value), [s.value for s in payload]
