"""qfab's one parameter-shift rule: the exact gradient from shifted evaluations of the same circuit.

Every rotation is ``U(angle) = exp(-i angle/2 G)`` (:mod:`qfab.core.gates`), so an expectation
value is a trigonometric polynomial in the angle whose frequencies are the gaps ``(g_i - g_j)/2``
of the generator's eigenvalues. The rules are derived here from those spectra, not written per
gate: one gap (RX, RY, RZ, P, RXX, RYY, RZZ, RZX, CP: generators with eigenvalues {+-1} or
{0, -2}) gives the two-term rule ``(C(angle + pi/2) - C(angle - pi/2)) / 2``; the gaps 1/2 and 1
of a controlled rotation (eigenvalues {0, 0, +-1}) give the four-term rule of Anselmetti et al.
(2021) with shifts ``+-pi/2`` and ``+-3 pi/2``. Any spectrum of equidistant gaps would get its
rule the same way (Wierichs et al. 2022), so a new rotation kind needs no code here.

Two ways of shifting, for the two kinds of callers:

* In angle space (:class:`ShiftPlan`): every rotation occurrence gets a parameter of its own (its
  angle ``a * theta[i] + b``), so each shifted circuit is another row of one batch that a device
  runs in one go (one DMA round trip on the FPGA, one PUB on a QPU), and the chain rule
  ``dC/dtheta[i] = sum over the occurrences of i of a * dC/dangle`` maps the results back. This
  is exact for any affine angle and for parameters shared by several gates.
* In parameter space (:func:`shift_parameters`): a circuit parameter that drives exactly one
  rotation is shifted by ``shift / a`` itself, so the circuit (and everything compiled for it) is
  reused as it is. The trainability scans and the QML costs shift a few chosen parameters of a
  large ansatz this way, with no per-occurrence circuit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from qfab.core import gates
from qfab.core.ir import Circuit, Operation, ParamRef
from qfab.core.observables import PauliSum

__all__ = ["ShiftRule", "shift_rule", "shifted_circuit_count", "angle_circuit", "ShiftPlan", "shift_plan",
           "parameter_shift", "ParameterShifts", "shift_parameters"]

#: ``(shift, weight)`` pairs with ``dC/dangle = sum weight * C(angle + shift)``.
ShiftRule = tuple[tuple[float, float], ...]

_DIGITS = 9  # eigenvalue gaps are compared to this many decimals (the generators are exact)


def _frequencies(generator: np.ndarray) -> np.ndarray:
    """The distinct positive frequencies of ``angle -> <U(angle)^dagger H U(angle)>``: the gaps
    ``(g_i - g_j) / 2`` of the generator's eigenvalues."""
    eigenvalues = np.linalg.eigvalsh(generator)
    gaps = np.round(np.abs(eigenvalues[:, None] - eigenvalues[None, :]) / 2, _DIGITS).ravel()
    return np.unique(gaps[gaps > 0])


def _derive_rule(name: str, frequencies: np.ndarray) -> ShiftRule:
    """The ``2R``-term rule for frequencies that are multiples ``1..R`` of a base ``w``.

    With shifts ``s_m = (2m - 1) pi / (2 R w)`` and ``D(s) = C(angle + s) - C(angle - s)``, each
    frequency ``k w`` of ``C`` contributes ``2 sin(k w s) x (its part of dC/dangle) / (k w)`` to
    ``D(s)``; the weights solve ``sum_m 2 x_m sin(k w s_m) = k w`` for every ``k``, so the
    combination ``sum_m x_m D(s_m)`` is the derivative whatever the coefficients of ``C``.
    For one frequency this is the two-term rule, for ``{1/2, 1}`` Anselmetti et al.'s four-term one."""
    if frequencies.size == 0:  # the angle does not act: the derivative is zero, nothing to run
        return ()
    base = frequencies[0]
    multiples = frequencies / base
    if not np.allclose(multiples, np.round(multiples), atol=1e-9):
        raise ValueError(f"rotation {name!r}: frequencies {frequencies.tolist()} are not multiples of one base; "
                         "no equidistant shift rule exists")
    count = int(round(multiples[-1]))
    shifts = (2 * np.arange(1, count + 1) - 1) * math.pi / (2 * count * base)
    ks = np.arange(1, count + 1) * base
    weights = np.linalg.solve(2 * np.sin(ks[:, None] * shifts[None, :]), ks)
    return tuple(term for s, x in zip(shifts, weights) for term in ((float(s), float(x)), (float(-s), float(-x))))


_RULES: dict[str, ShiftRule] = {
    name: _derive_rule(name, _frequencies(kind.generator)) for name, kind in gates.ROTATION_KINDS.items()
}


