"""Cache files that heal: a calibration profile or run history that is truncated, not JSON, JSON of
the wrong shape or types, or holds NaN/infinite numbers is moved aside with a warning naming it,
defaults (or a recalibration) take over, and device="auto" calls keep working. Writes are atomic."""
from __future__ import annotations

import json
import os
import re
import socket
import warnings

import numpy as np
import pytest

import qfab
from qfab.errors import CacheFileWarning
from qfab.scheduling import cachefiles
from qfab.scheduling.calibrate import PROFILE_SCHEMA, calibrate, load_profile, profile_path
from qfab.scheduling.history import SCHEMA_VERSION, History
from tests.support.circuits import hardware_efficient
from tests.support.scheduling_fakes import FakeDevice

GOOD_PROFILE = {"schema": PROFILE_SCHEMA, "host": "h", "created": "now",
                "devices": {"cpu": {"kind": "cpu", "parameters": {"call_s": 1e-5}}}}
GOOD_HISTORY = {"schema": SCHEMA_VERSION, "host": "h", "samples": {"cpu": {"abc": {"4": [0.1, 0.2, 0.1]}}},
                "ratios": {"cpu|values": [1.0]}, "ratio_models": {"cpu|values": None}, "seen": {"cpu": ["abc"]}}


def _corruptions(good: dict) -> dict[str, bytes]:
    text = json.dumps(good)
    return {
        "truncated": text[: len(text) // 2].encode(),
        "truncated inside a list": b"[1, 2",
        "a JSON list": b"[1, 2]",
        "a JSON number": b"5",
        "an empty object": b"{}",
        "binary garbage": bytes(range(256)),
        "empty": b"",
        "NaN literal": text.replace("0.1", "NaN", 1).replace("1e-05", "NaN", 1).encode(),
        "an overflowing number": text.replace("0.1", "1e999", 1).replace("1e-05", "1e999", 1).encode(),
    }


PROFILE_CASES = {**_corruptions(GOOD_PROFILE),
                 "devices a list": json.dumps({**GOOD_PROFILE, "devices": ["cpu"]}).encode(),
                 "a parameter of the wrong type": json.dumps(
                     {**GOOD_PROFILE, "devices": {"cpu": {"kind": "cpu", "parameters": {"call_s": "fast"}}}}).encode(),
                 "a parameter that is a boolean": json.dumps(
                     {**GOOD_PROFILE, "devices": {"cpu": {"kind": "cpu", "parameters": {"call_s": True}}}}).encode(),
                 "no kind": json.dumps({**GOOD_PROFILE, "devices": {"cpu": {"parameters": {}}}}).encode(),
                 "a schema of the wrong type": json.dumps({**GOOD_PROFILE, "schema": str(PROFILE_SCHEMA)}).encode()}
HISTORY_CASES = {**_corruptions(GOOD_HISTORY),
                 "a negative time": json.dumps(GOOD_HISTORY).replace("0.2", "-0.2").encode(),
                 "a batch size that is not a number": json.dumps(
                     {**GOOD_HISTORY, "samples": {"cpu": {"abc": {"four": [0.1]}}}}).encode(),
                 "seen a string": json.dumps({**GOOD_HISTORY, "seen": {"cpu": "abc"}}).encode(),
                 "samples missing": json.dumps({k: v for k, v in GOOD_HISTORY.items() if k != "samples"}).encode()}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QFAB_CACHE_DIR", str(tmp_path))


def _moved_aside(path):
    assert not path.exists()
    aside = list(path.parent.glob(path.name + ".corrupt-*"))
    assert len(aside) == 1
    return aside[0]


def test_the_good_files_load(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(GOOD_PROFILE))
    (tmp_path / "h.json").write_text(json.dumps(GOOD_HISTORY))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheFileWarning)
        assert load_profile(tmp_path / "p.json") == {"cpu": {"call_s": 1e-5}}
        assert History(tmp_path / "h.json").samples == GOOD_HISTORY["samples"]


