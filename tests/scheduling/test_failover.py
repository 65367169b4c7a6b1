"""The failover policy: on its own (refusing devices never get work, the earliest-finish choice
counts each timeline's backlog, late answers are discarded, a task nothing can run is reported
with every device's reason), and the same faults run locally and on a Dask LocalCluster
(in-process, listening on loopback only), which must move the same tasks to the same devices."""
from __future__ import annotations

import contextlib
from dataclasses import replace

import numpy as np
import pytest

import qfab
from qfab.backends import JobResult
from qfab.scheduling.calibrate import benchmark_circuit
from qfab.scheduling.failover import Failover, NoLiveDeviceError
from qfab.scheduling.history import History
from qfab.scheduling.planner import Task
from tests.support.scheduling_fakes import FakeDevice, assert_matches_engine, engine_results, loopback_cluster_options

WHERE = ["local", "dask"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QFAB_CACHE_DIR", str(tmp_path))


@contextlib.contextmanager
def _client(plan):
    """An in-process Dask cluster (``processes=False``: tasks go through memory, its HTTP on
    loopback) declaring the plan's devices."""
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'qfab[dask]')")
    from qfab.scheduling.distributed import worker_resources

    options = loopback_cluster_options(n_workers=1, threads_per_worker=len(plan.devices), processes=False,
                                       resources=worker_resources(list(plan.devices.values())))
    with distributed.LocalCluster(**options) as cluster, distributed.Client(cluster) as client:
        yield client


def _run(plan, where: str, **options):
    """The plan as made (``adapt=False``): these tests follow the failover policy's own moves."""
    if where == "local":
        return qfab.run(plan, progress=False, save_history=False, adapt=False, **options)
    with _client(plan) as client:
        return qfab.run(plan, cluster=client, progress=False, save_history=False, adapt=False, **options)


def _work(shapes, seed: int = 7):
    """Gradient jobs of (qubits, batch, after) each."""
    rng = np.random.default_rng(seed)
    work = qfab.Workload()
    for qubits, batch, after in shapes:
        circuit = benchmark_circuit(qubits, 1)
        work.add(circuit, ["Z" + "I" * (qubits - 1)], rng.uniform(-np.pi, np.pi, (batch, circuit.num_parameters)),
                 gradient=True, after=after)
    return work


def _laid_out(work, devices, where: list[str]):
    """A plan with job i whole on device ``where[i]`` (task i), end to end per device and after
    the jobs it depends on: the planner's placement replaced, to give each device a chosen
    backlog or queue."""
    plan = qfab.plan(work, devices=devices, history=History(), split=False)
    tasks, free = [], {}
    for index, name in enumerate(where):
        after = work.items[index].after
        task = Task(index, index, (0, work.items[index].job.batch), name, 0.0, 0.0, "model", after)
        seconds = plan.estimator.predict(name, plan.device_job(task))[0]
        start = max([free.get(plan.resources[name], 0.0)] + [tasks[d].finish for d in after])
        tasks.append(replace(task, start=start, finish=start + seconds))
        free[plan.resources[name]] = start + seconds
    return replace(plan, tasks=tasks)


def _where(policy) -> dict[int, str]:
    """Each queued task's device."""
    return {task.id: device for device, queue in policy.queues.items() for task in queue}


# --- the policy on its own -----------------------------------------------------------------

def _gated_devices(fault: str = "raises"):
    """``broken`` (fastest; fails or hangs on its first call), ``wide`` and ``narrow`` (3 qubits
    at most), and ``rough``: fastest of all and accepted by ``check``, but its error exceeds
    the accuracy every job asks for (exact, by default), so the planner excluded it."""
    return [FakeDevice("broken", 2e-3, fail_on_call=1 if fault == "raises" else None,
                       hang_on_call=1 if fault == "hangs" else None, hang_s=2.0),
            FakeDevice("wide", 4e-3), FakeDevice("narrow", 3e-3, max_qubits=3), FakeDevice("rough", 1e-4, error=1e-2)]


def _gated_work():
    """Job 0 first, every other job after it: when ``broken`` fails on its share of job 0, no
    later task can have started anywhere, so where its work goes does not depend on timing."""
    return _work([(4, 8, []), (3, 20, [0]), (5, 10, [0]), (3, 16, [0]), (4, 12, [0])])


