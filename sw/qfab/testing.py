"""Faults and slowdowns on demand, for tests and demos: ``inject(device, ...)`` wraps any device.

>>> slow = qfab.testing.inject("cpu", slowdown=3.0, after_s=0.5, name="cpu-throttled")
>>> dying = qfab.testing.inject(board, fail_after=4)          # answers 4 calls, then raises
>>> liar = qfab.testing.inject(board, nan_after=2)            # then answers with a NaN
>>> qfab.run(qfab.plan(work, devices=[slow, dying, "cpu"]))   # the runtime must cope

The wrapped device is the device as the planner sees it (its capabilities, checks, profile, cost
model and calibration are the inner device's, so it is planned as if healthy), but its runs go
wrong as asked, from the **onset**: ``after_s`` seconds after its first call (0: from the first
call). A call counts as after the onset when it ends after it (so the call the onset interrupts
counts too). From then on:

- ``slowdown``: every call takes ``slowdown`` times its natural time: the inner device runs, then
  the wrapper sleeps ``(slowdown - 1)`` x the part of the call that lay after the onset (a call
  that straddles the onset is slowed only from there). Sleeping is how a throttled core, a busy
  neighbour or a queue looks from the host: time passes, the cores stay free;
- ``fail_after``: the device answers ``fail_after`` more calls, then every call raises
  :class:`InjectedFault` (a :class:`~qfab.errors.DeviceError`) when it ends: its work is lost,
  as a device that dies mid-call loses it (``fail_after=0`` with ``after_s``: the device dies at
  the onset);
- ``nan_after``: the device answers ``nan_after`` more calls, then every answer has one number
  replaced by NaN (the right shape, silently wrong: what the runtime must refuse).

The counters and the clock belong to one copy of the wrapper: a Dask worker that receives it
pickled starts its own (so on a cluster, use faults that hold from the first call: ``after_s=0``
with ``fail_after=0``, ``nan_after=0`` or a ``slowdown``).

The history records the wrapped device's times under its ``name`` (the inner device's unless
``name`` is given): give an injected device its own name, or a private cache directory
(``QFAB_CACHE_DIR``), so that its injected slowness does not price the real device later.
"""
from __future__ import annotations

import math
import threading
import time

import numpy as np

from qfab.backends.base import Device, Job, JobResult, get_device
from qfab.errors import DeviceError, InputError

__all__ = ["inject", "InjectedDevice", "InjectedFault"]


class InjectedFault(DeviceError):
    """The failure :func:`inject` was asked for (``fail_after``)."""


#: The fields of a result the NaN goes into, the first one present (as a broken device would).
_NAN_FIELDS = ("gradients", "expectations", "states")


class InjectedDevice(Device):
    """``inner`` with the faults of :func:`inject`; see the module's docstring."""

    def __init__(self, inner: Device, slowdown: float = 1.0, after_s: float = 0.0, fail_after: int | None = None,
                 nan_after: int | None = None, name: str | None = None):
        self.inner = inner
        self.name = name or inner.name
        self.slowdown, self.after_s = slowdown, after_s
        self.fail_after, self.nan_after = fail_after, nan_after
        self.first_call: float | None = None  # perf_counter of the first call: the clock's origin
        self.calls_after_onset = 0
        self.faults: dict[str, int] = {"slowed": 0, "failed": 0, "nan": 0}
        self._lock = threading.Lock()

    def __getstate__(self):  # the lock stays here; a copy elsewhere starts its own clock and counts
        state = {k: v for k, v in self.__dict__.items() if k != "_lock"}
        return {**state, "first_call": None, "calls_after_onset": 0}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    # --- the inner device, as the planner sees it ----------------------------------------------

    @property
    def capabilities(self):
        return self.inner.capabilities

    def profile(self):
        return self.inner.profile()

    @property
    def shares_host(self) -> bool:
        return self.inner.shares_host

    def check(self, job: Job) -> None:
        self.inner.check(job)

    def cost_model(self, parameters: dict | None = None):
        return self.inner.cost_model(parameters)

    def calibrate(self, repeats: int = 3) -> dict:
        return self.inner.calibrate(repeats)

    def execute(self, job: Job) -> JobResult:
        return self.run([job])[0]

    # --- the faults ---------------------------------------------------------------------------

    def onset(self) -> float | None:
        """When the faults begin (``perf_counter`` seconds), or None before the first call."""
        return None if self.first_call is None else self.first_call + self.after_s

    def count(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] += 1

    def run(self, jobs: list[Job]) -> list[JobResult]:
        start = time.perf_counter()
        with self._lock:
            if self.first_call is None:
                self.first_call = start
        results = self.inner.run(jobs)
        end = time.perf_counter()
        slowed = end - max(start, self.onset())
        if self.slowdown != 1.0 and slowed > 0:
            self.count("slowed")
            time.sleep((self.slowdown - 1.0) * slowed)
            for result in results:
                result.seconds = time.perf_counter() - start
        with self._lock:  # a call counts after the onset when it ends after it (a call the onset interrupts too)
            faulty = time.perf_counter() > self.onset()
            call = self.calls_after_onset
            if faulty:
                self.calls_after_onset += 1
        if faulty and self.fail_after is not None and call >= self.fail_after:
            self.count("failed")  # its work is lost with it, as a device that dies mid-call loses it
            raise InjectedFault(f"device {self.name!r}: injected failure on call {call + 1} after the onset "
                                f"(fail_after={self.fail_after})")
        if faulty and self.nan_after is not None and call >= self.nan_after:
            self.count("nan")
            results = [_with_nan(result) for result in results]
        for result in results:
            result.device = self.name
        return results

    def __repr__(self) -> str:
        return (f"<qfab device {self.name} (injected into {self.inner.name}: slowdown {self.slowdown} after "
                f"{self.after_s} s, fail_after {self.fail_after}, nan_after {self.nan_after})>")


def _with_nan(result: JobResult) -> JobResult:
    """A copy of ``result`` with one number of its first numeric field replaced by NaN."""
    for name in _NAN_FIELDS:
        values = getattr(result, name)
        if values is not None and np.size(values):
            values = np.array(values, copy=True)
            values.flat[values.size // 2] = np.nan
            return JobResult(**{**result.__dict__, name: values})
    return result


def inject(device, slowdown: float = 1.0, after_s: float = 0.0, fail_after: int | None = None,
           nan_after: int | None = None, name: str | None = None) -> InjectedDevice:
    """``device`` (a name or a Device) wrapped to run ``slowdown`` times slower, fail after
    ``fail_after`` calls or answer NaN after ``nan_after`` calls, all from ``after_s`` seconds
    after its first call; ``name``: the wrapped device's name (default: the inner one's)."""
    inner = get_device(device)
    if not (isinstance(slowdown, (int, float)) and math.isfinite(slowdown) and slowdown >= 1.0):
        raise InputError(f"inject: slowdown must be a finite number >= 1, got {slowdown!r}")
    if not (isinstance(after_s, (int, float)) and math.isfinite(after_s) and after_s >= 0.0):
        raise InputError(f"inject: after_s must be a finite number of seconds >= 0, got {after_s!r}")
    for label, count in (("fail_after", fail_after), ("nan_after", nan_after)):
        if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0):
            raise InputError(f"inject: {label} must be a number of calls >= 0 or None, got {count!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise InputError(f"inject: name must be a non-empty string, got {name!r}")
    return InjectedDevice(inner, float(slowdown), float(after_s), fail_after, nan_after, name)
