"""Test doubles for the scheduler: devices of known speed that compute exact results (through
the CPU engine) after sleeping as long as their declared rate says, and can fail or hang."""
from __future__ import annotations

import contextlib
import threading
import time

import numpy as np

from qfab.backends import Capabilities, Device, DeviceProfile, Job, JobResult
from qfab.backends.cpu import CPUDevice

_CPU = CPUDevice()


class HostMeter:
    """How many host-sharing fakes run at once, and the most that ever did."""

    def __init__(self):
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __enter__(self):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc):
        with self._lock:
            self.now -= 1


HOST_METER = HostMeter()  # shared by every FakeDevice(shares_host=True)


class FakeDevice(Device):
    def __init__(self, name: str, seconds_per_set: float, call_overhead_s: float = 0.0, max_qubits: int = 30,
                 fail_on_call: int | None = None, hang_on_call: int | None = None, exact: bool = True,
                 error: float | None = None, gradient_methods=("adjoint", "parameter-shift"), shares_host: bool = False,
                 hang_s: float = 5.0, nan_on_call: int | None = None, bad_value: float = float("nan")):
        self.name = name
        self.seconds_per_set, self.call_overhead_s = seconds_per_set, call_overhead_s
        self.max_qubits, self.exact, self.error, self.methods = max_qubits, exact, error, gradient_methods
        self.host = shares_host  # computes on the host's cores, as a simulated device does
        self.fail_on_call, self.hang_on_call, self.hang_s = fail_on_call, hang_on_call, hang_s
        self.nan_on_call, self.bad_value = nan_on_call, bad_value  # answers with one NaN (or inf)
        self.calls = 0
        self.slowdown = 1.0  # > 1: runs slower than its profile declares (a degraded device)
        self.rows_run = 0
        self._lock = threading.Lock()

    def __getstate__(self):  # Dask ships the device to its worker; the lock stays here. Each task
        # runs on a fresh copy there, its calls counted from 0: fail_on_call=1 fails every call
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    @property
    def capabilities(self):
        return Capabilities(max_qubits=self.max_qubits, precisions=("complex128", "complex64"), exact=self.exact,
                            gradient_methods=self.methods)

    def profile(self):
        return DeviceProfile(self.name, {"seconds_per_set": self.seconds_per_set, "call_overhead_s": self.call_overhead_s,
                                         "shares_host": self.host})

    def predicted_error(self, circuit) -> float:
        return self.error if self.error is not None else 0.0

    def execute(self, job: Job) -> JobResult:
        with self._lock:
            self.calls += 1
            call = self.calls
        if call == self.fail_on_call:
            raise RuntimeError(f"{self.name}: injected failure")
        if call == self.hang_on_call:
            time.sleep(self.hang_s)  # long past any deadline the test sets, then answers (late)
        with HOST_METER if self.host else contextlib.nullcontext():
            time.sleep(self.slowdown * (self.call_overhead_s + job.batch * self.seconds_per_set))
        result = _CPU.execute(job)
        result.device = self.name
        if call == self.nan_on_call:  # a silently broken device: the right shape, one number wrong
            for name in ("gradients", "expectations", "states"):
                values = getattr(result, name)
                if values is not None:
                    values = values.copy()
                    values.flat[values.size // 2] = self.bad_value
                    setattr(result, name, values)
                    break
        with self._lock:
            self.rows_run += job.batch
        return result


def engine_results(work) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Each job's expectations, and gradients for a gradient job, straight from the CPU engine:
    what a run must return whatever devices ran it and wherever its tasks moved. (Computing them
    also compiles the engine's kernels for these shapes before a test starts timing devices.)"""
    engine = _CPU.engine
    expected = []
    for item in work.items:
        job = item.job
        observables = list(job.observables)
        values = engine.expectation(job.circuit, observables, job.params)
        gradients = engine.adjoint_gradient(job.circuit, observables, job.params) if job.gradient else None
        expected.append((values, gradients))
    return expected


def assert_matches_engine(result, expected) -> None:
    """``result`` (a RunResult) holds, job by job, what :func:`engine_results` computed."""
    assert len(result.results) == len(expected)
    for job_result, (values, gradients) in zip(result.results, expected):
        np.testing.assert_allclose(job_result.expectations, values, atol=1e-10)
        if gradients is not None:
            np.testing.assert_allclose(job_result.gradients, gradients, atol=1e-9)


def loopback_cluster_options(**options) -> dict:
    """``LocalCluster`` keywords for a test cluster that listens on loopback only. Without a
    dashboard the scheduler and the workers still serve HTTP (health, metrics), by default on
    every interface and the scheduler on port 8787 (taken when another cluster runs): bound
    here to 127.0.0.1 on free ports."""
    return {"dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
            "worker_dashboard_address": "127.0.0.1:0", **options}
