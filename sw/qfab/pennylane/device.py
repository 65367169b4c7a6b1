"""qfab as a PennyLane device (PennyLane's ``qml.devices.Device`` API).

``qml.device("qfab.cpu", wires=n)`` runs tapes on qfab's CPU engine, ``"qfab.fpga"`` on qfab's
FPGA device (its default transport: the bit-accurate model; gradients computed on the chip),
``"qfab.auto"`` through qfab's planner over every available device.

A batch of tapes is translated (:mod:`qfab.pennylane.translate`), grouped by circuit structure
(tapes that differ only in rotation angles and, for expectation values, measure the same
observables) and each group runs as one qfab job of ``B`` parameter sets. Analytic expectation
values of Pauli sums (and small matrix observables, decomposed into Pauli words) come from
qfab's expectation kernels, their derivatives from qfab's adjoint gradient (or the device's best
method); any other measurement, and every measurement with shots, is taken by PennyLane's own
measurement functions on the state qfab returns (which is PennyLane's state, amplitude for
amplitude: see the wire map in :mod:`qfab.pennylane.translate`).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import (decompose, no_sampling, validate_adjoint_trainable_params,
                                          validate_device_wires, validate_measurements, validate_observables)
from pennylane.devices.qubit.simulate import measure_final_state
from pennylane.exceptions import DeviceError
from pennylane.measurements import ExpectationMP
from pennylane.transforms import broadcast_expand, defer_measurements

from qfab.backends import Job, best_gradient_method, get_device
from qfab.pennylane.translate import (ROTATIONS, differentiable_operation, pauli_observable, pauli_op, pauli_sums,
                                      supported_operation, translate_tape)

try:  # PennyLane >= 0.44
    from pennylane.transforms.core import CompilePipeline
except ImportError:  # pragma: no cover - older PennyLane
    from pennylane.transforms.core import TransformProgram as CompilePipeline

__all__ = ["QfabDevice", "QfabCPU", "QfabFPGA", "QfabAuto"]

_GRADIENT_METHODS = ("adjoint", "best", "device")
#: What PennyLane's graph decomposition targets for qfab (used only when it is enabled).
_TARGET_GATES = set(ROTATIONS) | {"GlobalPhase", "PauliX", "PauliY", "PauliZ", "Hadamard", "S", "T", "SX", "CNOT",
                                  "CZ", "CY", "SWAP", "Toffoli", "Identity"}


def _stopping_condition(op) -> bool:
    return supported_operation(op)


def _adjoint_observable(obs) -> bool:
    return pauli_observable(obs) is not None


def _expval_only(mp) -> bool:
    return isinstance(mp, ExpectationMP)


def _format_jacobian(jac: np.ndarray):
    """PennyLane's layout of a (measurements, trainable parameters) Jacobian."""
    jac = np.squeeze(jac)
    if jac.ndim == 0:
        return np.array(jac)
    if jac.ndim == 1:
        return tuple(np.array(j) for j in jac)
    return tuple(tuple(np.array(j_) for j_ in j) for j in jac)


class _Entry:
    """One tape on its way through a batch."""

    __slots__ = ("tape", "num_wires", "translated", "sums", "group")

    def __init__(self, tape, num_wires, translated, sums, group):
        self.tape, self.num_wires, self.translated, self.sums, self.group = tape, num_wires, translated, sums, group


