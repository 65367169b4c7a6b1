"""Fixed-point infidelity of the core's arithmetic vs exact complex128, against n, depth, W.

``python -m qfab_hw.fidelity`` prints the table in docs/fpga.md: random Haar single-qubit
gates on random targets (as in the reference's measurement), run on :class:`CoreModel` and
exactly in numpy; mean 1 - |<exact|model>|^2 / (|model|^2) over a few circuits, beside the
error law 0.16 * depth * 2**n * 2**(-2F).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from qfab_hw.model import CoreModel
from qfab_hw.params import CoreParams
from qfab_hw.program import Assembler
from qfab_hw.testing import random_unitary

ERROR_LAW_CONSTANT = 0.16


def apply_exact(state: np.ndarray, matrix: np.ndarray, target: int) -> np.ndarray:
    view = state.reshape(-1, 2, 1 << target)
    x0, x1 = view[:, 0, :].copy(), view[:, 1, :].copy()
    view[:, 0, :] = matrix[0, 0] * x0 + matrix[0, 1] * x1
    view[:, 1, :] = matrix[1, 0] * x0 + matrix[1, 1] * x1
    return state


def infidelity(n_qubits: int, depth: int, width: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    program = Assembler(width).init(n_qubits)
    exact = np.zeros(1 << n_qubits, dtype=np.complex128)
    exact[0] = 1
    for _ in range(depth):
        matrix, target = random_unitary(rng), int(rng.integers(n_qubits))
        program.unitary(matrix, target)
        exact = apply_exact(exact, matrix, target)
    model = CoreModel(CoreParams(max_qubits=max(n_qubits, 2), lanes=1, width=width))
    model.run(program.end().words())
    state = model.amplitudes()
    return float(1 - abs(np.vdot(exact, state)) ** 2 / np.vdot(state, state).real)


def table(widths=(16, 18), qubits=(4, 8, 12, 16), depths=(10, 100), samples=3) -> str:
    lines = ["| W (Q2.F) | n | depth | mean 1-F | law 0.16·D·2^n·2^-2F | measured / law |",
             "|---|---|---|---|---|---|"]
    for width in widths:
        frac_bits = width - 2
        for n_qubits in qubits:
            for depth in depths:
                values = [infidelity(n_qubits, depth, width, seed) for seed in range(samples)]
                measured = float(np.mean(values))
                law = ERROR_LAW_CONSTANT * depth * 2**n_qubits * 2.0 ** (-2 * frac_bits)
                lines.append(f"| {width} (Q2.{frac_bits}) | {n_qubits} | {depth} | "
                             f"{measured:.2e} | {law:.2e} | {measured / law:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="fixed-point infidelity table")
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args(argv)
    print(table(samples=args.samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
