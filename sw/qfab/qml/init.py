"""Initialisers: ``init(ansatz, batch, rng) -> theta`` of shape ``(batch, P)``.

Uniform angles over [0, 2 pi) make a deep circuit a 2-design and start training on a barren
plateau; the others keep the initial circuit close to a shallow one: Gaussian with small sigma
(Zhang et al. 2022 suggest sigma^2 ~ 1/L), small angles, or identity blocks (Grant et al. 2019),
which need an ansatz built by :func:`qfab.qml.ansatz.with_identity_blocks`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .ansatz import Ansatz

__all__ = ["uniform", "gaussian", "small_angle", "identity_blocks", "Initializer", "build_initializer"]

Initializer = Callable[[Ansatz, int, np.random.Generator], np.ndarray]


def uniform(low: float = 0.0, high: float = 2 * np.pi) -> Initializer:
    def init(ansatz: Ansatz, batch: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(low, high, size=(batch, ansatz.num_parameters))

    init.__name__ = "uniform"
    return init


def gaussian(sigma: float | None = None) -> Initializer:
    """Normal angles around 0; ``sigma=None`` uses sigma^2 = 1/L for an L-layer ansatz."""

    def init(ansatz: Ansatz, batch: int, rng: np.random.Generator) -> np.ndarray:
        scale = sigma if sigma is not None else 1 / np.sqrt(max(ansatz.num_layers, 1))
        return rng.normal(0.0, scale, size=(batch, ansatz.num_parameters))

    init.__name__ = f"gaussian(sigma={sigma if sigma is not None else '1/sqrt(L)'})"
    return init


def small_angle(scale: float = 0.05) -> Initializer:
    """Uniform in [-scale, scale]: the circuit starts near the identity (or its fixed gates)."""

    def init(ansatz: Ansatz, batch: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-scale, scale, size=(batch, ansatz.num_parameters))

    init.__name__ = f"small_angle({scale})"
    return init


def identity_blocks(base: Initializer | None = None) -> Initializer:
    """Draw forward parameters with ``base`` (uniform by default) and copy each onto its mirror, so
    every block ``U(theta) U(theta)^dagger`` is the identity."""
    base = base or uniform()

    def init(ansatz: Ansatz, batch: int, rng: np.random.Generator) -> np.ndarray:
        if ansatz.mirror_of is None:
            raise ValueError(f"ansatz {ansatz.name!r} has no mirrored blocks; build it with with_identity_blocks()")
        theta = base(ansatz, batch, rng)
        mirrored = ansatz.mirror_of >= 0
        theta[:, mirrored] = theta[:, ansatz.mirror_of[mirrored]]
        return theta

    init.__name__ = "identity_blocks"
    return init


def build_initializer(name: str, sigma: float | None = None) -> Initializer:
    """``uniform``, ``gaussian`` (``sigma``), ``small_angle`` or ``identity_blocks``."""
    builders = {"uniform": uniform, "gaussian": lambda: gaussian(sigma), "small_angle": small_angle,
                "identity_blocks": identity_blocks}
    if name not in builders:
        raise ValueError(f"unknown initialiser {name!r}; choose from {sorted(builders)}")
    return builders[name]()
