"""The partitioner against the exhaustive optimum on small instances, and its constraints."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import qfab
from qfab.backends.base import DeviceCapabilityError
from qfab.scheduling.calibrate import benchmark_circuit
from qfab.scheduling.history import History
from tests.support.registered_device import CALL_S, KIND, SET_S, registered_fixed_rate
from tests.support.scheduling_fakes import FakeDevice


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QFAB_CACHE_DIR", str(tmp_path))


def _plan(work, devices, **options):
    return qfab.plan(work, devices=devices, profile={}, history=History(), **options)


def _workload(batches, qubits=3):
    circuit = benchmark_circuit(qubits, 1)
    work = qfab.Workload()
    rng = np.random.default_rng(0)
    for batch in batches:
        work.add(circuit, "Z" + "I" * (qubits - 1), rng.uniform(size=(batch, circuit.num_parameters)), gradient=False)
    return work


def _makespan(loads, devices):
    """The largest busy time per resource: devices on the host's cores add up on one timeline."""
    per_resource = {}
    for load, device in zip(loads, devices):
        key = "host" if device.shares_host else device.name
        per_resource[key] = per_resource.get(key, 0.0) + load
    return max(per_resource.values())


def _optimum_with_splits(batches, devices):
    """Best makespan over every integer split of every job among the devices (each share pays
    its device's call overhead)."""
    best = float("inf")
    per_job = [list(itertools.product(range(b + 1), repeat=len(devices) - 1)) for b in batches]
    for choice in itertools.product(*per_job):
        loads = [0.0] * len(devices)
        feasible = True
        for batch, shares in zip(batches, choice):
            rest = batch - sum(shares)
            if rest < 0:
                feasible = False
                break
            for d, count in enumerate((*shares, rest)):
                if count:
                    loads[d] += devices[d].call_overhead_s + count * devices[d].seconds_per_set
        if feasible:
            best = min(best, _makespan(loads, devices))
    return best


def _optimum_whole(batches, devices):
    loads_best = float("inf")
    for assignment in itertools.product(range(len(devices)), repeat=len(batches)):
        loads = [0.0] * len(devices)
        for batch, d in zip(batches, assignment):
            loads[d] += devices[d].call_overhead_s + batch * devices[d].seconds_per_set
        loads_best = min(loads_best, _makespan(loads, devices))
    return loads_best


@pytest.mark.parametrize("seed", range(8))
def test_makespan_within_ten_percent_of_exhaustive_optimum_with_splits(seed):
    rng = np.random.default_rng(seed)
    devices = [FakeDevice(f"d{i}", float(rng.uniform(1e-3, 5e-3)), float(rng.uniform(0, 5e-3))) for i in range(2)]
    batches = [int(b) for b in rng.integers(1, 9, size=3)]
    plan = _plan(_workload(batches), devices)
    assert plan.makespan <= 1.10 * _optimum_with_splits(batches, devices) + 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_makespan_within_ten_percent_of_exhaustive_optimum_three_devices(seed):
    rng = np.random.default_rng(100 + seed)
    devices = [FakeDevice(f"d{i}", float(rng.uniform(1e-3, 4e-3)), float(rng.uniform(0, 2e-3))) for i in range(3)]
    batches = [int(b) for b in rng.integers(1, 6, size=3)]
    plan = _plan(_workload(batches), devices)
    assert plan.makespan <= 1.10 * _optimum_with_splits(batches, devices) + 1e-12


def test_plan_covers_every_row_once_and_devices_never_overlap():
    devices = [FakeDevice("fast", 1e-3, 1e-3), FakeDevice("slow", 3e-3, 2e-3)]
    batches = [7, 1, 30, 4]
    plan = _plan(_workload(batches), devices)
    for index, batch in enumerate(batches):
        rows = sorted(t.rows for t in plan.tasks if t.job_index == index)
        assert rows[0][0] == 0 and rows[-1][1] == batch
        assert all(a[1] == b[0] for a, b in zip(rows, rows[1:]))
    for device in ("fast", "slow"):
        spans = sorted((t.start, t.finish) for t in plan.tasks if t.device == device)
        assert all(a[1] <= b[0] + 1e-12 for a, b in zip(spans, spans[1:]))


