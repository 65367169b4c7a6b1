"""A workload: the jobs to plan, each with what it needs from a device.

``gradient=True`` asks for exact gradients by whatever method a device offers (adjoint where it
has it, the parameter-shift rule otherwise: the values agree), so the planner may place the job
on a device that only shifts. ``accuracy`` is the largest error the caller accepts: devices whose
expected error is above it (fixed point, shot noise, hardware noise) are excluded. It defaults to
``"exact"``, as exact as the job's dtype (or its shots) allows, so that a plan never trades a
caller's exact results for a fixed-point or noisy device's speed unless asked to; ``None``
accepts any error. ``after`` names earlier jobs whose results this one waits for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from qfab.backends.base import Device, Job
from qfab.errors import InputError, InputTypeError

__all__ = ["Workload", "WorkItem", "EXACT", "exact_accuracy"]

EXACT = "exact"


def exact_accuracy(job: Job) -> float:
    """The error a job that asked for nothing looser accepts: its dtype's, or its shot noise."""
    if job.shots:
        return 1.0 / np.sqrt(job.shots)
    return 1e-5 if np.dtype(job.dtype) == np.complex64 else 1e-10


def _resolve(accuracy, job: Job) -> float | None:
    """``accuracy`` as the planner reads it: ``"exact"`` resolved for ``job``, None (any error), or a
    finite number > 0 (checked: a NaN would exclude every device, a string would fail mid-plan)."""
    if isinstance(accuracy, str) and accuracy == EXACT:
        return exact_accuracy(job)
    if accuracy is None:
        return None
    if isinstance(accuracy, (bool, np.bool_)) or not isinstance(accuracy, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"accuracy must be {EXACT!r}, None or a number > 0, got {accuracy!r}")
    if not (math.isfinite(accuracy) and accuracy > 0):
        raise InputError(f"accuracy must be a finite number > 0 (or {EXACT!r}, or None), got {accuracy!r}")
    return float(accuracy)


@dataclass(frozen=True)
class WorkItem:
    job: Job
    accuracy: float | None = None
    after: tuple[int, ...] = ()
    any_gradient_method: bool = False

    def job_for(self, device: Device) -> Job:
        """The job as ``device`` runs it: a gradient method it offers when any method will do."""
        methods = device.capabilities.gradient_methods
        if self.any_gradient_method and self.job.gradient not in methods and methods:
            exact = [m for m in ("adjoint", "parameter-shift") if m in methods]
            if exact:
                return replace(self.job, gradient=exact[0])
        return self.job


class Workload:
    """Jobs in the order results come back."""

    def __init__(self):
        self.items: list[WorkItem] = []

    @classmethod
    def from_jobs(cls, jobs, accuracy: float | str | None = EXACT) -> "Workload":
        work = cls()
        for job in jobs:
            if not isinstance(job, Job):
                raise InputTypeError(f"from_jobs takes qfab.backends.Job objects, got {type(job).__name__}")
            work.items.append(WorkItem(job, _resolve(accuracy, job)))
        return work

    def add(self, circuit, observables, params_batch, gradient=True, shots: int | None = None,
            accuracy: float | str | None = EXACT, after=(), dtype=np.complex128) -> int:
        """Add a circuit over a batch of parameter sets; returns the job's index.

        ``gradient``: True (exact, any method), False/None (values only), or "adjoint" /
        "parameter-shift" to insist on one.
        """
        from qfab.core.inputs import as_circuit, as_dtype, as_params, as_shots
        from qfab.core.observables import as_pauli_sums

        circuit, dtype = as_circuit(circuit), as_dtype(dtype)
        shots = None if shots is None else as_shots(shots)
        sums = tuple(as_pauli_sums(observables, circuit.num_qubits)[0]) if observables is not None else ()
        values, _ = as_params(circuit, params_batch)
        if gradient is True:
            method, flexible = "adjoint", True
        elif gradient in (False, None):
            method, flexible = None, False
        elif gradient in ("adjoint", "parameter-shift"):
            method, flexible = gradient, False
        else:
            raise InputError(f"gradient must be True, False, 'adjoint' or 'parameter-shift', got {gradient!r}")
        if method and not sums:
            raise InputError("a gradient needs observables")
        try:
            after = tuple(after)
        except TypeError as err:
            raise InputTypeError(f"after must be a sequence of job indices, got {after!r}") from err
        if any(isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) for a in after):
            raise InputTypeError(f"after={after!r} must hold job indices (integers; 1.5 is not truncated)")
        after = tuple(int(a) for a in after)
        if any(not 0 <= a < len(self.items) for a in after):
            raise InputError(f"after={after} must name jobs already added (0..{len(self.items) - 1})")
        job = Job(circuit, values, sums, gradient=method, shots=shots, want_state=not sums and not shots, dtype=dtype)
        self.items.append(WorkItem(job, _resolve(accuracy, job), after, flexible))
        return len(self.items) - 1

    def __len__(self) -> int:
        return len(self.items)
