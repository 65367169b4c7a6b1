"""The cocotb bench of the qfab core: clock, reset, cocotbext-axi's AXI-Stream source and sink
and AXI-Lite master on the core's ports, and :meth:`CoreBench.run`, which plays a program and
checks the RTL against :class:`qfab_hw.CoreModel` word for word.

Shared by the RTL test benches (``sim/cocotb_core.py``) and the program runner
(:mod:`qfab_hw.verilator.cocotb_program`). Needs the ``hw`` extra (cocotb, cocotbext-axi).
"""

from __future__ import annotations

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

__all__ = ["SIM_TIMEOUT_MS", "CoreBench", "Status", "first_difference", "start_bench"]

#: Simulated-time limit of one bench: a core that hangs (e.g. never drains a packet) fails
#: the test instead of stalling the suite. The longest bench simulates a few ms.
SIM_TIMEOUT_MS = 200


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
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.source = AxiStreamSource(
            AxiStreamBus.from_prefix(dut, "s_axis", bus_separator="__"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(
            AxiStreamBus.from_prefix(dut, "m_axis", bus_separator="__"), dut.clk, dut.rst)
        self.axil = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"), dut.clk, dut.rst)
        self.params: CoreParams | None = None

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 5)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)
        build = await self.read(Register.BUILD)
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
            await ClockCycles(self.dut.clk, 10)
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


async def start_bench(dut) -> CoreBench:
    bench = CoreBench(dut)
    await bench.reset()
    return bench