@pytest.mark.parametrize("case", PROFILE_CASES)
def test_a_corrupt_profile_is_moved_aside_with_a_warning(tmp_path, case):
    path = tmp_path / "profile.json"
    path.write_bytes(PROFILE_CASES[case])
    with pytest.warns(CacheFileWarning, match=f"calibration profile {re.escape(str(path))}.*defaults"):
        assert load_profile(path) == {}
    assert _moved_aside(path).read_bytes() == PROFILE_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheFileWarning)
        assert load_profile(path) == {}  # once moved, no further warnings


@pytest.mark.parametrize("case", HISTORY_CASES)
def test_a_corrupt_history_is_moved_aside_and_starts_afresh(tmp_path, case):
    path = tmp_path / "history.json"
    path.write_bytes(HISTORY_CASES[case])
    with pytest.warns(CacheFileWarning, match=f"run history {re.escape(str(path))}"):
        history = History(path)
    assert history.samples == {} and history.ratios == {} and history.seen == {}
    _moved_aside(path)
    assert json.loads(history.save().read_text())["schema"] == SCHEMA_VERSION


def test_a_profile_or_history_of_another_schema_version_is_ignored_and_left_alone(tmp_path):
    profile, history = tmp_path / "p.json", tmp_path / "h.json"
    profile.write_text(json.dumps({**GOOD_PROFILE, "schema": PROFILE_SCHEMA + 1, "devices": "another layout"}))
    history.write_text(json.dumps({"schema": SCHEMA_VERSION + 1, "samples": []}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheFileWarning)
        assert load_profile(profile) == {}
        assert History(history).samples == {}
    assert profile.exists() and history.exists()


def test_calibration_over_a_corrupt_profile_heals_it(tmp_path):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(GOOD_PROFILE).replace("1e-05", "NaN"))
    with pytest.warns(CacheFileWarning, match=re.escape(str(path))):
        calibrate([FakeDevice("declared", 1e-3)], path=path, repeats=1)
    assert len(list(tmp_path.glob("profile.json.corrupt-*"))) == 1
    data = json.loads(path.read_text())
    assert data["schema"] == PROFILE_SCHEMA and set(data["devices"]) == {"declared"}


def test_device_auto_keeps_working_over_corrupt_cache_files(tmp_path):
    host = socket.gethostname()
    profile = profile_path()
    assert profile.parent == tmp_path
    profile.write_bytes(PROFILE_CASES["NaN literal"])
    history = tmp_path / f"history-{host}.json"
    history.write_bytes(HISTORY_CASES["truncated"])
    circuit = qfab.from_qiskit(hardware_efficient(3, 1))
    params = np.linspace(0.1, 0.9, circuit.num_parameters)
    with pytest.warns(CacheFileWarning) as caught:  # a gradient: small expectations skip the planner
        auto = qfab.gradient(circuit, "ZII", params, device="auto")
    named = " ".join(str(w.message) for w in caught)
    assert str(profile) in named and str(history) in named
    np.testing.assert_allclose(auto, qfab.gradient(circuit, "ZII", params), atol=1e-10)
    _moved_aside(profile)


def test_history_ignores_non_finite_timings_and_saves_valid_json(tmp_path):
    from qfab.scheduling.calibrate import benchmark_job

    history = History(tmp_path / "h.json")
    job = benchmark_job(3, 1, 4)
    for seconds in (0.1, float("nan"), 0.1, float("inf"), 0.1, 0.1):
        history.record("cpu", job, seconds, modelled=float("nan"))
    data = json.loads(history.save().read_text())  # strict JSON: no NaN in it
    assert all(np.isfinite(t) for buckets in data["samples"]["cpu"].values() for ts in buckets.values() for t in ts)
    assert data["ratios"] == {}


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "cache.json"
    cachefiles.write_cache(path, {"a": 1})

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cachefiles.write_cache(path, {"a": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"a": 1}  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.json"]  # and no temporary left behind
    with pytest.raises(ValueError):
        cachefiles.write_cache(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
