"""Model-quality indicators computed before training, on the engine's batches.

* :func:`data_gradient_variance`: the variance of the readout's gradient over random
  initialisations *and* the user's own data-encoded input states (not only ``|0...0>``), with the
  bootstrap interval of :func:`qfab.qml.trainability.bootstrap_variance_interval`.
* :func:`expressibility`: Sim et al. 2019, the KL divergence between the distribution of fidelities
  ``|<psi(a)|psi(b)>|^2`` of random parameter pairs and the Haar one, ``P(F) = (N-1)(1-F)^(N-2)``
  (``N = 2^n``). Small: the circuit covers state space like Haar; large: it reaches little of it.
* :func:`meyer_wallach` / :func:`entangling_capability`: ``Q = 2 (1 - mean_k Tr rho_k^2)``, 0 for a
  product state and 1 for GHZ; the capability is its mean over random parameters.
* :func:`effective_dimension`: Abbas et al. 2021 (Nat Comput Sci 1, 403), from the empirical Fisher
  information of the model's class probabilities on the data, normalised so that
  ``E_theta Tr F_hat = P``; at most about the parameter count ``P``.
* :func:`kernel_target_alignment`: how well the encoding's fidelity kernel ``|<phi(x)|phi(x')>|^2``
  lines up with the labels (Cristianini et al. 2002), for the kernel reading of the encoding.

Each takes one or a few batched ``api`` calls; :func:`indicators` gathers them for a prepared
estimator (:meth:`qfab.qml.models.QuantumClassifier.prepare`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from qfab import api
from qfab.qml.ansatz import Ansatz
from qfab.qml.init import Initializer, uniform
from qfab.qml.trainability import bootstrap_variance_interval

__all__ = ["Indicators", "meyer_wallach", "entangling_capability", "haar_fidelity_bins", "expressibility",
           "data_gradient_variance", "fisher_information", "effective_dimension", "kernel_target_alignment",
           "encoded_states", "indicators"]


def meyer_wallach(states, num_qubits: int) -> np.ndarray:
    """Meyer-Wallach ``Q`` of each state vector (rows of ``states``, ``(B, 2^n)`` or ``(2^n,)``)."""
    states = np.atleast_2d(np.asarray(states))
    tensor = states.reshape((len(states),) + (2,) * num_qubits)
    purities = []
    for k in range(num_qubits):
        m = np.moveaxis(tensor, k + 1, 1).reshape(len(states), 2, -1)
        rho = m @ np.conj(np.swapaxes(m, 1, 2))
        purities.append(np.sum(np.abs(rho) ** 2, axis=(1, 2)))
    return np.clip(2 * (1 - np.mean(purities, axis=0)), 0.0, 1.0)


def _ansatz_states(ansatz: Ansatz, theta: np.ndarray, device="cpu") -> np.ndarray:
    return np.atleast_2d(api.statevector(ansatz.circuit, ansatz.circuit_parameters(theta), device=device))


def entangling_capability(ansatz: Ansatz, samples: int = 200, initializer: Initializer | None = None, seed=0,
                          device="cpu") -> float:
    """Mean Meyer-Wallach ``Q`` of the ansatz's states from ``|0...0>`` at random parameters."""
    rng = np.random.default_rng(seed)
    theta = (initializer or uniform())(ansatz, samples, rng)
    return float(meyer_wallach(_ansatz_states(ansatz, theta, device), ansatz.num_qubits).mean())


