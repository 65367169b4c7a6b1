"""The goal's training step on the RTL: the 8-lane core with bank B under Verilator.

    .venv/bin/python benchmarks/fpga_step_rtl.py [--qubits 8] [--layers 2] [--sets 16] [--lanes 8]

Step: values and gradients of <Z_0> for B parameter sets of the benchmark ansatz (8 qubits x 2
layers: P = 32, B = 16) by RUN_SHIFT (the on-chip shift loop) and RUN_ADJOINT (the on-chip
adjoint), through ``FPGADevice("verilator", ...)`` exactly as a board would get it (the program
stored, LOAD_PARAMS, the RUN* header). Per method it checks and prints: the CYCLES register
against the closed form the cost model uses (``FPGADevice.program_counts``), the words sent and
beats received, the gradients against the bit-accurate model (bit for bit) and against the CPU
engine (max |error| and the fixed-point law's bound), and the core time at the ZCU104's PL
clock. The first run builds the core with Verilator (a few minutes; cached afterwards).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from qfab_hw import CoreParams
from qfab_hw.boards import load_board

import qfab
from qfab.backends import Job
from qfab.backends.fpga import FPGADevice
from qfab.core.observables import as_pauli_sums

sys.path.insert(0, str(Path(__file__).parent))
from workload import qiskit_ansatz  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=8)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--sets", type=int, default=16)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--width", type=int, default=18)
    args = parser.parse_args(argv)

    qc = qiskit_ansatz(args.qubits, args.layers)
    circuit = qfab.from_qiskit(qc)
    observable = "Z" + "I" * (args.qubits - 1)
    sums = tuple(as_pauli_sums([observable], args.qubits)[0])
    thetas = np.random.default_rng(7).uniform(-np.pi, np.pi, (args.sets, circuit.num_parameters))
    params = CoreParams(max_qubits=args.qubits, lanes=args.lanes, width=args.width,
                        max_params=64, param_depth=1024, program_depth=512, adjoint=True)
    board = load_board("zcu104")
    exact = qfab.gradient(circuit, observable, thetas, device="cpu", method="adjoint")
    print(f"{args.qubits} qubits x {args.layers} layers, P = {circuit.num_parameters}, B = {args.sets}, "
          f"{args.lanes} lanes, W = {args.width}, bank B")
    print("| method | CYCLES (RTL) | closed form | words sent | beats | core ms at "
          f"{board.pl_mhz:.0f} MHz | RTL = model bits | max |RTL - exact| | simulation s |")
    print("|---|---|---|---|---|---|---|---|---|")
    rtl = FPGADevice("verilator", params, timeout_s=3600)
    for method in ("parameter-shift", "adjoint"):
        job = Job(circuit, thetas, sums, gradient=method)
        predicted, words, beats = rtl.program_counts(job)
        start = time.perf_counter()
        (result,) = rtl.run([job])
        seconds = time.perf_counter() - start
        (model,) = FPGADevice("model", params).run([Job(circuit, thetas, sums, gradient=method)])
        same = bool(np.array_equal(result.gradients, model.gradients)
                    and np.array_equal(result.expectations, model.expectations))
        error = float(np.max(np.abs(result.gradients[:, 0, :] - exact)))
        measured = rtl.last_cycles
        print(f"| {method} | {measured:,} | {predicted:,} | {words} | {beats} | "
              f"{measured / (board.pl_mhz * 1e3):.3f} | {'yes' if same else 'NO'} | {error:.1e} | {seconds:.1f} |")
        if measured != predicted or not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
