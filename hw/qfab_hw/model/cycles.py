"""Closed-form cycle counts of the core, per instruction, as the cost model uses them.

With no stalls on either stream, the CYCLES register equals the sum of these. A gate pass is
``pairs / lanes`` issue cycles plus the pipeline drain; the core drains between gates so that
the next gate reads what this one wrote.

v2 (hw/README.md, "Instruction set v2"): :func:`instruction_cycles` also covers GATE_ROT and OBS
as they run inside a replay; :func:`load_params_cycles`, :func:`program_cycles` and
:func:`run_cycles` give LOAD_PARAMS, PROGRAM and RUN / RUN_SHIFT / RUN_ADJOINT as functions of
their counts and of the stored program.
"""

from __future__ import annotations

from qfab_hw.params import (
    GATE_DRAIN_CYCLES,
    GRAD_EMIT_CYCLES,
    GRAD_UPDATE_CYCLES,
    MEMORY_READ_LATENCY,
    OBS_DRAIN_CYCLES,
    REDUCE_DRAIN_CYCLES,
    SHIFT_MAC_CYCLES,
    CoreParams,
)
from qfab_hw.program import (
    COEFFICIENT_WORDS,
    GATE_OPCODES,
    PROGRAM_GATE_OPCODES,
    READ_OPCODES,
    Instruction,
    Opcode,
    RotationKind,
    param_payload_words,
)

#: Every instruction spends one cycle accepting its header word.
HEADER_CYCLES = 1
#: The words of GATE_ROT's and OBS's payload (one 64-bit word each).
ROT_PAYLOAD_WORDS = OBS_PAYLOAD_WORDS = 1

#: Replay modes: RUN, RUN_SHIFT, RUN_ADJOINT.
MODES = {Opcode.RUN: "run", Opcode.RUN_SHIFT: "shift", Opcode.RUN_ADJOINT: "adjoint"}


def rotation_setup_cycles(params: CoreParams) -> int:
    """R_s (:attr:`CoreParams.rotation_setup_cycles`, 10): parameter-memory read, the affine
    angle, the sin/cos unit, the coefficient load."""
    return params.rotation_setup_cycles


def gate_pass_cycles(n_qubits: int, params: CoreParams) -> int:
    """Issue cycles of one pass over the state: 2**(n-1) pairs over the lanes."""
    return (1 << n_qubits) // 2 // params.lanes


def instruction_cycles(opcode: Opcode, n_qubits: int, params: CoreParams) -> int:
    """Cycles of one instruction on an ``n_qubits`` state (after INIT/LOAD: the new n);
    GATE_ROT and OBS as they run inside a replay."""
    amplitudes = 1 << n_qubits
    bank_rows = amplitudes // params.banks  # one row = one word of every bank
    if opcode == Opcode.END:
        return HEADER_CYCLES
    if opcode == Opcode.INIT:
        return HEADER_CYCLES + bank_rows
    if opcode == Opcode.LOAD:
        return HEADER_CYCLES + amplitudes
    if opcode in GATE_OPCODES:
        return (
            HEADER_CYCLES
            + COEFFICIENT_WORDS.get(opcode, 0)
            + gate_pass_cycles(n_qubits, params)
            + GATE_DRAIN_CYCLES
        )
    if opcode == Opcode.GATE_ROT:
        return (HEADER_CYCLES + ROT_PAYLOAD_WORDS + rotation_setup_cycles(params)
                + gate_pass_cycles(n_qubits, params) + GATE_DRAIN_CYCLES)
    if opcode == Opcode.OBS:
        return HEADER_CYCLES + OBS_PAYLOAD_WORDS + gate_pass_cycles(n_qubits, params) + OBS_DRAIN_CYCLES
    if opcode in (Opcode.READ_STATE, Opcode.READ_PROBS):
        return HEADER_CYCLES + amplitudes + MEMORY_READ_LATENCY  # one beat per clock after the read
    if opcode == Opcode.READ_EXPZ:
        return HEADER_CYCLES + bank_rows + REDUCE_DRAIN_CYCLES + 1  # + the result beat
    if opcode in (Opcode.LOAD_PARAMS, Opcode.PROGRAM) or opcode in MODES:
        raise ValueError(f"{Opcode(opcode).name} depends on its counts: use load_params_cycles, "
                         "program_cycles or run_cycles")
    raise ValueError(f"unknown opcode {opcode!r}")


