"""Host words, output beats and core cycles of one training step with a resident program.

A step is ``LOAD_PARAMS (B x P) ; RUN* 0, B ; END`` on a program already in the instruction
memory (``include_program`` adds its PROGRAM words and cycles, paid once per circuit structure).
The driver and the cost model use :func:`step_cost` to plan and to compare with v1, where every
set and every shifted angle is a bound circuit of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from qfab_hw.model.cycles import (
    HEADER_CYCLES,
    load_params_cycles,
    program_cycles,
    run_cycles,
    stored_instructions,
)
from qfab_hw.params import CoreParams
from qfab_hw.program import Opcode, param_payload_words

_MODES = {"values": Opcode.RUN, "run": Opcode.RUN, "shift": Opcode.RUN_SHIFT, "adjoint": Opcode.RUN_ADJOINT}


@dataclass(frozen=True)
class StepCost:
    mode: str
    sets: int
    param_count: int
    program_words: int  #: PROGRAM header + stored words (once per circuit structure)
    param_words: int  #: LOAD_PARAMS header + payload
    run_words: int  #: the RUN* header and the packet's END
    beats: int  #: output beats of the step
    program_cycles: int  #: PROGRAM
    step_cycles: int  #: LOAD_PARAMS + RUN* + END

    @property
    def host_words(self) -> int:
        """Words per step with the program re-sent (an upper bound)."""
        return self.program_words + self.param_words + self.run_words

    @property
    def resident_words(self) -> int:
        """Words per step while the program stays resident."""
        return self.param_words + self.run_words

    @property
    def cycles(self) -> int:
        return self.program_cycles + self.step_cycles


def readout_beats(program, param_count: int, mode: str) -> int:
    """Output beats of one set."""
    if _MODES[mode] != Opcode.RUN:
        return 1 + param_count
    instructions = stored_instructions(program)
    n = next(ins.target for ins in instructions if ins.opcode == Opcode.INIT)
    beats = 0
    for ins in instructions:
        if ins.opcode in (Opcode.READ_STATE, Opcode.READ_PROBS):
            beats += 1 << n
        elif ins.opcode == Opcode.READ_EXPZ:
            beats += 1
    return beats + int(any(ins.opcode == Opcode.OBS for ins in instructions))


def step_cost(program, params: CoreParams, sets: int, param_count: int | None = None,
              mode: str = "adjoint") -> StepCost:
    """What one step of ``sets`` parameter sets costs on a ``params`` build.

    ``program``: the stored program (an :class:`~qfab_hw.program.Assembler` body or its
    instructions, from INIT; END optional); ``param_count``: P per set (default: the program's
    1 + largest parameter index); ``mode``: "values" (RUN), "shift" (RUN_SHIFT) or "adjoint"
    (RUN_ADJOINT). Raises ``ValueError`` for a step the core would refuse (the error code it
    would report is named)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, not {mode!r}")
    opcode = _MODES[mode]
    instructions = stored_instructions(program)
    program_params = 1 + max((ins.param for ins in instructions if ins.opcode == Opcode.GATE_ROT), default=-1)
    count = program_params if param_count is None else param_count
    stored = sum(ins.word_count for ins in instructions)
    if opcode == Opcode.RUN_ADJOINT and not params.adjoint:
        raise ValueError("NO_ADJOINT: this build has no second state bank; use mode='shift'")
    if opcode != Opcode.RUN and not any(ins.opcode == Opcode.OBS for ins in instructions):
        raise ValueError("NO_OBSERVABLE: gradients need OBS terms in the program")
    if stored > params.program_depth:
        raise ValueError(f"PROGRAM_TOO_LONG: {stored} words > program_depth {params.program_depth}")
    if not 1 <= count <= params.max_params or count < program_params:
        raise ValueError(f"BAD_PARAM: P = {count} (program needs {program_params}, build max {params.max_params})")
    if not 1 <= sets or sets * count > params.param_depth:
        raise ValueError(f"BAD_SET: {sets} sets x {count} > param_depth {params.param_depth}")
    return StepCost(
        mode=mode,
        sets=sets,
        param_count=count,
        program_words=1 + stored,
        param_words=1 + param_payload_words(count, sets),
        run_words=2,
        beats=sets * readout_beats(instructions, count, mode),
        program_cycles=program_cycles(stored),
        step_cycles=(load_params_cycles(count, sets) + run_cycles(opcode, instructions, params, sets, count)
                     + HEADER_CYCLES),
    )
