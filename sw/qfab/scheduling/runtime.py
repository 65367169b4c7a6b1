"""The runtime: one worker thread per device, concurrently, honouring dependencies.

Each device's worker takes its tasks in planned order, waits for the tasks they depend on, runs
them and records the measured time. A device that raises, or whose task runs past
``timeout_factor`` x its prediction (at least ``min_timeout_s``), is retired: its running and
queued tasks move to the live device that would finish them first. A task completes once: a
late answer from a retired device is discarded, so no result is lost or duplicated. Results come
back merged per job, in job order, with each job's provenance (device, rows, predicted and
measured seconds); the measured times refine the history the planner reads.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from qfab.backends.base import JobResult
from qfab.scheduling.history import SLOW_RATIO
from qfab.scheduling.planner import Plan, Task

__all__ = ["run", "RunResult", "TaskRecord"]


@dataclass
class TaskRecord:
    task: int
    job_index: int
    rows: tuple[int, int]
    device: str
    predicted_s: float
    measured_s: float
    moved_from: tuple[str, ...] = ()


@dataclass
class RunResult:
    plan: Plan
    results: list[JobResult]
    provenance: list[list[TaskRecord]]
    events: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def __getitem__(self, index: int) -> JobResult:
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def slow_devices(self) -> dict[str, float]:
        """Devices whose measured/predicted ratio (median over their tasks) exceeds SLOW_RATIO."""
        ratios = {}
        for device in self.plan.devices:
            mine = [r.measured_s / r.predicted_s for rs in self.provenance for r in rs if r.device == device and r.predicted_s > 0]
            if mine and np.median(mine) > SLOW_RATIO:
                ratios[device] = float(np.median(mine))
        return ratios

    def report(self) -> str:
        lines = [f"run: {len(self.results)} jobs, predicted makespan {self.plan.makespan * 1e3:.2f} ms, "
                 f"measured wall {self.wall_s * 1e3:.2f} ms"]
        records = [r for rs in self.provenance for r in rs]
        for device in self.plan.devices:
            mine = [r for r in records if r.device == device]
            predicted = sum(r.predicted_s for r in mine)
            measured = sum(r.measured_s for r in mine)
            error = np.median([abs(r.predicted_s - r.measured_s) / r.measured_s for r in mine]) if mine else float("nan")
            lines.append(f"{device}: {len(mine)} tasks, predicted {predicted * 1e3:.2f} ms, measured {measured * 1e3:.2f} ms, "
                         f"median |error| {100 * error:.0f} %")
        for device, ratio in self.slow_devices().items():
            lines.append(f"SLOW: {device} ran {ratio:.1f}x slower than predicted (degraded or mis-calibrated)")
        lines += [f"event: {e}" for e in self.events]
        return "\n".join(lines)


def _merge(parts: list[tuple[int, JobResult]], device_names: list[str]) -> JobResult:
    """Chunks of one job (ordered by their first row) joined along the batch axis."""
    parts = [r for _, r in sorted(parts, key=lambda p: p[0])]

    def join(name):
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    counts = None if any(p.counts is None for p in parts) else [c for p in parts for c in p.counts]
    return JobResult("+".join(dict.fromkeys(device_names)), sum(p.seconds for p in parts), join("expectations"),
                     join("gradients"), join("states"), counts)


class _Scheduler:
    """Shared state of the workers: queues, completions, retired devices."""

    def __init__(self, plan: Plan, timeout_factor: float, min_timeout_s: float, progress):
        self.plan = plan
        self.timeout_factor, self.min_timeout_s = timeout_factor, min_timeout_s
        self.lock = threading.Condition()
        self.queues = {name: deque(sorted((t for t in plan.tasks if t.device == name), key=lambda t: t.start))
                       for name in plan.devices}
        self.done: dict[int, tuple[TaskRecord, JobResult]] = {}
        self.running: dict[str, tuple[Task, float, float]] = {}  # device -> (task, started, deadline)
        self.retired: dict[str, str] = {}
        self.lost: set[int] = set()  # tasks no live device can run, and tasks waiting on them
        self.moved: dict[int, list[str]] = {}
        self.events: list[str] = []
        self.bar = progress
        resources = plan.resources
        # devices on the same resource (the host's cores) run one task at a time between them
        self.peers = {name: [d for d in plan.devices if d != name and resources[d] == resources[name]]
                      for name in plan.devices}

    def _retire(self, device: str, why: str) -> None:
        """Move the device's unfinished tasks to the live devices that finish them first."""
        self.retired[device] = why
        self.events.append(f"device {device} retired: {why}")
        orphans = list(self.queues[device])
        self.queues[device].clear()
        if device in self.running:
            orphans.insert(0, self.running.pop(device)[0])
        live = [d for d in self.plan.devices if d not in self.retired]
        for task in orphans:
            if task.id in self.done:
                continue
            options = []
            for name in live:
                job = self.plan.device_job(task, name)
                try:
                    self.plan.devices[name].check(job)
                except Exception:
                    continue
                backlog = sum(t.predicted for t in self.queues[name])
                options.append((backlog + self.plan.estimator.predict(name, job)[0], name))
            if not options:
                self.lost.add(task.id)
                self.events.append(f"task {task.id} (job {task.job_index}) has no live device that can run it")
                continue
            target = min(options)[1]
            self.moved.setdefault(task.id, []).append(device)
            self.queues[target].append(task)
            self.events.append(f"task {task.id} (job {task.job_index}, rows {task.rows[0]}..{task.rows[1]}) moved {device} -> {target}")
        self.lock.notify_all()

    def next_task(self, device: str) -> Task | None:
        with self.lock:
            while True:
                if device in self.retired:
                    return None
                queue = self.queues[device]
                if queue:
                    task = queue[0]
                    if any(d in self.lost for d in task.depends_on):
                        queue.popleft()
                        self.lost.add(task.id)
                        self.events.append(f"task {task.id} (job {task.job_index}) dropped: it depends on a lost task")
                        self.lock.notify_all()
                        continue
                    if all(d in self.done for d in task.depends_on) and self._my_turn(device, task):
                        queue.popleft()
                        predicted = self.plan.estimator.predict(device, self.plan.device_job(task, device))[0]
                        now = time.perf_counter()
                        self.running[device] = (task, now, now + max(self.timeout_factor * predicted, self.min_timeout_s))
                        return task
                elif self.finished():
                    return None
                self.lock.wait(0.05)

    def _my_turn(self, device: str, task: Task) -> bool:
        """A device sharing its resource runs only while none of its peers does, and lets a
        peer whose next task is ready and planned earlier go first (the plan's order)."""
        for peer in self.peers[device]:
            if peer in self.running:
                return False
            queue = self.queues[peer]
            if (peer not in self.retired and queue and queue[0].start < task.start
                    and all(d in self.done for d in queue[0].depends_on)):
                return False
        return True

    def finished(self) -> bool:
        return len(self.done) == len(self.plan.tasks) or not any(self.queues.values()) and not self.running

    def complete(self, device: str, task: Task, result: JobResult, seconds: float) -> None:
        with self.lock:
            current = self.running.get(device)
            if device in self.retired or current is None or current[0].id != task.id or task.id in self.done:
                return  # a late answer from a retired device: the task was moved
            del self.running[device]
            job = self.plan.device_job(task, device)
            # the plan's own prediction, unless the task moved (then what was predicted there)
            predicted = task.predicted if device == task.device else self.plan.estimator.predict(device, job)[0]
            record = TaskRecord(task.id, task.job_index, task.rows, device, predicted, seconds, tuple(self.moved.get(task.id, ())))
            self.done[task.id] = (record, result)
            history = self.plan.estimator.history
            history.record(device, job, seconds, self.plan.estimator.modelled(device, job),
                           self.plan.estimator.model_id(device))
            if self.bar is not None:
                self.bar.update(1)
            self.lock.notify_all()

    def fail(self, device: str, task: Task, error: BaseException) -> None:
        with self.lock:
            if device not in self.retired:
                self._retire(device, f"{type(error).__name__}: {error} (while running task {task.id})")

    def watch(self) -> None:
        """Retire devices whose running task is past its deadline; return when all is done."""
        with self.lock:
            while not self.finished():
                now = time.perf_counter()
                for device, (task, started, deadline) in list(self.running.items()):
                    if now > deadline:
                        self._retire(device, f"task {task.id} timed out after {now - started:.2f} s")
                self.lock.wait(0.02)


