"""Test doubles for the scheduler: devices of known speed that compute exact results (through
the CPU engine) after sleeping as long as their declared rate says, and can fail or hang."""
from __future__ import annotations

import contextlib
import threading
import time


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
                 error: float | None = None, gradient_methods=("adjoint", "parameter-shift"), shares_host: bool = False):
        self.name = name
        self.seconds_per_set, self.call_overhead_s = seconds_per_set, call_overhead_s
        self.max_qubits, self.exact, self.error, self.methods = max_qubits, exact, error, gradient_methods
        self.host = shares_host  # computes on the host's cores, as a simulated device does
        self.fail_on_call, self.hang_on_call = fail_on_call, hang_on_call
        self.calls = 0
        self.slowdown = 1.0  # > 1: runs slower than its profile declares (a degraded device)
        self.rows_run = 0
        self._lock = threading.Lock()

    def __getstate__(self):  # Dask ships the device to its worker; the lock stays here
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
            time.sleep(5.0)
        with HOST_METER if self.host else contextlib.nullcontext():
            time.sleep(self.slowdown * (self.call_overhead_s + job.batch * self.seconds_per_set))
        result = _CPU.execute(job)
        result.device = self.name
        with self._lock:
            self.rows_run += job.batch
        return result


