"""qfab's exact gradients as qiskit-machine-learning gradients: ``QfabEstimatorGradient``
(a ``BaseEstimatorGradient``) and ``QfabSamplerGradient`` (a ``BaseSamplerGradient``).

The default gradients of ``EstimatorQNN`` and ``SamplerQNN`` are parameter shift on the
primitive's *sampled* results: two evaluations per parameter occurrence, each with shot noise.
The estimator gradient here gets all of them from one forward and one backward pass over the
state vector (the adjoint), exactly, for every parameter row at once; the sampler gradient
differentiates the exact outcome probabilities by the shift rule, every shifted circuit of every
row in one qfab batch of state vectors.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.providers import Options
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.gradients import (BaseEstimatorGradient, BaseSamplerGradient, EstimatorGradientResult,
                                               SamplerGradientResult)

from qfab.backends import Job, best_gradient_method
from qfab.core.gates import ROTATION_KINDS
from qfab.core.observables import PauliSum
from qfab.core.shift import shift_plan
from qfab.qiskit.pubs import run_jobs, translated
from qfab.qiskit.estimator import EstimatorV2
from qfab.qiskit.sampler import SamplerV2

__all__ = ["QfabEstimatorGradient", "QfabSamplerGradient"]


class QfabEstimatorGradient(BaseEstimatorGradient):
    """d<O>/dθ by the device's best method (qfab's adjoint on the CPU), for
    ``EstimatorQNN(gradient=...)``.

    Args:
        estimator: the qfab estimator whose device the gradients run on (a new
            ``qfab.qiskit.EstimatorV2``, ``device="auto"``, by default).
        device: overrides the estimator's device.
        method: ``"best"`` (the device's best method, ``qfab.backends.best_gradient_method``: the
            adjoint wherever it has one), ``"adjoint"`` or ``"parameter-shift"``.
    """

    SUPPORTED_GATES = sorted(ROTATION_KINDS)

    def __init__(self, estimator: EstimatorV2 | None = None, device=None, options: Options | None = None,
                 method: str = "best"):
        estimator = estimator if estimator is not None else EstimatorV2()
        super().__init__(estimator, options=options)
        self.device = device if device is not None else getattr(estimator, "device", "auto")
        if method not in ("best", "adjoint", "parameter-shift"):
            raise ValueError(f"unknown gradient method {method!r}; use 'best', 'adjoint' or 'parameter-shift'")
        self.method = best_gradient_method(self.device) if method == "best" else method

    def _run(
        self,
        circuits: Sequence[QuantumCircuit],
        observables,
        parameter_values,
        parameters: Sequence[Sequence[Parameter]],
        **options,
    ) -> EstimatorGradientResult:
        # The base class rewrites each circuit so that every gate angle is a parameter of its
        # own (translating gates outside qfab's rotations first), and its _postprocess applies
        # the chain rule back to the user's parameters; qfab differentiates the rewritten one.
        g_circuits, g_values, g_parameters = self._preprocess(circuits, parameter_values, parameters,
                                                              self.SUPPORTED_GATES)
        # Rows of the same circuit (qiskit-machine-learning sends one per sample and observable)
        # run as one batched job over the distinct observables.
        gradients: list[np.ndarray | None] = [None] * len(g_circuits)
        jobs, readouts = [], []
        for positions in _rows_by_circuit(g_circuits).values():
            circuit = g_circuits[positions[0]]
            index = {p: i for i, p in enumerate(circuit.parameters)}
            operators: dict[tuple, int] = {}
            slots = []
            for position in positions:
                operator = observables[position]
                if not isinstance(operator, SparsePauliOp):
                    operator = SparsePauliOp.from_operator(operator)
                key = tuple(operator.to_list())
                slot = operators.setdefault(key, len(operators))
                slots.append((position, slot, [index[p] for p in g_parameters[position]], operator))
            sums = [None] * len(operators)
            for _, slot, _, operator in slots:
                sums[slot] = PauliSum.from_sparse_pauli_op(operator)
            values = np.array([np.asarray(g_values[p], dtype=np.float64) for p in positions]).reshape(
                len(positions), circuit.num_parameters)
            jobs.append(Job(translated(circuit), values, tuple(sums), gradient=self.method))
            readouts.append(slots)
        for result, slots in zip(run_jobs(self.device, jobs), readouts):
            table = np.asarray(result.gradients)  # (rows, observables, parameters)
            for row, (position, slot, columns, _) in enumerate(slots):
                gradients[position] = table[row, slot, columns]
        raw = EstimatorGradientResult(gradients=gradients, metadata=[{} for _ in gradients],
                                      options=Options(**options))
        return self._postprocess(raw, circuits, parameter_values, parameters)


def _rows_by_circuit(circuits) -> dict[int, list[int]]:
    """Positions of each distinct circuit object (qiskit-machine-learning sends one row per
    sample, all of the same circuit), so that each runs as one batch."""
    groups: dict[int, list[int]] = defaultdict(list)
    for position, circuit in enumerate(circuits):
        groups[id(circuit)].append(position)
    return groups


def outcome_keys(circuit) -> tuple[np.ndarray, int]:
    """For a qfab circuit: each basis state's classical outcome (the clbits its measurements
    write, as an integer, clbit 0 least significant: Qiskit's order) and how many outcomes there
    are; a circuit without measurements is measured on every qubit (as ``SamplerV2``)."""
    pairs = ([(m.qubit, m.clbit) for m in circuit.measurements] if circuit.measurements
             else [(q, q) for q in range(circuit.num_qubits)])
    width = circuit.num_clbits if circuit.measurements else circuit.num_qubits
    indices = np.arange(2**circuit.num_qubits)
    keys = np.zeros_like(indices)
    for qubit, clbit in pairs:
        keys |= ((indices >> qubit) & 1) << clbit
    return keys, 2**width


class QfabSamplerGradient(BaseSamplerGradient):
    """d p(x)/dθ of a sampler circuit's outcome probabilities, exactly, for
    ``SamplerQNN(gradient=...)`` and ``VQC``.

    The shift rule on exact probabilities (state vectors, no shots): the base class gives each
    gate angle a parameter of its own and applies the chain rule back; qfab runs every shifted
    circuit of every parameter row of a circuit as one batch on the device. The gradients are
    dicts {outcome: dp} per parameter, as qiskit-machine-learning's own sampler gradients give.

    Args:
        sampler: the qfab sampler whose device the gradients run on (a new
            ``qfab.qiskit.SamplerV2``, ``device="auto"``, by default).
        device: overrides the sampler's device.
    """

    SUPPORTED_GATES = sorted(ROTATION_KINDS)

    def __init__(self, sampler: SamplerV2 | None = None, device=None, options: Options | None = None):
        sampler = sampler if sampler is not None else SamplerV2()
        super().__init__(sampler, options=options)
        self.device = device if device is not None else getattr(sampler, "device", "auto")

    def _run(
        self,
        circuits: Sequence[QuantumCircuit],
        parameter_values,
        parameters: Sequence[Sequence[Parameter]],
        **options,
    ) -> SamplerGradientResult:
        g_circuits, g_values, g_parameters = self._preprocess(circuits, parameter_values, parameters,
                                                              self.SUPPORTED_GATES)
        gradients: list[list[dict[int, float]] | None] = [None] * len(g_circuits)
        jobs, readouts = [], []
        for positions in _rows_by_circuit(g_circuits).values():
            circuit = translated(g_circuits[positions[0]])
            plan = shift_plan(circuit)
            values = np.array([np.asarray(g_values[p], dtype=np.float64) for p in positions]).reshape(
                len(positions), circuit.num_parameters)
            jobs.append(Job(plan.circuit, plan.rows(values), want_state=True))
            readouts.append((positions, circuit, plan))
        for result, (positions, circuit, plan) in zip(run_jobs(self.device, jobs), readouts):
            keys, outcomes = outcome_keys(circuit)
            probabilities = np.abs(np.asarray(result.states)) ** 2  # (rows * S, 2**n)
            by_outcome = np.zeros((len(probabilities), outcomes))
            np.add.at(by_outcome, (slice(None), keys), probabilities)
            table = plan.gradients(by_outcome.reshape(len(positions), plan.num_shifted, outcomes))  # (rows, K, P)
            index = {p: i for i, p in enumerate(g_circuits[positions[0]].parameters)}
            for row, position in enumerate(positions):
                columns = [index[p] for p in g_parameters[position]]
                gradients[position] = [dict(enumerate(table[row, :, column].tolist())) for column in columns]
        raw = SamplerGradientResult(gradients=gradients, metadata=[{"parameters": p} for p in g_parameters],
                                    options=Options(**options))
        return self._postprocess(raw, circuits, parameter_values, parameters)
