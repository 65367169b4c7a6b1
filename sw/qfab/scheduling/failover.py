"""Failover: one policy for what happens to a plan's tasks when a device fails or hangs.

The local runtime (threads) and the Dask runtime (futures) differ only in how a task reaches its
device. What runs next, what a failure or a timeout retires, where the retired device's work
goes and what is reported when nothing can take it are decided here, once, by :class:`Failover`,
and :func:`drive` is the loop both runtimes run it with over their :class:`Transport`. So the
same fault moves the same tasks to the same devices wherever the plan runs.

The rules:

- each device runs one task at a time, in planned order (earliest planned start first), once the
  tasks it depends on are done; devices on the host's cores take turns, as the plan assumed;
- a device whose task raises, runs past ``timeout_factor`` x its prediction (at least
  ``min_timeout_s``), or answers with numbers that are not finite (NaN or infinite expectations,
  gradients, states: :func:`non_finite`), is retired, and every task it had not finished (the
  running one and its queue) moves;
- a task moves only to a live device that accepts it: the planner did not exclude that device
  for the job (``Device.check`` on the whole job, the accuracy asked for) and ``check`` accepts
  the rows it would run; among those, to the one that would finish it first, as the planner
  places work: the predicted seconds still queued on the device's timeline (the host's cores
  count as one timeline) plus the task's predicted seconds there;
- a task no device accepts is lost, with the tasks that depend on it; the run ends with
  :class:`NoLiveDeviceError` naming each lost task and why every device refused it;
- a task completes once: an answer from a device that no longer runs it is discarded.
"""
from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from qfab.backends.base import Job, JobResult
from qfab.errors import DeviceError
from qfab.scheduling.history import SLOW_RATIO
from qfab.scheduling.planner import Plan, Task

__all__ = ["Failover", "Mark", "NoLiveDeviceError", "NonFiniteResultError", "non_finite", "Transport", "drive", "RunResult", "TaskRecord",
           "TIMEOUT_FACTOR", "MIN_TIMEOUT_S"]

TIMEOUT_FACTOR = 20.0  # a task running this many times its prediction has hung
MIN_TIMEOUT_S = 30.0  # but never less: predictions of short tasks are noisy, and first runs compile


@dataclass
class TaskRecord:
    """One task as it ran: its rows of a job, where, predicted and measured seconds, when it
    started (seconds from the run's start), and how it got there: ``origin`` is ``"planned"``,
    ``"stolen from <device>"`` or ``"re-planned"`` (:mod:`qfab.scheduling.adaptive`);
    ``moved_from``, the retired devices it left."""

    task: int
    job_index: int
    rows: tuple[int, int]
    device: str
    predicted_s: float
    measured_s: float
    moved_from: tuple[str, ...] = ()
    started_s: float | None = None
    origin: str = "planned"


@dataclass(frozen=True)
class Mark:
    """An event with its time (seconds from the run's start) and kind (``"retired"``,
    ``"moved"``, ``"lost"``, ``"stolen"``, ``"re-planned"``, ``"rate"``, ``"device"``: what a
    device adapted itself, such as a QPU's re-mapping): what the report and the Gantt chart of a
    run show."""

    at_s: float | None
    kind: str
    text: str