def test_big_batch_split_in_proportion_to_rates():
    devices = [FakeDevice("fast", 1e-3), FakeDevice("slow", 3e-3)]
    plan = _plan(_workload([400]), devices)
    share = {t.device: t.rows[1] - t.rows[0] for t in plan.tasks}
    assert share["fast"] == pytest.approx(300, abs=2) and share["slow"] == pytest.approx(100, abs=2)


def test_capacity_and_accuracy_exclude_devices_with_reasons():
    small = FakeDevice("small", 1e-4, max_qubits=3)
    rough = FakeDevice("rough", 1e-4, error=1e-2)
    exact = FakeDevice("exact", 1e-2)
    work = _workload([5], qubits=4)
    circuit = benchmark_circuit(3, 1)
    work.add(circuit, "ZII", np.zeros((5, circuit.num_parameters)), gradient=False, accuracy=1e-3)
    plan = _plan(work, [small, rough, exact])
    assert {t.device for t in plan.tasks if t.job_index == 0} <= {"rough", "exact"}
    assert "rough" not in {t.device for t in plan.tasks if t.job_index == 1}
    text = plan.explain()
    assert "excluded small" in text and "holds at most 3 qubits" in text and "exceeds the accuracy" in text


def test_gradient_true_uses_a_device_that_only_shifts():
    shifter = FakeDevice("shifter", 1e-5, gradient_methods=("parameter-shift",))
    circuit = benchmark_circuit(3, 1)
    work = qfab.Workload()
    work.add(circuit, "ZII", np.zeros((4, circuit.num_parameters)), gradient=True)
    work.add(circuit, "ZII", np.zeros((4, circuit.num_parameters)), gradient="adjoint")
    plan = _plan(work, [shifter, FakeDevice("adjointer", 1.0, gradient_methods=("adjoint",))])
    assert {t.device for t in plan.tasks if t.job_index == 0} == {"shifter"}
    assert {t.device for t in plan.tasks if t.job_index == 1} == {"adjointer"}
    assert plan.device_job(next(t for t in plan.tasks if t.job_index == 0)).gradient == "parameter-shift"
    with pytest.raises(DeviceCapabilityError, match="no device can run it"):
        _plan(work, [FakeDevice("none", 1e-3, gradient_methods=())])


def test_dependencies_start_after_their_predecessors():
    devices = [FakeDevice("a", 1e-3), FakeDevice("b", 1e-3)]
    work = _workload([10])
    circuit = benchmark_circuit(3, 1)
    work.add(circuit, "ZII", np.zeros((10, circuit.num_parameters)), gradient=False, after=[0])
    plan = _plan(work, devices)
    first_done = max(t.finish for t in plan.tasks if t.job_index == 0)
    assert all(t.start >= first_done - 1e-12 for t in plan.tasks if t.job_index == 1)


