"""The runtime: run a plan on this machine, one thread per device, or on a Dask cluster.

What runs when, what a failing or hanging device's tasks become and what is reported is the
policy's, the same for both: by default the adaptive policy (:mod:`qfab.scheduling.adaptive`:
chunks, stealing, re-planning at the measured rates, on top of failover), with ``adapt=False``
the static plan with failover only (:mod:`qfab.scheduling.failover`). This module is the local
transport: each device has one long-lived daemon thread that runs the jobs handed to it, so a
device always sees the same thread (a GPU's context, a board's driver state) and a hung device
holds only its own. Results come back merged per job, in job order, with each job's provenance
(device, rows, predicted and measured seconds); the measured times refine the history the
planner reads.
"""
from __future__ import annotations

import concurrent.futures
import queue
import threading
import time

from qfab.backends.base import Device, Job, JobResult
from qfab.scheduling.adaptive import LOCAL_TASK_OVERHEAD_S, Adaptive
from qfab.scheduling.failover import MIN_TIMEOUT_S, TIMEOUT_FACTOR, Failover, RunResult, TaskRecord, drive
from qfab.scheduling.planner import Plan, Task

__all__ = ["run", "RunResult", "TaskRecord"]


class _Threads:
    """The local :class:`~qfab.scheduling.failover.Transport`: handles are
    ``concurrent.futures.Future`` objects, completed by the device's thread."""

    name = "qfab"

    def __init__(self, devices: dict[str, Device]):
        self.devices = devices
        self.inboxes: dict[str, queue.SimpleQueue] = {}

    def submit(self, device: str, task: Task, job: Job) -> concurrent.futures.Future:
        if device not in self.inboxes:
            self.inboxes[device] = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(self.devices[device], self.inboxes[device]),
                             name=f"qfab-{device}", daemon=True).start()
        future = concurrent.futures.Future()
        self.inboxes[device].put((job, future))
        return future

    def wait(self, handles: list, timeout: float) -> set:
        return concurrent.futures.wait(handles, timeout, concurrent.futures.FIRST_COMPLETED).done

    def outcome(self, handle: concurrent.futures.Future) -> tuple[JobResult, float]:
        return handle.result()

    def abandon(self, handle: concurrent.futures.Future) -> None:
        """A thread cannot be stopped: it finishes (or hangs) on its own, and nobody reads it."""

    def close(self) -> None:
        for inbox in self.inboxes.values():
            inbox.put(None)


def _serve(device: Device, inbox: queue.SimpleQueue) -> None:
    """A device's thread: run each job handed over, timed, until told to stop (None)."""
    while (item := inbox.get()) is not None:
        job, future = item
        start = time.perf_counter()
        try:
            result = device.run([job])[0]
        except Exception as error:  # the device's failure is the task's outcome
            future.set_exception(error)
            continue
        future.set_result((result, time.perf_counter() - start))


def run(plan: Plan, cluster=None, progress: bool | None = None, timeout_factor: float = TIMEOUT_FACTOR,
        min_timeout_s: float = MIN_TIMEOUT_S, save_history: bool = True, adapt: bool = True,
        chunk_s: float | None = None) -> RunResult:
    """Run ``plan``: locally with one thread per device, or on a Dask cluster (``cluster``: an
    address like ``"tcp://host:8786"``, a ``LocalCluster`` or a ``dask.distributed.Client``).
    ``adapt`` (default): the adaptive policy, which issues the work in chunks (of about
    ``chunk_s`` predicted seconds; None: from the plan), lets idle devices steal chunks and
    re-plans the rest when a device's measured rate leaves its predicted band
    (:mod:`qfab.scheduling.adaptive`); False: the static plan as made. Either way, a device that
    raises, returns NaN, or whose task runs past ``timeout_factor`` x its prediction (at least
    ``min_timeout_s``) is retired and its tasks move (:mod:`qfab.scheduling.failover`).
    ``progress``: a tqdm bar over tasks (None: only on a terminal)."""
    if cluster is not None:
        from qfab.scheduling.distributed import run_on_dask

        return run_on_dask(plan, cluster, progress=progress, timeout_factor=timeout_factor,
                           min_timeout_s=min_timeout_s, save_history=save_history, adapt=adapt, chunk_s=chunk_s)
    if adapt:
        policy = Adaptive(plan, timeout_factor, min_timeout_s, chunk_s=chunk_s, task_overhead_s=LOCAL_TASK_OVERHEAD_S)
    else:
        policy = Failover(plan, timeout_factor, min_timeout_s)
    return drive(policy, _Threads(plan.devices), progress, save_history)
