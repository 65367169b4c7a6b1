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


@cocotb.test(timeout_time=SIM_TIMEOUT_MS * 50, timeout_unit="ms")
async def run_program(dut):
    with open(os.environ["QFAB_PROGRAM"]) as handle:
        request = json.load(handle)
    bench = await start_bench(dut)
    bench.send(request["words"])
    await bench.write(Register.CONTROL, 1 << CONTROL_START)
    beats = []
    while len(beats) < request["beats"]:
        if bench.sink.empty():
            # A core that finished without the expected beats (an error code: a refused
            # instruction sends none) ends the run here; the driver reports its error.
            if not (await bench.status()).busy and bench.sink.empty():
                break
            await ClockCycles(dut.clk, 16)
            continue
        frame = await bench.sink.recv()
        data = bytes(frame.tdata)
        beats.extend(int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8))
    status = await bench.wait_done(timeout_cycles=50_000_000)
    result = {"beats": beats, "error": int(status.error), "overflow": status.overflow,
              "cycles": await bench.cycles()}
    with open(os.environ["QFAB_RESULT"], "w") as handle:
        json.dump(result, handle)
