"""What a trainability scan measures: sampled gradient variances per cell, and the fits made to them.

These are the data that :mod:`qfab.qml.trainability` produces and :mod:`qfab.qml.report` draws;
they live here, below both, so that the report reads results without knowing how they were
sampled and the scan writes its report without an import circle.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["STATIONARY_VARIANCE", "VariancePoint", "DecayFit", "ScanResult", "fit_decay"]

#: Gradient variances below this are round-off: the initial point is stationary, not on a plateau.
STATIONARY_VARIANCE = 1e-20


@dataclass
class VariancePoint:
    """One (ansatz, cost, init, n, L) cell: the sampled variance of the chosen parameters' gradients."""

    ansatz: str
    cost: str
    init: str
    num_qubits: int
    layers: int
    samples: int
    parameters: list[int]
    variance: float  # mean over the chosen parameters of each one's variance
    interval: tuple[float, float]  # bootstrap confidence interval of ``variance``
    per_parameter: list[float]
    mean_gradient: float
    loss_variance: float
    two_design: float | None
    lie: float | None
    lie_dimension: int | None
    seconds: float


@dataclass
class DecayFit:
    """``Var ~ prefactor * base**n``, with a confidence interval of the base from the regression."""

    base: float
    interval: tuple[float, float]
    prefactor: float

    def describe(self) -> str:
        return f"{self.base:.3g}^n (95% CI {self.interval[0]:.3g}..{self.interval[1]:.3g})"


@dataclass
class ScanResult:
    """Every cell of a scan; :meth:`select` and :meth:`decay` are what the verdict and the plots read."""

    points: list[VariancePoint] = field(default_factory=list)

    def select(self, cost=None, init=None, layers=None, num_qubits=None) -> list[VariancePoint]:
        return [p for p in self.points if (cost is None or p.cost == cost) and (init is None or p.init == init)
                and (layers is None or p.layers == layers) and (num_qubits is None or p.num_qubits == num_qubits)]

    def decay(self, cost: str, init: str, layers: int) -> DecayFit | None:
        points = self.select(cost=cost, init=init, layers=layers)
        # A variance at round-off level means a stationary initial point, not a rate to fit.
        if len({p.num_qubits for p in points}) < 2 or min(p.variance for p in points) < STATIONARY_VARIANCE:
            return None
        return fit_decay([p.num_qubits for p in points], [p.variance for p in points])

    def to_json(self) -> str:
        return json.dumps([asdict(p) for p in self.points], indent=1)


def fit_decay(qubits: Sequence[int], variances: Sequence[float]) -> DecayFit:
    """Least squares of log Var on n; the base's 95% interval from the slope's standard error."""
    n = np.asarray(qubits, dtype=float)
    logs = np.log(np.asarray(variances, dtype=float))
    design = np.stack([np.ones_like(n), n], axis=1)
    coef, residual, *_ = np.linalg.lstsq(design, logs, rcond=None)
    dof = len(n) - 2
    if dof > 0:
        sigma2 = float(np.sum((logs - design @ coef) ** 2)) / dof
        slope_se = np.sqrt(sigma2 / np.sum((n - n.mean()) ** 2))
    else:
        slope_se = 0.0
    return DecayFit(float(np.exp(coef[1])), (float(np.exp(coef[1] - 1.96 * slope_se)), float(np.exp(coef[1] + 1.96 * slope_se))),
                    float(np.exp(coef[0])))
