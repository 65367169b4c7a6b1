"""scikit-learn estimators: :class:`QuantumClassifier` and :class:`QuantumRegressor`.

A model is ``encoding(x) -> ansatz(theta) -> readout``: each sample's features set the encoding
angles, all samples of a mini-batch run as one qfab batch, and the adjoint gradients of the
readout observables (``(B, K, P)`` in one call) are chained through the loss by hand. Features are
min-max scaled to [0, 1] on ``fit``. Training state (parameters, optimiser moments, random
generator, history) is written to ``checkpoint`` after every epoch; ``fit`` on an estimator whose
checkpoint exists resumes after the saved epoch, so an interrupted run continues where it stopped
and reaches the same parameters as an uninterrupted one.

Shot-based training (``shots``): every gradient component is estimated by the parameter shift
from shots (:mod:`qfab.qml.shots`: drawn from the exact states on a simulator, run on a QPU), with
a fixed number per circuit or, with ``shots="adaptive"``, iCANS's allocation from the measured
variances; ``shot_budget`` caps the shots of the whole fit, which stops when the next step would
exceed it. A :class:`~qfab.qml.monitor.PlateauMonitor` watches the gradient against the noise
floor of those shots (or of the device) and applies the remedies it is allowed; its events are
kept on the fitted model (``plateau_events_``).

A checkpoint is an ``.npz`` file, written atomically (a temporary file and ``os.replace``: a run
killed while writing leaves the previous epoch's), that carries a format version
(:data:`CHECKPOINT_VERSION`) and the model's fingerprint: the circuit's structure (ansatz, qubits,
layers, encoding, the gate sequence), the parameter shapes, the readouts and the hyperparameters
(all but ``epochs``, which a resumed fit may raise). Loading checks both: a corrupt file
(truncated, not a zip, missing entries, wrong shapes) or one of another model raises
:class:`~qfab.errors.FileFormatError` naming the file and the mismatch.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
from qiskit.quantum_info import SparsePauliOp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from qfab import api
from qfab.backends import get_device
from qfab.core.frontend import from_qiskit
from qfab.core.shift import shift_parameters
from qfab.errors import FileFormatError, InputError
from qfab.scheduling.cachefiles import atomic_write

from qfab.qml.ansatz import Ansatz, build_ansatz, with_identity_blocks
from qfab.qml.encoding import build_encoding
from qfab.qml.init import build_initializer, warm_start
from qfab.qml.monitor import PlateauMonitor, small_angle_restart
from qfab.qml.shots import MIN_SHOTS, AdaptiveShots, readout_samples

__all__ = ["QuantumClassifier", "QuantumRegressor", "Adam", "SGD", "SPSA", "CHECKPOINT_VERSION"]

#: The checkpoint layout this qfab writes and reads; a file of another version is refused.
CHECKPOINT_VERSION = 1
CHECKPOINT_FORMAT = "qfab-checkpoint"
#: The hyperparameters a checkpoint must share with the estimator that resumes it (``epochs`` may grow).
FINGERPRINT_HYPERPARAMETERS = ("optimizer", "learning_rate", "batch_size", "output_scale", "schedule", "initializer",
                               "sigma", "identity_block_layers", "cost", "random_state")


class Adam:
    """Adam (Kingma & Ba) on a parameter vector; its state is saved in checkpoints."""

    def __init__(self, learning_rate=0.05, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def step(self, theta, gradient):
        if self.m is None:
            self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * gradient
        self.v = self.beta2 * self.v + (1 - self.beta2) * gradient**2
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return theta - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)

    def state(self):
        return {"m": self.m, "v": self.v, "t": self.t}

    def load(self, state):
        self.m, self.v, self.t = state["m"], state["v"], int(state["t"])


class SGD:
    """Plain gradient descent, ``theta - learning_rate * gradient``: the step iCANS's shot rule is
    derived for (``shots="adaptive"``)."""

    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate
        self.t = 0

    def step(self, theta, gradient):
        self.t += 1
        return theta - self.learning_rate * gradient

    def state(self):
        return {"t": self.t}

    def load(self, state):
        self.t = int(state["t"])


class SPSA:
    """Simultaneous perturbation (Spall): two loss evaluations per step whatever the number of
    parameters, and tolerant of shot noise, so it suits shot-based devices. Gains a_k = a/(k+1+A)^0.602,
    c_k = c/(k+1)^0.101."""

    def __init__(self, learning_rate=0.2, perturbation=0.1, stability=10.0):
        self.learning_rate, self.perturbation, self.stability = learning_rate, perturbation, stability
        self.t = 0

    def step(self, theta, loss, rng):
        a = self.learning_rate / (self.t + 1 + self.stability) ** 0.602
        c = self.perturbation / (self.t + 1) ** 0.101
        delta = rng.choice([-1.0, 1.0], size=theta.shape)
        estimate = (loss(theta + c * delta) - loss(theta - c * delta)) / (2 * c) * delta
        self.t += 1
        return theta - a * estimate, estimate

    def state(self):
        return {"t": self.t}

    def load(self, state):
        self.t = int(state["t"])


class _QuantumModel(BaseEstimator):
    def __init__(self, ansatz="hea", layers=2, encoding="angle", initializer="uniform", sigma=None,
                 identity_block_layers=None, optimizer="adam", learning_rate=0.1, epochs=20, batch_size=32,
                 output_scale=3.0, schedule="full", warm_start=False, warm_start_from=None, checkpoint=None, monitor=None, random_state=0,
                 device="cpu", cost="local", callback=None, shots=None, shot_budget=None):
        self.ansatz = ansatz
        self.layers = layers
        self.encoding = encoding
        self.initializer = initializer
        self.sigma = sigma
        self.identity_block_layers = identity_block_layers
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.output_scale = output_scale
        self.schedule = schedule
        self.warm_start = warm_start
        self.warm_start_from = warm_start_from
        self.checkpoint = checkpoint
        self.monitor = monitor
        self.random_state = random_state
        self.device = device
        self.cost = cost
        self.callback = callback
        self.shots = shots
        self.shot_budget = shot_budget

    @classmethod
    def from_recommendation(cls, recommendation, **overrides):
        """An estimator set up as :func:`qfab.qml.recommend` chose (its ``config``: ansatz,
        layers, initializer, cost, encoding), trained for the epochs its forecast is for; ``overrides``
        change any other setting."""
        config = dict(getattr(recommendation, "config", recommendation))
        epochs = getattr(recommendation, "epochs", None)
        if epochs is not None:
            config.setdefault("epochs", epochs)
        config.update(overrides)
        return cls(**config)

    # -- model construction -------------------------------------------------------------
    def _build(self, num_features: int):
        self.encoding_ = build_encoding(self.encoding, num_features)
        n = self.encoding_.num_qubits
        if isinstance(self.ansatz, Ansatz):
            ansatz = self.ansatz
        elif self.identity_block_layers:
            ansatz = with_identity_blocks(build_ansatz(self.ansatz, n, max(1, self.layers // 2)), self.identity_block_layers)
        else:
            ansatz = build_ansatz(self.ansatz, n, self.layers)
        if ansatz.random_axes:
            raise ValueError("random-axis ansätze (mcclean) are for trainability studies, not models")
        self.ansatz_ = ansatz
        qc = self.encoding_.qiskit_circuit.compose(ansatz.qiskit_circuit)
        self.circuit_ = from_qiskit(qc)
        index = {name: i for i, name in enumerate(self.circuit_.parameters)}
        self._x_columns = np.array([index[p.name] for p in self.encoding_.parameters])
        self._theta_columns = np.array([index[p.name] for p in ansatz.parameters])

    def _circuit_parameters(self, angles, theta):
        params = np.zeros((len(angles), self.circuit_.num_parameters))
        params[:, self._x_columns] = angles
        params[:, self._theta_columns] = theta
        return params

    def _scale(self, X):
        span = np.where(self.feature_max_ > self.feature_min_, self.feature_max_ - self.feature_min_, 1.0)
        return np.clip((X - self.feature_min_) / span, 0.0, 1.0)

    def _expectations(self, X, theta):
        angles = self.encoding_.angles(self._scale(X))
        return api.expectation(self.circuit_, self.observables_, self._circuit_parameters(angles, theta), device=self.device)

    # -- training -------------------------------------------------------------------------
    def _train(self, X, targets):
        """Mini-batch training. ``schedule="layerwise"`` (Skolik et al. 2021) starts the deeper layers at
        zero and unfreezes one more layer every ``epochs / L`` epochs, so early steps see a shallow
        circuit's gradients; ``warm_start`` continues from the previous fit's parameters;
        ``warm_start_from`` (a fitted, shallower model of the same ansatz) fills the first layers with
        its parameters and starts the new layers at zero. With ``shots`` the gradients are shot
        estimates (module docstring) and ``shot_budget`` ends the fit when the next step would pass it."""
        if self.schedule not in ("full", "layerwise"):
            raise ValueError(f"unknown schedule {self.schedule!r}; use 'full' or 'layerwise'")
        allocator = self._shot_allocator()
        rng = np.random.default_rng(self.random_state)
        previous = getattr(self, "theta_", None) if self.warm_start else None
        if previous is not None and len(previous) == self.ansatz_.num_parameters:
            theta = previous.copy()
        elif self.warm_start_from is not None:
            theta = self._grown_from(self.warm_start_from)
        else:
            theta = build_initializer(self.initializer, self.sigma)(self.ansatz_, 1, rng)[0]
            if self.identity_block_layers:
                mirrored = self.ansatz_.mirror_of >= 0
                theta[mirrored] = theta[self.ansatz_.mirror_of[mirrored]]
            if self.schedule == "layerwise":
                theta[self.ansatz_.layer_of > 0] = 0.0
        num_layers = max(self.ansatz_.num_layers, 1)
        self.initial_loss_ = float(self.loss(X, targets, theta))
        optimizers = {"adam": Adam, "sgd": SGD, "spsa": SPSA}
        if self.optimizer not in optimizers:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use 'adam', 'sgd' or 'spsa'")
        optimizer = optimizers[self.optimizer](self.learning_rate)
        self.history_ = []
        self.plateau_events_ = []
        self.shots_used_ = 0
        self.budget_exhausted_ = False
        self.steps_trained_ = 0
        self._growth = None
        start_epoch = 0
        path = Path(self.checkpoint) if self.checkpoint else None
        if path is not None and path.exists():
            theta, start_epoch = self._load_checkpoint(path, optimizer, rng)
        monitor = self.monitor
        batches = int(np.ceil(len(X) / self.batch_size))
        step = start_epoch * batches
        self._steps_total = self.epochs * batches
        epochs_run = start_epoch
        for epoch in range(start_epoch, self.epochs):
            frozen = None
            if self.schedule == "layerwise":
                frozen = self.ansatz_.layer_of >= min(num_layers, 1 + epoch * num_layers // self.epochs)
            order = rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                rows = order[start: start + self.batch_size]
                frozen_now = self._grown_frozen(step, frozen)
                noise_floor = None
                if self.optimizer == "spsa":
                    before = theta
                    theta, gradient = optimizer.step(theta, lambda t: self.loss(X[rows], targets[rows], t), rng)
                    if frozen_now is not None:
                        theta[frozen_now] = before[frozen_now]
                else:
                    if self.shots is None:
                        gradient = self.loss_gradient(X[rows], targets[rows], theta)
                        if isinstance(monitor, PlateauMonitor) and monitor.threshold == "noise_floor":
                            noise_floor = self.gradient_noise_floor()
                    else:
                        shots = self._affordable_shots(allocator, len(rows))
                        if shots is None:
                            self.budget_exhausted_ = True
                            break
                        gradient, variances, used = self.sampled_loss_gradient(
                            X[rows], targets[rows], theta, shots, self._value_shots(shots), rng)
                        self.shots_used_ += used
                        if isinstance(allocator, AdaptiveShots):
                            allocator.update(gradient, variances)
                        noise_floor = float(np.sqrt(np.sum(variances / shots)))
                    if frozen_now is not None:
                        gradient[frozen_now] = 0.0
                    theta = optimizer.step(theta, gradient)
                if isinstance(monitor, PlateauMonitor):
                    theta = self._watch(monitor, step, epoch, theta, gradient, rng, noise_floor, X, targets)
                step += 1
                self.steps_trained_ += 1
            epochs_run = epoch + 1
            self.history_.append({"epoch": epoch, "loss": float(self.loss(X, targets, theta)),
                                  "shots": int(self.shots_used_)})
            if self.callback is not None:
                self.callback(self, epoch, theta)
            if path is not None:
                self._save_checkpoint(path, theta, epoch + 1, optimizer, rng)
            if self.budget_exhausted_:
                break
        self.theta_ = theta
        self.epochs_trained_ = epochs_run

    # -- shot-based training ----------------------------------------------------------------
    def _shot_allocator(self):
        """The fit's shot rule: ``None`` (exact gradients), an int per circuit, or an
        :class:`AdaptiveShots` (a fresh copy each fit); refuses settings it cannot honour."""
        shots, budget = self.shots, self.shot_budget
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1):
            raise InputError(f"shot_budget must be a positive integer or None, got {budget!r}")
        if shots is None:
            if budget is not None:
                raise InputError("shot_budget needs shot-based gradients: set shots to an integer or 'adaptive'")
            return None
        if self.optimizer == "spsa":
            raise InputError("shots set the gradient's shots; SPSA estimates no gradient components (use 'adam' or "
                             "'sgd')")
        if self.checkpoint:
            raise InputError("checkpoints do not carry the shot allocator's state yet; train with shots without "
                             "checkpoint")
        if isinstance(shots, AdaptiveShots) or shots == "adaptive":
            if self.optimizer != "sgd":
                raise InputError(f"shots='adaptive' is iCANS's rule for plain gradient descent; use optimizer='sgd', "
                                 f"not {self.optimizer!r}")
            template = shots if isinstance(shots, AdaptiveShots) else AdaptiveShots()
            return AdaptiveShots(template.min_shots, template.lipschitz, template.running, template.bias)
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < MIN_SHOTS:
            raise InputError(f"shots must be None, 'adaptive', an AdaptiveShots or an integer >= {MIN_SHOTS}, "
                             f"got {shots!r}")
        return int(shots)

    def _shift_terms(self) -> np.ndarray:
        """Shifted circuits per gradient component (2 for the two-term rule)."""
        probe = self._circuit_parameters(np.zeros((1, len(self._x_columns))), np.zeros(self.ansatz_.num_parameters))
        return np.bincount(shift_parameters(self.circuit_, probe, self._theta_columns).slots,
                           minlength=self.ansatz_.num_parameters)

    def _value_shots(self, shots: np.ndarray) -> int:
        """Shots of the unshifted readouts that weigh the chain rule: the mean allocation."""
        return max(MIN_SHOTS, int(np.ceil(np.mean(shots))))

    def step_shots(self, shots: np.ndarray, batch: int) -> int:
        """Shots one step takes with ``shots`` per circuit per component on a mini-batch of ``batch``."""
        return int(batch * (self._value_shots(shots) + np.sum(self._shift_terms() * shots)))

    def _affordable_shots(self, allocator, batch: int) -> np.ndarray | None:
        """This step's shots per component, scaled down to what the budget has left (at least
        :data:`MIN_SHOTS` each), or ``None`` when not even that fits: the fit then ends with less
        left than one step of :data:`MIN_SHOTS` per circuit."""
        size = self.ansatz_.num_parameters
        shots = (allocator.allocate(self.learning_rate, size) if isinstance(allocator, AdaptiveShots)
                 else np.full(size, allocator, dtype=np.int64))
        if self.shot_budget is None:
            return shots
        left = self.shot_budget - self.shots_used_
        cost = self.step_shots(shots, batch)
        if cost <= left:
            return shots
        for fewer in (np.maximum(np.floor(shots * left / cost), MIN_SHOTS).astype(np.int64),
                      np.full(size, MIN_SHOTS, dtype=np.int64)):
            if self.step_shots(fewer, batch) <= left:
                return fewer
        return None

    def sampled_loss_gradient(self, X, targets, theta, shots, value_shots: int, rng):
        """Shot estimate of d loss / d theta on samples ``X`` (raw features): the readouts at ``theta``
        from ``value_shots`` shots weigh the chain rule (:meth:`loss_weights`); component ``i``'s
        shifted circuits are measured ``shots[i]`` times each. Returns the gradient ``(P,)``, its
        per-shot variances ``(P,)`` (the estimate's variance times ``shots``) and the shots used."""
        device = self._shot_device()
        params = self._circuit_parameters(self.encoding_.angles(self._scale(X)), theta)
        batch = len(params)
        values = readout_samples(device, self.circuit_, self.observables_, params, value_shots, rng)
        weights = self.loss_weights(values.means, targets)  # (B, K)
        shifts = shift_parameters(self.circuit_, params, self._theta_columns)
        num_rows = len(shifts.slots)
        row_shots = np.repeat(np.asarray(shots)[shifts.slots], batch)
        samples = readout_samples(device, self.circuit_, self.observables_,
                                  shifts.rows.reshape(num_rows * batch, -1), row_shots, rng)
        estimates, variances = samples.combined(np.tile(weights, (num_rows, 1)))
        gradient = shifts.gradients(estimates.reshape(num_rows, batch)).sum(axis=0)
        per_shot = (shifts.weights**2 * variances.reshape(num_rows, batch)).sum(axis=1)
        component_variances = np.zeros(self.ansatz_.num_parameters)
        np.add.at(component_variances, shifts.slots, per_shot)
        return gradient, component_variances, int(batch * value_shots + row_shots.sum())

    def _shot_device(self):
        """The device shots are drawn on: the model's, or the CPU when the planner chooses (``"auto"``)."""
        return get_device("cpu" if isinstance(self.device, str) and self.device == "auto" else self.device)

    def gradient_noise_floor(self) -> float:
        """The norm of a gradient made of the device's noise alone: its per-component floor
        (``CostModel.gradient_floor``: shot noise at the device's shots, round-off on a simulator)
        over every parameter, for readouts of unit weight."""
        device = self._shot_device()
        shots = getattr(device, "shots", None) or 1024
        floor = device.cost_model().gradient_floor(self.circuit_, shots)
        return float(floor * np.sqrt(self.ansatz_.num_parameters))

    # -- plateau remedies -------------------------------------------------------------------
    def _watch(self, monitor, step, epoch, theta, gradient, rng, noise_floor, X, targets):
        """One step through the monitor; a remedy's event gets the epoch and the loss on the whole
        training set before and after it, and is kept in ``plateau_events_``."""
        readouts, count = self.observables_, len(monitor.events)
        replacement = monitor.observe(step, theta, gradient, rng, noise_floor=noise_floor, model=self)
        if replacement is None:
            return theta
        event = monitor.events[-1] if len(monitor.events) > count else {}
        changed = self.observables_
        self.observables_ = readouts
        event["loss_before"] = float(self.loss(X, targets, theta))
        self.observables_ = changed
        event["loss_after"] = float(self.loss(X, targets, replacement))
        event["epoch"] = epoch
        self.plateau_events_.append(event)
        return replacement

    def _grown_frozen(self, step: int, frozen):
        """The schedule's frozen layers, plus those a ``"layerwise"`` remedy has not grown back yet."""
        if self._growth is None:
            return frozen
        begun, every = self._growth
        growing = self.ansatz_.layer_of >= 1 + (step - begun) // every
        return growing if frozen is None else frozen | growing

    def apply_plateau_remedy(self, name: str, theta, gradient, rng, noise_floor: float = 0.0, step: int = 0):
        """Carry out a :class:`PlateauMonitor` remedy; the new parameters, or ``None`` where it does
        not apply. ``"local_cost"``: readouts of one qubit each (the cost stays the same loss on
        the same labels); ``"layerwise"``: the layers above the first set to zero and grown back one
        at a time over the steps left, the last fifth of them on the full circuit;
        ``"reinitialise"``: the flat block (the layers whose gradient is under their share of the
        monitor's limit, ``limit * sqrt(parameters in the layer / all parameters)``) re-drawn at
        small angles. ``step``: the training step it acts after."""
        layer_of = self.ansatz_.layer_of
        if name == "local_cost":
            if self.cost_ == "local":
                return None
            self.observables_ = self.local_observables()
            self.cost_ = "local"
            return np.array(theta, dtype=float)
        if name == "layerwise":
            layers = self.ansatz_.num_layers
            if layers < 2 or getattr(self, "_growth", None) is not None:
                return None
            left = max(getattr(self, "_steps_total", 0) - step - 1, 1)
            self._growth = (step + 1, max(1, (4 * left) // (5 * (layers - 1))))
            grown = np.array(theta, dtype=float)
            grown[layer_of > 0] = 0.0
            return grown
        if name == "reinitialise":
            limit = self.monitor.limit(noise_floor) if isinstance(self.monitor, PlateauMonitor) else noise_floor
            share = np.sqrt(np.bincount(layer_of) / len(layer_of))
            block_norms = np.sqrt(np.bincount(layer_of, weights=np.asarray(gradient) ** 2))
            flat = np.flatnonzero(block_norms < limit * share)
            if not len(flat):
                return None
            fresh = np.array(theta, dtype=float)
            chosen = np.isin(layer_of, flat)
            fresh[chosen] = small_angle_restart(0.1)(fresh[chosen], rng)
            return fresh
        raise InputError(f"unknown plateau remedy {name!r}")

    def _grown_from(self, smaller) -> np.ndarray:
        check_is_fitted(smaller, "theta_")
        old_layers = smaller.ansatz_.layer_of
        shared = self.ansatz_.layer_of < smaller.ansatz_.num_layers
        if (smaller.ansatz_.num_qubits != self.ansatz_.num_qubits or shared.sum() != len(old_layers)
                or not np.array_equal(self.ansatz_.layer_of[shared], old_layers)):
            raise ValueError("warm_start_from needs a fitted model of the same ansatz and qubits with fewer layers")
        # Z readouts commute with the new CZ ladders, so any number of new layers keeps the loss: no state check.
        return warm_start(smaller.theta_, smaller.ansatz_, check=False)(self.ansatz_, 1, np.random.default_rng(0))[0]

    def fingerprint(self) -> dict:
        """What identifies the model a checkpoint belongs to (JSON-plain): the circuit's structure,
        the parameter shapes, the readouts and the hyperparameters other than ``epochs``."""
        qc = self.encoding_.qiskit_circuit.compose(self.ansatz_.qiskit_circuit)
        gates = [[ci.operation.name, [qc.find_bit(q).index for q in ci.qubits], [str(p) for p in ci.operation.params]]
                 for ci in qc.data]
        readouts = [[[label, float(np.real(coeff))] for label, coeff in op.to_list()] for op in self.observables_]
        fingerprint = {
            "model": type(self).__name__, "ansatz": self.ansatz_.name, "qubits": int(self.ansatz_.num_qubits),
            "layers": int(self.ansatz_.num_layers), "encoding": self.encoding_.name,
            "features": int(self.encoding_.num_features),
            "circuit": hashlib.sha256(json.dumps(gates).encode()).hexdigest()[:16],
            "theta_shape": [int(self.ansatz_.num_parameters)], "readouts": readouts,
            "hyperparameters": {k: _plain(getattr(self, k)) for k in FINGERPRINT_HYPERPARAMETERS}}
        return json.loads(json.dumps(fingerprint))

    def _save_checkpoint(self, path, theta, epochs_done, optimizer, rng):
        state = {k: v for k, v in optimizer.state().items() if v is not None}
        meta = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "fingerprint": self.fingerprint(),
                "epochs_done": epochs_done, "rng": rng.bit_generator.state, "history": self.history_,
                "optimizer": self.optimizer, "scalars": {k: v for k, v in state.items() if np.isscalar(v)}}
        arrays = {f"opt_{k}": v for k, v in state.items() if not np.isscalar(v)}
        body = io.BytesIO()
        np.savez(body, theta=theta, meta=np.array(json.dumps(meta)), **arrays)
        atomic_write(path, body.getvalue())  # never leave a half-written checkpoint

    def _load_checkpoint(self, path, optimizer, rng):
        where = f"checkpoint {path}"
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = sorted({"theta", "meta"} - set(data.files))
                if missing:
                    raise FileFormatError(f"{where} is not a qfab checkpoint: {missing} missing (it holds {sorted(data.files)})")
                meta = json.loads(str(data["meta"][()]))
                theta = np.array(data["theta"])
                arrays = {k[4:]: np.array(data[k]) for k in data.files if k.startswith("opt_")}
        except FileFormatError:
            raise
        # NotImplementedError: a zip entry claiming a version or compression zipfile lacks;
        # zlib.error: one claiming deflate over stored bytes
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError, NotImplementedError,
                zlib.error) as err:
            problem = str(err) or type(err).__name__
            raise FileFormatError(f"{where} is corrupt or not a qfab checkpoint ({type(err).__name__}: {problem}); "
                                  "delete it to train afresh") from None
        self._check_checkpoint(where, meta, theta, arrays)
        state = dict(meta["scalars"])
        state.update(arrays)
        optimizer.load({**{"m": None, "v": None}, **state})
        try:
            rng.bit_generator.state = meta["rng"]
        except (KeyError, TypeError, ValueError) as err:
            raise FileFormatError(f"{where} is corrupt: its random generator state is unusable ({err})") from None
        self.history_ = meta["history"]
        return theta.copy(), meta["epochs_done"]

    def _check_checkpoint(self, where: str, meta, theta: np.ndarray, arrays: dict) -> None:
        """Refuse a checkpoint of another format version or model, or with missing or misshapen state."""
        if not isinstance(meta, dict):
            raise FileFormatError(f"{where} is corrupt: its metadata is {type(meta).__name__}, not an object")
        if meta.get("format") != CHECKPOINT_FORMAT or "version" not in meta:
            raise FileFormatError(f"{where} has no checkpoint format version (written by an older qfab or another "
                                  "program); delete it to train afresh")
        if meta["version"] != CHECKPOINT_VERSION:
            raise FileFormatError(f"{where} is of checkpoint format version {meta['version']!r}; this qfab reads "
                                  f"version {CHECKPOINT_VERSION}")
        if meta.get("optimizer", self.optimizer) != self.optimizer:
            raise FileFormatError(f"{where} was written by optimizer {meta['optimizer']!r}, not {self.optimizer!r}")
        mismatches = _differences(meta.get("fingerprint"), self.fingerprint())
        if mismatches:
            raise FileFormatError(f"{where} is of another model: " + "; ".join(mismatches[:4])
                                  + (f"; and {len(mismatches) - 4} more" if len(mismatches) > 4 else ""))
        missing = sorted({"epochs_done", "rng", "history", "scalars"} - set(meta))
        if missing:
            raise FileFormatError(f"{where} is corrupt: {missing} missing from its metadata")
        epochs = meta["epochs_done"]
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise FileFormatError(f"{where} is corrupt: epochs_done is {epochs!r}, not a non-negative integer")
        if not isinstance(meta["history"], list) or not isinstance(meta["scalars"], dict):
            raise FileFormatError(f"{where} is corrupt: history or optimiser scalars of the wrong type")
        t = meta["scalars"].get("t")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise FileFormatError(f"{where} is corrupt: the optimiser's step count is {t!r}")
        shape = (self.ansatz_.num_parameters,)
        expected = {"theta": theta} | {f"opt_{k}": v for k, v in arrays.items()}
        if self.optimizer == "adam" and t > 0:
            absent = sorted({"opt_m", "opt_v"} - set(expected))
            if absent:
                raise FileFormatError(f"{where} is corrupt: the Adam moments {absent} are missing")
        for name, array in expected.items():
            if array.shape != shape or not np.issubdtype(array.dtype, np.floating):
                raise FileFormatError(f"{where} is corrupt: {name} has shape {array.shape} and dtype {array.dtype}, "
                                      f"the model needs {shape} float")
            if not np.all(np.isfinite(array)):
                raise FileFormatError(f"{where} is corrupt: {name} holds NaN or infinite values")

    def encoded_angles(self, X):
        """The encoding's parameter values for samples ``X`` (raw features), after the fitted scaling."""
        return self.encoding_.angles(self._scale(np.asarray(X, dtype=np.float64)))

    def circuit_values(self, X, theta=None):
        """``(B, P)`` values of every parameter of ``circuit_`` for samples ``X`` (raw features) at
        ``theta`` (default: the fitted parameters): what a workload of this model's circuit takes."""
        if theta is None:
            check_is_fitted(self, "theta_")
            theta = self.theta_
        return self._circuit_parameters(self.encoded_angles(X), theta)

    def readout_values(self, X, theta):
        """``(B, K)`` readout expectations of samples ``X`` (raw features) at parameters ``theta``."""
        return self._expectations(X, theta)

    def readout_gradients(self, X, theta):
        """Readout expectations ``(B, K)`` and their adjoint gradients ``(B, K, P)`` over ``theta``."""
        return self._gradients(X, theta)

    def _gradients(self, X, theta):
        angles = self.encoding_.angles(self._scale(X))
        params = self._circuit_parameters(angles, theta)
        values = api.expectation(self.circuit_, self.observables_, params, device=self.device)
        grads = api.gradient(self.circuit_, self.observables_, params, device=self.device)[:, :, self._theta_columns]
        return values, grads


class QuantumClassifier(ClassifierMixin, _QuantumModel):
    """Classes read out as softmax(output_scale * <O_k>), with O_k = Z on qubit k (then Z_k Z_k+1 when
    there are more classes than qubits) for ``cost="local"``, or +-Z...Z for ``cost="global"`` (two
    classes); trained on cross-entropy. ``callback(model, epoch, theta)`` runs after every epoch."""

    def prepare(self, X, y):
        """Everything ``fit`` sets up before training (classes, feature scaling, circuit, readouts);
        returns ``(X, class indices)``. Lets the trainability indicators probe the untrained model."""
        X, y = check_X_y(X, y)
        self.classes_ = unique_labels(y)
        self.n_features_in_ = X.shape[1]
        self.feature_min_, self.feature_max_ = X.min(axis=0), X.max(axis=0)
        self._build(X.shape[1])
        self.observables_ = _class_observables(len(self.classes_), self.encoding_.num_qubits, self.cost)
        self.cost_ = self.cost
        return X, np.searchsorted(self.classes_, y)

    def local_observables(self) -> list[SparsePauliOp]:
        """The readouts of ``cost="local"`` for this model's classes and qubits."""
        return _class_observables(len(self.classes_), self.encoding_.num_qubits, "local")

    def fit(self, X, y):
        X, labels = self.prepare(X, y)
        self._train(X, labels)
        return self

    def probabilities(self, values):
        """Class probabilities from readout values (what ``predict_proba`` applies)."""
        return self._probabilities(values)

    def _probabilities(self, values):
        logits = self.output_scale * values
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def loss(self, X, labels, theta):
        """Mean cross-entropy of ``theta`` on ``X`` with class indices ``labels`` (what ``fit`` minimises)."""
        p = self._probabilities(self._expectations(X, theta))
        return -np.mean(np.log(p[np.arange(len(labels)), labels] + 1e-12))

    def loss_weights(self, values, labels):
        """d loss / d readout ``(B, K)`` at readout values ``values``: what the chain rule
        multiplies the readouts' gradients by."""
        p = self._probabilities(values)
        p[np.arange(len(labels)), labels] -= 1  # d CE / d logits
        return self.output_scale * p / len(labels)

    def loss_gradient(self, X, labels, theta):
        """d loss / d theta, from qfab's adjoint gradients of every readout."""
        values, grads = self._gradients(X, theta)
        return np.einsum("bk,bkp->p", self.loss_weights(values, labels), grads)

    def predict_proba(self, X):
        check_is_fitted(self, "theta_")
        X = validate_data(self, X, reset=False)
        return self._probabilities(self._expectations(X, self.theta_))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class QuantumRegressor(RegressorMixin, _QuantumModel):
    """Predicts ``y_mean + y_half_range * <Z_0>`` (targets min-max mapped to [-1, 1]); trained on MSE."""

    def fit(self, X, y):
        X, y = check_X_y(X, y, y_numeric=True)
        self.n_features_in_ = X.shape[1]
        self.feature_min_, self.feature_max_ = X.min(axis=0), X.max(axis=0)
        self.target_center_ = (y.max() + y.min()) / 2
        self.target_half_range_ = max((y.max() - y.min()) / 2, 1e-12)
        self._build(X.shape[1])
        n = self.encoding_.num_qubits
        _check_cost(self.cost)
        self.observables_ = [SparsePauliOp("Z" * n)] if self.cost == "global" else self.local_observables()
        self.cost_ = self.cost
        self._train(X, (y - self.target_center_) / self.target_half_range_)
        return self

    def loss(self, X, targets, theta):
        """Mean squared error of ``theta`` on ``X`` against the scaled ``targets``."""
        return float(np.mean((self._expectations(X, theta)[:, 0] - targets) ** 2))

    def local_observables(self) -> list[SparsePauliOp]:
        """The readout of ``cost="local"``: Z on qubit 0."""
        n = self.encoding_.num_qubits
        return [SparsePauliOp("I" * (n - 1) + "Z")]

    def loss_weights(self, values, targets):
        """d loss / d readout ``(B, 1)`` at readout values ``values``."""
        return 2 * (values[:, :1] - np.asarray(targets)[:, None]) / len(targets)

    def loss_gradient(self, X, targets, theta):
        """d loss / d theta, from qfab's adjoint gradients."""
        values, grads = self._gradients(X, theta)
        return np.einsum("bk,bkp->p", self.loss_weights(values, targets), grads)

    def predict(self, X):
        check_is_fitted(self, "theta_")
        X = validate_data(self, X, reset=False)
        return self.target_center_ + self.target_half_range_ * self._expectations(X, self.theta_)[:, 0]


def _plain(value):
    """``value`` as JSON holds it (numbers, strings, None; anything else by its repr)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.integer | np.floating):
        return _plain(value.item())
    return repr(value)


def _differences(saved, current: dict, where: str = "") -> list[str]:
    """Each field where ``saved`` (a checkpoint's fingerprint) and ``current`` differ, as
    "layers: 3 in the file, 2 here"."""
    if not isinstance(saved, dict):
        return [f"it has no model fingerprint (found {saved!r})"]
    out = []
    for key in sorted(set(saved) | set(current)):
        name = f"{where}{key}"
        mine, theirs = current.get(key, "(absent)"), saved.get(key, "(absent)")
        if isinstance(mine, dict) and isinstance(theirs, dict):
            out += _differences(theirs, mine, f"{name}.")
        elif mine != theirs:
            shown = [v if len(repr(v)) <= 40 else repr(v)[:37] + "..." for v in (theirs, mine)]
            out.append(f"{name} {shown[0]!r} in the file, {shown[1]!r} here")
    return out


def _check_cost(cost: str) -> None:
    if cost not in ("local", "global"):
        raise ValueError(f"unknown cost {cost!r}; use 'local' (one-qubit Z readouts) or 'global' (Z on every qubit)")


def _class_observables(num_classes: int, num_qubits: int, cost: str = "local") -> list[SparsePauliOp]:
    """``local``: Z on qubit k for class k (then Z_k Z_k+1); ``global``: two classes read from the
    parity Z...Z on every qubit, as +-<Z...Z> (Cerezo et al.'s global cost, prone to plateaus)."""
    _check_cost(cost)
    if cost == "global":
        if num_classes != 2:
            raise ValueError(f"the global cost reads two classes from the parity; got {num_classes} classes")
        parity = SparsePauliOp("Z" * num_qubits)
        return [parity, -parity]
    labels = [("Z", [q]) for q in range(num_qubits)] + [("ZZ", [q, q + 1]) for q in range(num_qubits - 1)]
    if num_classes > len(labels):
        raise ValueError(f"{num_classes} classes need more than {num_qubits} qubits with Z and ZZ readouts")
    return [SparsePauliOp.from_sparse_list([(p, q, 1.0)], num_qubits) for p, q in labels[:num_classes]]
