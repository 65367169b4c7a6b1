"""``device="auto"`` for a call's jobs, without the runtime's machinery where the plan would not use it.

A plan for one job costs the planner (every device's eligibility check and prediction) and the
runtime (a thread per device, the policy, the history's bookkeeping): milliseconds, which is more
than a small job itself takes (a 2-qubit expectation runs in tens of microseconds). So the first job
of a shape (the history's :func:`~qfab.scheduling.history.signature` and the batch size) is planned
and run in full; when the planner put it whole on one device, predicted under
:data:`DIRECT_BELOW_S`, and it ran there without failover, the choice is remembered, and the next
jobs of that shape go to that device directly. A remembered choice is re-made after
:data:`REPLAN_AFTER` direct runs (measurements refine the history, devices come and go) and at once
when the device raises or returns a non-finite result: that job then takes the full path, whose
failover moves it to another device.

Before any of that, a job only the CPU can sensibly run goes to it without a plan: an exact job
small enough for the CPU's numpy path (:func:`qfab.backends.cpu.small.is_small`: no gradient, at
most 10 qubits and 256 gate applications) costs the CPU microseconds, which no other device
beats (the FPGA is never chosen for exact work, a GPU's launches and copies alone cost more), and
planning it would start every device's cost model, numba's included: 1-1.5 s in a new process.
"""
from __future__ import annotations

import threading

from qfab.backends import Job, JobResult, get_device
from qfab.backends.cpu.small import is_small
from qfab.scheduling.failover import non_finite
from qfab.scheduling.history import signature
from qfab.scheduling.planner import plan
from qfab.scheduling.runtime import run
from qfab.scheduling.workload import Workload

__all__ = ["run_job", "run_jobs", "DIRECT_BELOW_S", "REPLAN_AFTER", "forget_choices"]

#: A job shape whose whole plan is predicted below this runs directly on the planned device next time.
DIRECT_BELOW_S = 0.05
#: Direct runs of a shape before the planner is asked again.
REPLAN_AFTER = 200
#: Shapes remembered at most (the oldest go first).
MAX_SHAPES = 4096

_choices: dict[tuple[str, int], list] = {}  # (signature, batch) -> [device name, direct runs left]
_lock = threading.Lock()


def forget_choices() -> None:
    """Drop every remembered choice (the next job of each shape is planned again)."""
    with _lock:
        _choices.clear()


def run_job(job: Job) -> JobResult:
    """Run ``job`` on the device the planner would choose (see the module docstring)."""
    return run_jobs([job])[0]


def run_jobs(jobs: list[Job]) -> list[JobResult]:
    """Run ``jobs`` where the planner would put them: directly on one device when jobs of these
    shapes were planned whole onto that device before, else through :func:`plan` and :func:`run`;
    small exact jobs straight to the CPU (the module docstring)."""
    if all(is_small(job) for job in jobs):
        results = _direct("cpu", jobs)
        if results is not None:
            return results
    key = tuple((signature(job), job.batch) for job in jobs)
    with _lock:
        entry = _choices.get(key)
        if entry is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                del _choices[key]
    if entry is not None:
        results = _direct(entry[0], jobs)
        if results is not None:
            return results
        with _lock:
            _choices.pop(key, None)
    schedule = plan(Workload.from_jobs(jobs))
    outcome = run(schedule, progress=False)
    devices = {task.device for task in schedule.tasks}
    as_planned = all(len(records) == 1 and records[0].device in devices and not records[0].moved_from
                     for records in outcome.provenance)
    if len(devices) == 1 and len(schedule.tasks) == len(jobs) and schedule.makespan < DIRECT_BELOW_S and as_planned:
        with _lock:
            if len(_choices) >= MAX_SHAPES:
                del _choices[next(iter(_choices))]
            _choices[key] = [devices.pop(), REPLAN_AFTER]
    return list(outcome)


def _direct(device_name: str, jobs: list[Job]) -> list[JobResult] | None:
    """The jobs' results from ``device_name``, or None when the device fails them (the caller
    then takes the full path, where failover handles the device)."""
    try:
        results = get_device(device_name).run(jobs)
    except Exception:  # noqa: BLE001 - any device failure: the runtime's failover decides what it means
        return None
    return None if any(non_finite(result) is not None for result in results) else results
