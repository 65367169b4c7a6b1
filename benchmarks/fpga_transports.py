"""Time per circuit of each FPGA transport, and the predicted time of the same program on
every board config (cycle model + PS–PL transfer).

    .venv/bin/python benchmarks/fpga_transports.py [--sizes 4,8,12] [--write docs/fpga_device.md]

Workload: the benchmark ansatz with 2 layers, <Z_0>, one parameter set, expectation value
(one gate program: INIT, gates, one on-chip READ_EXPZ).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from qfab_hw import CoreParams
from qfab_hw.boards import board_keys, load_board

import qfab
from qfab.backends.fpga import FPGADevice

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402
from workload import observable, qiskit_ansatz  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,8,12")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    params = CoreParams(max_qubits=12, lanes=1, width=18)
    boards = [load_board(key) for key in board_keys()]
    header = ["n", "lowered ops", "cycles", "model (ms)", "verilator (ms)", "cpu engine (ms)"] + [f"{b.name} predicted (ms)" for b in boards]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    transports = {kind: FPGADevice(kind, params) for kind in ("model", "verilator")}
    for n in (int(x) for x in args.sizes.split(",")):
        circ = qfab.from_qiskit(qiskit_ansatz(n, args.layers))
        obs = observable(n)
        theta = np.random.default_rng(n).uniform(-np.pi, np.pi, circ.num_parameters)
        times = {kind: measure.median_time(lambda d=device: qfab.expectation(circ, obs, theta, device=d), 3 if kind == "model" else 1)
                 for kind, device in transports.items()}
        times["cpu"] = measure.median_time(lambda: qfab.expectation(circ, obs, theta), 5)
        model = transports["model"]
        assert transports["verilator"].last_cycles == model.last_cycles
        predicted = [model.seconds_on_board(board) for board in boards]
        cells = [n, len(model.lowered(circ).ops), model.last_cycles] + [f"{times[k] * 1e3:.2f}" for k in ("model", "verilator", "cpu")]
        rows.append("| " + " | ".join(str(c) for c in cells + [f"{p * 1e3:.3f}" for p in predicted]) + " |")
        print(rows[-1], file=sys.stderr)
    table = "\n".join(rows)
    print(table)
    if args.write:
        args.write.write_text(
            "# FPGA device: transports and predicted board times\n\n"
            f"Command: `.venv/bin/python benchmarks/fpga_transports.py --write {args.write}`\n\n"
            f"Build {params}; {args.layers}-layer benchmark ansatz, <Z_0>, one parameter set. "
            "Verilator and model report identical cycle counts (asserted). Board predictions: cycles at the "
            "board's PL clock, one DMA round trip (BOARD_CALL_OVERHEAD_S, assumed) and the program words and "
            "result beats over its HP port at the family's DMA_EFFICIENCY (FPGADevice.seconds_on_board).\n\n"
            + table + "\n"
        )


if __name__ == "__main__":
    main()