def test_refusing_devices_never_get_moved_work():
    work = _gated_work()
    plan = qfab.plan(work, devices=_gated_devices(), history=History())
    assert "rough" not in {t.device for t in plan.tasks}
    orphans = [t for t in plan.tasks if t.device == "broken"]
    assert {work.items[t.job_index].job.circuit.num_qubits for t in orphans} == {3, 4, 5}
    policy = Failover(plan)
    policy.retire("broken", "injected")
    where = _where(policy)
    assert sorted(where) == sorted(t.id for t in plan.tasks)  # nothing lost
    for task in orphans:
        assert where[task.id] in ("wide", "narrow")  # never the excluded, idle, fastest one
        assert policy.refusal(task, where[task.id]) is None
        if work.items[task.job_index].job.circuit.num_qubits > 3:
            assert where[task.id] == "wide"
            assert "holds at most 3 qubits" in policy.refusal(task, "narrow")
        assert "exceeds the accuracy" in policy.refusal(task, "rough")
        assert policy.refusal(task, "broken").startswith("retired (injected")
    assert {where[t.id] for t in orphans} == {"wide", "narrow"}  # the 3-qubit ones to the idler narrow


@pytest.mark.parametrize("queued_on_fast, expected", [(1, "fast"), (3, "slow")])
def test_a_moved_task_goes_where_it_would_finish_first(queued_on_fast, expected):
    """``fast`` takes 10 ms a job, ``slow`` 25 ms: the orphan goes to ``fast`` behind one queued
    job (20 ms), to ``slow`` behind three (40 ms against 25 ms)."""
    work = _work([(3, 10, [])] * (queued_on_fast + 1))
    devices = [FakeDevice("fast", 1e-3), FakeDevice("slow", 2.5e-3), FakeDevice("broken", 1e-3)]
    plan = _laid_out(work, devices, ["fast"] * queued_on_fast + ["broken"])
    policy = Failover(plan)
    policy.retire("broken", "injected")
    assert _where(policy)[plan.tasks[-1].id] == expected
    assert policy.events[-1].endswith(f"moved broken -> {expected}")


@pytest.mark.parametrize("shared", [False, True])
def test_the_backlog_is_the_timelines_so_host_peers_count(shared):
    """``fast`` is idle, but when it shares the host's cores with ``peer`` it waits for peer's
    30 ms: the orphan then goes to ``slow`` (25 ms), else to ``fast`` (10 ms)."""
    work = _work([(3, 10, [])] * 4)
    devices = [FakeDevice("fast", 1e-3, shares_host=shared), FakeDevice("peer", 1e-3, shares_host=shared),
               FakeDevice("slow", 2.5e-3), FakeDevice("broken", 1e-3)]
    plan = _laid_out(work, devices, ["peer", "peer", "peer", "broken"])
    policy = Failover(plan)
    assert policy.backlog("fast") == pytest.approx(0.03 if shared else 0.0)
    policy.retire("broken", "injected")
    assert _where(policy)[3] == ("slow" if shared else "fast")


@pytest.mark.parametrize("where", WHERE)
def test_a_moved_task_queues_before_the_tasks_that_wait_for_it(where):
    """Job 1 waits for job 0; job 0's device fails, and job 0 moves to the device that holds
    job 1: it goes ahead of job 1 (planned order), not behind it, where job 1 would wait forever."""
    work = _work([(3, 4, []), (3, 4, [0])])
    expected = engine_results(work)
    plan = _laid_out(work, [FakeDevice("broken", 1e-3, fail_on_call=1), FakeDevice("healthy", 1e-3)],
                     ["broken", "healthy"])
    policy = Failover(plan)
    policy.retire("broken", "injected")
    assert [t.id for t in policy.queues["healthy"]] == [0, 1]
    result = _run(plan, where)
    assert_matches_engine(result, expected)
    assert [r.moved_from for rs in result.provenance for r in rs] == [("broken",), ()]


