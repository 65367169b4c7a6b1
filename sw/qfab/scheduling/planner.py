"""The partitioner: place and split jobs over devices to minimise the predicted makespan.

HEFT-family list scheduling over the job graph (networkx): jobs in decreasing upward rank
(mean predicted cost plus the longest chain after them), each placed where it finishes
earliest, counting the transfer of its data to and from the device, into the first idle gap
of the device's timeline that holds it (insertion-based HEFT). A job may also be split:
its batch shared by several devices so that they finish together, in proportion to their
predicted rates (``b_d = r_d (T - free_d - o_d)`` for rate ``r_d`` and call overhead ``o_d``,
devices whose share would be empty dropped); the split is taken when it finishes before the
best single device. Devices that cannot run a job (``Device.check``: qubits, memory, gates,
methods) or whose expected error exceeds the job's ``accuracy`` are excluded, with the reason.

Devices that compute on the host's own cores (``Device.shares_host``: the CPU, the FPGA's
bit-accurate model, a simulated GPU) share one timeline, the :data:`HOST` resource: their
tasks never overlap. Running them at once would only split the same cores between them (on a
2-core machine the CPU and the FPGA model "in parallel" took 1.7x the CPU alone), so the
planner picks, per job, the fastest of them, and splits batches only across resources.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field, replace

import networkx as nx

from qfab.backends import Device, get_device
from qfab.backends.base import DeviceCapabilityError, Job
from qfab.scheduling.history import History
from qfab.scheduling.workload import Workload

__all__ = ["plan", "Plan", "Task", "Estimator"]

HOST = "<host cores>"  # the resource (timeline) of every device with ``shares_host``
SMALL_BATCH = 16  # batches up to this size: local search tries every two-way integer split
PAIR_SEARCH_MAX_JOBS = 6  # workloads up to this many jobs: local search also moves pairs of jobs (bounds its cost)


def timelines(devices: dict[str, Device]) -> dict[str, str]:
    """Each device's timeline: :data:`HOST` for devices on the host's cores, else its name."""
    return {name: HOST if device.shares_host else name for name, device in devices.items()}


class Estimator:
    """Predicted seconds per (device, job): history first, then the device's own calibrated
    model (``Device.cost_model``) scaled by the device's measured/modelled ratio; says which
    source it used."""

    def __init__(self, devices: list[Device], profile: dict | None = None, history: History | None = None):
        from qfab.scheduling.calibrate import load_profile

        profile = load_profile() if profile is None else profile
        self.models = {d.name: d.cost_model(profile.get(d.name)) for d in devices}
        self.history = history if history is not None else History()

    def model_id(self, device: str) -> str:
        """Which model prices ``device`` (its kind and parameters): measured/modelled ratios in
        the history refer to one."""
        model = self.models[device]
        text = repr((type(model).__name__, sorted((k, repr(v)) for k, v in model.parameters.items())))
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def modelled(self, device: str, job: Job) -> float:
        model = self.models[device]
        return model.predict(job) + model.link_seconds(job)

    def predict(self, device: str, job: Job) -> tuple[float, str]:
        measured = self.history.predict(device, job)
        if measured is not None:
            return measured[0] + self.models[device].link_seconds(job), measured[1]
        correction = self.history.correction(device, job, self.model_id(device))
        return self.modelled(device, job) * correction, "model" if correction == 1.0 else "model x measured ratio"


@dataclass
class Task:
    """A slice of one job's batch on one device, with its predicted interval."""

    id: int
    job_index: int
    rows: tuple[int, int]
    device: str
    start: float
    finish: float
    source: str
    depends_on: tuple[int, ...] = ()

    @property
    def predicted(self) -> float:
        return self.finish - self.start


