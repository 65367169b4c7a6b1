"""Shot-frugal training: readouts estimated from a chosen number of shots per circuit, and iCANS's
rule for choosing those numbers from the measured variance within a total shot budget.

On a shot-based device every gradient component costs shots, and they are not worth the same:
a component whose estimate is already precise, or whose expected gain per shot is small, should
get fewer. iCANS (Kübler, Arrasmith, Cincio & Coles, Quantum 4, 263 (2020)) gives component ``i``

    s_i = ceil( 2 L a / (2 - L a) * xi_i / (chi_i**2 + b mu**k) )

shots, where ``chi`` and ``xi`` are running (bias-corrected) averages of the gradient and of its
per-shot variance, ``a`` the learning rate, ``L`` a Lipschitz bound of the gradient (``L a < 2``) and
``b mu**k`` a decaying regulariser; every ``s_i`` is then capped at the shots of the component with the
largest expected gain per shot, ``((a - L a**2 / 2) chi_i**2 - L a**2 xi_i / (2 s_i)) / s_i``.
Rosalin (Arrasmith et al. 2020) uses the same allocation across components; qfab's readouts are
single observables, so there is no operator sampling to add.

How the shots are drawn (:func:`readout_samples`):

* on an exact simulator (the CPU, GPU and FPGA devices) the state of every row is computed and
  ``shots`` bit strings are drawn from its probabilities; every diagonal readout (Z strings, as the
  qfab models read) is averaged over the same bits, so their covariance is the real one;
* on a shot-based device (:class:`~qfab.backends.qpu.QPU`) the rows are run with that many
  shots, one job per distinct shot count, and the device's standard errors give the variances
  (readouts' covariances are taken as zero there).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from qfab import api
from qfab.backends import Job
from qfab.core.ir import Circuit
from qfab.core.observables import as_pauli_sums
from qfab.errors import InputError

__all__ = ["AdaptiveShots", "ReadoutSamples", "readout_samples", "diagonal_readouts", "MIN_SHOTS"]

#: Fewest shots a readout is estimated from: two are needed for a variance.
MIN_SHOTS = 2


@dataclass
class AdaptiveShots:
    """iCANS's shot allocation across gradient components (module docstring).

    Args:
        min_shots: the fewest shots of a component per circuit (at least 2, for a variance).
        lipschitz: ``L``, a bound on how fast the gradient changes; ``None``: ``1 / learning_rate``,
            half the largest step the rule allows.
        running: ``mu``, the weight of the past in the running averages.
        bias: ``b``, the regulariser that keeps early allocations finite while ``chi`` is near zero.
    """

    min_shots: int = 8
    lipschitz: float | None = None
    running: float = 0.9
    bias: float = 1e-6
    gradient_average: np.ndarray | None = field(default=None, repr=False)
    variance_average: np.ndarray | None = field(default=None, repr=False)
    steps: int = 0

    def __post_init__(self):
        if int(self.min_shots) < MIN_SHOTS:
            raise InputError(f"AdaptiveShots min_shots must be at least {MIN_SHOTS}, got {self.min_shots!r}")
        if not 0 <= self.running < 1:
            raise InputError(f"AdaptiveShots running must be in [0, 1), got {self.running!r}")

    def allocate(self, learning_rate: float, num_components: int) -> np.ndarray:
        """Shots per circuit for each of ``num_components`` gradient components at the next step."""
        if self.steps == 0 or self.gradient_average is None:
            return np.full(num_components, int(self.min_shots))
        lipschitz = self.lipschitz if self.lipschitz is not None else 1.0 / learning_rate
        step = lipschitz * learning_rate
        if not 0 < step < 2:
            raise InputError(f"iCANS needs lipschitz * learning_rate in (0, 2); got {lipschitz} * {learning_rate}")
        correction = 1.0 - self.running ** self.steps
        chi = self.gradient_average / correction
        xi = self.variance_average / correction
        shots = np.ceil(2 * step / (2 - step) * xi / (chi**2 + self.bias * self.running ** self.steps))
        shots = np.maximum(shots, self.min_shots)
        gain = ((learning_rate - lipschitz * learning_rate**2 / 2) * chi**2
                - lipschitz * learning_rate**2 * xi / (2 * shots)) / shots
        cap = max(shots[int(np.argmax(gain))], self.min_shots)
        return np.clip(shots, self.min_shots, cap).astype(np.int64)

    def update(self, gradient: np.ndarray, variances: np.ndarray) -> None:
        """Fold one step's gradient estimate and its per-shot variances into the running averages."""
        if self.gradient_average is None:
            self.gradient_average = np.zeros_like(gradient, dtype=float)
            self.variance_average = np.zeros_like(gradient, dtype=float)
        self.gradient_average = self.running * self.gradient_average + (1 - self.running) * gradient
        self.variance_average = self.running * self.variance_average + (1 - self.running) * variances
        self.steps += 1