def test_a_timed_out_device_is_retired_and_its_late_answer_discarded():
    work = _work([(3, 4, []), (3, 4, [])])
    plan = _laid_out(work, [FakeDevice("healthy", 1e-3), FakeDevice("stuck", 1e-3)], ["healthy", "stuck"])
    policy = Failover(plan, timeout_factor=5.0, min_timeout_s=2.0)  # stuck's task: 4 ms, so 2 s allowed
    task = policy.next_task("stuck", now=100.0)
    assert task.id == 1 and policy.next_deadline() == pytest.approx(102.0)
    assert policy.expire(now=101.9) == []
    assert policy.expire(now=102.1) == ["stuck"]
    assert "stuck retired: task 1 timed out after 2.10 s" in policy.events[0]
    late = JobResult("stuck", 0.01)  # what it holds does not matter: it must not be kept
    assert not policy.complete("stuck", task, late, 0.01) and task.id not in policy.done
    assert policy.next_task("stuck", now=103.0) is None
    assert policy.next_task("healthy", now=103.0).id == 0
    assert policy.complete("healthy", plan.tasks[0], JobResult("healthy", 0.01), 0.01)
    moved = policy.next_task("healthy", now=104.0)
    assert moved.id == 1 and policy.complete("healthy", moved, JobResult("healthy", 0.01), 0.01)
    assert policy.finished and policy.done[1][0].moved_from == ("stuck",)


def _stranded_plan(fail: bool = False):
    """Job 0 (4 qubits) can run only on the slow ``only``: ``small`` holds 3 qubits, and
    ``rough``'s error exceeds the (exact) accuracy asked for. Job 1 runs after job 0, on small."""
    work = _work([(4, 3, []), (3, 3, [0])])
    devices = [FakeDevice("only", 1e-2, fail_on_call=1 if fail else None), FakeDevice("small", 1e-3, max_qubits=3),
               FakeDevice("rough", 1e-4, error=1e-2)]
    plan = qfab.plan(work, devices=devices, history=History())
    assert {t.device for t in plan.tasks if t.job_index == 0} == {"only"}
    assert "only" not in {t.device for t in plan.tasks if t.job_index == 1}
    return plan


def _assert_names_every_refusal(error: NoLiveDeviceError, plan):
    first = [t.id for t in plan.tasks if t.job_index == 0]
    later = [t.id for t in plan.tasks if t.job_index == 1]
    assert sorted(error.lost) == sorted(first + later)
    for task in first:
        why = error.lost[task]
        assert why.startswith("no live device can run it")
        assert "only: retired (" in why and "small: device 'small' holds at most 3 qubits" in why
        assert "rough: expected error" in why and "exceeds the accuracy" in why
    for task in later:
        assert error.lost[task].startswith("it depends on lost task")
    assert all(f"task {task}:" in str(error) for task in first + later)


def test_a_task_no_device_accepts_is_reported_with_each_refusal():
    plan = _stranded_plan()
    policy = Failover(plan)
    policy.retire("only", "RuntimeError: injected")
    assert policy.finished  # its dependents are lost with it: nothing waits
    with pytest.raises(NoLiveDeviceError) as caught:
        policy.result(0.0)
    _assert_names_every_refusal(caught.value, plan)


@pytest.mark.parametrize("where", WHERE)
def test_a_run_with_a_stranded_task_ends_with_the_reasons(where):
    plan = _stranded_plan(fail=True)
    with pytest.raises(NoLiveDeviceError) as caught:
        _run(plan, where)
    _assert_names_every_refusal(caught.value, plan)
    assert "only: retired (RuntimeError: only: injected failure" in str(caught.value)


# --- one policy, two transports ------------------------------------------------------------

@pytest.mark.parametrize("fault", ["raises", "hangs"])
def test_the_same_fault_moves_the_same_tasks_locally_and_on_dask(fault, tmp_path):
    work = _gated_work()
    expected = engine_results(work)
    outcomes = {}
    for where in WHERE:
        plan = qfab.plan(work, devices=_gated_devices(fault), history=History(tmp_path / f"{where}.json"))
        result = _run(plan, where, timeout_factor=5.0, min_timeout_s=1.0)
        assert_matches_engine(result, expected)
        records = [r for rs in result.provenance for r in rs]
        assert sorted(r.task for r in records) == sorted(t.id for t in plan.tasks)  # each task once
        assert any(e.startswith("device broken retired") for e in result.events)
        if fault == "hangs":
            assert "timed out" in result.report()
        outcomes[where] = {r.task: (r.device, r.moved_from) for r in records}
    assert outcomes["local"] == outcomes["dask"]
    policy = Failover(plan)  # what the policy alone decides for broken retired before anything ends
    policy.retire("broken", "injected")
    assert {task: device for task, (device, _) in outcomes["local"].items()} == _where(policy)
    planned = {t.id: t.device for t in plan.tasks}
    assert all(moved == (("broken",) if planned[task] == "broken" else ()) for task, (_, moved) in outcomes["local"].items())
