"""Random gate programs for verification (RTL vs model, model vs exact numpy)."""

from __future__ import annotations

import math

import numpy as np

from qfab_hw.params import CoreParams
from qfab_hw.program import Assembler


def random_unitary(rng: np.random.Generator) -> np.ndarray:
    """A Haar-random 2x2 unitary (QR of a complex Gaussian matrix, phases fixed)."""
    z = (rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))) / math.sqrt(2)
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


def random_state(rng: np.random.Generator, n_qubits: int) -> np.ndarray:
    state = rng.normal(size=1 << n_qubits) + 1j * rng.normal(size=1 << n_qubits)
    return state / np.linalg.norm(state)


GATE_KINDS = (
    "h", "x", "y", "z", "s", "sdg", "t", "rx", "ry", "rz", "phase", "unitary",
    "cx", "cz", "swap", "cunitary", "crz", "cphase", "cs",
)


def add_random_gate(program: Assembler, rng: np.random.Generator, n_qubits: int,
                    kinds=GATE_KINDS) -> None:
    """Append one gate of a random kind on random qubits (two-qubit kinds need n >= 2)."""
    kinds = [k for k in kinds if n_qubits >= 2 or not (k.startswith("c") or k == "swap")]
    kind = kinds[rng.integers(len(kinds))]
    a, b = (int(q) for q in rng.choice(n_qubits, size=2, replace=False)) if n_qubits >= 2 \
        else (0, None)
    theta = float(rng.uniform(-math.pi, math.pi))
    if kind in ("h", "x", "y", "z", "s", "sdg", "t"):
        getattr(program, kind)(a)
    elif kind in ("rx", "ry", "rz", "phase"):
        getattr(program, kind)(theta, a)
    elif kind == "unitary":
        program.unitary(random_unitary(rng), a)
    elif kind in ("cx", "cz", "swap"):
        getattr(program, kind)(a, b)
    elif kind == "cunitary":
        program.unitary(random_unitary(rng), b, control=a)
    elif kind == "crz":
        program.rz(theta, b, control=a)
    elif kind == "cphase":
        program.phase(theta, b, control=a)
    elif kind == "cs":
        program.phase_quarter(1, b, control=a)


def random_program(rng: np.random.Generator, params: CoreParams, n_qubits: int, depth: int,
                   *, load_state: bool | None = None, readouts: bool = True) -> Assembler:
    """INIT (or LOAD of a random state), ``depth`` random gates, random readouts, END."""
    program = Assembler(params.width)
    if load_state is None:
        load_state = bool(rng.integers(2))
    if load_state:
        program.load(random_state(rng, n_qubits))
    else:
        program.init(n_qubits)
    for _ in range(depth):
        add_random_gate(program, rng, n_qubits)
    if readouts:
        if rng.integers(2):
            program.read_state()
        if rng.integers(2):
            program.read_probs()
        for _ in range(int(rng.integers(1, 3))):
            qubits = [q for q in range(n_qubits) if rng.integers(2)]
            program.expect_z(qubits)
    return program.end()
