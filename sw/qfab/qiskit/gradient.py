"""qfab's adjoint gradients as a qiskit-machine-learning ``BaseEstimatorGradient``.

The default gradient of ``EstimatorQNN`` is parameter shift: two estimator evaluations per
parameter occurrence. The adjoint method gets all of them from one forward and one backward
pass over the state vector, exactly, for every parameter row at once.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.providers import Options
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.gradients import BaseEstimatorGradient, EstimatorGradientResult

from qfab.backends import Job, best_gradient_method
from qfab.core.gates import ROTATION_KINDS
from qfab.core.observables import PauliSum
from qfab.qiskit.pubs import run_jobs, translated
from qfab.qiskit.estimator import EstimatorV2

__all__ = ["QfabEstimatorGradient"]


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
        groups: dict[int, list[int]] = defaultdict(list)
        for position, circuit in enumerate(g_circuits):
            groups[id(circuit)].append(position)
        gradients: list[np.ndarray | None] = [None] * len(g_circuits)
        jobs, readouts = [], []
        for positions in groups.values():
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
