"""Any Qiskit ``BackendV2`` as a qfab device: IBM hardware, its fake backends, Aer, qfab itself.

Each circuit is mapped once by calibration data (:func:`qfab.backends.qpu.mapping.map_circuit`) and then run
for every parameter row through Qiskit's backend primitives: ``BackendEstimatorV2`` (Pauli
grouping, shots from the precision) and ``BackendSamplerV2``; IBM hardware, which no longer
takes ``backend.run``, goes through qiskit-ibm-runtime's primitives in the same way. Results are
shot estimates with their standard errors; gradients are by :mod:`qfab.core.shift`'s parameter
shift on the exported circuit's gate angles (all shifted rows of a job in one PUB), with error
bars propagated from those independent runs.

Calibrations drift between jobs. Before every job the device re-reads the backend's calibration
(its ``Target``'s errors and durations; an IBM backend is refreshed first) and, when anything
changed, re-scores each mapping it holds; a mapping whose estimated success probability fell by
more than ``drift_threshold`` (a fraction of its value when it was chosen) is searched again with
the same noise-aware layout search, and :attr:`QPU.events` records what happened: the ESP when
mapped, after the drift, and after re-mapping, and the layouts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2
from qiskit.quantum_info import PauliList, SparsePauliOp

from qfab.core.frontend import from_qiskit
from qfab.backends.qpu.circuits import ShiftableCircuit, to_qiskit
from qfab.backends.qpu.mapping import MappedCircuit, calibration_snapshot, map_circuit
from qfab.core.ir import Circuit
from qfab.errors import InputError
from qfab.core.observables import PauliSum, as_pauli_sums
from qfab.backends.base import Capabilities, Device, DeviceCapabilityError, DeviceProfile, Job, JobResult
from qfab.backends.qpu.costmodel import QPUCostModel

__all__ = ["QPU", "QPUResult", "pauli_sum_to_sparse_pauli_op"]

# Typical IBM figures, used where the backend reports nothing: a rep delay of 250 µs per shot
# and a few seconds of compilation and transfer per job.
_DEFAULT_REP_DELAY_S = 250e-6
_REMOTE_LATENCY_S = 3.0


@dataclass
class QPUResult(JobResult):
    """A :class:`JobResult` with the shot-noise standard errors of its estimates."""

    expectation_stds: np.ndarray | None = None  # (B, K)
    gradient_stds: np.ndarray | None = None  # (B, K, P)
    mapping: dict | None = None
    shots: int | None = None


def pauli_sum_to_sparse_pauli_op(observable: PauliSum) -> SparsePauliOp:
    """Invert :meth:`PauliSum.from_sparse_pauli_op` (the prefactor carries (-i) per Y)."""
    n = observable.num_qubits
    bits = np.arange(n, dtype=np.int64)
    x = ((observable.x_masks[:, None] >> bits) & 1).astype(bool)
    z = ((observable.z_masks[:, None] >> bits) & 1).astype(bool)
    num_y = np.sum(x & z, axis=1)
    coeffs = observable.prefactors / (-1j) ** (num_y % 4)
    return SparsePauliOp(PauliList.from_symplectic(z, x), coeffs)


def _is_remote_ibm(backend) -> bool:
    module = type(backend).__module__
    return module.startswith("qiskit_ibm_runtime") and "fake_provider" not in module


class QPU(Device):
    """A Qiskit backend as a qfab device.

    Args:
        backend: any ``BackendV2`` (e.g. ``FakeManilaV2()``, ``AerSimulator()``, an IBM backend).
        shots: shots per circuit and observable group when the job does not say.
        layout: ``"noise_aware"`` or ``"trivial"`` (see :func:`qfab.backends.qpu.mapping.map_circuit`).
        seed: seed of the simulators behind fake backends (reproducible shot noise).
        queue_seconds: expected wait in the queue, for the planner; 0 for a local backend.
        drift_threshold: re-map a circuit when its estimated success probability falls below
            ``(1 - drift_threshold)`` times its value when it was mapped; ``None``: never re-read
            the calibration.

    Attributes:
        events: what the device adapted, oldest first: one dict per re-mapping attempt
            (``kind="qpu_remap"``, ``esp_mapped``, ``esp_drifted``, ``esp_remapped``,
            ``layout_before``, ``layout_after``, ``remapped``, ``job``, ``time``).
    """

    def __init__(self, backend, *, shots: int = 4096, layout: str = "noise_aware", seed: int | None = None,
                 queue_seconds: float | None = None, drift_threshold: float | None = 0.05):
        if drift_threshold is not None and not 0 <= drift_threshold < 1:
            raise InputError(f"QPU drift_threshold must be in [0, 1) or None, got {drift_threshold!r}")
        self.backend = backend
        self.name = f"qpu:{backend.name}"
        self.shots = shots
        self.layout = layout
        self.seed = seed
        self.remote = _is_remote_ibm(backend)
        self.queue_seconds = queue_seconds if queue_seconds is not None else (60.0 if self.remote else 0.0)
        self.drift_threshold = drift_threshold
        self.events: list[dict] = []
        self.jobs_run = 0
        self._mapped: dict[tuple[int, bool], tuple[Circuit, ShiftableCircuit, MappedCircuit]] = {}
        self._esp_when_mapped: dict[tuple[int, bool], float] = {}
        self._calibration = calibration_snapshot(backend.target)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(max_qubits=self.backend.num_qubits, precisions=("complex128", "complex64"), exact=False,
                            gradient_methods=("parameter-shift",), returns_state=False)

    def check(self, job: Job) -> None:
        super().check(job)
        if not job.observables and not job.shots:
            raise DeviceCapabilityError(f"device {self.name!r} returns expectation values or counts; ask for one")

    # -- mapping ---------------------------------------------------------------------------
    def map(self, circuit: Circuit, measure: bool = False) -> tuple[ShiftableCircuit, MappedCircuit]:
        """The circuit as hardware runs it (cached per circuit object)."""
        key = (id(circuit), measure)
        entry = self._mapped.get(key)
        if entry is None or entry[0] is not circuit:
            shiftable = to_qiskit(circuit, measure=measure)
            entry = (circuit, shiftable, map_circuit(shiftable.circuit, self.backend, self.layout))
            self._mapped[key] = entry
            self._esp_when_mapped[key] = entry[2].estimated_success
        return entry[1], entry[2]

    def refresh_calibration(self) -> list[dict]:
        """Re-read the backend's calibration; re-score every held mapping on it and re-map those
        whose estimated success fell by more than ``drift_threshold``. Returns the events it added
        (also appended to :attr:`events`). Runs before every job; cheap when nothing changed."""
        if self.drift_threshold is None:
            return []
        refresh = getattr(self.backend, "refresh", None)
        if self.remote and callable(refresh):
            refresh()  # an IBM backend fetches its newest calibration
        target = self.backend.target
        snapshot = calibration_snapshot(target)
        if snapshot == self._calibration:
            return []
        self._calibration = snapshot
        added = []
        for key, (circuit, shiftable, mapped) in list(self._mapped.items()):
            drifted = mapped.rescored(target)
            baseline = self._esp_when_mapped[key]
            if drifted.estimated_success >= (1 - self.drift_threshold) * baseline:
                self._mapped[key] = (circuit, shiftable, drifted)  # small drift: keep the layout, price it anew
                continue
            searched = map_circuit(shiftable.circuit, self.backend, self.layout)
            better = searched.estimated_success > drifted.estimated_success
            chosen = searched if better else drifted
            self._mapped[key] = (circuit, shiftable, chosen)
            self._esp_when_mapped[key] = chosen.estimated_success
            added.append({"kind": "qpu_remap", "device": self.name, "job": self.jobs_run, "time": time.time(),
                          "qubits": circuit.num_qubits, "esp_mapped": baseline,
                          "esp_drifted": drifted.estimated_success, "esp_remapped": searched.estimated_success,
                          "layout_before": list(mapped.layout), "layout_after": list(chosen.layout),
                          "remapped": better})
        self.events += added
        return added

    def estimate(self, circuit, observables, params=None, gradient: bool = False, shots: int | None = None,
                 seed: int | None = None) -> QPUResult:
        """Expectation values (and parameter-shift gradients) with their error bars.

        ``qfab.expectation``/``qfab.gradient`` with this device return the estimates only; this
        returns the whole :class:`QPUResult`. ``circuit``: a Qiskit or qfab circuit;
        ``observables``: one or a list; ``params``: ``(P,)`` or ``(B, P)``.
        """
        circuit = from_qiskit(circuit) if isinstance(circuit, QuantumCircuit) else circuit
        sums, _ = as_pauli_sums(observables, circuit.num_qubits)
        values = np.atleast_2d(np.asarray([] if params is None else params, dtype=np.float64))
        values = values.reshape(-1, circuit.num_parameters)
        job = Job(circuit, values, tuple(sums), gradient="parameter-shift" if gradient else None, shots=shots,
                  seed=seed)
        return self.run([job])[0]

    # -- execution -------------------------------------------------------------------------
    def _estimator(self, shots: int, seed):
        if self.remote:
            from qiskit_ibm_runtime import EstimatorV2
            return EstimatorV2(mode=self.backend, options={"default_shots": shots})
        options = {"default_precision": 1 / np.sqrt(shots)}
        if seed is not None:
            options["seed_simulator"] = seed
        return BackendEstimatorV2(backend=self.backend, options=options)

    def _sampler(self, shots: int, seed):
        if self.remote:
            from qiskit_ibm_runtime import SamplerV2
            return SamplerV2(mode=self.backend, options={"default_shots": shots})
        options = {"default_shots": shots}
        if seed is not None:
            options["seed_simulator"] = seed
        return BackendSamplerV2(backend=self.backend, options=options)

    @staticmethod
    def _bindings(mapped: MappedCircuit, angles: np.ndarray) -> dict:
        """Gate-angle rows as bindings of the mapped circuit's parameters (transpilation may
        have merged or dropped some, so each is found by its position in the angle vector)."""
        present = list(mapped.mapped.parameters)
        columns = [p.index for p in present]
        return {tuple(present): angles[..., columns]} if present else {}

    def _expectations(self, mapped, angles: np.ndarray, observables, shots: int, seed):
        """``(R, M)`` angle rows -> evs and stds ``(R, K)``, one PUB for all rows."""
        physical = [mapped.observable(pauli_sum_to_sparse_pauli_op(o)) for o in observables]
        rows = angles[:, None, :]  # broadcast rows against the observables
        bindings = self._bindings(mapped, rows)
        pub = (mapped.mapped, [physical], bindings or None)
        data = self._estimator(shots, seed).run([pub], precision=1 / np.sqrt(shots)).result()[0].data
        evs = np.broadcast_to(data.evs, (len(angles), len(physical)))
        stds = np.broadcast_to(data.stds, evs.shape)
        return np.array(evs, dtype=float), np.array(stds, dtype=float)

    def execute(self, job: Job) -> QPUResult:
        self.refresh_calibration()
        self.jobs_run += 1
        shots = job.shots or self.shots
        seed = job.seed if job.seed is not None else self.seed
        result = QPUResult(device=self.name, seconds=0.0, shots=shots)
        if job.observables:
            shiftable, mapped = self.map(job.circuit)
            plan = shiftable.plan
            result.mapping = mapped.summary()
            if job.gradient == "parameter-shift":
                rows = plan.rows(job.params, unshifted=True)  # (B * (1 + S), M)
                evs, stds = self._expectations(mapped, rows, job.observables, shots, seed)
                evs = evs.reshape(-1, 1 + plan.num_shifted, len(job.observables))
                stds = stds.reshape(evs.shape)
                result.expectations, result.expectation_stds = evs[:, 0], stds[:, 0]
                result.gradients = plan.gradients(evs[:, 1:])
                result.gradient_stds = plan.gradient_stds(stds[:, 1:])  # the rows are independent runs
            else:
                result.expectations, result.expectation_stds = self._expectations(
                    mapped, plan.angles(job.params), job.observables, shots, seed)
        if job.shots and not job.observables:
            shiftable, mapped = self.map(job.circuit, measure=True)
            angles = shiftable.plan.angles(job.params)
            result.mapping = mapped.summary()
            bindings = self._bindings(mapped, angles)
            pub = (mapped.mapped, bindings or None)
            data = self._sampler(shots, seed).run([pub], shots=shots).result()[0].data
            bits = data.c
            result.counts = [bits[row].get_counts() if bits.ndim else bits.get_counts()
                             for row in range(len(angles))]
        return result

    # -- cost model ------------------------------------------------------------------------
    def profile(self) -> DeviceProfile:
        """What the planner weighs: waiting (queue, per-job latency), the time per shot, and
        the error a circuit picks up (median gate and readout errors of the calibration)."""
        target = self.backend.target

        def median(name, field):
            values = [getattr(p, field) for p in (target[name] or {}).values() if p is not None
                      and getattr(p, field) is not None] if name in target.operation_names else []
            return float(np.median(values)) if values else None

        two_qubit = next((g for g in ("ecr", "cz", "cx") if g in target.operation_names), None)
        measure_seconds = median("measure", "duration") or 0.0
        rep_delay = _DEFAULT_REP_DELAY_S
        configuration = getattr(self.backend, "configuration", None)
        if callable(configuration):
            try:
                rep_delay = float(configuration().default_rep_delay)  # seconds
            except (AttributeError, TypeError):
                pass
        return DeviceProfile(self.name, {
            "kind": "qpu",
            "backend": self.backend.name,
            "num_qubits": self.backend.num_qubits,
            "exact": False,
            "queue_seconds": self.queue_seconds,
            "latency_seconds": _REMOTE_LATENCY_S if self.remote else 0.0,
            "shares_host": not self.remote,  # a local simulator of the backend runs on this host
            "default_shots": self.shots,
            "shot_seconds": rep_delay + measure_seconds,  # plus the circuit's own duration
            "single_qubit_gate_seconds": median("sx", "duration"),
            "two_qubit_gate": two_qubit,
            "two_qubit_gate_seconds": median(two_qubit, "duration") if two_qubit else None,
            "median_single_qubit_error": median("sx", "error"),
            "median_two_qubit_error": median(two_qubit, "error") if two_qubit else None,
            "median_readout_error": median("measure", "error"),
        })

    def cost_model(self, parameters: dict | None = None) -> QPUCostModel:
        """The backend's own estimate of time and error (:class:`QPUCostModel`)."""
        return QPUCostModel(self, parameters)

    def calibrate(self, repeats: int = 3) -> dict:
        """Nothing to fit: the backend's calibration data prices it (:meth:`profile`)."""
        return {}

    def expected_error(self, circuit: Circuit) -> float:
        """1 - estimated success probability of the circuit as it would be mapped here."""
        return 1.0 - self.map(circuit)[1].estimated_success

    def estimated_seconds(self, circuit: Circuit, batch: int, shots: int | None = None,
                          gradient: bool = False) -> float:
        """Queue + latency + shots × (rep delay + readout + circuit duration) for every run."""
        parameters = self.profile().parameters
        shiftable, mapped = self.map(circuit)
        runs = batch * (1 + shiftable.plan.num_shifted if gradient else 1)
        # The mapped depth in two-qubit gate times bounds the circuit's own duration.
        depth_seconds = mapped.depth * (parameters["two_qubit_gate_seconds"] or 0.0)
        shot_seconds = parameters["shot_seconds"] + depth_seconds
        return parameters["queue_seconds"] + parameters["latency_seconds"] + runs * (shots or self.shots) * shot_seconds