def _worker(scheduler: _Scheduler, device_name: str) -> None:
    device = scheduler.plan.devices[device_name]
    while (task := scheduler.next_task(device_name)) is not None:
        job = scheduler.plan.device_job(task, device_name)
        start = time.perf_counter()
        try:
            result = device.run([job])[0]
        except Exception as error:  # any device failure: retire it, move its work
            scheduler.fail(device_name, task, error)
            return
        scheduler.complete(device_name, task, result, time.perf_counter() - start)


def run(plan: Plan, cluster=None, progress: bool | None = None, timeout_factor: float = 20.0,
        min_timeout_s: float = 30.0, save_history: bool = True) -> RunResult:
    """Run ``plan``: locally with one thread per device, or on a Dask cluster (``cluster``: an
    address like ``"tcp://host:8786"`` or a ``dask.distributed.Client``). ``progress``: a tqdm
    bar over tasks (None: only on a terminal)."""
    if cluster is not None:
        from qfab.scheduling.distributed import run_on_dask

        return run_on_dask(plan, cluster, progress=progress, save_history=save_history)
    bar = tqdm(total=len(plan.tasks), desc="qfab", unit="task", disable=None if progress is None else not progress)
    scheduler = _Scheduler(plan, timeout_factor, min_timeout_s, bar)
    start = time.perf_counter()
    threads = [threading.Thread(target=_worker, args=(scheduler, name), name=f"qfab-{name}", daemon=True)
               for name in plan.devices]
    for thread in threads:
        thread.start()
    scheduler.watch()
    wall = time.perf_counter() - start
    bar.close()
    result = collect(plan, {tid: rec for tid, rec in scheduler.done.items()}, scheduler.events, wall)
    if save_history:
        plan.estimator.history.save()
    return result


def collect(plan: Plan, done: dict, events: list[str], wall: float) -> RunResult:
    """Merge completed tasks per job; raise if any task has no result."""
    missing = [t.id for t in plan.tasks if t.id not in done]
    if missing:
        raise RuntimeError(f"tasks {missing} could not run on any live device:\n" + "\n".join(events))
    results, provenance = [], []
    for index in range(len(plan.workload)):
        mine = [done[t.id] for t in plan.tasks if t.job_index == index]
        provenance.append([record for record, _ in mine])
        results.append(_merge([(record.rows[0], result) for record, result in mine], [r.device for r, _ in mine]))
    return RunResult(plan, results, provenance, list(events), wall)
