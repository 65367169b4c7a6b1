"""The adaptive policy: the run follows how each device actually performs.

A static plan is only as good as its predictions: a device that runs 3x slower than predicted (a
throttled core, a busy neighbour, a queue) keeps its whole share and the run waits for it.
:class:`Adaptive` is :class:`~qfab.scheduling.failover.Failover` (everything it does about failed,
hung and NaN-returning devices holds) plus three things:

- **chunks**: each planned task is issued as chunks of about :attr:`Adaptive.chunk_s` predicted
  seconds (the plan's makespan / :data:`CHUNKS_PER_DEVICE`), never so small that the call's
  fixed costs (the cost model's call overhead plus the runtime's per-task overhead) pass
  1 / :data:`MIN_CHUNK_OVERHEADS` of it; a chunk is the unit that can still change device;
- **stealing**: a device whose queue is empty takes the last ready chunk it accepts from the
  queue of the device predicted to finish last, when it would finish that chunk earlier than the
  victim would (the earliest-finish rule of the planner and of failover; devices on the same
  timeline, the host's cores, do not steal from each other: they share its time);
- **re-planning**: each device's rate is measured in this run, chunk by chunk (measured /
  predicted seconds; a device's first chunk is not trusted, it pays compilation, as the history
  drops first runs). When the ratio leaves the band ``[1 / RATE_BAND, RATE_BAND]`` around the
  rate the policy believes, or a running chunk has already run ``RATE_BAND`` x its prediction
  (a lower bound on the new rate, known before the chunk ends), the belief becomes the measured
  rate and every queued chunk is re-planned: the remaining rows go through the planner
  (:func:`qfab.scheduling.planner.plan`) over the live devices with an estimator that prices each
  device at its measured rate (:class:`RunEstimator`), and come back as new chunks. A retirement
  re-plans too.

Every adaptation is an event of the run (``RunResult.events``, with its time in
``RunResult.marks``): what was measured, what moved where, the new plan's predicted finish; the
run's Gantt chart (``RunResult.gantt``) shows stolen and re-planned chunks. Results do not
depend on any of it: each row is computed once, by a device that accepts its job, and merged in
row order, so an adaptive run returns what a static run and a CPU-only run return.

A plan whose live devices all share one timeline (the CPU and host-simulated devices alone) has
no one to steal or re-plan to: it runs as the static plan, unchunked.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from qfab.backends.base import Job
from qfab.scheduling.failover import MIN_TIMEOUT_S, TIMEOUT_FACTOR, Failover
from qfab.scheduling.history import OUTLIER_RATIO, signature
from qfab.scheduling.planner import Estimator, Plan, Task, plan as make_plan
from qfab.scheduling.workload import WorkItem, Workload

__all__ = ["Adaptive", "RunEstimator", "CHUNKS_PER_DEVICE", "MIN_CHUNK_OVERHEADS", "RATE_BAND", "REPLAN_SHARE",
           "LOCAL_TASK_OVERHEAD_S", "DASK_TASK_OVERHEAD_S"]

CHUNKS_PER_DEVICE = 16  # the chunk target is the plan's makespan over this: fine enough to rebalance
#: A chunk is at least this many times its fixed costs (<= 2 % overhead): 50 ms with threads,
#: 100 ms on Dask (the size Dask's own guidance asks of a task), more for a device's call overhead.
MIN_CHUNK_OVERHEADS = 50
RATE_BAND = OUTLIER_RATIO  # x1.5: the history's own band of a sample that belongs with the rest
#: Re-planning (the planner's search) may take at most this share of the run's time so far; a
#: re-plan beyond it waits for the next measurement that fits.
REPLAN_SHARE = 0.05
#: The runtime's own cost per task (docs/scheduling.md, "Measured": 0.31-0.38 ms with threads on a
#: quiet machine, but 3-6 ms a chunk when the 2 cores are shared with a load of 15; 1.1-1.8 ms
#: through Dask in-process). Threads: 1 ms, between the two.
LOCAL_TASK_OVERHEAD_S = 1e-3
DASK_TASK_OVERHEAD_S = 2e-3


class RunEstimator(Estimator):
    """The plan's estimator as this run measured it: per (device, job signature) the line
    ``overhead + per_row x batch`` fitted from the plan's estimator at the run's start (so the
    history filling during the run does not move the baseline the rates divide), times the
    device's measured rate ``factors[device]`` (1: as predicted). The planner re-plans with it."""

    def __init__(self, base: Estimator, factors: dict[str, float]):
        # The base's models and history, not a second load of the profile: same devices, same run.
        self.models, self.history = base.models, base.history
        self.base, self.factors = base, factors
        self.lines: dict[tuple[str, str], tuple[float, float]] = {}

    def line(self, device: str, job: Job) -> tuple[float, float]:
        """(overhead, seconds per row) of ``job``'s shape on ``device`` at the plan's prices."""
        key = (device, signature(job))
        if key not in self.lines:
            batch = job.batch
            full = self.base.predict(device, job)[0]
            if batch < 2:
                self.lines[key] = (0.0, full)
            else:
                half = batch // 2
                part = self.base.predict(device, replace(job, params=job.params[:half]))[0]
                per_row = max((full - part) / (batch - half), full / batch * 1e-3, 1e-12)
                self.lines[key] = (max(full - per_row * batch, 0.0), per_row)
        return self.lines[key]

    def baseline(self, device: str, job: Job) -> float:
        overhead, per_row = self.line(device, job)
        return overhead + per_row * job.batch

    def predict(self, device: str, job: Job) -> tuple[float, str]:
        factor = self.factors.get(device, 1.0)
        return self.baseline(device, job) * factor, "plan" if factor == 1.0 else f"plan x measured rate {factor:.2f}"


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Row ranges sorted and joined where they touch."""
    out: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


class Adaptive(Failover):
    """The failover policy with chunks, stealing and re-planning (see the module's docstring).

    ``chunk_s``: the chunk target in predicted seconds (None: the plan's makespan /
    :data:`CHUNKS_PER_DEVICE`); ``task_overhead_s``: the transport's own cost per task."""

    name = "adaptive"

    def __init__(self, plan: Plan, timeout_factor: float = TIMEOUT_FACTOR, min_timeout_s: float = MIN_TIMEOUT_S,
                 unavailable: dict[str, str] | None = None, chunk_s: float | None = None,
                 task_overhead_s: float = LOCAL_TASK_OVERHEAD_S):
        super().__init__(plan, timeout_factor, min_timeout_s, unavailable)
        self.factors = dict.fromkeys(plan.devices, 1.0)
        self.estimator = RunEstimator(plan.estimator, self.factors)
        self.task_overhead_s = task_overhead_s
        self.chunk_s = chunk_s if chunk_s is not None else plan.makespan / CHUNKS_PER_DEVICE
        self.completed = dict.fromkeys(plan.devices, 0)  # chunks each device finished in this run
        self.flagged: set[int] = set()  # running chunks whose overrun already changed the rate
        self.outside = {d: [] for d in plan.devices}  # consecutive out-of-band ratios (measured/believed)
        self.origins: dict[int, str] = {}
        self.replans, self.replan_s, self.pending = 0, 0.0, None  # pending: why a deferred re-plan is due
        self.next_id = max(self.tasks, default=-1) + 1
        resources = plan.resources
        self.adapting = len({resources[d] for d in self.live()}) > 1
        if self.adapting:  # every planned task is in a queue: each becomes its chunks
            for index, item in enumerate(plan.workload.items):  # the baselines, before the run teaches the history
                for device in plan.devices:
                    if device not in plan.excluded.get(index, {}):
                        self.estimator.line(device, item.job_for(plan.devices[device]))
            self.tasks = {}
            for device, queue in self.queues.items():
                self.queues[device] = [c for t in queue for c in self.chunks(t.job_index, t.rows, device, t.start)]
            self.link()

    # --- prices -----------------------------------------------------------------------------

    def job_rows(self, job_index: int, rows: tuple[int, int], device: str) -> Job:
        job = self.plan.workload.items[job_index].job_for(self.plan.devices[device])
        return replace(job, params=job.params[rows[0]:rows[1]])

    def expected(self, task: Task, device: str) -> float:
        """The plan's price of the chunk on ``device`` (the run's measured rate left out)."""
        return self.estimator.baseline(device, self.job_rows(task.job_index, task.rows, device))

    def predicted(self, task: Task, device: str) -> float:
        """The chunk's price on ``device`` at the rate measured there in this run."""
        return self.expected(task, device) * self.factors[device]

    # --- chunks -------------------------------------------------------------------------------

    def chunks(self, job_index: int, rows: tuple[int, int], device: str, start: float, origin: str = "planned") -> list[Task]:
        """``rows`` of a job on ``device`` as chunks of about :attr:`chunk_s` (at the device's
        believed rate), back to back from ``start``; registered in :attr:`tasks`. A job with
        shots stays whole: its counts would depend on where its seeded draws were cut."""
        item = self.plan.workload.items[job_index]
        count = rows[1] - rows[0]
        overhead, per_row = self.estimator.line(device, self.job_rows(job_index, rows, device))
        factor = self.factors[device]
        if item.job.shots or count < 2:
            pieces = 1
        else:
            by_target = (self.chunk_s / factor - overhead) / per_row
            by_overheads = MIN_CHUNK_OVERHEADS * (overhead + self.task_overhead_s) / per_row
            pieces = max(1, min(count, count // max(1, math.ceil(max(by_target, by_overheads)))))
        bounds = np.linspace(rows[0], rows[1], pieces + 1).round().astype(int)
        out = []
        for first, stop in zip(bounds[:-1], bounds[1:]):
            seconds = factor * (overhead + per_row * (stop - first))
            task = Task(self.next_id, job_index, (int(first), int(stop)), device, start, start + seconds,
                        "plan" if factor == 1.0 else f"measured rate x{factor:.2f}")
            self.next_id += 1
            self.tasks[task.id] = task
            self.origins[task.id] = origin
            out.append(task)
            start += seconds
        return out

    def link(self) -> None:
        """Each task depends on every task of the jobs its job waits for (chunks change ids as
        they are cut and re-planned; the jobs' order does not)."""
        by_job: dict[int, list[int]] = {}
        for task in self.tasks.values():
            by_job.setdefault(task.job_index, []).append(task.id)
        for task in self.tasks.values():
            task.depends_on = tuple(i for before in self.plan.workload.items[task.job_index].after
                                    for i in sorted(by_job.get(before, ())))

    def origin(self, task: Task) -> str:
        return self.origins.get(task.id, "planned")

    # --- stealing -----------------------------------------------------------------------------

    def remaining(self, device: str, now: float) -> float:
        """Predicted seconds until ``device`` has done its running chunk and its queue."""
        left = sum(self.predicted(t, device) for t in self.queues[device])
        if device in self.running:
            task, started, _ = self.running[device]
            left += max(self.predicted(task, device) - (now - started), 0.0)
        return left

    def next_task(self, device: str, now: float) -> Task | None:
        task = super().next_task(device, now)
        if task is None and self.adapting and self.steal(device, now):
            task = super().next_task(device, now)
        return task

    def steal(self, thief: str, now: float) -> bool:
        """Move to idle ``thief`` the last ready chunk it accepts from the device predicted to
        finish last, if the thief would finish it sooner; True when it took one."""
        if thief not in self.live() or thief in self.running or self.queues[thief]:
            return False
        resources = self.plan.resources
        thief_free = self.backlog(thief)  # its host peers' work, when it shares their timeline
        best = None
        for victim in self.live():
            if resources[victim] == resources[thief] or not self.queues[victim]:
                continue
            candidate = next((t for t in reversed(self.queues[victim])
                              if self.ready(t) and self.refusal(t, thief) is None), None)
            if candidate is None:
                continue
            victim_finish = self.remaining(victim, now)
            thief_finish = thief_free + self.predicted(candidate, thief)
            if thief_finish < victim_finish and (best is None or victim_finish > best[0]):
                best = (victim_finish, victim, candidate, thief_finish)
        if best is None:
            return False
        victim_finish, victim, task, thief_finish = best
        self.queues[victim].remove(task)
        at = self.since_start(now) or 0.0
        stolen = replace(task, device=thief, start=at, finish=at + self.predicted(task, thief))
        self.tasks[task.id] = stolen
        self.queues[thief].append(stolen)
        self.origins[task.id] = f"stolen from {victim}"
        self.note("stolen", f"{thief} stole task {task.id} (job {task.job_index}, rows {task.rows[0]}..{task.rows[1]}) "
                            f"from {victim}: done in {thief_finish:.3f} s there, {victim} busy {victim_finish:.3f} s more")
        return True

    # --- measured rates and re-planning -------------------------------------------------------

    def complete(self, device: str, task: Task, result, seconds: float) -> bool:
        if not super().complete(device, task, result, seconds):
            return False
        self.completed[device] += 1
        if not self.adapting or self.completed[device] < 2:
            return True  # a device's first chunk pays compilation: no rate from it
        ratio = seconds / max(self.expected(task, device), 1e-12)
        believed = self.factors[device]
        outside = self.outside[device]
        if 1 / RATE_BAND <= ratio / believed <= RATE_BAND:
            outside.clear()
        else:  # out of band: believed when confirmed (twice on one side, or after an overrun seen running)
            if outside and (outside[-1] > 1) != (ratio / believed > 1):
                outside.clear()
            outside.append(ratio / believed)
            if len(outside) >= 2 or task.id in self.flagged:
                outside.clear()
                self.factors[device] = ratio
                self.replan(f"{device} ran task {task.id} at {ratio:.2f}x its predicted time (believed {believed:.2f}x, "
                            f"band x{RATE_BAND:g})")
                return True
        if self.pending is not None:
            self.replan(self.pending)
        return True

    def overdue(self, device: str) -> float | None:
        """When ``device``'s running chunk passes :data:`RATE_BAND` x its prediction (perf_counter
        seconds), or None: nothing running, its overrun already counted, or its first chunk."""
        if not self.adapting or device not in self.running or self.completed[device] < 1:
            return None
        task, started, _ = self.running[device]
        if task.id in self.flagged:
            return None
        return started + RATE_BAND * self.predicted(task, device)

    def expire(self, now: float) -> list[str]:
        """Retire devices past their deadline; and where a running chunk has overrun its band,
        believe the rate it has at least (elapsed / predicted) and re-plan."""
        retired = super().expire(now)
        for device in list(self.running):
            due = self.overdue(device)
            if due is None or now <= due:
                continue
            task, started, _ = self.running[device]
            self.flagged.add(task.id)
            believed = self.factors[device]
            self.factors[device] = (now - started) / max(self.expected(task, device), 1e-12)
            self.replan(f"{device}'s task {task.id} has run {now - started:.3f} s, over x{RATE_BAND:g} its predicted "
                        f"{believed * self.expected(task, device):.3f} s: its rate is at most 1/{self.factors[device]:.2f} "
                        f"of the plan's")
        return retired

    def next_deadline(self) -> float | None:
        times = [t for t in [super().next_deadline()] + [self.overdue(d) for d in self.running] if t is not None]
        return min(times, default=None)

    def retire(self, device: str, why: str) -> None:
        moving = device not in self.retired
        super().retire(device, why)
        if moving and self.adapting:
            self.replan(f"{device} retired")

    def replan(self, why: str) -> None:
        """Re-plan every queued chunk over the live devices at their measured rates; deferred
        while re-planning has used its :data:`REPLAN_SHARE` of the run, and skipped when fewer
        than two chunks a device are queued (stealing balances those)."""
        live = self.live()
        queued = [t for d in live for t in self.queues[d]]
        elapsed = self.since_start() or 0.0
        if len(queued) < 2 * len(live):
            if why != self.pending:
                self.note("rate", f"{why}; not re-planned: fewer than two chunks a device are queued (stealing balances them)")
            self.pending = None
            return
        if self.replan_s > REPLAN_SHARE * elapsed:
            if why != self.pending:
                self.note("rate", f"{why}; re-plan deferred: re-planning has used its {REPLAN_SHARE:.0%} of the run")
            self.pending = why
            return
        self.pending = None
        began = time.perf_counter()
        self.replan_over(live, queued, why)
        self.replan_s += time.perf_counter() - began

    def replan_over(self, live: list[str], queued: list[Task], why: str) -> None:
        """:meth:`replan`'s work: ``queued`` through the planner over ``live``, as new chunks."""
        remaining: dict[int, list[tuple[int, int]]] = {}
        for task in queued:
            remaining.setdefault(task.job_index, []).append(task.rows)
        work, pieces, position = Workload(), [], {}
        for job_index in sorted(remaining):
            item = self.plan.workload.items[job_index]
            segments = _merged(remaining[job_index])
            params = np.concatenate([item.job.params[a:b] for a, b in segments])
            after = tuple(position[j] for j in item.after if j in position)
            position[job_index] = len(work.items)
            work.items.append(WorkItem(replace(item.job, params=params), item.accuracy, after, item.any_gradient_method))
            pieces.append((job_index, segments))
        try:
            fresh = make_plan(work, devices=[self.plan.devices[d] for d in live], estimator=self.estimator)
        except Exception as error:  # a plan that cannot be made leaves the queues as they are
            self.note("re-planned", f"re-plan after {why} failed ({type(error).__name__}: {error}); queues kept")
            return
        for task in queued:
            del self.tasks[task.id]
        for device in live:
            self.queues[device] = []
        at = self.since_start() or 0.0
        for task in fresh.tasks:
            job_index, segments = pieces[task.job_index]
            offset = 0
            for first, stop in segments:  # the new task's rows of the remaining ones, as the job's rows
                low, high = max(task.rows[0], offset), min(task.rows[1], offset + stop - first)
                if low < high:
                    rows = (first + low - offset, first + high - offset)
                    start = at + task.start + (low - task.rows[0]) / max(task.rows[1] - task.rows[0], 1) * task.predicted
                    self.queues[task.device] += self.chunks(job_index, rows, task.device, start, "re-planned")
                offset += stop - first
        for device in live:
            self.queues[device].sort(key=lambda t: (t.start, t.id))
        self.link()
        self.replans += 1
        rates = ", ".join(f"{d} x{self.factors[d]:.2f}" for d in live if self.factors[d] != 1.0) or "as planned"
        shares = ", ".join(f"{d} {sum(t.rows[1] - t.rows[0] for t in self.queues[d])}" for d in live)
        self.note("re-planned", f"re-planned {sum(t.rows[1] - t.rows[0] for t in queued)} queued rows of "
                                f"{len(remaining)} jobs after {why}; rates {rates}; rows now queued: {shares}; "
                                f"predicted to finish {fresh.makespan:.3f} s from now")
