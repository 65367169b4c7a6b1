"""qfab as a Qiskit ``EstimatorV2``: existing Qiskit code changes one import.

Precision policy: qfab is exact, so by default ``precision`` is recorded in the metadata but
changes nothing, and ``stds`` are zero. ``StatevectorEstimator`` instead adds Gaussian noise of
width ``precision``; pass ``emulate_shot_noise=True`` to get that behaviour (``stds`` are then
the precision), e.g. to test that a training loop copes with the noise hardware would add.
qiskit-machine-learning's ``EstimatorQNN`` passes ``precision=0.015625`` on every call, so the
exact default is what makes its gradients match qfab's adjoint ones.
"""
from __future__ import annotations

import math
from collections import defaultdict
from numbers import Real

import numpy as np
from qiskit.primitives import BaseEstimatorV2, DataBin, PrimitiveJob, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.quantum_info import SparsePauliOp

from qfab.backends import Job
from qfab.core.inputs import as_seed
from qfab.core.observables import PauliSum
from qfab.errors import InputError, InputTypeError
from qfab.qiskit.pubs import coerce_pubs, pub_rows, run_jobs, static_prepared

__all__ = ["EstimatorV2"]


def _observable_key(observable: dict) -> tuple:
    return tuple(sorted(observable.items()))


def _precision(value, where: str) -> float:
    """A precision: a real number (not a boolean), finite and non-negative (Qiskit lets NaN and
    infinity through)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise InputTypeError(f"{where} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{where} must be a finite number >= 0, got {value!r}")
    return value


class EstimatorV2(BaseEstimatorV2):
    """Expectation values of PUBs ``(circuit, observables[, parameter_values[, precision]])``.

    PUBs that share a circuit object run as one batched qfab job over the distinct parameter
    rows and observables of all of them (qiskit-machine-learning sends hundreds of one-row PUBs
    of the same circuit in a call), then each PUB's broadcast result is read out of that table.

    Args:
        device: where the jobs run: ``"auto"`` (qfab's planner places and splits them over the
            available devices by its cost model), a device name such as ``"cpu"``, or a
            :class:`qfab.backends.Device` (a ``qfab.backends.QPU`` included).
        default_precision: the precision used when neither ``run`` nor the PUB gives one.
        emulate_shot_noise: add ``N(0, precision)`` noise to each value, as Qiskit's
            ``StatevectorEstimator`` does; off by default (exact values, ``stds`` zero).
        seed: seed of that noise.
        options: the same three as a dict, the way qiskit-aer's ``EstimatorV2(options=...)``
            takes them (``{"default_precision": 0.01, "emulate_shot_noise": True, "seed": 1}``);
            they override the keyword arguments.
    """

    OPTIONS = ("default_precision", "emulate_shot_noise", "seed")

    def __init__(self, *, device="auto", default_precision: float = 0.0, emulate_shot_noise: bool = False, seed=None,
                 options: dict | None = None):
        unknown = set(options or {}) - set(self.OPTIONS)
        if unknown:
            raise InputError(f"unknown EstimatorV2 option(s) {sorted(unknown)}; qfab takes {list(self.OPTIONS)}")
        options = options or {}
        default_precision = options.get("default_precision", default_precision)
        emulate_shot_noise = options.get("emulate_shot_noise", emulate_shot_noise)
        seed = options.get("seed", seed)
        self.device = device
        self.default_precision = _precision(default_precision, "EstimatorV2 default_precision")
        self.emulate_shot_noise = emulate_shot_noise
        self._rng = np.random.default_rng(as_seed(seed))

    def run(self, pubs, *, precision: float | None = None) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        precision = self.default_precision if precision is None else _precision(precision, "EstimatorV2.run precision")
        coerced = coerce_pubs(pubs, EstimatorPub.coerce, precision, "EstimatorV2", values_at=2)
        for index, pub in enumerate(coerced):
            _precision(pub.precision, f"EstimatorV2 PUB {index}: precision")
            for observable in pub.observables.ravel().tolist():
                bad = {label: c for label, c in observable.items() if not math.isfinite(c)}
                if bad:
                    raise InputError(f"EstimatorV2 PUB {index}: observable coefficients must be finite, got {bad}")
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        groups: dict[int, list[int]] = defaultdict(list)
        for position, pub in enumerate(pubs):
            groups[id(pub.circuit)].append(position)

        tables: dict[int, tuple[dict, list[np.ndarray], list[np.ndarray]]] = {}
        jobs, group_keys = [], []
        for key, positions in groups.items():
            circuit = pubs[positions[0]].circuit
            preparation = static_prepared(circuit)
            rows = [pub_rows(pubs[p]) for p in positions]
            stacked = np.concatenate(rows, axis=0)
            unique_rows, inverse = np.unique(stacked, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
            splits = np.cumsum([len(r) for r in rows])[:-1]
            row_maps = np.split(inverse, splits)

            observable_index: dict[tuple, int] = {}
            obs_maps = []
            for p in positions:
                flat = pubs[p].observables.ravel().tolist()
                obs_maps.append(np.array([observable_index.setdefault(_observable_key(o), len(observable_index))
                                          for o in flat], dtype=np.int64))
            sums = tuple(PauliSum.from_sparse_pauli_op(SparsePauliOp.from_list(list(k))) for k in observable_index)
            jobs.append(Job(preparation.circuit, preparation.rows(unique_rows), sums))
            group_keys.append(key)
            tables[key] = (dict(zip(positions, range(len(positions)))), row_maps, obs_maps)

        results = run_jobs(self.device, jobs)
        pub_results: list[PubResult | None] = [None] * len(pubs)
        for key, result in zip(group_keys, results):
            slot_of, row_maps, obs_maps = tables[key]
            table = np.real(np.asarray(result.expectations))
            # Shot-based devices (qfab.backends.QPU) report the standard error of each value.
            std_table = getattr(result, "expectation_stds", None)
            for position, slot in slot_of.items():
                pub = pubs[position]
                row_of = row_maps[slot].reshape(pub.parameter_values.shape)
                obs_of = obs_maps[slot].reshape(pub.observables.shape)
                row_of, obs_of = np.broadcast_arrays(row_of, obs_of)
                evs = table[row_of, obs_of]
                stds = np.zeros_like(evs) if std_table is None else np.asarray(std_table)[row_of, obs_of]
                if self.emulate_shot_noise and pub.precision > 0:
                    evs = evs + self._rng.normal(0.0, pub.precision, evs.shape)
                    stds = np.full_like(evs, pub.precision)
                pub_results[position] = PubResult(
                    DataBin(evs=evs, stds=stds, shape=evs.shape),
                    metadata={"target_precision": pub.precision, "circuit_metadata": pub.circuit.metadata,
                              "device": result.device},
                )
        return PrimitiveResult(pub_results, metadata={"version": 2})
