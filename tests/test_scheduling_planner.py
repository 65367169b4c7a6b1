"""The partitioner against the exhaustive optimum on small instances, and its constraints."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import qfab
from qfab.devices.base import DeviceCapabilityError
from qfab.scheduling.calibrate import benchmark_circuit
from qfab.scheduling.history import History
from scheduling_fakes import FakeDevice


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
            best = min(best, max(loads))
    return best


def _optimum_whole(batches, devices):
    loads_best = float("inf")
    for assignment in itertools.product(range(len(devices)), repeat=len(batches)):
        loads = [0.0] * len(devices)
        for batch, d in zip(batches, assignment):
            loads[d] += devices[d].call_overhead_s + batch * devices[d].seconds_per_set
        loads_best = min(loads_best, max(loads))
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
