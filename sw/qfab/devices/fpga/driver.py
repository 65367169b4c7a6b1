"""The FPGA driver, written once and free of I/O.

It turns work into one gate program (every parameter set and every measurement group in one
word stream, so a batch or a whole parameter-shift gradient is one DMA round trip), and turns
the beats that come back into numbers. Transports (``transports.py``) only move words and read
registers; the model, the Verilator simulation and a PYNQ board therefore run the same bits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qfab_hw import Assembler, CoreParams, ErrorCode
from qfab_hw.program import decode_amplitudes, decode_expectation

from ...observables import PauliSum
from .compiler import LoweredCircuit, assemble, basis_change, measurement_groups, phase_factor

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
    words: list[int]
    beats_expected: int
    decode: object  # callable(beats) -> result
    passes: int  # gate passes per parameter set, for the error estimate


def _core_qubits(lowered: LoweredCircuit, params: CoreParams) -> int:
    return max(lowered.circuit.num_qubits, params.min_qubits)


def state_program(lowered: LoweredCircuit, thetas: np.ndarray, params: CoreParams) -> Program:
    """INIT, gates, READ_STATE per parameter set; decodes to ``(B, 2**n)`` complex amplitudes."""
    n, n_core = lowered.circuit.num_qubits, _core_qubits(lowered, params)
    assembler = Assembler(params.width)
    for theta in thetas:
        assembler.init(n_core)
        assemble(lowered, theta, assembler)
        assembler.read_state()
    passes = (len(assembler.instructions) - 2 * len(thetas)) // max(len(thetas), 1)
    words = assembler.end().words()

    def decode(beats):
        size = 2**n_core
        states = np.array([decode_amplitudes(beats[b * size:(b + 1) * size], params.width)[: 2**n]
                           for b in range(len(thetas))])
        return states * np.array([phase_factor(lowered, t) for t in thetas])[:, None]

    return Program(words, len(thetas) * 2**n_core, decode, passes)


def expectation_program(lowered: LoweredCircuit, sums: list[PauliSum], thetas: np.ndarray, params: CoreParams) -> Program:
    """Per parameter set and measurement basis: INIT, gates, basis change, one READ_EXPZ per term.

    The reduction happens on chip, so a term costs one beat instead of 2**n amplitudes.
    """
    n_core = _core_qubits(lowered, params)
    groups = measurement_groups(sums, lowered.circuit.num_qubits)
    assembler = Assembler(params.width)
    gate_instructions = 0
    for theta in thetas:
        for basis, terms in groups:
            assembler.init(n_core)
            before = len(assembler.instructions)
            assemble(lowered, theta, assembler)
            for qubit, rotation in basis_change(basis):
                assembler.unitary(rotation, qubit)
            gate_instructions += len(assembler.instructions) - before
            for _, mask, _ in terms:
                if mask:  # the identity term needs no readout: its value is 1
                    assembler.expect_z([q for q in range(n_core) if (mask >> q) & 1])
    words = assembler.end().words()
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