@dataclass
class RunResult:
    plan: Plan
    results: list[JobResult]
    provenance: list[list[TaskRecord]]
    events: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    marks: list[Mark] = field(default_factory=list)
    policy: str = "static"

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
        if self.policy != "static":
            counts = {kind: sum(m.kind == kind for m in self.marks) for kind in ("stolen", "re-planned", "retired")}
            lines.append(f"policy {self.policy}: {len(records)} tasks, " + ", ".join(f"{n} {k}" for k, n in counts.items()))
        times = {m.text: m.at_s for m in self.marks}
        lines += [f"event at {times[e]:.3f} s: {e}" if times.get(e) is not None else f"event: {e}" for e in self.events]
        return "\n".join(lines)

    def gantt(self, path) -> None:
        """The run as it happened: a bar per task at its measured start and length, one row per
        device, coloured by job; stolen tasks hatched ``//``, re-planned ``..``, moved off a
        retired device ``xx``; a vertical line at each re-plan (blue) and retirement (red).
        PNG, or any format matplotlib knows by the suffix."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(self.plan.devices)
        figure, axis = plt.subplots(figsize=(9, 1.2 + 0.6 * len(names)))
        colours = plt.get_cmap("tab20")
        for record in (r for rs in self.provenance for r in rs):
            if record.started_s is None:
                continue
            hatch = "xx" if record.moved_from else "//" if record.origin.startswith("stolen") else \
                ".." if record.origin == "re-planned" else None
            axis.barh(names.index(record.device), record.measured_s * 1e3, left=record.started_s * 1e3,
                      color=colours(record.job_index % 20), edgecolor="black", linewidth=0.4, hatch=hatch)
        for mark in self.marks:
            if mark.at_s is not None and mark.kind in ("re-planned", "retired"):
                axis.axvline(mark.at_s * 1e3, color="tab:blue" if mark.kind == "re-planned" else "tab:red",
                             linestyle="--", linewidth=0.8)
        axis.set_yticks(range(len(names)), names)
        axis.set_xlabel("measured time from the run's start (ms)")
        axis.set_title(f"qfab run ({self.policy}): wall {self.wall_s * 1e3:.0f} ms, predicted {self.plan.makespan * 1e3:.0f} ms; "
                       "// stolen, .. re-planned, xx moved; lines: re-plan, retirement", fontsize=8)
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)


class NoLiveDeviceError(DeviceError):
    """Some tasks could run nowhere: ``lost`` maps each to why (for a task no device accepted,
    every device's refusal; for the others, the lost task they depended on)."""

    def __init__(self, message: str, lost: dict[int, str]):
        super().__init__(message)
        self.lost = lost


class NonFiniteResultError(DeviceError):
    """A device answered with NaN or infinite numbers: it failed, however cleanly it returned."""


#: The fields of a :class:`JobResult` that hold numbers (counts are integers, always finite).
_NUMERIC_FIELDS = ("expectations", "gradients", "states")


def non_finite(result: JobResult) -> str | None:
    """What in ``result`` is not finite (e.g. ``"3 of 24 expectations are NaN or infinite"``),
    or None when every number is finite (or the result holds no numbers)."""
    for name in _NUMERIC_FIELDS:
        values = getattr(result, name, None)
        if values is None:
            continue
        array = np.asarray(values)
        if array.dtype.kind not in "fc":
            return f"{name} are of dtype {array.dtype}, not numbers"
        finite = np.isfinite(array)
        if not finite.all():
            return f"{array.size - int(np.count_nonzero(finite))} of {array.size} {name} are NaN or infinite"
    return None


def _order(task: Task) -> tuple[float, int]:
    """Queue order: planned start, then id. A task's dependencies finish before it starts in the
    plan and have smaller ids (tasks are numbered in topological order), so in every queue they
    come first, moved tasks included, and no queue waits on a task behind it."""
    return task.start, task.id


def _covers_once(rows: list[tuple[int, int]], batch: int) -> bool:
    """Whether sorted row ranges cover ``0..batch`` end to end, each row once."""
    reached = 0
    for start, stop in rows:
        if start != reached or stop <= start:
            return False
        reached = stop
    return reached == batch


def _merge(parts: list[tuple[int, JobResult]], device_names: list[str]) -> JobResult:
    """Chunks of one job (ordered by their first row) joined along the batch axis."""
    parts = [r for _, r in sorted(parts, key=lambda p: p[0])]

    def join(name):
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    counts = None if any(p.counts is None for p in parts) else [c for p in parts for c in p.counts]
    return JobResult("+".join(dict.fromkeys(device_names)), sum(p.seconds for p in parts), join("expectations"),
                     join("gradients"), join("states"), counts)


class Failover:
    """The state of a run and every decision on it: which task a device starts next, which
    device is retired, where its tasks move, what is lost. It does no I/O: a transport starts
    what :meth:`next_task` returns and reports back with :meth:`complete` or :meth:`fail`, and
    :meth:`expire` retires devices past their deadline (times are ``time.perf_counter()``).

    ``unavailable``: devices of the plan this run cannot reach (name -> why), given no work."""

    def __init__(self, plan: Plan, timeout_factor: float = TIMEOUT_FACTOR, min_timeout_s: float = MIN_TIMEOUT_S,
                 unavailable: dict[str, str] | None = None):
        self.plan = plan
        self.timeout_factor, self.min_timeout_s = timeout_factor, min_timeout_s
        self.unavailable = dict(unavailable or {})
        self.tasks: dict[int, Task] = {t.id: t for t in plan.tasks}  # every task of the run, by id
        ordered = sorted(plan.tasks, key=_order)
        self.queues: dict[str, list[Task]] = {name: [t for t in ordered if t.device == name] for name in plan.devices}
        self.running: dict[str, tuple[Task, float, float]] = {}  # device -> (task, started, deadline)
        self.done: dict[int, tuple[TaskRecord, JobResult]] = {}
        self.retired: dict[str, str] = {}
        self.lost: dict[int, str] = {}
        self.moved: dict[int, list[str]] = {}
        self.events: list[str] = []
        self.marks: list[Mark] = []
        self.clock0: float | None = None  # perf_counter at the run's start (:meth:`begin`)
        # what a device adapts on its own (a QPU re-mapping after calibration drift: its ``events``)
        self.device_events_seen = {name: len(getattr(device, "events", None) or ()) for name, device in plan.devices.items()}
        resources = plan.resources
        self.peers = {name: [d for d in plan.devices if d != name and resources[d] == resources[name]]
                      for name in plan.devices}

    name = "static"

    def begin(self, now: float) -> None:
        """The run starts at ``now`` (``time.perf_counter()``): event times count from here."""
        self.clock0 = now

    def since_start(self, now: float | None = None) -> float | None:
        if self.clock0 is None:
            return None
        return (time.perf_counter() if now is None else now) - self.clock0

    def note(self, kind: str, text: str) -> None:
        """Record an event (see :class:`Mark` for the kinds)."""
        self.events.append(text)
        self.marks.append(Mark(self.since_start(), kind, text))

    # --- decisions -------------------------------------------------------------------------

    def live(self) -> list[str]:
        return [d for d in self.plan.devices if d not in self.retired and d not in self.unavailable]

    def predicted(self, task: Task, device: str) -> float:
        """The plan's prediction on its own device; elsewhere, what the estimator says there:
        what the policy's decisions (targets, backlogs, deadlines) go by."""
        if device == task.device:
            return task.predicted
        return self.plan.estimator.predict(device, self.plan.device_job(task, device))[0]

    def expected(self, task: Task, device: str) -> float:
        """The prediction a task's record carries (the measured/predicted ratio of the report):
        here :meth:`predicted`; an adaptive policy's beliefs of this run stay out of it."""
        return self.predicted(task, device)

    def ready(self, task: Task) -> bool:
        """Whether every task ``task`` depends on is done."""
        return all(d in self.done for d in task.depends_on)

    def refusal(self, task: Task, device: str) -> str | None:
        """Why ``device`` cannot take ``task`` now, or None when it can."""
        if device in self.unavailable:
            return self.unavailable[device]
        if device in self.retired:
            return f"retired ({self.retired[device]})"
        excluded = self.plan.excluded.get(task.job_index, {}).get(device)
        if excluded is not None:
            return excluded
        try:
            self.plan.devices[device].check(self.plan.device_job(task, device))
        except Exception as error:  # a check that breaks refuses as surely as one that says no
            return str(error) or type(error).__name__
        return None

    def backlog(self, device: str) -> float:
        """Predicted seconds of unfinished work on the device's timeline (the running tasks
        counted whole: nothing says how far they got)."""
        resources = self.plan.resources
        total = 0.0
        for name in self.plan.devices:
            if resources[name] == resources[device]:
                waiting = self.queues[name] + ([self.running[name][0]] if name in self.running else [])
                total += sum(self.predicted(t, name) for t in waiting)
        return total

    def target(self, task: Task) -> tuple[str | None, dict[str, str]]:
        """The accepting live device with the earliest predicted finish (ties: plan order), or
        None, and why each other device refused."""
        refusals, best = {}, None
        for name in self.plan.devices:
            why = self.refusal(task, name)
            if why is not None:
                refusals[name] = why
                continue
            finish = self.backlog(name) + self.predicted(task, name)
            if best is None or finish < best[0]:
                best = (finish, name)
        return (best[1] if best else None), refusals

    def retire(self, device: str, why: str) -> None:
        """Retire ``device`` and move its unfinished tasks, each where :meth:`target` says."""
        if device in self.retired:
            return
        self.retired[device] = why
        self.note("retired", f"device {device} retired: {why}")
        orphans = self.queues[device]
        self.queues[device] = []
        if device in self.running:
            orphans.append(self.running.pop(device)[0])
        for task in sorted(orphans, key=_order):
            lost_dependency = next((d for d in task.depends_on if d in self.lost), None)
            if lost_dependency is not None:  # an orphan before it in this loop was lost
                self._lose(task, f"it depends on lost task {lost_dependency}")
                continue
            where, refusals = self.target(task)
            if where is None:
                self._lose(task, "no live device can run it: " + "; ".join(f"{d}: {r}" for d, r in refusals.items()))
                continue
            self.moved.setdefault(task.id, []).append(device)
            bisect.insort(self.queues[where], task, key=_order)
            self.note("moved", f"task {task.id} (job {task.job_index}, rows {task.rows[0]}..{task.rows[1]}) "
                               f"moved {device} -> {where}")

    def _lose(self, task: Task, why: str) -> None:
        """Mark ``task`` lost, and with it every queued task that depends on it, at once (so no
        queue waits on a result that will never come)."""
        self.lost[task.id] = why
        self.note("lost", f"task {task.id} (job {task.job_index}, rows {task.rows[0]}..{task.rows[1]}) lost: {why}")
        for queue in self.queues.values():
            for waiting in [t for t in queue if task.id in t.depends_on]:
                if waiting.id not in self.lost:  # else already lost, and removed, through another
                    queue.remove(waiting)
                    self._lose(waiting, f"it depends on lost task {task.id}")

    # --- progress ----------------------------------------------------------------------------

    def next_task(self, device: str, now: float) -> Task | None:
        """The task ``device`` starts now, or None (retired, busy, done, waiting on a dependency
        or on a host peer's turn). The task counts as running from ``now``."""
        if device not in self.live() or device in self.running or not self.queues[device]:
            return None
        task = self.queues[device][0]
        if not self.ready(task) or not self._my_turn(device, task):
            return None
        self.queues[device].pop(0)
        limit = max(self.timeout_factor * self.predicted(task, device), self.min_timeout_s)
        self.running[device] = (task, now, now + limit)
        return task

    def _my_turn(self, device: str, task: Task) -> bool:
        """A device sharing its resource runs only while none of its peers does, and lets a
        peer whose next task is ready and planned earlier go first (the plan's order)."""
        for peer in self.peers[device]:
            if peer in self.running:
                return False
            queue = self.queues[peer]
            if queue and queue[0].start < task.start and self.ready(queue[0]):
                return False
        return True

    def complete(self, device: str, task: Task, result: JobResult, seconds: float) -> bool:
        """Record ``task``'s result from ``device`` and its measured time (also into the
        history); False, and nothing kept, when the device no longer runs that task, or when
        the result is not finite (:func:`non_finite`): then the device failed, as if it had
        raised, and is retired (its work, this task included, moves)."""
        current = self.running.get(device)
        if current is None or current[0].id != task.id:
            return False
        problem = non_finite(result)
        if problem is not None:
            self.fail(device, task, NonFiniteResultError(f"{device} returned a result whose {problem}"))
            return False
        started = self.running.pop(device)[1]
        job = self.plan.device_job(task, device)
        record = TaskRecord(task.id, task.job_index, task.rows, device, self.expected(task, device), seconds,
                            tuple(self.moved.get(task.id, ())), self.since_start(started), self.origin(task))
        self.done[task.id] = (record, result)
        self.collect_device_events(device)
        estimator = self.plan.estimator
        estimator.history.record(device, job, seconds, estimator.modelled(device, job), estimator.model_id(device))
        return True

    def collect_device_events(self, device: str) -> None:
        """Add what ``device`` reported adapting since the last look (its ``events`` list of dicts,
        e.g. a QPU's re-mapping: ``kind="qpu_remap"`` with the success probabilities) to the run's
        events, so the report and the Gantt chart show it beside the runtime's own adaptations."""
        events = getattr(self.plan.devices[device], "events", None)
        if not isinstance(events, list):
            return
        for event in events[self.device_events_seen.get(device, 0):]:
            if event.get("kind") == "qpu_remap":
                text = (f"{device} re-mapped after calibration drift: estimated success {event['esp_mapped']:.3f} "
                        f"-> {event['esp_drifted']:.3f}, layout {event['layout_before']} -> {event['layout_after']} "
                        f"({event['esp_remapped']:.3f})" if event.get("remapped") else
                        f"{device} saw calibration drift (estimated success {event['esp_mapped']:.3f} -> "
                        f"{event['esp_drifted']:.3f}); no better layout found")
            else:
                text = f"{device}: " + ", ".join(f"{k}={v}" for k, v in event.items())
            self.note("device", text)
        self.device_events_seen[device] = len(events)

    def origin(self, task: Task) -> str:
        """How ``task`` came to its device (:attr:`TaskRecord.origin`): here, always planned."""
        return "planned"

    def fail(self, device: str, task: Task, error: BaseException) -> None:
        """``device`` raised ``error`` running ``task``: retire it (its work moves)."""
        self.retire(device, f"{type(error).__name__}: {error} (while running task {task.id})")

    def expire(self, now: float) -> list[str]:
        """Retire the devices whose running task is past its deadline; returns them."""
        late = [(device, task, started) for device, (task, started, deadline) in self.running.items() if now > deadline]
        for device, task, started in late:
            self.retire(device, f"task {task.id} timed out after {now - started:.2f} s")
        return [device for device, _, _ in late]

    def next_deadline(self) -> float | None:
        return min((deadline for _, _, deadline in self.running.values()), default=None)

    @property
    def finished(self) -> bool:
        """Nothing queued or running: every task is done or lost."""
        return not self.running and not any(self.queues.values())

    def result(self, wall: float) -> RunResult:
        """The results merged per job, in job order, with provenance; raises
        :class:`NoLiveDeviceError` when some task was lost."""
        if self.lost:
            story = "\n".join(f"task {t}: {why}" for t, why in sorted(self.lost.items()))
            raise NoLiveDeviceError(f"{len(self.lost)} tasks could not run on any live device:\n{story}\nevents:\n"
                                    + "\n".join(self.events), dict(self.lost))
        results, provenance = [], []
        for index, item in enumerate(self.plan.workload.items):
            mine = sorted((pair for pair in self.done.values() if pair[0].job_index == index), key=lambda p: p[0].rows)
            covered = [record.rows for record, _ in mine]
            if not _covers_once(covered, item.job.batch):
                raise RuntimeError(f"qfab runtime: job {index}'s rows {covered} do not cover 0..{item.job.batch} "
                                   f"exactly once (a bug in the {self.name} policy)")
            provenance.append([record for record, _ in mine])
            results.append(_merge([(record.rows[0], result) for record, result in mine], [r.device for r, _ in mine]))
        return RunResult(self.plan, results, provenance, list(self.events), wall, list(self.marks), self.name)


class Transport(Protocol):
    """How tasks reach devices: local threads or Dask futures. A handle stands for one task
    in flight; its outcome is ``(JobResult, measured seconds)`` or the device's exception."""

    name: str  # the progress bar's label

    def submit(self, device: str, task: Task, job: Job) -> Any: ...

    def wait(self, handles: list, timeout: float) -> set:
        """The handles (of ``handles``) that finished within ``timeout`` seconds; at least one
        unless the timeout passed."""

    def outcome(self, handle) -> tuple[JobResult, float]: ...

    def abandon(self, handle) -> None:
        """Give up on a task in flight (its device was retired); its answer is never read."""

    def close(self) -> None: ...


def drive(policy: Failover, transport: Transport, progress: bool | None = None, save_history: bool = True) -> RunResult:
    """Run ``policy``'s plan over ``transport``: start what the policy says on each idle live
    device, report each outcome back, retire devices past their deadline, until every task is
    done or lost. ``progress``: a tqdm bar over tasks (None: only on a terminal)."""
    bar = tqdm(total=len(policy.tasks), desc=transport.name, unit="task", disable=None if progress is None else not progress)
    in_flight: dict[str, tuple[Any, Task]] = {}  # device -> (handle, task): one task per device
    start = time.perf_counter()
    policy.begin(start)
    try:
        while not policy.finished:
            now = time.perf_counter()
            bar.total = len(policy.tasks) - len(policy.lost)  # an adaptive policy re-chunks as it goes
            for device in policy.live():
                if device not in in_flight and (task := policy.next_task(device, now)) is not None:
                    in_flight[device] = (transport.submit(device, task, policy.plan.device_job(task, device)), task)
            if not in_flight:  # the queue order rules this out; never spin or hang if it breaks
                raise RuntimeError(f"qfab runtime stalled: no task can start and none runs; queues "
                                   f"{ {d: [t.id for t in q] for d, q in policy.queues.items() if q} }")
            finished = transport.wait([handle for handle, _ in in_flight.values()],
                                      max(policy.next_deadline() - time.perf_counter(), 0.0))
            for device, (handle, task) in list(in_flight.items()):
                if handle not in finished:
                    continue
                del in_flight[device]
                try:
                    result, seconds = transport.outcome(handle)
                except Exception as error:  # any device failure: retire it, move its work
                    policy.fail(device, task, error)
                    continue
                if policy.complete(device, task, result, seconds):
                    bar.update(1)
            for device in policy.expire(time.perf_counter()):
                transport.abandon(in_flight.pop(device)[0])
    finally:
        bar.close()
        transport.close()
    wall = time.perf_counter() - start
    if save_history:  # what was measured holds even when some task was lost
        policy.plan.estimator.history.save()
    return policy.result(wall)
