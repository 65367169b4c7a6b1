"""The run history costs a small call nothing: one read per process and path, bounded contents,
writes at most every SAVE_INTERVAL_S (the rest at exit), and another process's write is seen."""
import json

import numpy as np

from qfab.scheduling import history as history_module
from qfab.scheduling.calibrate import benchmark_job
from qfab.scheduling.history import SAMPLES_PER_BUCKET, SIGNATURES_PER_DEVICE, History


def test_histories_of_one_path_share_their_runs_and_read_the_file_once(tmp_path, monkeypatch):
    path = tmp_path / "h.json"
    first = History(path)
    job = benchmark_job(3, 1, 4)
    for _ in range(5):
        first.record("cpu", job, 0.1, modelled=0.1)
    reads = []
    monkeypatch.setattr(history_module, "read_cache", lambda *a, **k: reads.append(a) or None)
    second = History(path)
    assert not reads  # nothing new on disk: no read, no validation
    assert second.predict("cpu", job) == (0.1, "history")


def test_the_history_is_bounded(tmp_path):
    history = History(tmp_path / "h.json")
    job = benchmark_job(3, 1, 4)
    for _ in range(3 * SAMPLES_PER_BUCKET):
        history.record("cpu", job, 0.1, modelled=0.1)
    bucket = next(iter(history.samples["cpu"].values()))[str(job.batch)]
    assert len(bucket) == SAMPLES_PER_BUCKET
    for layers in range(SIGNATURES_PER_DEVICE + 5):
        history.seen.setdefault("gpu", []).append(f"shape{layers}")
    history.record("gpu", job, 0.1, modelled=0.1)  # a new shape: the oldest are forgotten
    assert len(history.seen["gpu"]) == SIGNATURES_PER_DEVICE


def test_saves_are_spaced_and_another_process_write_is_read(tmp_path):
    path = tmp_path / "h.json"
    history = History(path)
    job = benchmark_job(3, 1, 4)
    history.record("cpu", job, 0.1, modelled=0.1)
    history.save()
    written = path.read_bytes()
    history.record("cpu", job, 0.1, modelled=0.1)
    history.save()  # within SAVE_INTERVAL_S: deferred
    assert path.read_bytes() == written
    history.save(force=True)
    assert path.read_bytes() != written
    data = json.loads(path.read_text())
    data["samples"] = {"other": {"sig": {"4": [1.0, 1.0, 1.0]}}}
    path.write_text(json.dumps(data))  # as another process would
    assert History(path).predict("other", job) is None  # (another signature) but the file was re-read
    assert "other" in History(path).samples and np.isclose(History(path).samples["other"]["sig"]["4"][0], 1.0)
