"""The adaptive policy: chunks that cover each planned task's rows once, stealing by the
earliest-finish rule (never what the thief refuses), re-planning when a measured rate leaves its
band (after a finished chunk and while one runs over), every adaptation an event; and runs
(threads and Dask) whose results equal a static run's and a CPU-only run's, row for row, with
slowed, failing and NaN-returning devices."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qfab
from qfab.backends import JobResult
from qfab.scheduling.adaptive import RATE_BAND, Adaptive
from qfab.scheduling.calibrate import benchmark_circuit
from qfab.scheduling.history import History
from qfab.testing import inject
from tests.support.scheduling_fakes import FakeDevice, engine_results, loopback_cluster_options


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QFAB_CACHE_DIR", str(tmp_path))


def _work(shapes, seed: int = 4):
    """Jobs of (qubits, batch, gradient) each, with two observables."""
    rng = np.random.default_rng(seed)
    work = qfab.Workload()
    for qubits, batch, gradient in shapes:
        circuit = benchmark_circuit(qubits, 1)
        work.add(circuit, ["Z" + "I" * (qubits - 1), "X" * qubits],
                 rng.uniform(-np.pi, np.pi, (batch, circuit.num_parameters)), gradient=gradient)
    return work


MIXED = [(3, 40, True), (4, 30, False), (3, 36, True)]


def _assert_identical(result, reference) -> None:
    """Row for row, bit for bit: the same numbers whatever ran where."""
    assert len(result.results) == len(reference.results)
    for mine, theirs in zip(result.results, reference.results):
        np.testing.assert_array_equal(mine.expectations, theirs.expectations)
        if theirs.gradients is not None:
            np.testing.assert_array_equal(mine.gradients, theirs.gradients)


def _rows_once(policy) -> list[tuple[int, int, int]]:
    """Every (job, row) the policy holds (done, running, queued), which must be each row once."""
    held = [t for q in policy.queues.values() for t in q] + [t for t, _, _ in policy.running.values()]
    held += [policy.tasks[i] for i in policy.done]
    return sorted((t.job_index, row) for t in held for row in range(*t.rows))


def _all_rows(work) -> list[tuple[int, int]]:
    return [(j, row) for j, item in enumerate(work.items) for row in range(item.job.batch)]


def _cpu_only(work):
    return qfab.run(qfab.plan(work, devices=["cpu"], history=History()), progress=False, save_history=False)


# --- the policy on its own (no threads, a made-up clock) -----------------------------------

def _policy(chunk_s: float = 0.006, devices=None):
    work = _work(MIXED)
    devices = devices or [FakeDevice("a", 1e-3), FakeDevice("b", 1e-3)]
    plan = qfab.plan(work, devices=devices, history=History())
    return work, plan, Adaptive(plan, chunk_s=chunk_s, task_overhead_s=0.0)


def test_chunks_cover_each_planned_task_and_are_sized_from_the_cost_model():
    work, plan, policy = _policy(chunk_s=0.006)
    assert _rows_once(policy) == _all_rows(work)
    for task in plan.tasks:  # 1 ms a row: chunks of 6 rows (the last ones up to one more or less)
        mine = [c for c in policy.queues[task.device] if c.job_index == task.job_index and task.rows[0] <= c.rows[0] < task.rows[1]]
        assert (mine[0].rows[0], mine[-1].rows[1]) == task.rows
        count = task.rows[1] - task.rows[0]
        assert len(mine) == max(1, count // 6)
        assert all(abs(c.predicted - 1e-3 * (c.rows[1] - c.rows[0])) < 1e-12 for c in mine)
    whole = Adaptive(plan, chunk_s=10.0, task_overhead_s=0.0)  # a target above every task: no cut
    assert sorted(t.rows for q in whole.queues.values() for t in q) == sorted(t.rows for t in plan.tasks)


def test_chunks_never_cost_more_than_their_share_of_overheads():
    """With a 5 ms call overhead a chunk is at least 50 overheads (0.25 s, 250 rows) of work,
    however small the target: a 1200-row job over two devices is cut in chunks of 250 rows or more."""
    work = _work([(3, 1200, False)])
    devices = [FakeDevice("a", 1e-3, 5e-3), FakeDevice("b", 1e-3, 5e-3)]
    plan = qfab.plan(work, devices=devices, history=History())
    policy = Adaptive(plan, chunk_s=0.001, task_overhead_s=0.0)
    chunks = [t for q in policy.queues.values() for t in q]
    assert len(chunks) > len(plan.tasks) and _rows_once(policy) == _all_rows(work)
    assert min(t.rows[1] - t.rows[0] for t in chunks) >= 250


def test_an_idle_device_steals_the_last_ready_chunk_of_the_one_behind():
    work, plan, policy = _policy()
    policy.begin(0.0)
    for chunk in list(policy.queues["b"]):  # b finishes everything it was given, a nothing
        assert policy.next_task("b", 0.0).id == chunk.id
        assert policy.complete("b", chunk, JobResult("b", 0.0), chunk.predicted)
    tail = policy.queues["a"][-1]
    started = policy.next_task("b", 1.0)
    assert started.id == tail.id and started.device == "b" and tail not in policy.queues["a"]
    assert policy.origin(started) == "stolen from a"
    assert policy.events[-1].startswith(f"b stole task {tail.id} (job {tail.job_index}")
    assert _rows_once(policy) == _all_rows(work)


def test_a_thief_never_takes_what_it_refuses_nor_what_it_would_finish_later():
    work = _work([(4, 12, False), (3, 12, False)])
    narrow = FakeDevice("narrow", 1e-3, max_qubits=3)
    plan = qfab.plan(work, devices=[FakeDevice("wide", 1e-3), narrow], history=History(), split=False)
    policy = Adaptive(plan, chunk_s=0.004, task_overhead_s=0.0)
    policy.begin(0.0)
    chunks = sorted((t for q in policy.queues.values() for t in q), key=lambda t: -t.job_index)
    policy.queues["wide"], policy.queues["narrow"] = chunks, []  # all on wide, the 4-qubit job's last
    last_narrow_one = [t for t in chunks if t.job_index == 1][-1]
    assert chunks[-1].job_index == 0 and "holds at most 3 qubits" in policy.refusal(chunks[-1], "narrow")
    assert policy.steal("narrow", 0.0)
    assert [t.id for t in policy.queues["narrow"]] == [last_narrow_one.id]
    slow = qfab.plan(work, devices=[FakeDevice("wide", 1e-3), FakeDevice("crawl", 1.0)], history=History(), split=False)
    policy = Adaptive(slow, chunk_s=0.004, task_overhead_s=0.0)
    policy.queues["wide"] = [t for q in policy.queues.values() for t in q]
    policy.queues["crawl"] = []
    assert not policy.steal("crawl", 0.0)  # 1 s a row there: wide finishes all of it sooner


def test_a_rate_out_of_band_twice_replans_the_queued_rows_at_the_measured_rate():
    work, plan, policy = _policy()
    policy.begin(0.0)
    before = sum(t.rows[1] - t.rows[0] for t in policy.queues["a"])
    for step in range(3):  # the first chunk is not trusted; the next two run 3x their prediction
        chunk = policy.next_task("a", float(step))
        assert policy.complete("a", chunk, JobResult("a", 0.0), 3 * policy.expected(chunk, "a"))
    assert policy.factors["a"] == pytest.approx(3.0)
    assert policy.replans == 1 and "re-planned" in policy.events[-1] and "a x3.00" in policy.events[-1]
    queued = {d: sum(t.rows[1] - t.rows[0] for t in policy.queues[d]) for d in ("a", "b")}
    assert queued["a"] < queued["b"] / 2 and queued["a"] < before - 3 * 6  # ~1/4 of the rest: a is 3x slower
    assert _rows_once(policy) == _all_rows(work)
    assert {policy.origin(t) for t in policy.queues["b"]} == {"re-planned"}


def test_one_noisy_chunk_changes_nothing():
    work, plan, policy = _policy()
    for step, ratio in enumerate([1.0, 2.5, 1.0, 0.5, 1.0]):  # out of band once, on either side
        chunk = policy.next_task("a", float(step))
        policy.complete("a", chunk, JobResult("a", 0.0), ratio * policy.expected(chunk, "a"))
    assert policy.factors["a"] == 1.0 and policy.replans == 0 and policy.events == []


def test_a_chunk_running_over_its_band_replans_before_it_ends():
    work, plan, policy = _policy()
    policy.begin(0.0)
    first = policy.next_task("a", 0.0)
    policy.complete("a", first, JobResult("a", 0.0), first.predicted)
    running = policy.next_task("a", 10.0)
    due = policy.next_deadline()
    assert due == pytest.approx(10.0 + RATE_BAND * running.predicted)
    assert policy.expire(due - 1e-9) == [] and policy.replans == 0
    assert policy.expire(10.0 + 4 * running.predicted) == []  # not retired: re-planned
    assert policy.factors["a"] == pytest.approx(4.0) and policy.replans == 1
    assert "has run" in policy.events[-1] and "at most 1/4.00" in policy.events[-1]
    assert _rows_once(policy) == _all_rows(work)


def test_devices_on_one_timeline_run_the_static_plan():
    work = _work(MIXED)
    plan = qfab.plan(work, devices=[FakeDevice("h1", 1e-3, shares_host=True), FakeDevice("h2", 2e-3, shares_host=True)],
                     history=History())
    policy = Adaptive(plan, chunk_s=0.001)
    assert sorted(policy.tasks) == sorted(t.id for t in plan.tasks) and not policy.adapting


# --- runs ----------------------------------------------------------------------------------

def _devices(kind: str):
    """a slowed 4x from its first call, b and c healthy, or b failing / answering NaN after one call."""
    slow = inject(FakeDevice("a", 1.2e-2), slowdown=4.0)  # 12 ms a row: planned tasks of 3-4 chunks of >= 50 ms
    b = FakeDevice("b", 1.2e-2)
    if kind == "fails":
        b = inject(b, fail_after=1)
    elif kind == "nan":
        b = inject(b, nan_after=1)
    return [slow, b, FakeDevice("c", 1.8e-2)]


@pytest.mark.parametrize("kind", ["slow", "fails", "nan"])
def test_runs_equal_a_static_and_a_cpu_only_run_row_for_row(kind, tmp_path):
    work = _work(MIXED)
    engine_results(work)  # compile the engine for these shapes before anything is timed
    cpu = _cpu_only(work)
    static = qfab.run(qfab.plan(work, devices=_devices(kind), history=History(tmp_path / "s.json")),
                      progress=False, save_history=False, adapt=False)
    plan = qfab.plan(work, devices=_devices(kind), history=History(tmp_path / "a.json"))
    result = qfab.run(plan, progress=False, save_history=False, chunk_s=0.02)
    _assert_identical(result, cpu)
    _assert_identical(static, cpu)
    records = [r for rs in result.provenance for r in rs]
    assert sorted((r.job_index, row) for r in records for row in range(*r.rows)) == _all_rows(work)
    assert len(records) > len(plan.tasks)  # it ran in chunks
    report = result.report()
    assert "policy adaptive" in report
    if kind == "slow":  # the 4x device ends with less than its share, by stealing or re-planning
        planned = sum(t.rows[1] - t.rows[0] for t in plan.tasks if t.device == "a")
        assert sum(r.rows[1] - r.rows[0] for r in records if r.device == "a") < planned
        assert any(m.kind in ("stolen", "re-planned") for m in result.marks)
        assert all(m.at_s is not None and m.text in result.events for m in result.marks)
    else:
        assert "device b retired" in report and sum(r.device == "b" for r in records) <= 1  # its one good answer
    result.gantt(tmp_path / "run.png")
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=st.lists(st.tuples(st.integers(2, 4), st.integers(1, 30), st.booleans()), min_size=1, max_size=4),
       slowdown=st.sampled_from([1.0, 3.0, 6.0]), seed=st.integers(0, 99))
def test_any_workload_runs_to_the_cpu_results_under_a_slowdown(shapes, slowdown, seed):
    work = _work(shapes, seed)
    devices = [inject(FakeDevice("a", 2e-3), slowdown=slowdown), FakeDevice("b", 3e-3)]
    result = qfab.run(qfab.plan(work, devices=devices, history=History()), progress=False, save_history=False,
                      chunk_s=0.02)
    _assert_identical(result, _cpu_only(work))


def test_the_same_policy_runs_on_dask():
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'qfab[dask]')")
    from qfab.scheduling.distributed import worker_resources

    work = _work(MIXED)
    devices = [inject(FakeDevice("a", 1e-2), slowdown=4.0), FakeDevice("b", 1e-2)]  # chunks of >= 100 ms on Dask
    plan = qfab.plan(work, devices=devices, history=History())
    options = loopback_cluster_options(n_workers=1, threads_per_worker=2, processes=False,
                                       resources=worker_resources(devices))
    with distributed.LocalCluster(**options) as cluster, distributed.Client(cluster) as client:
        result = qfab.run(plan, cluster=client, progress=False, save_history=False, chunk_s=0.1)
    _assert_identical(result, _cpu_only(work))
    assert result.policy == "adaptive" and len([r for rs in result.provenance for r in rs]) > len(plan.tasks)