@dataclass(frozen=True)
class ReadoutSamples:
    """Shot estimates of ``K`` readouts on ``R`` rows: ``means (R, K)``, the per-shot covariance of
    the readouts ``covariances (R, K, K)`` (divide by ``shots`` for the estimates' covariance),
    ``shots (R,)``."""

    means: np.ndarray
    covariances: np.ndarray
    shots: np.ndarray

    def combined(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sum_k weights[r, k] * readout k`` per row: its estimate ``(R,)`` and per-shot variance ``(R,)``."""
        return (np.einsum("rk,rk->r", weights, self.means),
                np.einsum("rk,rkl,rl->r", weights, self.covariances, weights))


def diagonal_readouts(observables, num_qubits: int) -> np.ndarray:
    """``(K, 2**n)`` values of diagonal observables (sums of Z strings) on every basis state;
    raises :class:`InputError` naming an observable with an X or Y term."""
    sums, _ = as_pauli_sums(observables, num_qubits)
    outcomes = np.arange(2**num_qubits, dtype=np.int64)
    values = np.zeros((len(sums), len(outcomes)))
    for k, observable in enumerate(sums):
        if np.any(observable.x_masks):
            raise InputError(f"readout {k} has X or Y terms; drawing shots from a state needs Z strings "
                             "(or run on a shot-based device)")
        for z_mask, prefactor in zip(observable.z_masks, observable.prefactors):
            parity = np.bitwise_count(outcomes & int(z_mask)) % 2
            values[k] += np.real(prefactor) * (1 - 2 * parity.astype(np.float64))
    return values


def readout_samples(device, circuit: Circuit, observables: list[SparsePauliOp], rows: np.ndarray, shots,
                    rng: np.random.Generator) -> ReadoutSamples:
    """Estimates of ``observables`` at every parameter row, each row measured ``shots[r]`` times
    (an int or ``(R,)``): drawn from the exact state on an exact ``device``, run on a shot-based one."""
    rows = np.atleast_2d(rows)
    shots = np.broadcast_to(np.asarray(shots, dtype=np.int64), (len(rows),))
    if np.any(shots < MIN_SHOTS):
        raise InputError(f"every row needs at least {MIN_SHOTS} shots; got {int(shots.min())}")
    if device.capabilities.exact:
        readouts = diagonal_readouts(observables, circuit.num_qubits)
        states = np.atleast_2d(api.statevector(circuit, rows, device=device))
        probabilities = np.abs(states) ** 2
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        counts = rng.multinomial(shots, probabilities)  # (R, 2**n), one draw per row
        frequencies = counts / shots[:, None]
        means = frequencies @ readouts.T
        second = np.einsum("rx,kx,lx->rkl", frequencies, readouts, readouts)
        unbiased = (shots / (shots - 1))[:, None, None]
        return ReadoutSamples(means, (second - means[:, :, None] * means[:, None, :]) * unbiased, shots)
    sums, _ = as_pauli_sums(observables, circuit.num_qubits)
    means = np.zeros((len(rows), len(sums)))
    variances = np.zeros_like(means)
    for count in np.unique(shots):
        group = np.flatnonzero(shots == count)
        job = Job(circuit, rows[group], tuple(sums), shots=int(count), seed=int(rng.integers(2**31)))
        result = device.run([job])[0]
        stds = getattr(result, "expectation_stds", None)
        if stds is None:
            raise InputError(f"device {device.name!r} returns no standard errors; shot allocation needs them")
        means[group] = result.expectations
        variances[group] = np.asarray(stds) ** 2 * count  # per shot
    covariances = np.einsum("rk,kl->rkl", variances, np.eye(len(sums)))
    return ReadoutSamples(means, covariances, shots)
