"""Plateau monitor: watch the gradient during training and apply a remedy when it stalls.

A barren plateau shows up in training as a gradient norm that stays tiny step after step while
the loss does not move. The monitor records the norm and the variance of the gradient's entries
at every step; when the norm stays below ``threshold`` for ``patience`` consecutive steps it
replaces the parameters with ``remedy(theta, rng)`` (by default: a small-angle re-initialisation,
which restarts from a near-identity circuit) and logs the event with the step it happened at.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["PlateauMonitor", "small_angle_restart", "perturb"]


def small_angle_restart(scale: float = 0.05) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def remedy(theta, rng):
        return rng.uniform(-scale, scale, size=theta.shape)

    remedy.__name__ = f"small_angle_restart({scale})"
    return remedy


def perturb(sigma: float = 0.3) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """Keep what was learnt and kick the parameters off the flat region."""

    def remedy(theta, rng):
        return theta + rng.normal(0.0, sigma, size=theta.shape)

    remedy.__name__ = f"perturb({sigma})"
    return remedy


@dataclass
class PlateauMonitor:
    threshold: float = 1e-4
    patience: int = 5
    remedy: Callable[[np.ndarray, np.random.Generator], np.ndarray] = field(default_factory=small_angle_restart)
    max_remedies: int = 3
    gradient_norms: list[float] = field(default_factory=list)
    gradient_variances: list[float] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    _stalled: int = 0

    def observe(self, step: int, theta: np.ndarray, gradient: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """Record one step; return replacement parameters if a remedy fires, else ``None``."""
        norm = float(np.linalg.norm(gradient))
        self.gradient_norms.append(norm)
        self.gradient_variances.append(float(np.var(gradient)))
        self._stalled = self._stalled + 1 if norm < self.threshold else 0
        if self._stalled < self.patience or len(self.events) >= self.max_remedies:
            return None
        self._stalled = 0
        name = getattr(self.remedy, "__name__", repr(self.remedy))
        self.events.append({"step": step, "gradient_norm": norm, "remedy": name})
        return self.remedy(theta, rng)