def load_params_cycles(params_per_set: int, sets: int) -> int:
    """LOAD_PARAMS: the header, then one payload word (two angles) per clock."""
    return HEADER_CYCLES + param_payload_words(params_per_set, sets)


def program_cycles(words: int) -> int:
    """PROGRAM of N words: the header, then one stored word per clock."""
    return HEADER_CYCLES + words


def stored_instructions(program) -> list[Instruction]:
    """A stored program's instructions from an Assembler body or an instruction list, with its
    END (appended if missing, as :meth:`Assembler.program` does)."""
    instructions = list(getattr(program, "instructions", program))
    if not instructions or instructions[-1].opcode != Opcode.END:
        instructions.append(Instruction(Opcode.END))
    return instructions


def _program_qubits(instructions) -> int:
    for instruction in instructions:
        if instruction.opcode == Opcode.INIT:
            return instruction.target
    raise ValueError("a stored program starts with INIT")


def shift_terms(instruction: Instruction) -> int:
    """Shifted replays RUN_SHIFT spends on one GATE_ROT: 4 for controlled RX/RY/RZ, else 2."""
    controlled = instruction.control is not None
    return 4 if controlled and instruction.kind != RotationKind.P else 2


def replay_cycles(program, params: CoreParams, mode: str = "run") -> int:
    """One replay of the stored program: every instruction's cycles in program order.

    ``mode`` "run": READ_* as in v1 and, with OBS terms, one more cycle at END for the value
    beat; "shift" / "adjoint" (the forward replay R_fwd): READ_* skipped at 1 cycle each."""
    instructions = stored_instructions(program)
    n = _program_qubits(instructions)
    has_obs = any(ins.opcode == Opcode.OBS for ins in instructions)
    total = 0
    for ins in instructions:
        if ins.opcode in READ_OPCODES and mode != "run":
            total += HEADER_CYCLES
        elif ins.opcode == Opcode.END:
            total += HEADER_CYCLES + int(mode == "run" and has_obs)
        else:
            total += instruction_cycles(ins.opcode, n, params)
    return total


def backward_cycles(program, params: CoreParams) -> int:
    """RUN_ADJOINT's backward sweep for one set: per gate (last to first) its words re-fetched,
    the rotation setup for GATE_ROT, bank A then bank B (2 passes, one drain). A rotation's
    Im<lambda|G|psi> is reduced from the pairs the bank-A pass reads and its gradient update is
    issued in the drain (the fused schedule), so it costs no cycles of its own."""
    instructions = stored_instructions(program)
    n = _program_qubits(instructions)
    passes = gate_pass_cycles(n, params)
    total = 0
    for ins in instructions:
        if ins.opcode not in PROGRAM_GATE_OPCODES:
            continue
        total += ins.word_count + 2 * passes + GATE_DRAIN_CYCLES
        if ins.opcode == Opcode.GATE_ROT:
            total += rotation_setup_cycles(params)
    return total


def set_cycles(opcode: Opcode, program, params: CoreParams, param_count: int) -> int:
    """Cycles RUN / RUN_SHIFT / RUN_ADJOINT spend on one parameter set (P = ``param_count``,
    the loaded parameters per set)."""
    opcode = Opcode(opcode)
    instructions = stored_instructions(program)
    if opcode == Opcode.RUN:
        return replay_cycles(instructions, params, "run")
    forward = replay_cycles(instructions, params, MODES[opcode])
    rotations = [ins for ins in instructions if ins.opcode == Opcode.GATE_ROT]
    output = 1 + param_count  # the value beat, then one gradient beat per parameter
    if opcode == Opcode.RUN_SHIFT:
        shifted = sum(shift_terms(ins) for ins in rotations)
        landing = GRAD_EMIT_CYCLES - 1 if rotations else 0  # the last update, before the beats
        return ((1 + shifted) * forward + shifted * SHIFT_MAC_CYCLES
                + len(rotations) * GRAD_UPDATE_CYCLES + landing + output)
    return forward + backward_cycles(instructions, params) + GRAD_EMIT_CYCLES + output


def run_cycles(opcode: Opcode, program, params: CoreParams, count: int, param_count: int) -> int:
    """Cycles of one RUN* instruction over ``count`` sets."""
    return HEADER_CYCLES + count * set_cycles(opcode, program, params, param_count)