@dataclass
class Plan:
    workload: Workload
    devices: dict[str, Device]
    tasks: list[Task]
    estimator: Estimator
    graph: nx.DiGraph
    excluded: dict[int, dict[str, str]] = field(default_factory=dict)
    whole_job: dict[int, dict[str, float]] = field(default_factory=dict)

    @property
    def makespan(self) -> float:
        return max((t.finish for t in self.tasks), default=0.0)

    @property
    def resources(self) -> dict[str, str]:
        return timelines(self.devices)

    def device_job(self, task: Task, device: str | None = None) -> Job:
        item = self.workload.items[task.job_index]
        job = item.job_for(self.devices[device or task.device])
        start, stop = task.rows
        return replace(job, params=job.params[start:stop])

    def explain(self) -> str:
        lines = [f"plan: {len(self.workload)} jobs as {len(self.tasks)} tasks on {', '.join(self.devices)}; "
                 f"predicted makespan {self.makespan * 1e3:.2f} ms"]
        for index, item in enumerate(self.workload.items):
            job = item.job
            what = f"{job.circuit.num_qubits} qubits, batch {job.batch}, " + (
                f"gradient ({job.gradient})" if job.gradient else "values" if job.observables else "states")
            lines.append(f"job {index}: {what}")
            alone = ", ".join(f"{d} {s * 1e3:.2f} ms" for d, s in self.whole_job.get(index, {}).items())
            lines.append(f"  whole batch alone: {alone or 'no device'}")
            for device, reason in self.excluded.get(index, {}).items():
                lines.append(f"  excluded {device}: {reason}")
            mine = [t for t in self.tasks if t.job_index == index]
            why = "split so its devices finish together" if len(mine) > 1 else "earliest finish"
            for t in mine:
                lines.append(f"  -> {t.device}: rows {t.rows[0]}..{t.rows[1]} ({t.rows[1] - t.rows[0]} sets), "
                             f"{t.start * 1e3:.2f}-{t.finish * 1e3:.2f} ms ({t.source}; {why})")
        resources = self.resources
        for device in self.devices:
            busy = sum(t.predicted for t in self.tasks if t.device == device)
            shared = [d for d in self.devices if d != device and resources[d] == resources[device] == HOST]
            note = f" (on the host's cores with {', '.join(shared)}: never at the same time)" if shared else ""
            lines.append(f"device {device}: {sum(t.device == device for t in self.tasks)} tasks, busy {busy * 1e3:.2f} ms{note}")
        return "\n".join(lines)

    def gantt(self, path) -> None:
        """The schedule as bars per device (PNG, or any format matplotlib knows by suffix)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(self.devices)
        figure, axis = plt.subplots(figsize=(8, 1 + 0.6 * len(names)))
        colours = plt.get_cmap("tab20")
        for t in self.tasks:
            row = names.index(t.device)
            axis.barh(row, t.predicted * 1e3, left=t.start * 1e3, color=colours(t.job_index % 20), edgecolor="black")
            axis.text((t.start + t.predicted / 2) * 1e3, row, str(t.job_index), ha="center", va="center", fontsize=7)
        axis.set_yticks(range(len(names)), names)
        axis.set_xlabel("predicted time (ms)")
        axis.set_title(f"qfab plan: makespan {self.makespan * 1e3:.2f} ms (bars labelled by job)")
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)


def _eligible(item, device: Device, estimator: Estimator) -> str | None:
    """Why ``device`` cannot take the job, or None."""
    job = item.job_for(device)
    try:
        device.check(job)
    except (DeviceCapabilityError, MemoryError) as err:
        return str(err)
    if item.accuracy is not None:
        error = estimator.models[device.name].expected_error(job)
        if error > item.accuracy:
            return f"expected error {error:.2g} exceeds the accuracy asked for ({item.accuracy:.2g})"
    return None


def _split(item, devices: list[Device], estimator: Estimator, free: dict[str, float], ready: float, resource: dict):
    """Shares of the batch that finish together, from each device's linearised cost o + b/r.
    Only one device per resource takes part (the fastest for the whole batch): two devices on
    the host's cores do not run at once, so splitting between them gains nothing."""
    batch = item.job.batch
    fastest = {}
    for device in devices:
        seconds = estimator.predict(device.name, item.job_for(device))[0]
        key = resource[device.name]
        if key not in fastest or seconds < fastest[key][0]:
            fastest[key] = (seconds, device)
    devices = [device for _, device in fastest.values()]
    if batch < 2 or len(devices) < 2:
        return None
    free = {device.name: free[resource[device.name]] for device in devices}
    lines = {}
    for device in devices:
        job = item.job_for(device)
        half = max(1, batch // 2)
        full_cost = estimator.predict(device.name, job)[0]
        half_cost = estimator.predict(device.name, replace(job, params=job.params[:half]))[0]
        per_set = max((full_cost - half_cost) / max(batch - half, 1), 1e-12)
        lines[device.name] = (max(full_cost - per_set * batch, 0.0), per_set)
    active = [d.name for d in devices]
    while active:
        start = {d: max(free[d], ready) + lines[d][0] for d in active}
        finish = (batch + sum(start[d] / lines[d][1] for d in active)) / sum(1 / lines[d][1] for d in active)
        dropped = [d for d in active if (finish - start[d]) / lines[d][1] < 1]
        if not dropped:
            break
        active.remove(max(dropped, key=lambda d: start[d]))
    if len(active) < 2:
        return None
    shares = {d: (finish - start[d]) / lines[d][1] for d in active}
    counts = {d: int(math.floor(s)) for d, s in shares.items()}
    for d in sorted(shares, key=lambda d: shares[d] - counts[d], reverse=True)[: batch - sum(counts.values())]:
        counts[d] += 1
    return {d: c for d, c in counts.items() if c > 0}


class _Timeline:
    """Busy intervals of one resource. A task goes into the first idle gap it fits, not only
    after the last task (insertion-based HEFT): with dependencies a device can sit idle while
    it waits for another device's result, and a later, independent task can use that time."""

    def __init__(self):
        self.busy: list[tuple[float, float]] = []  # sorted, disjoint

    @property
    def end(self) -> float:
        return self.busy[-1][1] if self.busy else 0.0

    def start(self, ready: float, duration: float) -> float:
        """Earliest start at or after ``ready`` with ``duration`` free from there."""
        at = ready
        for begin, finish in self.busy:
            if at + duration <= begin + 1e-15:
                return at
            at = max(at, finish)
        return at

    def book(self, start: float, duration: float) -> None:
        self.busy.append((start, start + duration))
        self.busy.sort()


def _start(slot, ready: float, duration: float) -> float:
    """Start on a resource given as a :class:`_Timeline` or as the time it is next free."""
    return slot.start(ready, duration) if isinstance(slot, _Timeline) else max(slot, ready)


def _end(slot) -> float:
    return slot.end if isinstance(slot, _Timeline) else slot


class _CostTable:
    """Predicted seconds of ``count`` sets of a job on a device, memoised (placement search
    asks for the same ones many times)."""

    def __init__(self, work: Workload, devices: dict[str, Device], estimator: Estimator):
        self.work, self.devices, self.estimator, self.memo = work, devices, estimator, {}
        self.resource = timelines(devices)

    def predict(self, index: int, device: str, row: int, count: int) -> tuple[float, str]:
        job = self.work.items[index].job_for(self.devices[device])
        return self.estimator.predict(device, replace(job, params=job.params[row:row + count]))

    def __call__(self, index: int, device: str, count: int) -> float:
        key = (index, device, count)
        if key not in self.memo:
            self.memo[key] = self.predict(index, device, 0, count)[0]
        return self.memo[key]


def _best_placement(index, usable, cost, free, ready, split) -> list[tuple[str, int]]:
    """Earliest finish: the whole batch on one device, or split so its devices finish together.
    ``free`` is keyed by resource (``cost.resource``): a :class:`_Timeline` (a whole batch may
    go into an idle gap) or the time it is next free. Split shares start after each timeline's
    last task."""
    batch = cost.work.items[index].job.batch
    at = {d.name: _start(free[cost.resource[d.name]], ready, cost(index, d.name, batch)) for d in usable}
    best = min(usable, key=lambda d: (at[d.name] + cost(index, d.name, batch), d.name))
    placement = [(best.name, batch)]
    finish = at[best.name] + cost(index, best.name, batch)
    ends = {key: _end(slot) for key, slot in free.items()}
    shares = _split(cost.work.items[index], usable, cost.estimator, ends, ready, cost.resource) if split else None
    if shares and max(max(ends[cost.resource[n]], ready) + cost(index, n, c) for n, c in shares.items()) < finish:
        placement = list(shares.items())
    return placement


def _options(index, usable, cost, loads, split, every_split: bool) -> list[list[tuple[str, int]]]:
    """Placements worth trying for a job: whole on each device, the equal-finish split on
    ``loads`` (keyed by resource), and with ``every_split`` for small batches (where rounding
    matters most) every two-way integer split between devices on different resources."""
    batch = cost.work.items[index].job.batch
    options = [[(d.name, batch)] for d in usable]
    options.append(_best_placement(index, usable, cost, loads, 0.0, split))
    if split and every_split and batch <= SMALL_BATCH:
        options += [[(a.name, k), (b.name, batch - k)] for a, b in itertools.permutations(usable, 2)
                    if cost.resource[a.name] != cost.resource[b.name] for k in range(1, batch)]
    return options


def _reinsert(order, jobs, placements, cost, split, rounds: int = 4) -> None:
    """Local search for independent jobs: take one job (and, for small workloads, each pair of
    jobs) out and place it again on the others' loads, keeping a change when the makespan (then
    the total load) drops. List scheduling alone can miss the optimum by a third on small
    instances (LPT's 4/3 bound); this closes most of that gap."""
    def loads_without(skip):  # busy time per resource
        loads = dict.fromkeys(cost.resource.values(), 0.0)
        for index, placement in placements.items():
            if index not in skip:
                for name, count in placement:
                    loads[cost.resource[name]] += cost(index, name, count)
        return loads

    def with_added(loads, pairs):
        loads = dict(loads)
        for index, placement in pairs:
            for name, count in placement:
                loads[cost.resource[name]] += cost(index, name, count)
        return loads

    def score(loads):
        return (round(max(loads.values()), 12), round(sum(loads.values()), 12))

    groups = [(i,) for i in order]
    if len(order) <= PAIR_SEARCH_MAX_JOBS:
        groups += list(itertools.combinations(order, 2))
    for _ in range(rounds):
        improved = False
        for group in groups:
            base = loads_without(group)
            current = score(with_added(base, [(i, placements[i]) for i in group]))
            choices = [_options(i, jobs.nodes[i]["usable"], cost, base, split, every_split=True) for i in group]
            for combination in itertools.product(*choices):
                trial = score(with_added(base, list(zip(group, combination))))
                if trial < current:
                    current, improved = trial, True
                    for i, option in zip(group, combination):
                        placements[i] = option
        if not improved:
            return


def plan(work: Workload, devices=None, profile: dict | None = None, history: History | None = None,
         split: bool = True, estimator: Estimator | None = None) -> Plan:
    """Place every job of ``work`` on ``devices`` (names or Device objects; default: every
    available device) and return the :class:`Plan`. ``estimator``: prices the devices instead
    of one built from ``profile`` and ``history`` (the adaptive runtime re-plans with the rates
    it measured)."""
    from qfab.backends import available_devices

    chosen = [get_device(d) for d in devices] if devices is not None else list(available_devices().values())
    if not chosen:
        raise ValueError("no device to plan on")
    by_name = {d.name: d for d in chosen}
    estimator = estimator if estimator is not None else Estimator(chosen, profile, history)
    jobs = nx.DiGraph()
    excluded, whole = {}, {}
    for index, item in enumerate(work.items):
        reasons = {d.name: r for d in chosen if (r := _eligible(item, d, estimator)) is not None}
        usable = [d for d in chosen if d.name not in reasons]
        if not usable:
            raise DeviceCapabilityError(f"job {index}: no device can run it: " + "; ".join(f"{d}: {r}" for d, r in reasons.items()))
        excluded[index] = reasons
        whole[index] = {d.name: estimator.predict(d.name, item.job_for(d))[0] for d in usable}
        jobs.add_node(index, cost=sum(whole[index].values()) / len(usable), usable=usable)
        for before in item.after:
            jobs.add_edge(before, index)
    rank = {}
    for node in reversed(list(nx.topological_sort(jobs))):
        rank[node] = jobs.nodes[node]["cost"] + max((rank[s] for s in jobs.successors(node)), default=0.0)
    order = list(nx.lexicographical_topological_sort(jobs, key=lambda n: (-rank[n], n)))
    cost = _CostTable(work, by_name, estimator)
    placements: dict[int, list[tuple[str, int]]] = {}
    resource = cost.resource
    free = {key: _Timeline() for key in resource.values()}
    finish: dict[int, float] = {}
    for index in order:
        item = work.items[index]
        ready = max((finish[before] for before in item.after), default=0.0)
        placements[index] = _best_placement(index, jobs.nodes[index]["usable"], cost, free, ready, split)
        finish[index] = ready
        for name, count in placements[index]:
            seconds = cost(index, name, count)
            start = free[resource[name]].start(ready, seconds)
            free[resource[name]].book(start, seconds)
            finish[index] = max(finish[index], start + seconds)
    if not jobs.number_of_edges():
        _reinsert(order, jobs, placements, cost, split)
    tasks: list[Task] = []
    job_tasks: dict[int, list[int]] = {}
    free = {key: _Timeline() for key in resource.values()}
    for index in order:
        item = work.items[index]
        depends = tuple(t for before in item.after for t in job_tasks[before])
        ready = max((tasks[t].finish for t in depends), default=0.0)
        row = 0
        job_tasks[index] = []
        for name, count in placements[index]:
            seconds, source = cost.predict(index, name, row, count)
            start = free[resource[name]].start(ready, seconds)
            free[resource[name]].book(start, seconds)
            tasks.append(Task(len(tasks), index, (row, row + count), name, start, start + seconds, source, depends))
            job_tasks[index].append(len(tasks) - 1)
            row += count
    graph = nx.DiGraph()
    for t in tasks:
        graph.add_node(t.id, device=t.device, cost=t.predicted)
        graph.add_edges_from((d, t.id) for d in t.depends_on)
    return Plan(work, by_name, tasks, estimator, graph, excluded, whole)
