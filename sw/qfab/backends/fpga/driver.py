"""The FPGA driver, written once and free of I/O.

It turns work into one gate program (every parameter set and every measurement group in one
word stream, so a batch or a whole parameter-shift gradient is one DMA round trip), and turns
the beats that come back into numbers. Transports (``transports.py``) only move words and read
registers; the model, the Verilator simulation and a PYNQ board therefore run the same bits.

On a board this code runs on the ARM processor and its time per word, not the core, sets the
time of a training step; so a program is built with array operations over all parameter sets
at once (the compiler's ``gate_words``), never one instruction object per gate per set, and
handed to the transports as the uint64 array the DMA buffer takes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qfab_hw import Assembler, CoreParams, ErrorCode
from qfab_hw.program import GATE_ROW_WORDS, LAST_BIT, decode_amplitudes, decode_expectation

from qfab.core.observables import PauliSum
from qfab.backends.fpga.compiler import LoweredCircuit, basis_change, gate_words, measurement_groups, phase_factor

__all__ = ["CoreRun", "FPGAError", "FPGAOverflowError", "Program", "state_program", "expectation_program", "check_run"]


class FPGAError(RuntimeError):
    """The core reported an error, or a transport failed (timeout, missing overlay)."""


class FPGAOverflowError(FPGAError):
    """Saturation happened: the fixed-point result is not trustworthy."""


@dataclass
class CoreRun:
    """What a transport returns: the output beats and the STATUS/CYCLES registers."""

    beats: list[int]
    error: ErrorCode
    overflow: bool
    cycles: int
    seconds: float = 0.0


@dataclass
class Program:
    """``words`` is a uint64 array: what the DMA send buffer holds, copied in without conversion."""

    words: np.ndarray
    beats_expected: int
    decode: object  # callable(beats) -> result
    passes: int  # gate passes per parameter set, for the error estimate


_END = np.array(Assembler().end().words(), dtype=np.uint64)  # no readout before it: just the END word


def _core_qubits(lowered: LoweredCircuit, params: CoreParams) -> int:
    return max(lowered.circuit.num_qubits, params.min_qubits)


def _rows(assembler: Assembler) -> tuple[np.ndarray, np.ndarray]:
    """The assembler's instructions (the same for every set: INIT, basis changes, readouts) as
    rows of the layout :func:`gate_words` uses, so that they interleave with the gates."""
    words = np.zeros((1, len(assembler.instructions), GATE_ROW_WORDS), dtype=np.uint64)
    counts = np.zeros((1, len(assembler.instructions)), dtype=np.int64)
    for row, instruction in enumerate(assembler.instructions):
        encoded = instruction.words()
        words[0, row, : len(encoded)] = encoded
        counts[0, row] = len(encoded)
    return words, counts


def _stream(blocks, sets: int, last_readout: int | None) -> np.ndarray:
    """One program from per-set rows: set 0's rows in block order, then set 1's, ..., then END.

    ``blocks`` are ``(words, counts)`` pairs with 1 or ``sets`` leading rows; a row contributes
    its first ``counts`` words, so a set whose angle removed a pass simply has fewer words. The
    readout in row ``last_readout`` of the last set gets LAST, as ``Assembler.end`` marks the
    final readout, so one DMA receive completes.
    """
    if not blocks or not sets:
        return _END.copy()
    widths = [counts.shape[1] for _, counts in blocks]
    words = np.empty((sets, sum(widths), GATE_ROW_WORDS), dtype=np.uint64)
    counts = np.empty((sets, sum(widths)), dtype=np.int64)
    column = 0
    for (block_words, block_counts), width in zip(blocks, widths):
        words[:, column:column + width], counts[:, column:column + width] = block_words, block_counts
        column += width
    if last_readout is not None:
        words[-1, last_readout, 0] |= np.uint64(1 << LAST_BIT)
    present = np.arange(GATE_ROW_WORDS) < counts[..., None]
    return np.concatenate([words[present], _END])


def state_program(lowered: LoweredCircuit, thetas: np.ndarray, params: CoreParams) -> Program:
    """INIT, gates, READ_STATE per parameter set; decodes to ``(B, 2**n)`` complex amplitudes."""
    n, n_core = lowered.circuit.num_qubits, _core_qubits(lowered, params)
    gate_rows, counts = gate_words(lowered, thetas, params.width)
    blocks = [_rows(Assembler(params.width).init(n_core)), (gate_rows, counts),
              _rows(Assembler(params.width).read_state())]
    words = _stream(blocks, len(thetas), 1 + counts.shape[1])
    passes = int(np.count_nonzero(counts)) // max(len(thetas), 1)

    def decode(beats):
        size = 2**n_core
        states = np.array([decode_amplitudes(beats[b * size:(b + 1) * size], params.width)[: 2**n]
                           for b in range(len(thetas))])
        return states * np.array([phase_factor(lowered, t) for t in thetas])[:, None]

    return Program(words, len(thetas) * 2**n_core, decode, passes)


def expectation_program(lowered: LoweredCircuit, sums: list[PauliSum], thetas: np.ndarray, params: CoreParams) -> Program:
    """Per parameter set and measurement basis: INIT, gates, basis change, one READ_EXPZ per term.

    The reduction happens on chip, so a term costs one beat instead of 2**n amplitudes. The gates
    of a set are bound once and repeated for each basis.
    """
    n_core = _core_qubits(lowered, params)
    groups = measurement_groups(sums, lowered.circuit.num_qubits)
    gate_rows, counts = gate_words(lowered, thetas, params.width)
    init = _rows(Assembler(params.width).init(n_core))
    blocks, rows, last_readout, basis_passes = [], 0, None, 0
    for basis, terms in groups:
        changes, readouts = Assembler(params.width), Assembler(params.width)
        for qubit, rotation in basis_change(basis):
            changes.unitary(rotation, qubit)
        for _, mask, _ in terms:
            if mask:  # the identity term needs no readout: its value is 1
                readouts.expect_z([q for q in range(n_core) if (mask >> q) & 1])
        blocks += [init, (gate_rows, counts), _rows(changes), _rows(readouts)]
        basis_passes += len(changes.instructions)
        rows += 1 + counts.shape[1] + len(changes.instructions) + len(readouts.instructions)
        if readouts.instructions:
            last_readout = rows - 1
    words = _stream(blocks, len(thetas), last_readout)
    terms_per_set = sum(1 for _, terms in groups for _, mask, _ in terms if mask)

    def decode(beats):
        values = np.zeros((len(thetas), len(sums)))
        position = 0
        for b in range(len(thetas)):
            for _, terms in groups:
                for index, mask, coefficient in terms:
                    if not mask:
                        values[b, index] += coefficient
                        continue
                    values[b, index] += coefficient * decode_expectation(beats[position], params.width)
                    position += 1
        return values

    gate_instructions = len(groups) * int(np.count_nonzero(counts)) + len(thetas) * basis_passes
    passes = gate_instructions // max(len(thetas) * len(groups), 1)
    return Program(words, len(thetas) * terms_per_set, decode, passes)


def check_run(run: CoreRun, program: Program, what: str) -> None:
    """Turn the core's flags into errors that name the circuit, and catch lost beats."""
    if run.error != ErrorCode.NONE:
        raise FPGAError(f"the FPGA core rejected the program for {what}: error {run.error.name}")
    if run.overflow:
        raise FPGAOverflowError(f"fixed-point overflow (saturation) while running {what}; the result is not exact")
    if len(run.beats) != program.beats_expected:
        raise FPGAError(f"{what}: expected {program.beats_expected} output beats, got {len(run.beats)}")
