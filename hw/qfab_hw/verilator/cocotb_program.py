"""A cocotb test that runs one gate program on the core and records what came back.

Run by :mod:`qfab_hw.verilator.run_program` (qfab's Verilator transport starts it, one child
process per program): the program is read from ``QFAB_PROGRAM`` and the output beats, STATUS
fields and CYCLES are written to ``QFAB_RESULT``. Unlike the benches in ``sim/cocotb_core.py``
it knows nothing of the model: it reports the RTL's own answer.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.triggers import ClockCycles

from qfab_hw.registers import CONTROL_START, Register
from qfab_hw.verilator.bench import SIM_TIMEOUT_MS, start_bench


#: Polls of STATUS (every :data:`POLL_CYCLES`) that find the core busy and asking for a word
#: after the whole program went in before the run counts as starved (a truncated program).
STARVED_POLLS = 8
POLL_CYCLES = 16


@cocotb.test(timeout_time=SIM_TIMEOUT_MS * 50, timeout_unit="ms")
async def run_program(dut):
    """Play the program, collect the output, and poll STATUS until the core is idle: a program
    the core rejects ends the run as soon as the core stops, with its error code (no waiting
    for beats that never come). A core still busy that asks for another word when the whole
    program went in waits for words that never come (a truncated payload, a missing END): the
    run ends at once too, marked ``starved``."""
    with open(os.environ["QFAB_PROGRAM"]) as handle:
        request = json.load(handle)
    bench = await start_bench(dut)
    bench.send(request["words"])
    await bench.write(Register.CONTROL, 1 << CONTROL_START)
    beats, starved_polls = [], 0

    def drain():
        while not bench.sink.empty():
            data = bytes(bench.sink.recv_nowait().tdata)
            beats.extend(int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8))

    while True:
        drain()
        status = await bench.status()
        if not status.busy:
            break
        wants_word = bool(int(dut.s_axis__tready.value))
        starved_polls = starved_polls + 1 if bench.source.idle() and wants_word else 0
        if starved_polls >= STARVED_POLLS:
            break
        await ClockCycles(dut.clk, POLL_CYCLES)
    await ClockCycles(dut.clk, POLL_CYCLES)  # the last frame's final beats reach the sink
    drain()
    result = {"beats": beats, "error": int(status.error), "overflow": status.overflow,
              "cycles": await bench.cycles(), "starved": status.busy}
    with open(os.environ["QFAB_RESULT"], "w") as handle:
        json.dump(result, handle)
