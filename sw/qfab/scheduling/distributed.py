"""Running a plan on a Dask cluster: each task goes to a worker that holds its device.

Workers declare their local devices as Dask resources, ``qfab-<device>=1`` (``dask worker
tcp://host:8786 --resources "qfab-cpu=1 qfab-fpga=1"``, or ``LocalCluster(resources=...)``), so
a device runs one task at a time wherever it is. The worker resolves the device by name from its
own registry; a Device object the registry does not know travels pickled. A task whose future
fails moves to another device's resource, as in the local runtime.

Devices on a machine's own cores (``Device.shares_host``) take one more resource, ``qfab-host``,
which a worker declares once for its machine (``worker_resources`` adds it): the plan gave them
one timeline, and on the cluster they then also run one at a time. A cluster whose workers do
not declare it runs them as before, side by side.
"""
from __future__ import annotations

import time

from qfab.backends.base import Device, Job, is_registered_instance
from qfab.scheduling.planner import HOST, Plan
from qfab.scheduling.runtime import RunResult, TaskRecord, collect

__all__ = ["run_on_dask", "resource_name", "worker_resources", "HOST_RESOURCE"]

HOST_RESOURCE = "qfab-host"  # the machine's cores, held by a task on a device that shares them


def resource_name(device: str) -> str:
    return f"qfab-{device}"


def worker_resources(devices=None) -> dict[str, int]:
    """The resources a worker holding ``devices`` (names or Device objects; default: its
    available ones) declares, with :data:`HOST_RESOURCE` when one of them computes on the host."""
    from qfab.backends import available_devices, get_device

    chosen = [get_device(d) for d in devices] if devices is not None else list(available_devices().values())
    resources = {resource_name(device.name): 1 for device in chosen}
    if any(device.shares_host for device in chosen):
        resources[HOST_RESOURCE] = 1
    return resources


def _task_resources(plan: Plan, device: str, declared: set[str]) -> dict[str, int]:
    """The device's resource, and the host's for a host-sharing device where workers declare it."""
    wanted = {resource_name(device): 1}
    if plan.resources[device] == HOST and HOST_RESOURCE in declared:
        wanted[HOST_RESOURCE] = 1
    return wanted


def _import_distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError("running on a cluster needs Dask distributed: pip install 'qfab[dask]'") from err
    return distributed


def _execute(device: str | Device, job: Job):
    """On the worker: run the job on its local device and time it there."""
    from qfab.backends import get_device

    start = time.perf_counter()
    result = get_device(device).run([job])[0]
    return result, time.perf_counter() - start


def run_on_dask(plan: Plan, cluster, progress: bool | None = None, save_history: bool = True) -> RunResult:
    """Run ``plan`` on a Dask cluster: a ``distributed.Client``, or anything ``Client`` connects
    to (a scheduler address such as ``"tcp://host:8786"``, a ``LocalCluster``); a client made
    here is closed when the run ends."""
    distributed = _import_distributed()
    if isinstance(cluster, distributed.Client):
        return _run_on_client(plan, cluster, progress, save_history)
    with distributed.Client(cluster) as client:
        return _run_on_client(plan, client, progress, save_history)


def _run_on_client(plan: Plan, client, progress: bool | None, save_history: bool) -> RunResult:
    distributed = _import_distributed()
    from tqdm.auto import tqdm

    declared = set()
    for info in client.scheduler_info()["workers"].values():
        declared |= {name for name, amount in info.get("resources", {}).items() if amount > 0}
    missing = [d for d in plan.devices if resource_name(d) not in declared and any(t.device == d for t in plan.tasks)]
    if missing:
        raise RuntimeError(f"no Dask worker declares {[resource_name(d) for d in missing]}; start workers with "
                           f"--resources \"{' '.join(resource_name(d) + '=1' for d in missing)}\"")
    live = [d for d in plan.devices if resource_name(d) in declared]
    spec = {name: (name if is_registered_instance(device) else device)
            for name, device in plan.devices.items()}
    start = time.perf_counter()
    futures = {}
    for task in sorted(plan.tasks, key=lambda t: t.start):
        future = client.submit(_execute, spec[task.device], plan.device_job(task), pure=False,
                               resources=_task_resources(plan, task.device, declared), key=f"qfab-task-{task.id}-{task.device}-{time.time_ns()}")
        futures[future] = (task, task.device, ())
    done, events = {}, []
    bar = tqdm(total=len(plan.tasks), desc="qfab (dask)", unit="task", disable=None if progress is None else not progress)
    pending = distributed.as_completed(list(futures))
    for future in pending:
        task, device, moved = futures.pop(future)
        try:
            result, seconds = future.result()
        except Exception as error:
            if device in live:
                live.remove(device)
                events.append(f"device {device} retired: {type(error).__name__}: {error} (while running task {task.id})")
            if not live:
                events.append(f"task {task.id} has no live device left")
                continue
            target = min(live, key=lambda d: plan.estimator.predict(d, plan.device_job(task, d))[0])
            events.append(f"task {task.id} (job {task.job_index}) moved {device} -> {target}")
            retry = client.submit(_execute, spec[target], plan.device_job(task, target), pure=False,
                                  resources=_task_resources(plan, target, declared), key=f"qfab-task-{task.id}-{target}-{time.time_ns()}")
            futures[retry] = (task, target, moved + (device,))
            pending.add(retry)
            continue
        job = plan.device_job(task, device)
        predicted = task.predicted if device == task.device else plan.estimator.predict(device, job)[0]
        done[task.id] = (TaskRecord(task.id, task.job_index, task.rows, device, predicted, seconds, moved), result)
        plan.estimator.history.record(device, job, seconds, plan.estimator.modelled(device, job),
                                      plan.estimator.model_id(device))
        bar.update(1)
    bar.close()
    outcome = collect(plan, done, events, time.perf_counter() - start)
    if save_history:
        plan.estimator.history.save()
    return outcome
