"""Model of the instruction memory and the sequencer's record of the stored program.

PROGRAM writes its N words into the instruction memory while the decoder checks each stored
instruction (:func:`~qfab_hw.program.header_error` with a storing
:class:`~qfab_hw.program.DecoderContext`). Meanwhile the sequencer records what RUN* need at
their header: n (from the INIT), P_prog = 1 + the largest GATE_ROT index, the OBS count, the
lambda scale exponent k, and the start address of every gate (the backward sweep of RUN_ADJOINT
walks that table from the end).
"""

from __future__ import annotations

from dataclasses import dataclass

from qfab_hw.params import OBS_FRAC_BITS, CoreParams
from qfab_hw.program import (
    PROGRAM_GATE_OPCODES,
    DecoderContext,
    Instruction,
    Opcode,
)
from qfab_hw.fixed import sign_extend


def obs_scale_shift(weights) -> int:
    """k = max(0, bitlen(S - 1) - 24), S = sum |c_j| (Q8.24 integers): the smallest k >= 0 with
    S <= 2**(24 + k), so that lambda = O psi / 2**k stays within the Q2.F range."""
    total = sum(abs(int(w)) for w in weights)
    if total <= 1:
        return 0
    return max(0, (total - 1).bit_length() - OBS_FRAC_BITS)


@dataclass(frozen=True)
class StoredProgram:
    """The valid content of the instruction memory, decoded."""

    instructions: tuple[Instruction, ...]
    n_qubits: int
    words: int

    @property
    def gate_positions(self) -> tuple[int, ...]:
        return tuple(p for p, ins in enumerate(self.instructions) if ins.opcode in PROGRAM_GATE_OPCODES)

    @property
    def rotation_positions(self) -> tuple[int, ...]:
        return tuple(p for p, ins in enumerate(self.instructions) if ins.opcode == Opcode.GATE_ROT)

    @property
    def observables(self) -> tuple[Instruction, ...]:
        return tuple(ins for ins in self.instructions if ins.opcode == Opcode.OBS)

    @property
    def weights(self) -> tuple[int, ...]:
        """The OBS weights as signed Q8.24 integers."""
        return tuple(sign_extend(ins.data[0], 32) for ins in self.observables)

    @property
    def param_count(self) -> int:
        """P_prog: 1 + the largest parameter index (0 without rotations)."""
        return 1 + max((ins.param for ins in self.instructions if ins.opcode == Opcode.GATE_ROT), default=-1)

    @property
    def obs_shift(self) -> int:
        return obs_scale_shift(self.weights)


class ProgramBuilder:
    """The decoder/sequencer state while a PROGRAM body of ``words`` words streams in."""

    def __init__(self, params: CoreParams, words: int):
        self.params = params
        self.words = words
        self.words_left = words
        self.instructions: list[Instruction] = []
        self.n_qubits = 0
        self.observing = False

    def context(self) -> DecoderContext:
        return DecoderContext(storing=True, words_left=self.words_left,
                              program_started=bool(self.instructions), observing=self.observing)

    def add(self, instruction: Instruction) -> None:
        """Store one instruction that passed the decoder."""
        if instruction.opcode == Opcode.INIT:
            self.n_qubits = instruction.target
        if instruction.opcode == Opcode.OBS:
            self.observing = True
        self.instructions.append(instruction)
        self.words_left -= instruction.word_count

    def finish(self) -> StoredProgram:
        assert self.words_left == 0 and self.instructions[-1].opcode == Opcode.END
        return StoredProgram(tuple(self.instructions), self.n_qubits, self.words)
