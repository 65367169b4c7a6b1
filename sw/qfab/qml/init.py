"""Initialisers: ``init(ansatz, batch, rng) -> theta`` of shape ``(batch, P)``.

Uniform angles over [0, 2 pi) make a deep circuit a 2-design and start training on a barren
plateau; the others keep the initial circuit close to a shallow one: Gaussian with small sigma
(Zhang et al. 2022 suggest sigma^2 ~ 1/L), small angles, or identity blocks (Grant et al. 2019),
which need an ansatz built by :func:`qfab.qml.ansatz.with_identity_blocks`. :func:`warm_start`
starts a bigger ansatz from a smaller trained one, at the smaller one's cost.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from qfab.qml.ansatz import Ansatz

__all__ = ["uniform", "gaussian", "small_angle", "identity_blocks", "warm_start", "Initializer", "build_initializer"]

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


def warm_start(trained_params, from_ansatz: Ansatz, base: Initializer | None = None, check: bool = True) -> Initializer:
    """Start a bigger ansatz of the same family (more layers and/or qubits) where a smaller trained
    one ended, so that training resumes from its cost instead of from a random point on a plateau.

    The builders name each parameter by its layer and its place in the layer, independently of the
    width, so a name means the same gate in both circuits: shared names get the trained values. New
    parameters get the value at which their gate does nothing: 0 for a rotation, and for the mirror
    half of an identity block its twin's value (new forward angles are drawn by ``base``, zero by
    default), so the block is the identity. At zero angle new qubits stay in |0> through CZ gates
    and new CZ-ladder layers cancel in pairs; then the bigger state is the smaller one (x) |0...0>
    and any cost that ignores the new qubits (or wants them in |0>) starts at the smaller model's
    value. With ``check`` the initialiser verifies this on the state vectors and raises otherwise
    (e.g. an odd number of new entangling layers, or a CX from an old qubit onto a new one)."""
    trained = np.asarray(trained_params, dtype=np.float64).ravel()
    if trained.shape != (from_ansatz.num_parameters,):
        raise ValueError(f"trained_params has {trained.size} values; {from_ansatz.name!r} has {from_ansatz.num_parameters}")
    if from_ansatz.random_axes:
        raise ValueError("random-axis ansätze (mcclean) have no fixed circuit to warm-start from")
    values = dict(zip(from_ansatz.parameter_names(), trained))

    def init(ansatz: Ansatz, batch: int, rng: np.random.Generator) -> np.ndarray:
        if ansatz.num_qubits < from_ansatz.num_qubits or ansatz.random_axes:
            raise ValueError(f"warm start needs an ansatz at least as wide as {from_ansatz.num_qubits} qubits, without random axes")
        names = ansatz.parameter_names()
        missing = set(values) - set(names)
        if missing:
            raise ValueError(f"{len(missing)} trained parameters (e.g. {sorted(missing)[0]!r}) have no place in {ansatz.name!r}: "
                             "warm start needs the same ansatz family with at least as many layers and qubits")
        known = np.array([name in values for name in names])
        theta = np.zeros((batch, ansatz.num_parameters)) if base is None else base(ansatz, batch, rng)
        theta[:, known] = [values[name] for name, k in zip(names, known) if k]
        if ansatz.mirror_of is not None:
            mirrored = (ansatz.mirror_of >= 0) & ~known
            theta[:, mirrored] = theta[:, ansatz.mirror_of[mirrored]]
        if check:
            _check_same_state(from_ansatz, trained, ansatz, theta[0])
        return theta

    init.__name__ = "warm_start"
    return init


def _check_same_state(small: Ansatz, trained: np.ndarray, big: Ansatz, theta: np.ndarray, atol: float = 1e-9) -> None:
    """Raise unless U_big(theta)|0> = U_small(trained)|0> (x) |0...0> up to a global phase."""
    from qfab import api

    before = api.statevector(small.circuit, small.circuit_parameters(trained)[0])
    after = api.statevector(big.circuit, big.circuit_parameters(theta)[0])
    overlap = abs(np.vdot(before, after[: len(before)]))
    if abs(overlap - 1) > atol:
        raise ValueError(f"the new gates of {big.name!r} at their identity values change the state (overlap "
                         f"{overlap:.6f} with the smaller model's): add entangling layers in pairs, keep new qubits "
                         "behind CZ (not CX) gates, or grow with identity blocks")


def build_initializer(name: str, sigma: float | None = None) -> Initializer:
    """``uniform``, ``gaussian`` (``sigma``), ``small_angle`` or ``identity_blocks``."""
    builders = {"uniform": uniform, "gaussian": lambda: gaussian(sigma), "small_angle": small_angle,
                "identity_blocks": identity_blocks}
    if name not in builders:
        raise ValueError(f"unknown initialiser {name!r}; choose from {sorted(builders)}")
    return builders[name]()