def test_explain_and_gantt(tmp_path):
    plan = _plan(_workload([20, 3]), [FakeDevice("fast", 1e-3), FakeDevice("slow", 2e-3)])
    text = plan.explain()
    assert "predicted makespan" in text and "job 1" in text and "device slow" in text
    path = tmp_path / "plan.png"
    plan.gantt(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _host_overlaps(plan):
    """Pairs of tasks on host-sharing devices whose predicted intervals overlap."""
    host = sorted((t.start, t.finish) for t in plan.tasks if plan.devices[t.device].shares_host)
    return [(a, b) for a, b in zip(host, host[1:]) if a[1] > b[0] + 1e-12]


@pytest.mark.parametrize("seed", range(6))
def test_host_sharing_devices_share_one_timeline_within_ten_percent_of_optimum(seed):
    """Two devices on the host's cores (the CPU, a simulated FPGA) and a real board: the host
    devices' tasks never overlap, and the makespan, counted with one timeline for both, stays
    within 10 % of the exhaustive optimum."""
    rng = np.random.default_rng(200 + seed)
    devices = [FakeDevice("cpu-like", float(rng.uniform(1e-3, 3e-3)), float(rng.uniform(0, 1e-3)), shares_host=True),
               FakeDevice("simulated", float(rng.uniform(1e-3, 3e-3)), float(rng.uniform(0, 1e-3)), shares_host=True),
               FakeDevice("board", float(rng.uniform(2e-3, 6e-3)), float(rng.uniform(0, 2e-3)))]
    batches = [int(b) for b in rng.integers(1, 6, size=3)]
    plan = _plan(_workload(batches), devices)
    assert not _host_overlaps(plan)
    assert plan.makespan <= 1.10 * _optimum_with_splits(batches, devices) + 1e-12


def test_two_host_devices_alone_plan_no_faster_than_the_faster_one():
    """On the host's cores only, there is nothing to run in parallel: the plan is the faster
    device's time for everything (a split between them would only have shared the cores), and
    explain() says why."""
    devices = [FakeDevice("cpu-like", 1e-3, shares_host=True), FakeDevice("simulated", 2e-3, shares_host=True)]
    batches = [40, 3, 17]
    plan = _plan(_workload(batches), devices)
    assert not _host_overlaps(plan)
    assert {t.device for t in plan.tasks} == {"cpu-like"}
    assert plan.makespan == pytest.approx(sum(batches) * 1e-3)
    assert "never at the same time" in plan.explain()
    # the same speeds on separate hardware: the batch is shared and the plan is faster
    apart = _plan(_workload(batches), [FakeDevice("cpu-like", 1e-3), FakeDevice("simulated", 2e-3)])
    assert apart.makespan < 0.8 * plan.makespan


def test_devices_declare_whether_they_compute_on_the_host():
    from qfab.backends import get_device
    from qfab.backends.fpga import FPGADevice
    from qfab.backends.fpga.transports import Transport

    class BoardTransport(Transport):  # stands in for a PYNQ board; never executes here
        name = "pynq"

        def __init__(self, params):
            self.params = params

        def execute(self, words, beats_expected, timeout_s):
            raise AssertionError("not run")

    model = FPGADevice("model")
    assert get_device("cpu").shares_host and model.shares_host
    assert not FPGADevice(BoardTransport(model.params)).shares_host


def test_a_registered_device_is_planned_by_its_own_cost_model():
    """A kind registered from outside, known only through the Device interface: the planner
    places it by name, prices it with the model it brings (no history, no profile), splits a
    batch between it and another device, and runs what it planned."""
    with registered_fixed_rate() as device:
        plan = _plan(_workload([10]), [KIND])
        (task,) = plan.tasks
        assert task.device == KIND and task.source == "model"
        assert task.predicted == pytest.approx(CALL_S + 10 * SET_S)
        assert plan.estimator.models[KIND].kind == "fixed-rate"
        shared = _plan(_workload([40]), [device, FakeDevice("other", SET_S, CALL_S)])
        assert {t.device for t in shared.tasks} == {KIND, "other"}
        assert shared.makespan == pytest.approx(CALL_S + 20 * SET_S)
        result = qfab.run(shared, progress=False)
        assert result.results[0].expectations.shape == (40, 1)


def test_a_task_fills_an_idle_gap_left_by_a_dependency():
    """Insertion-based HEFT: "a" waits 10 ms for job 1's input from "b"; job 2, independent and
    ranked last, runs in that gap instead of after job 1."""
    circuit = benchmark_circuit(3, 1)
    work = qfab.Workload()
    work.add(circuit, "ZII", np.zeros((10, circuit.num_parameters)), gradient="parameter-shift")  # only b: 10 ms
    work.add(circuit, "ZII", np.zeros((5, circuit.num_parameters)), gradient="adjoint", after=[0])  # only a: 5 ms
    work.add(circuit, "ZII", np.zeros((4, circuit.num_parameters)), gradient="adjoint")  # only a: 4 ms
    devices = [FakeDevice("a", 1e-3, gradient_methods=("adjoint",)), FakeDevice("b", 1e-3, gradient_methods=("parameter-shift",))]
    plan = _plan(work, devices)
    by_job = {t.job_index: t for t in plan.tasks}
    assert by_job[2].device == "a" and by_job[2].finish <= by_job[1].start + 1e-12
    assert by_job[1].start >= by_job[0].finish - 1e-12
    assert plan.makespan == pytest.approx(15e-3)
