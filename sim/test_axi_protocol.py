"""The AXI protocol rules of ``axi_protocol.py`` fire on the violations they name, and stay
quiet on legal traffic (no simulator: the rule classes are fed samples by hand)."""

from __future__ import annotations

import pytest
from cocotb.types import Logic, LogicArray

from axi_protocol import HandshakeRules, LiteRules, ProtocolError


def word(value: int | str, bits: int = 8) -> LogicArray:
    return LogicArray(value if isinstance(value, str) else LogicArray.from_unsigned(value, bits))


def feed(rules: HandshakeRules, samples, reset=()):
    """``samples``: (valid, ready, payload int or str) per cycle; cycles in ``reset`` are
    under reset."""
    for cycle, (valid, ready, data) in enumerate(samples):
        rules.step(cycle, cycle in reset, valid, ready, [word(data), Logic(0)] if valid else [])


def test_legal_stream_with_stalls_passes_and_counts():
    rules = HandshakeRules("m_axis")
    feed(rules, [(0, 0, 0), (1, 0, 5), (1, 0, 5), (1, 1, 5), (1, 1, 6), (0, 1, 0), (1, 0, 7), (1, 1, 7)])
    assert rules.handshakes == 3
    assert rules.longest_stall == 2


@pytest.mark.parametrize("samples, rule", [
    ([(1, 0, 5), (0, 0, 0)], "VALID withdrawn before the handshake"),
    ([(1, 0, 5), (1, 1, 6)], "payload changed while VALID && !READY"),
    ([(None, 0, 0)], "VALID is X or Z after reset"),
    ([(1, None, 0)], "READY is X or Z while VALID"),
    ([(1, 1, "01X01010")], "payload is X or Z while VALID"),
])
def test_each_stream_rule_fires(samples, rule):
    with pytest.raises(ProtocolError, match=rule) as error:
        feed(HandshakeRules("m_axis"), [(0, 1, 0)] + samples)
    assert error.value.channel == "m_axis" and error.value.cycle == len(samples)


def test_valid_in_reset_fails_from_the_second_cycle_and_reset_drops_a_pending_beat():
    rules = HandshakeRules("m_axis")
    feed(rules, [(1, 0, 5), (1, 0, 5), (0, 0, 0), (0, 1, 0)], reset={1, 2})  # dropped by reset
    with pytest.raises(ProtocolError, match="VALID not low while reset is held"):
        feed(HandshakeRules("m_axis"), [(1, 0, 5), (1, 0, 5)], reset={0, 1})


def lite_cycle(rules: LiteRules, cycle: int, **channels):
    """One cycle: the named channels' (valid, ready[, response]), the others idle."""
    samples = {}
    for name in LiteRules.CHANNELS:
        valid, ready, *response = channels.get(name, (0, 0))
        payload = [word(response[0] if response else 0, 2), word(0, 32)] if valid else []
        samples[name] = (valid, ready, payload)
    rules.step(cycle, False, samples)


def test_lite_write_then_read_in_order_passes():
    rules = LiteRules("s_axil")
    lite_cycle(rules, 0, aw=(1, 1), w=(1, 1))
    lite_cycle(rules, 1, b=(1, 0))
    lite_cycle(rules, 2, b=(1, 1), ar=(1, 1))
    lite_cycle(rules, 3, r=(1, 1))
    assert [rules.channels[c].handshakes for c in LiteRules.CHANNELS] == [1, 1, 1, 1, 1]


@pytest.mark.parametrize("cycles, rule", [
    ([{"b": (1, 1)}], "BVALID before both the AW and the W handshake"),
    ([{"aw": (1, 1)}, {"b": (1, 1)}], "BVALID before both the AW and the W handshake"),
    ([{"r": (1, 1)}], "RVALID without an AR handshake"),
    ([{"ar": (1, 1)}, {"r": (1, 1)}, {"r": (1, 1)}], "RVALID without an AR handshake"),
    ([{"aw": (1, 1), "w": (1, 1)}, {"b": (1, 1, 2)}], "BRESP is 2, not OKAY"),
    ([{"ar": (1, 1)}, {"r": (1, 1, 3)}], "RRESP is 3, not OKAY"),
    ([{"ar": (1, 0)}, {}], "VALID withdrawn before the handshake"),
])
def test_each_lite_rule_fires(cycles, rule):
    rules = LiteRules("s_axil")
    with pytest.raises(ProtocolError, match=rule):
        for cycle, channels in enumerate(cycles):
            lite_cycle(rules, cycle, **channels)
