"""Running a plan on a Dask cluster: each task goes to a worker that holds its device.

Workers declare their local devices as Dask resources, ``qfab-<device>=1`` (``dask worker
tcp://host:8786 --resources "qfab-cpu=1 qfab-fpga=1"``, or ``LocalCluster(resources=...)``), so
a device runs one task at a time wherever it is. The worker resolves the device by name from its
own registry; a Device object the registry does not know travels pickled. The policy (adaptive
by default, :mod:`qfab.scheduling.adaptive`; the static plan with failover with ``adapt=False``,
:mod:`qfab.scheduling.failover`) decides what runs, what is stolen or re-planned and what a
failed or timed-out device's tasks become, as in the local runtime: each device has one task in flight, submitted when the
policy starts it, so its deadline runs from then and a retired device's future is cancelled.

Devices on a machine's own cores (``Device.shares_host``) run one at a time, as the plan's one
host timeline assumed: the policy starts one only while none of the others runs. They also take
one more resource, ``qfab-host``, which a worker declares once for its machine
(``worker_resources`` adds it), so that host-sharing tasks of other runs on the same cluster
do not overlap them either.
"""
from __future__ import annotations

import time

from qfab.backends.base import Device, Job, JobResult, is_registered_instance
from qfab.scheduling.adaptive import DASK_TASK_OVERHEAD_S, Adaptive
from qfab.scheduling.failover import MIN_TIMEOUT_S, TIMEOUT_FACTOR, Failover, RunResult, drive
from qfab.scheduling.planner import HOST, Plan, Task

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


def run_on_dask(plan: Plan, cluster, progress: bool | None = None, timeout_factor: float = TIMEOUT_FACTOR,
                min_timeout_s: float = MIN_TIMEOUT_S, save_history: bool = True, adapt: bool = True,
                chunk_s: float | None = None) -> RunResult:
    """Run ``plan`` on a Dask cluster: a ``distributed.Client``, or anything ``Client`` connects
    to (a scheduler address such as ``"tcp://host:8786"``, a ``LocalCluster``); a client made
    here is closed when the run ends. The other arguments are :func:`qfab.run`'s."""
    distributed = _import_distributed()
    options = (progress, timeout_factor, min_timeout_s, save_history, adapt, chunk_s)
    if isinstance(cluster, distributed.Client):
        return _run_on_client(plan, cluster, *options)
    with distributed.Client(cluster) as client:
        return _run_on_client(plan, client, *options)


class _Futures:
    """The Dask :class:`~qfab.scheduling.failover.Transport`: handles are Dask futures on the
    device's resource."""

    name = "qfab (dask)"

    def __init__(self, plan: Plan, client, declared: set[str]):
        self.plan, self.client, self.declared = plan, client, declared
        self.distributed = _import_distributed()
        self.spec = {name: (name if is_registered_instance(device) else device) for name, device in plan.devices.items()}

    def submit(self, device: str, task: Task, job: Job):
        return self.client.submit(_execute, self.spec[device], job, pure=False,
                                  resources=_task_resources(self.plan, device, self.declared),
                                  key=f"qfab-task-{task.id}-{device}-{time.time_ns()}")

    def wait(self, handles: list, timeout: float) -> set:
        try:
            self.distributed.wait(handles, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass  # none finished in time: the caller looks at its deadlines
        return {handle for handle in handles if handle.status != "pending"}

    def outcome(self, handle) -> tuple[JobResult, float]:
        return handle.result()

    def abandon(self, handle) -> None:
        handle.cancel()

    def close(self) -> None:
        """Nothing to release: Dask drops a future with its last handle; the client is the caller's."""


def _run_on_client(plan: Plan, client, progress: bool | None, timeout_factor: float, min_timeout_s: float,
                   save_history: bool, adapt: bool, chunk_s: float | None) -> RunResult:
    declared = set()
    for info in client.scheduler_info()["workers"].values():
        declared |= {name for name, amount in info.get("resources", {}).items() if amount > 0}
    missing = [d for d in plan.devices if resource_name(d) not in declared and any(t.device == d for t in plan.tasks)]
    if missing:
        raise RuntimeError(f"no Dask worker declares {[resource_name(d) for d in missing]}; start workers with "
                           f"--resources \"{' '.join(resource_name(d) + '=1' for d in missing)}\"")
    unreachable = {d: f"no Dask worker declares {resource_name(d)}" for d in plan.devices
                   if resource_name(d) not in declared}
    if adapt:  # chunks sized for Dask's cost per task
        policy = Adaptive(plan, timeout_factor, min_timeout_s, unreachable, chunk_s, DASK_TASK_OVERHEAD_S)
    else:
        policy = Failover(plan, timeout_factor, min_timeout_s, unavailable=unreachable)
    return drive(policy, _Futures(plan, client, declared), progress, save_history)