def shift_rule(name: str) -> ShiftRule:
    """The shift rule of rotation kind ``name`` (derived from its generator): ``(shift, weight)``
    pairs, in ``+s, -s`` pairs, with ``dC/dangle = sum weight * C(angle + shift)``."""
    if name not in _RULES:
        raise ValueError(f"{name!r} is not a rotation qfab can shift; known rotations: {sorted(_RULES)}")
    return _RULES[name]


def shifted_circuit_count(circuit: Circuit) -> int:
    """Circuits a parameter-shift gradient of one parameter set evaluates, the unshifted one
    aside (what cost models price): the terms of every rotation occurrence's rule, two for most,
    four for a controlled rotation."""
    return sum(len(shift_rule(op.name)) for op in circuit.operations if op.param is not None)


def angle_circuit(circuit: Circuit) -> tuple[Circuit, list[int]]:
    """The circuit with one parameter per rotation occurrence (its angle, ``ParamRef(j)``), and the
    positions of those occurrences in ``circuit.operations``."""
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


@dataclass(frozen=True)
class ShiftPlan:
    """How a parameter-shift gradient of a circuit runs in angle space, for any batch.

    ``circuit`` is :func:`angle_circuit` of that circuit (``M`` angle parameters); its angle ``j``
    is ``slope[j] * theta[parameter[j]] + offset[j]``. The ``S`` shifted rows of one parameter set
    move angle ``angle_of_row[s]`` by ``shifts[s]``; ``coefficients[s, i]`` is what the value of
    row ``s`` contributes to ``dC/dtheta[i]`` (rule weight times slope, in the column of the
    angle's parameter), so the gradient is one contraction however the parameters are shared.
    """

    circuit: Circuit
    parameter: np.ndarray  # (M,) int
    slope: np.ndarray  # (M,)
    offset: np.ndarray  # (M,)
    angle_of_row: np.ndarray  # (S,) int
    shifts: np.ndarray  # (S,)
    coefficients: np.ndarray  # (S, P)

    @property
    def num_angles(self) -> int:
        return len(self.parameter)

    @property
    def num_shifted(self) -> int:
        """Shifted rows per parameter set (:func:`shifted_circuit_count` of the circuit)."""
        return len(self.shifts)

    def angles(self, thetas: np.ndarray) -> np.ndarray:
        """``(B, P)`` (or ``(P,)``) circuit parameters -> ``(B, M)`` angles of :attr:`circuit`."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=np.float64))
        return thetas[:, self.parameter] * self.slope + self.offset

    def rows(self, thetas: np.ndarray, unshifted: bool = False) -> np.ndarray:
        """``(B * S, M)`` angle rows of :attr:`circuit`, set by set: the ``S`` shifted circuits of
        each parameter set, one batch for a device. With ``unshifted`` each set's own angles come
        first, ``(B * (1 + S), M)``, so a device that returns values and gradient runs both in one
        batch; reshape its ``(rows, K)`` values to ``(B, [1 +] S, K)``."""
        angles = self.angles(thetas)
        rows = np.repeat(angles[:, None, :], self.num_shifted, axis=1)
        rows[:, np.arange(self.num_shifted), self.angle_of_row] += self.shifts
        if unshifted:
            rows = np.concatenate([angles[:, None, :], rows], axis=1)
        return rows.reshape(rows.shape[0] * rows.shape[1], self.num_angles)

    def gradients(self, values: np.ndarray) -> np.ndarray:
        """``(B, S, K)`` values of the shifted :meth:`rows` -> ``(B, K, P)`` gradients by the circuit's
        own parameters."""
        return np.einsum("bsk,sp->bkp", values, self.coefficients)

    def gradient_stds(self, stds: np.ndarray) -> np.ndarray:
        """``(B, S, K)`` standard errors of independent estimates of the rows -> ``(B, K, P)``
        standard errors of :meth:`gradients` (variances add with the coefficients squared)."""
        return np.sqrt(np.einsum("bsk,sp->bkp", np.square(stds), np.square(self.coefficients)))


def shift_plan(circuit: Circuit) -> ShiftPlan:
    """The :class:`ShiftPlan` of ``circuit``, built once per circuit object (kept on it, like the
    compiled programs, so the angle circuit a device compiles for is the same object each call)."""
    cache = circuit.__dict__.setdefault("_qfab_shift_plan", {})
    if "plan" not in cache:
        expanded, occurrences = angle_circuit(circuit)
        refs = [circuit.operations[i].param for i in occurrences]
        angle_of_row, shifts, coefficients = [], [], []
        for j, i in enumerate(occurrences):
            for shift, weight in shift_rule(circuit.operations[i].name):
                column = np.zeros(circuit.num_parameters)
                column[refs[j].index] = refs[j].a * weight
                angle_of_row.append(j)
                shifts.append(shift)
                coefficients.append(column)
        cache["plan"] = ShiftPlan(
            circuit=expanded,
            parameter=np.array([r.index for r in refs], dtype=np.int64),
            slope=np.array([r.a for r in refs], dtype=np.float64),
            offset=np.array([r.b for r in refs], dtype=np.float64),
            angle_of_row=np.array(angle_of_row, dtype=np.int64),
            shifts=np.array(shifts, dtype=np.float64),
            coefficients=np.array(coefficients, dtype=np.float64).reshape(len(shifts), circuit.num_parameters),
        )
    return cache["plan"]


def parameter_shift(
    circuit: Circuit,
    sums: list[PauliSum],
    thetas: np.ndarray,
    expectation: Callable[[Circuit, list[PauliSum], np.ndarray], np.ndarray],
) -> np.ndarray:
    """``(B, K, P)`` gradients of ``sums`` at every row of ``thetas`` by the shift rule, with all
    shifted circuits in one call of ``expectation(angle circuit, sums, rows)`` (``(rows, K)``)."""
    plan = shift_plan(circuit)
    thetas = np.atleast_2d(thetas)
    if plan.num_shifted == 0:
        return np.zeros((len(thetas), len(sums), circuit.num_parameters))
    values = expectation(plan.circuit, sums, plan.rows(thetas))
    return plan.gradients(np.asarray(values).reshape(len(thetas), plan.num_shifted, len(sums)))


@dataclass(frozen=True)
class ParameterShifts:
    """Shifted copies of parameter rows for ``k`` chosen circuit parameters (see :func:`shift_parameters`).

    ``rows[s]`` is the batch with one chosen parameter moved (slot ``slots[s]``), and
    ``weights[s, b]`` its weight in that slot's derivative at set ``b``; a rule shorter than its
    slot's longest (columns of different rotation kinds in one slot) is padded with unshifted,
    zero-weight rows, so every slot has the same rows for every set and all fit in one batch.
    """

    rows: np.ndarray  # (S, B, P)
    weights: np.ndarray  # (S, B)
    slots: np.ndarray  # (S,) int
    num_slots: int

    def gradients(self, values: np.ndarray) -> np.ndarray:
        """``(S, B, ...)`` values at :attr:`rows` -> ``(B, k, ...)`` derivatives by the chosen parameters."""
        values = np.asarray(values)
        weighted = self.weights.reshape(self.weights.shape + (1,) * (values.ndim - 2)) * values
        out = np.zeros((self.num_slots,) + values.shape[1:])
        np.add.at(out, self.slots, weighted)
        return np.moveaxis(out, 0, 1)


def shift_parameters(circuit: Circuit, params: np.ndarray, columns) -> ParameterShifts:
    """Shift chosen circuit parameters themselves: ``columns`` is ``(B, k)`` (the parameter each of
    ``k`` slots differentiates, per set: a sampled ansatz may use another column per set) or
    ``(k,)`` for every set. Each such parameter must drive exactly one rotation, with a nonzero
    slope ``a``; its rule moves it by ``shift / a`` with weight ``a * weight``.

    Raises ``ValueError`` naming the parameter otherwise (callers fall back to the adjoint or to
    :class:`ShiftPlan`, which has no such condition)."""
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    columns = np.asarray(columns, dtype=np.int64)
    if columns.ndim == 1:
        columns = np.broadcast_to(columns, (len(params), len(columns)))
    rules = {int(c): _parameter_rule(circuit, int(c)) for c in np.unique(columns)}
    batch = np.arange(len(params))
    rows, weights, slots = [], [], []
    for slot in range(columns.shape[1]):
        column = columns[:, slot]
        for term in range(max((len(rules[int(c)]) for c in column), default=0)):
            shift = np.array([rules[int(c)][term][0] if term < len(rules[int(c)]) else 0.0 for c in column])
            weight = np.array([rules[int(c)][term][1] if term < len(rules[int(c)]) else 0.0 for c in column])
            moved = params.copy()
            moved[batch, column] += shift
            rows.append(moved)
            weights.append(weight)
            slots.append(slot)
    return ParameterShifts(
        rows=np.array(rows).reshape(len(rows), len(params), params.shape[1]),
        weights=np.array(weights).reshape(len(rows), len(params)),
        slots=np.array(slots, dtype=np.int64), num_slots=columns.shape[1],
    )


def _parameter_rule(circuit: Circuit, index: int) -> ShiftRule:
    """The rule of the one rotation parameter ``index`` drives, in parameter space."""
    uses = [op for op in circuit.operations if op.param is not None and op.param.index == index]
    if len(uses) != 1 or uses[0].param.a == 0:
        what = f"drives {[op.name for op in uses]}" if len(uses) != 1 else "enters its rotation with slope 0"
        raise ValueError(f"parameter {circuit.parameters[index]!r} {what}; shifting a circuit parameter needs "
                         "it in exactly one rotation with a nonzero slope")
    slope = uses[0].param.a
    return tuple((shift / slope, slope * weight) for shift, weight in shift_rule(uses[0].name))
