"""Closed-form cycle counts of the core, per instruction, as the cost model uses them.

With no stalls on either stream, the CYCLES register equals the sum of these. A gate pass is
``pairs / lanes`` issue cycles plus the pipeline drain; the core drains between gates so that
the next gate reads what this one wrote.
"""

from __future__ import annotations

from qfab_hw.params import GATE_DRAIN_CYCLES, REDUCE_DRAIN_CYCLES, CoreParams
from qfab_hw.program import COEFFICIENT_WORDS, GATE_OPCODES, Opcode

#: Every instruction spends one cycle accepting its header word.
HEADER_CYCLES = 1


def instruction_cycles(opcode: Opcode, n_qubits: int, params: CoreParams) -> int:
    """Cycles of one instruction on an ``n_qubits`` state (after INIT/LOAD: the new n)."""
    amplitudes = 1 << n_qubits
    bank_rows = amplitudes // params.banks  # one row = one word of every bank
    if opcode == Opcode.END:
        return HEADER_CYCLES
    if opcode == Opcode.INIT:
        return HEADER_CYCLES + bank_rows
    if opcode == Opcode.LOAD:
        return HEADER_CYCLES + amplitudes
    if opcode in GATE_OPCODES:
        pairs = amplitudes // 2
        return (
            HEADER_CYCLES
            + COEFFICIENT_WORDS.get(opcode, 0)
            + pairs // params.lanes
            + GATE_DRAIN_CYCLES
        )
    if opcode in (Opcode.READ_STATE, Opcode.READ_PROBS):
        return HEADER_CYCLES + amplitudes + 1  # one beat per clock plus the memory latency
    if opcode == Opcode.READ_EXPZ:
        return HEADER_CYCLES + bank_rows + REDUCE_DRAIN_CYCLES + 1  # + the result beat
    raise ValueError(f"unknown opcode {opcode!r}")
