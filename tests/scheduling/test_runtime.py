"""The runtime: results equal direct qfab calls, concurrency, faults moved without loss or
duplication, history and calibration files, device='auto', and Dask on a loopback cluster."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

import qfab
from qfab.scheduling.calibrate import PROFILE_SCHEMA, benchmark_circuit, benchmark_job, calibrate, load_profile
from qfab.scheduling.history import History
from tests.support.scheduling_fakes import (HOST_METER, FakeDevice, assert_matches_engine, engine_results,
                                            loopback_cluster_options)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QFAB_CACHE_DIR", str(tmp_path))


def _mixed_work():
    rng = np.random.default_rng(3)
    work = qfab.Workload()
    circuits = [benchmark_circuit(n, 2) for n in (3, 5, 4)]
    for circuit, batch, gradient in zip(circuits, (12, 7, 20), (True, False, True)):
        observables = ["Z" + "I" * (circuit.num_qubits - 1), "X" * circuit.num_qubits]
        work.add(circuit, observables, rng.uniform(-np.pi, np.pi, (batch, circuit.num_parameters)), gradient=gradient)
    return work


def test_results_in_job_order_equal_direct_calls_with_provenance():
    work = _mixed_work()
    devices = [FakeDevice("fast", 2e-4, 1e-3), FakeDevice("slow", 6e-4, 1e-3), "cpu"]
    plan = qfab.plan(work, devices=devices, history=History())
    result = qfab.run(plan, progress=False)
    assert_matches_engine(result, engine_results(work))
    for index, records in enumerate(result.provenance):
        assert sum(r.rows[1] - r.rows[0] for r in records) == work.items[index].job.batch
        assert all(r.measured_s > 0 and r.device in plan.devices for r in records)
    assert "predicted" in result.report() and "measured" in result.report()


def test_public_functions_with_device_auto_match_cpu():
    circuit = benchmark_circuit(4, 2)
    params = np.random.default_rng(0).uniform(size=(5, circuit.num_parameters))
    np.testing.assert_allclose(qfab.expectation(circuit, "ZIII", params, device="auto"),
                               qfab.expectation(circuit, "ZIII", params), atol=1e-8)
    np.testing.assert_allclose(qfab.gradient(circuit, "ZIII", params, device="auto"),
                               qfab.gradient(circuit, "ZIII", params), atol=1e-6)


def test_devices_run_concurrently():
    """Two devices of 0.2 s of work each finish in about 0.2 s, not 0.4 s."""
    devices = [FakeDevice("a", 0.01), FakeDevice("b", 0.01)]
    circuit = benchmark_circuit(3, 1)
    work = qfab.Workload()
    work.add(circuit, "ZII", np.zeros((40, circuit.num_parameters)), gradient=False)
    plan = qfab.plan(work, devices=devices, history=History())
    assert {t.device for t in plan.tasks} == {"a", "b"}
    start = time.perf_counter()
    qfab.run(plan, progress=False)
    assert time.perf_counter() - start < 0.33  # serially 0.4 s


@pytest.mark.parametrize("fault", ["raises", "hangs"])
def test_failed_device_tasks_move_with_nothing_lost_or_duplicated(fault):
    broken = FakeDevice("broken", 1e-3, fail_on_call=1 if fault == "raises" else None,
                        hang_on_call=1 if fault == "hangs" else None)
    healthy = FakeDevice("healthy", 1e-3)
    work = _mixed_work()
    plan = qfab.plan(work, devices=[broken, healthy], history=History())
    assert any(t.device == "broken" for t in plan.tasks)
    result = qfab.run(plan, progress=False, timeout_factor=5.0, min_timeout_s=0.3, adapt=False)
    assert_matches_engine(result, engine_results(work))
    records = [r for rs in result.provenance for r in rs]
    assert sorted(r.task for r in records) == sorted(t.id for t in plan.tasks)  # each task once
    assert all(r.device == "healthy" for r in records)
    assert healthy.rows_run == sum(item.job.batch for item in work.items)
    report = result.report()
    assert "broken retired" in report and "moved broken -> healthy" in report
    if fault == "hangs":
        assert "timed out" in report


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), -float("inf")])
def test_a_device_that_returns_nan_or_inf_is_a_failed_device_and_its_work_moves(bad_value):
    broken = FakeDevice("broken", 1e-3, nan_on_call=1, bad_value=bad_value)
    healthy = FakeDevice("healthy", 1e-3)
    work = _mixed_work()
    plan = qfab.plan(work, devices=[broken, healthy], history=History())
    assert any(t.device == "broken" for t in plan.tasks)
    result = qfab.run(plan, progress=False, adapt=False)
    assert_matches_engine(result, engine_results(work))  # the CPU's numbers, no NaN kept
    records = [r for rs in result.provenance for r in rs]
    assert sorted(r.task for r in records) == sorted(t.id for t in plan.tasks)  # each task once
    assert all(r.device == "healthy" for r in records)
    report = result.report()
    assert "device broken retired: NonFiniteResultError: broken returned a result whose 1 of" in report
    assert "are NaN or infinite" in report and "moved broken -> healthy" in report


def test_a_non_finite_state_is_refused_too():
    from qfab.backends import JobResult
    from qfab.scheduling.failover import non_finite

    assert non_finite(JobResult("d", 0.0, expectations=np.zeros((2, 1)), counts=[{"0": 3}])) is None
    state = np.zeros((1, 4), complex)
    state[0, 1] = complex(0, np.nan)
    assert non_finite(JobResult("d", 0.0, states=state)) == "1 of 4 states are NaN or infinite"
    assert "dtype object" in non_finite(JobResult("d", 0.0, gradients=np.array([None])))


def test_history_learns_and_flags_a_slow_device(tmp_path):
    history = History(tmp_path / "history.json")
    circuit = benchmark_circuit(3, 1)
    degraded = FakeDevice("degraded", 1e-4)
    work = qfab.Workload()
    work.add(circuit, "ZII", np.zeros((20, circuit.num_parameters)), gradient=False)
    degraded.slowdown = 30.0  # runs 30x slower than its profile says
    for _ in range(5):
        result = qfab.run(qfab.plan(work, devices=[degraded], history=history), progress=False)
    assert "SLOW" not in result.report()  # by now the history predicts what the device does
    first = qfab.run(qfab.plan(work, devices=[degraded], history=History(tmp_path / "fresh.json")), progress=False)
    assert "SLOW: degraded" in first.report()
    again = History(tmp_path / "history.json")
    seconds, source = again.predict("degraded", work.items[0].job)
    assert source == "history" and seconds == pytest.approx(30 * 20 * 1e-4, rel=0.5)


def test_calibration_writes_a_versioned_profile_the_planner_reads(tmp_path):
    path = calibrate([FakeDevice("declared", 1e-3)], path=tmp_path / "profile.json", repeats=1)
    data = json.loads(path.read_text())
    assert data["schema"] == PROFILE_SCHEMA and "declared" in data["devices"]
    assert load_profile(path)["declared"] == {}
    data["schema"] = 999
    path.write_text(json.dumps(data))
    assert load_profile(path) == {}


def test_dask_local_cluster_runs_the_plan():
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'qfab[dask]')")
    from qfab.scheduling.distributed import resource_name

    work = _mixed_work()
    devices = [FakeDevice("left", 1e-4), FakeDevice("right", 2e-4, fail_on_call=1)]
    plan = qfab.plan(work, devices=devices, history=History())
    resources = {resource_name("left"): 1, resource_name("right"): 1}
    with distributed.LocalCluster(**loopback_cluster_options(n_workers=1, threads_per_worker=2, processes=False,
                                                             resources=resources)) as cluster, \
            distributed.Client(cluster) as client:
        result = qfab.run(plan, cluster=client, progress=False)
    assert_matches_engine(result, engine_results(work))
    assert len(result.results) == len(work)


def test_a_job_no_live_device_can_run_fails_with_the_story():
    """The only device for a job dies: the run ends (no hang), naming what was lost and why."""
    only = FakeDevice("only", 1e-3, fail_on_call=1, max_qubits=5)
    small = FakeDevice("small", 1e-3, max_qubits=3)
    work = qfab.Workload()
    wide = benchmark_circuit(4, 1)
    work.add(wide, "ZIII", np.zeros((3, wide.num_parameters)), gradient=False)
    narrow = benchmark_circuit(3, 1)
    work.add(narrow, "ZII", np.zeros((3, narrow.num_parameters)), gradient=False, after=[0])
    plan = qfab.plan(work, devices=[only, small], history=History())
    with pytest.raises(RuntimeError, match="no live device"):
        qfab.run(plan, progress=False)


def test_auto_keeps_exact_calls_off_the_fixed_point_fpga():
    """device="auto" must not trade exactness for speed: the FPGA's fixed-point error excludes it
    from a call that asked for nothing looser, even when a profile would price it cheaply."""
    import qfab
    from qiskit.quantum_info import SparsePauliOp

    from tests.support.circuits import hardware_efficient

    circ = qfab.from_qiskit(hardware_efficient(3, 2))
    values = np.random.default_rng(0).uniform(-1, 1, (64, circ.num_parameters))
    obs = SparsePauliOp("ZZZ")
    np.testing.assert_allclose(qfab.expectation(circ, obs, values, device="auto"),
                               qfab.expectation(circ, obs, values, device="cpu"), atol=1e-12)
    work = qfab.Workload()
    work.add(circ, obs, values, gradient=False, accuracy=1e-10)
    assert "fpga" not in {task.device for task in qfab.plan(work, devices=["cpu", "fpga"]).tasks}


def _host_sharing_plan():
    """Two host-sharing devices, each with work only it can do (one offers only adjoint, the
    other only parameter shift), so both get tasks; the host meter reset."""
    devices = [FakeDevice("cpu-like", 2e-3, 5e-3, gradient_methods=("adjoint",), shares_host=True),
               FakeDevice("simulated", 2e-3, 5e-3, gradient_methods=("parameter-shift",), shares_host=True)]
    circuit = benchmark_circuit(3, 1)
    rng = np.random.default_rng(5)
    work = qfab.Workload()
    for method in ("adjoint", "parameter-shift") * 3:
        work.add(circuit, "ZII", rng.uniform(size=(4, circuit.num_parameters)), gradient=method)
    plan = qfab.plan(work, devices=devices, history=History())
    assert {t.device for t in plan.tasks} == {"cpu-like", "simulated"}
    HOST_METER.most = 0
    return work, plan


def test_runtime_never_runs_two_host_sharing_devices_at_once():
    """The runtime runs host-sharing devices one at a time, in plan order."""
    work, plan = _host_sharing_plan()
    result = qfab.run(plan, progress=False, save_history=False)
    assert HOST_METER.most == 1
    assert_matches_engine(result, engine_results(work))


def test_dask_runs_host_sharing_devices_one_at_a_time():
    """On a cluster, devices on the same machine's cores hold its ``qfab-host`` resource too."""
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'qfab[dask]')")
    from qfab.scheduling.distributed import HOST_RESOURCE, worker_resources

    work, plan = _host_sharing_plan()
    resources = worker_resources(list(plan.devices.values()))
    assert resources[HOST_RESOURCE] == 1
    with distributed.LocalCluster(**loopback_cluster_options(n_workers=1, threads_per_worker=2, processes=False,
                                                             resources=resources)) as cluster, \
            distributed.Client(cluster) as client:
        result = qfab.run(plan, cluster=client, progress=False, save_history=False)
    assert HOST_METER.most == 1
    assert_matches_engine(result, engine_results(work))


