"""Plateau monitor: watch the gradient during training and apply a remedy when it stalls.

A barren plateau shows up in training as a gradient norm that stays tiny step after step while
the loss does not move. The monitor records the norm and the variance of the gradient's entries
at every step; when the norm stays below the threshold for ``patience`` consecutive steps it acts
and logs the event with the step it happened at.

The threshold is a number, or ``"noise_floor"``: ``noise_factor`` times the norm the gradient would
have from the device's noise alone (the training loop passes it each step: from the measured
shot variances in shot-based training, otherwise from the device's cost model). A gradient inside
that floor cannot be told from noise, so following it is a random walk.

What it does when it fires:

* with no ``remedies`` (the default): replace the parameters with ``remedy(theta, rng)``, by default a
  small-angle re-initialisation, which restarts from a near-identity circuit;
* with ``remedies``, the structural remedies the user allows, in the order to try them, one per event:
  ``"local_cost"`` (read the same labels from one-qubit observables instead of a global one, Cerezo
  et al. 2021), ``"layerwise"`` (zero the layers above the first and grow the circuit back one layer
  at a time, Skolik et al. 2021) and ``"reinitialise"`` (re-draw the flat block: the layers whose own
  gradient is inside their share of the floor, at small angles). The model being trained carries
  them out (``model.apply_plateau_remedy``); a remedy that does not apply (a cost that is already
  local) is skipped for the next one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qfab.errors import InputError

__all__ = ["PlateauMonitor", "small_angle_restart", "perturb", "STRUCTURAL_REMEDIES"]

#: The remedies a model can apply to itself, by name (see the module docstring).
STRUCTURAL_REMEDIES = ("local_cost", "layerwise", "reinitialise")


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
    """See the module docstring. ``events`` holds one dict per action: ``step``, ``gradient_norm``,
    ``noise_floor``, ``remedy`` (the model adds ``loss_before`` and ``loss_after``)."""

    threshold: float | str = 1e-4
    patience: int = 5
    remedy: Callable[[np.ndarray, np.random.Generator], np.ndarray] = field(default_factory=small_angle_restart)
    max_remedies: int = 3
    remedies: tuple[str, ...] = ()
    noise_factor: float = 2.0
    gradient_norms: list[float] = field(default_factory=list)
    gradient_variances: list[float] = field(default_factory=list)
    noise_floors: list[float] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    _stalled: int = 0

    def __post_init__(self):
        self.remedies = tuple(self.remedies)
        unknown = [r for r in self.remedies if r not in STRUCTURAL_REMEDIES]
        if unknown:
            raise InputError(f"PlateauMonitor remedies {unknown} are unknown; use some of {STRUCTURAL_REMEDIES}")
        if isinstance(self.threshold, str) and self.threshold != "noise_floor":
            raise InputError(f"PlateauMonitor threshold must be a number or 'noise_floor', got {self.threshold!r}")

    def limit(self, noise_floor: float | None) -> float:
        """The norm under which a step counts as stalled."""
        if self.threshold == "noise_floor":
            return self.noise_factor * (noise_floor or 0.0)
        return float(self.threshold)

    def observe(self, step: int, theta: np.ndarray, gradient: np.ndarray, rng: np.random.Generator,
                noise_floor: float | None = None, model=None) -> np.ndarray | None:
        """Record one step; return replacement parameters if a remedy fires, else ``None``.
        ``noise_floor``: the norm of a gradient of pure noise at this step; ``model``: the model
        that applies structural ``remedies``."""
        norm = float(np.linalg.norm(gradient))
        self.gradient_norms.append(norm)
        self.gradient_variances.append(float(np.var(gradient)))
        self.noise_floors.append(float(noise_floor or 0.0))
        self._stalled = self._stalled + 1 if norm < self.limit(noise_floor) else 0
        if self._stalled < self.patience or len(self.events) >= self.max_remedies:
            return None
        self._stalled = 0
        event = {"step": step, "gradient_norm": norm, "noise_floor": float(noise_floor or 0.0)}
        if not self.remedies:
            self.events.append(event | {"remedy": getattr(self.remedy, "__name__", repr(self.remedy))})
            return self.remedy(theta, rng)
        used = {e["remedy"] for e in self.events}
        for name in self.remedies:
            if name in used or model is None:
                continue
            replacement = model.apply_plateau_remedy(name, theta, gradient, rng, noise_floor=noise_floor or 0.0,
                                                     step=step)
            if replacement is not None:
                self.events.append(event | {"remedy": name})
                return replacement
        return None
