"""device="auto" without the runtime for jobs of a shape planned before: the same results as the
full path (and as Qiskit), the planner asked once per shape, and a device that fails on the direct
path sends the job back through the runtime's failover; jobs small enough for the CPU's numpy path
are never planned. The circuit has 11 qubits, one more than that path takes."""
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp, Statevector

from qfab import api
from qfab.scheduling import fastpath


@pytest.fixture()
def circuit():
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(11)
    qc.ry(a, 0)
    qc.cx(0, 1)
    qc.rz(b, 1)
    qc.rx(b, 0)
    return qc


ZX = "I" * 9 + "ZX"


def exact(qc, values, label=ZX):
    return Statevector(qc.assign_parameters(values)).expectation_value(SparsePauliOp(label)).real


def test_second_call_of_a_shape_skips_the_planner(circuit, monkeypatch):
    fastpath.forget_choices()
    planned = []
    real_plan = fastpath.plan
    monkeypatch.setattr(fastpath, "plan", lambda work: planned.append(work) or real_plan(work))
    values = np.random.default_rng(1).uniform(-np.pi, np.pi, (5, 2))
    for row in values:
        assert api.expectation(circuit, SparsePauliOp(ZX), row, device="auto") == pytest.approx(exact(circuit, row), abs=1e-12)
    assert len(planned) == 1  # the first call planned; the other four went straight to the device
    batch = api.expectation(circuit, SparsePauliOp(ZX), values, device="auto")
    np.testing.assert_allclose(batch, [exact(circuit, row) for row in values], atol=1e-12)
    assert len(planned) == 2  # a new batch size is a new shape


def test_a_device_failing_on_the_direct_path_falls_back_to_the_runtime(circuit, monkeypatch):
    fastpath.forget_choices()
    row = np.array([0.3, -1.1])
    api.expectation(circuit, SparsePauliOp(ZX), row, device="auto")  # remembers the choice

    class Broken:
        def run(self, jobs):
            raise RuntimeError("board unplugged")

    real_get = fastpath.get_device
    monkeypatch.setattr(fastpath, "get_device", lambda name: Broken())
    planned = []
    real_plan = fastpath.plan
    monkeypatch.setattr(fastpath, "plan", lambda work: planned.append(work) or real_plan(work))
    assert api.expectation(circuit, SparsePauliOp(ZX), row, device="auto") == pytest.approx(exact(circuit, row), abs=1e-12)
    assert len(planned) == 1  # the failure sent the job through plan and run
    monkeypatch.setattr(fastpath, "get_device", real_get)


def test_non_finite_results_are_not_accepted_on_the_direct_path(circuit, monkeypatch):
    fastpath.forget_choices()
    row = np.array([0.7, 0.2])
    api.expectation(circuit, SparsePauliOp(ZX), row, device="auto")
    real_get = fastpath.get_device

    class NaNs:
        def run(self, jobs):
            results = real_get("cpu").run(jobs)
            results[0].expectations[:] = np.nan
            return results

    monkeypatch.setattr(fastpath, "get_device", lambda name: NaNs())
    assert api.expectation(circuit, SparsePauliOp(ZX), row, device="auto") == pytest.approx(exact(circuit, row), abs=1e-12)


def test_estimator_pubs_take_the_same_path(circuit):
    from qfab.qiskit import EstimatorV2

    fastpath.forget_choices()
    estimator = EstimatorV2()
    values = np.random.default_rng(2).uniform(-np.pi, np.pi, (3, 2))
    for row in values:
        evs = estimator.run([(circuit, SparsePauliOp(ZX), row)]).result()[0].data.evs
        assert float(evs) == pytest.approx(exact(circuit, row), abs=1e-12)


def test_small_jobs_go_to_the_cpu_unplanned(monkeypatch):
    fastpath.forget_choices()
    planned = []
    real_plan = fastpath.plan
    monkeypatch.setattr(fastpath, "plan", lambda work: planned.append(work) or real_plan(work))
    a = Parameter("a")
    qc = QuantumCircuit(2)
    qc.ry(a, 0)
    qc.cx(0, 1)
    assert api.expectation(qc, SparsePauliOp("XX"), [0.4], device="auto") == pytest.approx(exact(qc, [0.4], "XX"), abs=1e-12)
    assert planned == []
    api.gradient(qc, SparsePauliOp("XX"), [0.4], device="auto")  # a gradient is planned
    assert len(planned) == 1