def test_history_ratios_belong_to_the_model_that_was_corrected(tmp_path):
    """A measured/modelled ratio taken against one calibration must not correct another."""
    history = History(tmp_path / "h.json")
    job = benchmark_job(3, 2)
    for _ in range(3):  # the first run of a shape is dropped (compilation)
        history.record("cpu", job, 2.0, 1.0, model="a")
    assert history.correction("cpu", job, "a") == pytest.approx(2.0)
    assert history.correction("cpu", job, "b") == 1.0
    history.record("cpu", job, 0.5, 1.0, model="b")
    assert history.correction("cpu", job, "b") == pytest.approx(0.5)
    assert history.correction("cpu", job, "a") == 1.0
    history.save()
    assert History(tmp_path / "h.json").correction("cpu", job, "b") == pytest.approx(0.5)


def test_dask_cluster_by_address_runs_on_worker_processes():
    """Beyond one machine: the scheduler's address (what a remote cluster gives), worker
    processes that build their own local devices by name and declare them as Dask resources."""
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (pip install 'qfab[dask]')")
    from qfab.scheduling.distributed import worker_resources

    circuit = benchmark_circuit(4, 1)
    values = np.random.default_rng(3).uniform(-np.pi, np.pi, (6, circuit.num_parameters))
    work = qfab.Workload()
    work.add(circuit, "ZIII", values, gradient=False)
    work.add(circuit, "IIZI", values, gradient=True)
    plan = qfab.plan(work, devices=["cpu"], history=History())
    with distributed.LocalCluster(**loopback_cluster_options(n_workers=1, threads_per_worker=1, processes=True,
                                                             resources=worker_resources(["cpu"]))) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        result = qfab.run(plan, cluster=cluster.scheduler_address, progress=False)
    np.testing.assert_allclose(result.results[0].expectations[:, 0], qfab.expectation(circuit, "ZIII", values), atol=1e-12)
    np.testing.assert_allclose(result.results[1].gradients[:, 0], qfab.gradient(circuit, "IIZI", values), atol=1e-12)