@simulator_tracking
@single_tape_support
class QfabDevice(Device):
    """A PennyLane device over a qfab device (``qfab_device``: ``"cpu"``, ``"fpga"``, ``"gpu"``,
    ``"auto"`` or a :class:`qfab.backends.Device`).

    Args:
        wires: number of wires or their labels (any hashable labels).
        shots: PennyLane's (deprecated) device shots; prefer ``qml.set_shots`` on the QNode.
        seed: seed of the generator that draws samples (``"global"``: from NumPy's global one).
    """

    qfab_device = "cpu"
    short_name = "qfab.device"

    def __init__(self, wires=None, shots=None, seed="global", qfab_device=None):
        super().__init__(wires=wires, shots=shots)
        if qfab_device is not None:
            self.qfab_device = qfab_device
        if isinstance(seed, str) and seed == "global":
            seed = np.random.randint(0, 2**31 - 1)
        self._rng = np.random.default_rng(seed)

    @property
    def name(self) -> str:
        return self.short_name

    # ---- configuration -------------------------------------------------------------------------

    def _gradient_method(self) -> str:
        """qfab's method for a PennyLane device gradient: the adjoint wherever the device has it,
        else its best (the FPGA's on-chip shift loop)."""
        return best_gradient_method(self.qfab_device)

    def setup_execution_config(self, config: ExecutionConfig | None = None, circuit=None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        updated = {"convert_to_numpy": True}
        method = config.gradient_method
        if method in _GRADIENT_METHODS:
            method = "adjoint"
            updated["gradient_method"] = "adjoint"
        if config.use_device_gradient is None:
            updated["use_device_gradient"] = method == "adjoint"
        updated["use_device_jacobian_product"] = False  # no device VJP: PennyLane contracts the Jacobian
        if config.grad_on_execution is None:
            updated["grad_on_execution"] = method == "adjoint"
        mcm = config.mcm_config
        if mcm.mcm_method not in (None, "deferred"):
            raise DeviceError(f"{self.name} supports mid-circuit measurements only with mcm_method='deferred', "
                              f"not {mcm.mcm_method!r}")
        updated["mcm_config"] = replace(mcm, mcm_method="deferred")
        return replace(config, **updated)

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None):
        config = execution_config or ExecutionConfig()
        program = CompilePipeline()
        program.add_transform(defer_measurements, allow_postselect=False)
        program.add_transform(decompose, stopping_condition=_stopping_condition, skip_initial_state_prep=False,
                              device_wires=self.wires, target_gates=_TARGET_GATES, name=self.name)
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(validate_measurements, name=self.name)
        program.add_transform(broadcast_expand)
        if config.gradient_method == "adjoint":
            self._add_adjoint_transforms(program)
        return program

    def _add_adjoint_transforms(self, program) -> None:
        name = f"adjoint + {self.name}"
        program.add_transform(no_sampling, name=name)
        program.add_transform(decompose, stopping_condition=differentiable_operation, skip_initial_state_prep=False,
                              device_wires=self.wires, target_gates=_TARGET_GATES, name=name)
        program.add_transform(validate_observables, _adjoint_observable, name=name)
        program.add_transform(validate_measurements, analytic_measurements=_expval_only, name=name)
        program.add_transform(validate_adjoint_trainable_params)

    def supports_derivatives(self, execution_config: ExecutionConfig | None = None, circuit=None) -> bool:
        if execution_config is None:
            return True
        if execution_config.gradient_method not in _GRADIENT_METHODS or execution_config.derivative_order > 1:
            return False
        if circuit is None:
            return True
        if circuit.shots:
            return False
        program = CompilePipeline()
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        self._add_adjoint_transforms(program)
        try:
            program((circuit,))
        except (DeviceError, qml.operation.DecompositionUndefinedError, AttributeError):
            return False
        return True

    # ---- execution -----------------------------------------------------------------------------

    def execute(self, circuits, execution_config: ExecutionConfig | None = None):
        return tuple(self._run(circuits, derivatives=False)[0])

    def compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        return tuple(self._run(circuits, derivatives=True)[1])

    def execute_and_compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        results, jacobians = self._run(circuits, derivatives=True)
        return tuple(results), tuple(jacobians)

    def _wire_map(self, tape):
        wires = self.wires if self.wires is not None else tape.wires
        return {w: i for i, w in enumerate(wires)}, max(len(wires), 1)

    def _prepare(self, tape, derivatives: bool) -> _Entry:
        wire_map, num_wires = self._wire_map(tape)
        if all(w == i for w, i in wire_map.items()) and set(tape.wires) <= set(wire_map):
            mapped = tape  # already 0..n-1
        else:
            mapped = qml.tape.QuantumScript([op.map_wires(wire_map) for op in tape.operations],
                                            [mp.map_wires(wire_map) for mp in tape.measurements],
                                            shots=tape.shots, trainable_params=tape.trainable_params)
        translated = translate_tape(mapped, num_wires)
        sums = None
        if not tape.shots and tape.measurements and all(isinstance(m, ExpectationMP) for m in tape.measurements):
            sentences = [pauli_observable(m.obs) for m in mapped.measurements]
            if all(s is not None for s in sentences):
                sums = [pauli_op(s, num_wires) for s in sentences]
        if derivatives and sums is None:
            raise DeviceError(f"{self.name} differentiates analytic expectation values of Pauli sums only")
        if sums is None:
            group = ("state", translated.key)
        else:
            group = ("expval", translated.key, tuple((tuple(s.paulis.to_labels()), s.coeffs.tobytes()) for s in sums))
        return _Entry(mapped, num_wires, translated, sums, group)

    def _submit(self, jobs):
        if isinstance(self.qfab_device, str) and self.qfab_device == "auto":
            from qfab.scheduling import Workload, plan, run

            return run(plan(Workload.from_jobs(jobs)), progress=False)
        return get_device(self.qfab_device).run(jobs)

    def _run(self, circuits, derivatives: bool):
        entries = [self._prepare(tape, derivatives) for tape in circuits]
        groups: dict[tuple, list[int]] = {}
        for position, entry in enumerate(entries):
            groups.setdefault(entry.group, []).append(position)
        method = self._gradient_method() if derivatives else None
        jobs = []
        for members in groups.values():
            first = entries[members[0]]
            params = np.stack([entries[m].translated.values for m in members]).reshape(len(members), -1)
            if first.sums is None:
                jobs.append(Job(first.translated.circuit, params, want_state=True))
            else:
                jobs.append(Job(first.translated.circuit, params, pauli_sums(first.sums, first.num_wires),
                                gradient=method))
        job_results = self._submit(jobs)
        results, jacobians = [None] * len(entries), [None] * len(entries)
        for members, result in zip(groups.values(), job_results):
            for row, position in enumerate(members):
                entry = entries[position]
                if entry.sums is None:
                    state = np.asarray(result.states[row]).reshape((2,) * entry.num_wires)
                    results[position] = measure_final_state(entry.tape, state, False, rng=self._rng)
                    continue
                values = np.real(np.asarray(result.expectations[row], dtype=np.complex128))
                results[position] = values[0] if len(values) == 1 else tuple(values)
                if derivatives:
                    jacobians[position] = self._jacobian(entry, np.real(result.gradients[row]))
        return results, jacobians

    @staticmethod
    def _jacobian(entry: _Entry, gradients: np.ndarray):
        """The (measurements, trainable parameters) Jacobian from qfab's (K, P) gradient."""
        columns = []
        zeros = np.zeros(gradients.shape[0])
        for t in entry.tape.trainable_params:
            # an observable's data, or data in a fixed matrix that PennyLane does not differentiate
            # (the adjoint transforms decompose every op whose data require a gradient): zero, as
            # default.qubit's adjoint gives
            index = entry.translated.qfab_index[t] if t < len(entry.translated.qfab_index) else None
            columns.append(zeros if index is None else gradients[:, index])
        jac = np.stack(columns, axis=1) if columns else np.zeros((gradients.shape[0], 0))
        return _format_jacobian(jac)


class QfabCPU(QfabDevice):
    """``qml.device("qfab.cpu", wires=n)``: qfab's numba CPU engine."""

    qfab_device = "cpu"
    short_name = "qfab.cpu"


class QfabFPGA(QfabDevice):
    """``qml.device("qfab.fpga", wires=n)``: qfab's FPGA device (by default its bit-accurate model
    transport; fixed-point results), gradients on the chip."""

    qfab_device = "fpga"
    short_name = "qfab.fpga"


class QfabAuto(QfabDevice):
    """``qml.device("qfab.auto", wires=n)``: qfab's planner chooses (and splits) among every
    available device."""

    qfab_device = "auto"
    short_name = "qfab.auto"
