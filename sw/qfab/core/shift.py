"""Parameter-shift gradients for any device that evaluates expectation values in batches.

Every rotation occurrence gets a parameter of its own (its angle), so each shifted circuit is
just another row of one batch, which a device runs in one go (one DMA round trip on the FPGA);
the chain rule ``a * dC/dangle`` maps the result back to the user's parameters. Gates whose
generator has eigenvalues {+-1} (or one gap, like P) use the two-term rule; controlled
rotations (gaps 1/2 and 1) the four-term rule of Anselmetti et al. (2021).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from qfab.core.ir import Circuit, Operation, ParamRef
from qfab.core.observables import PauliSum

__all__ = ["parameter_shift", "shift_rule", "angle_circuit"]

_SQRT2 = math.sqrt(2.0)
_TWO_TERM = ((math.pi / 2, 0.5), (-math.pi / 2, -0.5))
_FOUR_TERM = (
    (math.pi / 2, (_SQRT2 + 1) / (4 * _SQRT2)),
    (-math.pi / 2, -(_SQRT2 + 1) / (4 * _SQRT2)),
    (3 * math.pi / 2, -(_SQRT2 - 1) / (4 * _SQRT2)),
    (-3 * math.pi / 2, (_SQRT2 - 1) / (4 * _SQRT2)),
)


def shift_rule(name: str) -> tuple[tuple[float, float], ...]:
    """(shift, weight) pairs with ``dC/dangle = sum weight * C(angle + shift)``."""
    return _FOUR_TERM if name in ("crx", "cry", "crz") else _TWO_TERM


def shifted_circuit_count(circuit: Circuit) -> int:
    """Circuits a parameter-shift gradient of one parameter set evaluates (the unshifted one
    aside): two per rotation occurrence, four per controlled rotation."""
    return sum(len(shift_rule(op.name)) for op in circuit.operations if op.param is not None)


def angle_circuit(circuit: Circuit) -> tuple[Circuit, list[int]]:
    """The circuit with one parameter per rotation occurrence (its angle), and the occurrences."""
    occurrences = [i for i, op in enumerate(circuit.operations) if op.param is not None]
    slot = {op_index: j for j, op_index in enumerate(occurrences)}
    expanded = Circuit(
        num_qubits=circuit.num_qubits,
        operations=tuple(
            Operation(op.name, op.qubits, param=ParamRef(slot[i]), source=op.source) if op.param is not None else op
            for i, op in enumerate(circuit.operations)
        ),
        parameters=tuple(f"angle{j}" for j in range(len(occurrences))),
    )
    return expanded, occurrences


def parameter_shift(
    circuit: Circuit,
    sums: list[PauliSum],
    thetas: np.ndarray,
    expectation: Callable[[Circuit, list[PauliSum], np.ndarray], np.ndarray],
) -> np.ndarray:
    """``(B, K, P)`` gradients; ``expectation(circuit, sums, rows)`` returns ``(rows, K)``."""
    expanded, occurrences = angle_circuit(circuit)
    ops = [circuit.operations[i] for i in occurrences]
    rules = [shift_rule(op.name) for op in ops]
    grads = np.zeros((thetas.shape[0], len(sums), circuit.num_parameters))
    if not occurrences:
        return grads
    rows, weights, owners = [], [], []
    for b, theta in enumerate(thetas):
        angles = np.array([op.param.angle(theta) for op in ops])
        for j, rule in enumerate(rules):
            for shift, weight in rule:
                shifted = angles.copy()
                shifted[j] += shift
                rows.append(shifted)
                weights.append(weight)
                owners.append((b, j))
    values = expectation(expanded, sums, np.array(rows))  # (rows, K)
    for value, weight, (b, j) in zip(values, weights, owners):
        grads[b, :, ops[j].param.index] += ops[j].param.a * weight * value
    return grads
