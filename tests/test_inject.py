"""qfab.testing.inject: the wrapped device is planned as the inner one and goes wrong exactly as
asked (slowed from the onset only, failing or answering NaN after so many calls), checked on a
fake clock; its results are the inner device's otherwise; and the runtime copes with it."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qfab
import qfab.testing
from qfab.backends import Job
from qfab.backends.cpu import CPUDevice
from qfab.core.observables import as_pauli_sums
from qfab.errors import DeviceError, InputError
from qfab.scheduling.calibrate import benchmark_circuit
from qfab.scheduling.history import History
from qfab.testing import InjectedFault, inject
from tests.support.scheduling_fakes import FakeDevice, assert_matches_engine, engine_results

CPU = CPUDevice()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QFAB_CACHE_DIR", str(tmp_path))


def _job(n: int = 3, batch: int = 4, gradient: str | None = "adjoint") -> Job:
    circuit = benchmark_circuit(n, 1)
    observables = tuple(as_pauli_sums(["Z" + "I" * (n - 1)], n)[0])
    params = np.random.default_rng(n + batch).uniform(-np.pi, np.pi, (batch, circuit.num_parameters))
    return Job(circuit, params, observables, gradient=gradient)


class FakeClock:
    """``time.perf_counter`` and ``time.sleep`` of qfab.testing on a clock that only moves when
    told: the inner device's call takes ``call_s``, a sleep is recorded and advances it."""

    def __init__(self, call_s: float):
        self.now, self.call_s, self.sleeps = 100.0, call_s, []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock(call_s=1.0)
    monkeypatch.setattr(qfab.testing.time, "perf_counter", fake.perf_counter)
    monkeypatch.setattr(qfab.testing.time, "sleep", fake.sleep)
    original = CPUDevice.run

    def timed_run(self, jobs):  # the inner device's natural time, on the fake clock
        fake.now += fake.call_s
        return original(self, jobs)

    monkeypatch.setattr(CPUDevice, "run", timed_run)
    return fake


def test_the_wrapped_device_is_planned_as_the_inner_one():
    inner = FakeDevice("board", 1e-3, max_qubits=3)
    wrapped = inject(inner, slowdown=4.0)
    assert wrapped.name == "board" and inject(inner, name="other").name == "other"
    assert wrapped.capabilities == inner.capabilities and wrapped.profile() == inner.profile()
    assert wrapped.shares_host == inner.shares_host
    assert type(wrapped.cost_model()) is type(inner.cost_model())
    assert wrapped.cost_model().predict(_job(3)) == inner.cost_model().predict(_job(3))
    with pytest.raises(qfab.DeviceCapabilityError, match="holds at most 3 qubits"):
        wrapped.check(_job(4))


def test_slowdown_starts_at_the_onset_and_slows_only_what_lies_after_it(clock):
    device = inject(CPU, slowdown=3.0, after_s=2.5)
    job = _job()
    for _ in range(2):  # calls at 100-101 and 101-102: before the onset (102.5)
        device.run([job])
    assert clock.sleeps == []
    device.run([job])  # 102-103: its last half second after the onset, slowed 3x -> 1 s more
    assert clock.sleeps == [pytest.approx(1.0)]
    result = device.run([job])[0]  # wholly after: 1 s becomes 3 s
    assert clock.sleeps[-1] == pytest.approx(2.0) and result.seconds == pytest.approx(3.0)
    assert device.faults == {"slowed": 2, "failed": 0, "nan": 0}


def test_a_failure_after_the_onset_comes_after_so_many_calls(clock):
    """Calls count from the one the onset interrupts; a failing call raises when it ends."""
    device = inject(CPU, after_s=1.5, fail_after=1)
    job = _job()
    device.run([job])  # 100-101: before the onset (101.5)
    device.run([job])  # 101-102: the onset interrupts it, so it is the first after it: answered
    for _ in range(2):
        with pytest.raises(InjectedFault, match="injected failure on call") as caught:
            device.run([job])
        assert isinstance(caught.value, DeviceError)
    assert device.faults["failed"] == 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answered=st.integers(0, 4), calls=st.integers(1, 6), nan=st.booleans())
def test_the_device_answers_exactly_so_many_calls_then_goes_wrong(answered, calls, nan):
    job = _job(batch=2)
    reference = CPU.run([job])[0]
    device = inject(CPU, **({"nan_after": answered} if nan else {"fail_after": answered}))
    for call in range(calls):
        if call < answered:
            result = device.run([job])[0]
            np.testing.assert_array_equal(result.expectations, reference.expectations)
            np.testing.assert_array_equal(result.gradients, reference.gradients)
        elif nan:
            result = device.run([job])[0]
            wrong = np.isnan(result.gradients)
            assert wrong.sum() == 1  # one number wrong, the rest the inner device's
            np.testing.assert_array_equal(result.gradients[~wrong], reference.gradients[~wrong])
            np.testing.assert_array_equal(result.expectations, reference.expectations)
        else:
            with pytest.raises(InjectedFault):
                device.run([job])


def test_nan_goes_into_the_values_when_there_is_no_gradient():
    device = inject(CPU, nan_after=0)
    result = device.run([_job(gradient=None)])[0]
    assert np.isnan(result.expectations).sum() == 1 and result.device == "cpu"


@pytest.mark.parametrize("options, message", [
    ({"slowdown": 0.5}, "slowdown must be a finite number >= 1, got 0.5"),
    ({"slowdown": float("inf")}, "slowdown must be a finite number >= 1"),
    ({"after_s": -1.0}, "after_s must be a finite number of seconds >= 0, got -1.0"),
    ({"fail_after": 1.5}, "fail_after must be a number of calls >= 0 or None, got 1.5"),
    ({"nan_after": -2}, "nan_after must be a number of calls >= 0 or None, got -2"),
    ({"nan_after": True}, "nan_after must be a number of calls"),
    ({"name": ""}, "name must be a non-empty string"),
])
def test_bad_options_are_refused_before_any_work(options, message):
    with pytest.raises(InputError, match=message):
        inject("cpu", **options)


@pytest.mark.parametrize("adapt", [False, True])
@pytest.mark.parametrize("fault", ["fail_after", "nan_after"])
def test_the_runtime_retires_an_injected_device_and_loses_nothing(fault, adapt):
    rng = np.random.default_rng(2)
    work = qfab.Workload()
    for n, batch in ((3, 12), (4, 10)):
        circuit = benchmark_circuit(n, 1)
        work.add(circuit, ["Z" + "I" * (n - 1)], rng.uniform(-np.pi, np.pi, (batch, circuit.num_parameters)))
    expected = engine_results(work)
    broken = inject(FakeDevice("broken", 1e-3), **{fault: 0})
    plan = qfab.plan(work, devices=[broken, FakeDevice("healthy", 1e-3)], history=History())
    assert any(t.device == "broken" for t in plan.tasks)
    result = qfab.run(plan, progress=False, save_history=False, adapt=adapt)
    assert_matches_engine(result, expected)
    assert all(r.device == "healthy" for rs in result.provenance for r in rs)
    assert ("InjectedFault" if fault == "fail_after" else "NonFiniteResultError") in result.report()