def haar_fidelity_bins(num_qubits: int, bins: int) -> np.ndarray:
    """Probability of each of ``bins`` equal fidelity bins on [0, 1] under Haar-random pairs:
    the integral of ``(N-1)(1-F)^(N-2)``, i.e. ``(1-F_lo)^(N-1) - (1-F_hi)^(N-1)``."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    dim = 2**num_qubits
    return (1 - edges[:-1]) ** (dim - 1) - (1 - edges[1:]) ** (dim - 1)


def expressibility(ansatz: Ansatz, pairs: int = 300, bins: int = 50, initializer: Initializer | None = None,
                   seed=0, device="cpu", return_states: bool = False):
    """KL(fidelity histogram of random pairs || Haar), natural log; with ``return_states`` also the
    ``2 * pairs`` states (for the entangling capability on the same batch)."""
    rng = np.random.default_rng(seed)
    theta = (initializer or uniform())(ansatz, 2 * pairs, rng)
    states = _ansatz_states(ansatz, theta, device)
    fidelity = np.abs(np.sum(np.conj(states[:pairs]) * states[pairs:], axis=1)) ** 2
    counts, _ = np.histogram(np.clip(fidelity, 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    p = counts / counts.sum()
    q = np.maximum(haar_fidelity_bins(ansatz.num_qubits, bins), 1e-300)
    mask = p > 0
    kl = float(np.sum(p[mask] * np.log(p[mask] / q[mask])))
    return (kl, states) if return_states else kl


def data_gradient_variance(model, X, initializer: Initializer, samples: int = 64, seed=0, bootstrap: int = 500,
                           readout: int = 0):
    """Variance of ``d<O_readout>/dtheta`` over pairs (a row of ``X``, a random ``theta`` from
    ``initializer``), mean over parameters, with a 95% bootstrap interval. ``model`` is a prepared
    estimator (``prepare(X, y)`` called), so its encoding, scaling and readouts are the trained ones."""
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    rows = rng.choice(len(X), size=samples, replace=len(X) < samples)
    theta = initializer(model.ansatz_, samples, rng)
    _, grads = model.readout_gradients(X[rows], theta)
    g = grads[:, readout, :]
    variance = float(g.var(axis=0, ddof=1).mean())
    return variance, bootstrap_variance_interval(g, rng, bootstrap)


def fisher_information(model, X, theta) -> np.ndarray:
    """Empirical Fisher ``(k, P, P)`` of a prepared classifier's class probabilities at each of the
    ``k`` parameter rows of ``theta``, averaged over the rows of ``X``:
    ``F = E_x sum_c p_c grad log p_c grad log p_c^T``, with ``grad log p_c = s (grad v_c - sum_j p_j grad v_j)``."""
    theta = np.atleast_2d(theta)
    k, n = len(theta), len(X)
    values, grads = model.readout_gradients(np.tile(X, (k, 1)), np.repeat(theta, n, axis=0))
    p = model.probabilities(values)  # (k n, C)
    mean_grad = np.einsum("bc,bcp->bp", p, grads)
    score = model.output_scale * (grads - mean_grad[:, None, :])  # (k n, C, P)
    fisher = np.einsum("bc,bcp,bcq->bpq", p, score, score)
    return fisher.reshape(k, n, *fisher.shape[1:]).mean(axis=1)


def effective_dimension(fisher: np.ndarray, num_samples: int, gamma: float = 1.0) -> float:
    """Abbas et al. 2021, eq. 2: ``2 log( E_theta sqrt det(I + kappa F_hat) ) / log kappa`` with
    ``kappa = gamma n / (2 pi log n)`` and ``F_hat = P F / E_theta Tr F``."""
    fisher = np.asarray(fisher)
    num_parameters = fisher.shape[-1]
    trace = np.mean(np.trace(fisher, axis1=1, axis2=2))
    if trace <= 0:
        return 0.0
    normalised = num_parameters * fisher / trace
    kappa = gamma * num_samples / (2 * np.pi * np.log(num_samples))
    _, logdet = np.linalg.slogdet(np.eye(num_parameters) + kappa * normalised)
    half = logdet / 2
    log_mean = half.max() + np.log(np.mean(np.exp(half - half.max())))
    return float(2 * log_mean / np.log(kappa))


def kernel_target_alignment(states, labels) -> float:
    """``<K, y y^T>_F / (||K||_F ||y y^T||_F)`` for the fidelity kernel of encoded ``states`` and
    labels mapped to +-1 (two classes; for more, one class against the rest of the first)."""
    states = np.atleast_2d(states)
    labels = np.asarray(labels)
    y = np.where(labels == labels[0], 1.0, -1.0)
    kernel = np.abs(np.conj(states) @ states.T) ** 2
    target = np.outer(y, y)
    return float(np.sum(kernel * target) / (np.linalg.norm(kernel) * np.linalg.norm(target)))


@dataclass
class Indicators:
    """The cheap indicators of one candidate (see the module docstring)."""

    gradient_variance: float
    gradient_interval: tuple[float, float]
    expressibility: float
    entangling_capability: float
    effective_dimension: float
    num_parameters: int
    kernel_alignment: float
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def indicators(model, X, labels, initializer: Initializer, seed=0, samples: int = 64, pairs: int = 200,
               fisher_thetas: int = 8, fisher_rows: int = 48, device="cpu") -> Indicators:
    """All indicators for a prepared classifier ``model`` on its training data ``X`` (raw features)
    and class indices ``labels``; the gradient variance and the Fisher information at parameters
    from the candidate's ``initializer``, expressibility and entanglement at uniform parameters."""
    import time

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    variance, interval = data_gradient_variance(model, X, initializer, samples=samples, seed=rng)
    kl, states = expressibility(model.ansatz_, pairs=pairs, seed=rng, device=device, return_states=True)
    q = float(meyer_wallach(states, model.ansatz_.num_qubits).mean())
    rows = rng.choice(len(X), size=min(fisher_rows, len(X)), replace=False)
    fisher = fisher_information(model, X[rows], initializer(model.ansatz_, fisher_thetas, rng))
    d_eff = effective_dimension(fisher, num_samples=len(X))
    encoded = encoded_states(model, X[rows], device=device)
    alignment = kernel_target_alignment(encoded, np.asarray(labels)[rows])
    return Indicators(variance, interval, kl, q, d_eff, model.ansatz_.num_parameters, alignment,
                      time.perf_counter() - start)


def encoded_states(model, X, device="cpu") -> np.ndarray:
    """State vectors ``(B, 2^n)`` of the prepared model's data encoding alone for samples ``X``."""
    from qfab.core.frontend import from_qiskit

    circuit = from_qiskit(model.encoding_.qiskit_circuit)
    index = {name: i for i, name in enumerate(circuit.parameters)}
    # an encoding parameter the circuit does not use (dense-angle padding) has no column
    used = [(i, index[p.name]) for i, p in enumerate(model.encoding_.parameters) if p.name in index]
    angles = model.encoded_angles(X)
    params = np.zeros((len(angles), circuit.num_parameters))
    params[:, [c for _, c in used]] = angles[:, [i for i, _ in used]]
    return np.atleast_2d(api.statevector(circuit, params, device=device))
