"""Random gate programs for verification (RTL vs model, model vs exact numpy)."""

from __future__ import annotations

import math

import numpy as np

from qfab_hw.params import CoreParams
from qfab_hw.program import Assembler, Opcode


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


# -- instruction set v2 ---------------------------------------------------------------------
def random_stored_body(rng: np.random.Generator, params: CoreParams, n_qubits: int, gates: int = 8,
                       param_count: int = 3, terms: int | None = None, reads: bool = True) -> Assembler:
    """A PROGRAM body: INIT, random gates (GATE_ROT of every kind, controlled or not, and v1
    gates; :func:`qfab_hw.parametric.random_circuit`) with readouts (no LAST) between them,
    0..2 OBS terms (``terms``), no END (``Assembler.program`` appends it)."""
    from qfab_hw.parametric import random_circuit
    from qfab_hw.program import Instruction, Opcode

    terms = int(rng.integers(0, 3)) if terms is None else terms
    circuit = random_circuit(rng, n_qubits, gates, param_count, terms=terms,
                             basis_change=bool(rng.integers(2)))
    body = circuit.body(params.width)
    if reads:
        after = [k for k, ins in enumerate(body.instructions) if ins.opcode != Opcode.OBS]
        for _ in range(int(rng.integers(0, 3))):
            position = int(rng.choice(after)) + 1
            kind = int(rng.integers(3))
            if kind == 0:
                read = Instruction(Opcode.READ_STATE)
            elif kind == 1:
                read = Instruction(Opcode.READ_PROBS)
            else:
                read = Instruction(Opcode.READ_EXPZ, mask=int(rng.integers(1 << n_qubits)))
            body.instructions.insert(position, read)
            after = [k + (k >= position) for k in after] + [position]
    return body


def random_v2_packets(rng: np.random.Generator, params: CoreParams, count: int) -> list[list[int]]:
    """Packets that exercise v2 on one core: PROGRAM + LOAD_PARAMS + RUN in one packet or split
    over three, sets from the middle of the loaded batch, readouts after a RUN, v1 programs in
    between (state, program and parameters carry over), and finally a replay that saturates
    (OVERFLOW). Every packet ends with END (its final top-level readout or RUN has LAST)."""
    packets = []
    for _ in range(count):
        n = int(rng.integers(params.min_qubits, params.max_qubits + 1))
        param_count = int(rng.integers(1, params.max_params + 1))
        for _ in range(10):
            body = random_stored_body(rng, params, n, gates=int(rng.integers(0, 7)),
                                      param_count=param_count)
            if sum(i.word_count for i in body.instructions) + 1 <= params.program_depth:
                break
        sets = min(int(rng.integers(1, params.param_depth // param_count + 1)), 3)
        first = int(rng.integers(0, sets))
        runs = int(rng.integers(1, sets - first + 1))
        thetas = rng.uniform(-math.pi, math.pi, size=(sets, param_count))
        if rng.integers(3) == 0:
            outer = Assembler(params.width).program(body).load_params(thetas).run(first, runs)
            if rng.random() < 0.3:
                outer.read_probs()
            packets.append(outer.end().words())
        else:
            packets.append(Assembler(params.width).program(body).end().words())
            packets.append(Assembler(params.width).load_params(thetas).end().words())
            packets.append(Assembler(params.width).run(first, runs).end().words())
        if rng.random() < 0.3:
            packets.append(random_program(rng, params, n, int(rng.integers(1, 6))).words())
    loud = Assembler(params.width).init(params.min_qubits)
    loud.unitary([[1.9, 0], [0, 1.9]], 0).unitary([[1.9, 0], [0, 1.9]], 0).rot("rx", 0, 0).obs([0])
    packets.append(Assembler(params.width).program(loud).load_params(np.ones((2, 1))).run(0, 2)
                   .end().words())
    return packets


def random_gradient_packets(rng: np.random.Generator, params: CoreParams, count: int) -> list[list[int]]:
    """Per round: PROGRAM + LOAD_PARAMS of a random stored body (1 or 2 OBS terms), then
    RUN_SHIFT and (with bank B) RUN_ADJOINT over a random set range, sometimes with a READ_PROBS
    after it (the state the run leaves). Every packet ends with END."""
    packets = []
    modes = [Opcode.RUN_SHIFT] + ([Opcode.RUN_ADJOINT] if params.adjoint else [])
    for _ in range(count):
        n = int(rng.integers(params.min_qubits, params.max_qubits + 1))
        param_count = int(rng.integers(1, params.max_params + 1))
        for _ in range(20):
            body = random_stored_body(rng, params, n, gates=int(rng.integers(0, 7)),
                                      param_count=param_count, terms=int(rng.integers(1, 3)))
            if sum(i.word_count for i in body.instructions) + 1 <= params.program_depth:
                break
        sets = min(int(rng.integers(1, params.param_depth // param_count + 1)), 3)
        thetas = rng.uniform(-math.pi, math.pi, size=(sets, param_count))
        packets.append(Assembler(params.width).program(body).load_params(thetas).end().words())
        for opcode in modes:
            first = int(rng.integers(0, sets))
            runs = int(rng.integers(1, sets - first + 1))
            outer = Assembler(params.width)
            (outer.run_shift if opcode == Opcode.RUN_SHIFT else outer.run_adjoint)(first, runs)
            if rng.random() < 0.3:
                outer.read_probs()
            packets.append(outer.end().words())
    return packets
