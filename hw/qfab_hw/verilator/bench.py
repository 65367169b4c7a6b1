"""The cocotb bench of the qfab core: clock, reset, cocotbext-axi's AXI-Stream source and sink
and AXI-Lite master on the core's ports, and :meth:`CoreBench.run`, which plays a program and
checks the RTL against :class:`qfab_hw.CoreModel` word for word.

Shared by the RTL test benches (``sim/cocotb_core.py``) and the program runner
(:mod:`qfab_hw.verilator.cocotb_program`). Needs the ``hw`` extra (cocotb, cocotbext-axi).
"""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

from qfab_hw import CoreModel, CoreParams, ErrorCode
from qfab_hw.registers import (
    CONTROL_START,
    STATUS_BUSY,
    STATUS_DONE,
    STATUS_ERROR_SHIFT,
    STATUS_OVERFLOW,
    STATUS_QUBITS_SHIFT,
    Register,
)

__all__ = ["CORE_PORTS", "OVERLAY_PORTS", "SIM_TIMEOUT_MS", "CoreBench", "Ports", "Status",
           "first_difference", "ports_of", "start_bench"]

#: Simulated-time limit of one bench: a core that hangs (e.g. never drains a packet) fails
#: the test instead of stalling the suite. The longest bench simulates a few ms.
SIM_TIMEOUT_MS = 200


@dataclass(frozen=True)
class Ports:
    """Where a top level has the core's clock, reset and buses, so one bench drives both the
    core and the overlay wrapper Vivado instantiates (:func:`qfab_hw.bitstream.overlay_wrapper`),
    whose port names and reset polarity differ."""

    clock: str
    reset: str
    reset_active_level: bool
    stream_in: str
    stream_out: str
    lite: str
    separator: str

    def signal(self, dut, bus: str, field: str):
        """The handle of ``field`` (``tvalid``, ``awaddr`` ...) of ``bus`` (a prefix above)."""
        return getattr(dut, f"{bus}{self.separator}{field}")


#: The core's own ports (Amaranth's ``s_axis__tdata`` names, active-high ``rst``).
CORE_PORTS = Ports("clk", "rst", True, "s_axis", "m_axis", "s_axil", "__")
#: The overlay wrapper's Xilinx names and active-low ``aresetn``.
OVERLAY_PORTS = Ports("aclk", "aresetn", False, "s_axis", "m_axis", "s_axi_control", "_")
TOPS = {"qfab_core": CORE_PORTS, "qfab_overlay_top": OVERLAY_PORTS}


def ports_of(dut) -> Ports:
    """The :class:`Ports` of the simulated top level, by its module name."""
    return TOPS[dut._name]


class Status:
    def __init__(self, word: int):
        self.busy = bool(word >> STATUS_BUSY & 1)
        self.done = bool(word >> STATUS_DONE & 1)
        self.overflow = bool(word >> STATUS_OVERFLOW & 1)
        self.error = ErrorCode((word >> STATUS_ERROR_SHIFT) & 0xFF)
        self.n_qubits = (word >> STATUS_QUBITS_SHIFT) & 0xFF


class CoreBench:
    """Clock, reset, the AXI models, and a ``run`` that executes one program."""

    def __init__(self, dut):
        self.dut = dut
        self.ports = ports = ports_of(dut)
        self.clock = getattr(dut, ports.clock)
        self.reset_pin = getattr(dut, ports.reset)
        cocotb.start_soon(Clock(self.clock, 10, unit="ns").start())
        models = {"bus_separator": ports.separator}
        reset = {"reset": self.reset_pin, "reset_active_level": ports.reset_active_level}
        self.source = AxiStreamSource(
            AxiStreamBus.from_prefix(dut, ports.stream_in, **models), self.clock, **reset)
        self.sink = AxiStreamSink(
            AxiStreamBus.from_prefix(dut, ports.stream_out, **models), self.clock, **reset)
        self.axil = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, ports.lite, **models), self.clock, **reset)
        self.params: CoreParams | None = None

    async def reset(self) -> None:
        """Hold the reset pin for 5 cycles (power-up, or a host resetting the PL mid-program):
        the AXI models drop what they were sending or receiving, and BUILD is read back (the
        first time, :attr:`params` comes from it)."""
        self.reset_pin.value = int(self.ports.reset_active_level)
        await ClockCycles(self.clock, 5)
        self.reset_pin.value = int(not self.ports.reset_active_level)
        self.source.clear()
        self.sink.clear()
        await ClockCycles(self.clock, 2)
        build = await self.read(Register.BUILD)
        if self.params is None:
            self.params = CoreParams(max_qubits=build & 0xFF, lanes=(build >> 8) & 0xFF,
                                     width=(build >> 16) & 0xFF)
        assert build == self.params.build_word

    async def read(self, register: int) -> int:
        response = await self.axil.read(register, 4)
        return int.from_bytes(response.data, "little")

    async def write(self, register: int, value: int) -> None:
        await self.axil.write(register, value.to_bytes(4, "little"))

    async def status(self) -> Status:
        return Status(await self.read(Register.STATUS))

    async def cycles(self) -> int:
        return await self.read(Register.CYCLES_LO) | await self.read(Register.CYCLES_HI) << 32

    def send(self, words) -> None:
        data = b"".join(int(w).to_bytes(8, "little") for w in words)
        self.source.send_nowait(AxiStreamFrame(data))

    async def wait_done(self, timeout_cycles: int = 200_000) -> Status:
        for _ in range(timeout_cycles // 20):
            status = await self.status()
            if not status.busy:
                return status
            await ClockCycles(self.clock, 10)
        raise AssertionError("the core did not finish")

    async def run(self, words, model: CoreModel, *, exact_cycles: bool = True):
        """Run ``words`` on the RTL and on ``model``; assert both agree, return the result."""
        expected = model.run(words)
        self.send(words)
        await self.write(Register.CONTROL, 1 << CONTROL_START)
        beats, lasts = [], []
        for _ in range(sum(expected.last)):
            frame = await self.sink.recv()
            data = bytes(frame.tdata)
            words_out = [int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8)]
            beats.extend(words_out)
            lasts.extend([False] * (len(words_out) - 1) + [True])
        status = await self.wait_done()
        assert self.sink.empty(), "output beats beyond the model's last TLAST"
        assert beats == expected.beats, first_difference(beats, expected.beats)
        assert lasts == expected.last[: len(lasts)] and len(lasts) == len(expected.last)
        assert status.done and not status.busy
        assert status.error == expected.error, (status.error, expected.error)
        assert status.overflow == expected.overflow
        assert status.n_qubits == expected.n_qubits
        cycles = await self.cycles()
        if exact_cycles:
            assert cycles == expected.cycles, (cycles, expected.cycles)
        else:
            assert cycles >= expected.cycles
        return expected, cycles


def first_difference(actual, expected) -> str:
    if len(actual) != len(expected):
        return f"{len(actual)} beats, model {len(expected)}"
    index = next(i for i, (a, b) in enumerate(zip(actual, expected)) if a != b)
    return f"beat {index}: RTL {actual[index]:#018x}, model {expected[index]:#018x}"


async def start_bench(dut, bench_class: type[CoreBench] = CoreBench) -> CoreBench:
    """A bench (``bench_class``: :class:`CoreBench` or a subclass with checks of its own) on
    ``dut``, after the reset that starts every simulation."""
    bench = bench_class(dut)
    await bench.reset()
    return bench
