"""Checkpoints carry a format version and a model fingerprint; a corrupt one or one of another
model is refused with a FileFormatError naming the file and the mismatch; writes are atomic (issue 18)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from qfab.errors import FileFormatError
from qfab.qml import QuantumClassifier
from qfab.qml.models import CHECKPOINT_VERSION

SETTINGS = dict(layers=1, epochs=1, batch_size=6, learning_rate=0.1, random_state=1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(12, 4))
    return X, (X[:, 0] > 0.5).astype(int)


@pytest.fixture
def checkpoint(data, tmp_path):
    path = tmp_path / "model.npz"
    QuantumClassifier(checkpoint=path, **SETTINGS).fit(*data)
    assert path.exists()
    return path


def resume(data, path, **changes):
    return QuantumClassifier(checkpoint=path, **{**SETTINGS, "epochs": 2, **changes}).fit(*data)


def rewrite(path, drop=(), meta=None, **arrays):
    with np.load(path) as old:
        entries = {k: old[k] for k in old.files if k not in drop}
    if meta is not None:
        entries["meta"] = np.array(json.dumps(meta(json.loads(str(entries["meta"][()])))))
    entries.update(arrays)
    body = io.BytesIO()
    np.savez(body, **entries)
    path.write_bytes(body.getvalue())


def test_a_checkpoint_carries_its_version_and_fingerprint(checkpoint):
    with np.load(checkpoint) as data:
        meta = json.loads(str(data["meta"][()]))
    assert meta["version"] == CHECKPOINT_VERSION and meta["format"] == "qfab-checkpoint"
    fingerprint = meta["fingerprint"]
    assert (fingerprint["ansatz"], fingerprint["qubits"], fingerprint["layers"], fingerprint["encoding"]) == ("hea", 4, 1, "angle")
    assert fingerprint["theta_shape"] == [8] and fingerprint["hyperparameters"]["learning_rate"] == 0.1
    assert len(fingerprint["circuit"]) == 16


@pytest.mark.parametrize("corrupt, problem", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "corrupt or not a qfab checkpoint"),  # truncated zip
    (lambda p: p.write_bytes(b""), "corrupt or not a qfab checkpoint"),                                   # EOF
    (lambda p: p.write_bytes(b"\x00\xff garbage" * 40), "corrupt or not a qfab checkpoint"),              # not a zip
    (lambda p: rewrite(p, drop=("meta",)), "['meta'] missing"),                                            # missing keys
    (lambda p: rewrite(p, drop=("theta",)), "['theta'] missing"),
    (lambda p: rewrite(p, drop=("opt_m",)), "Adam moments ['opt_m'] are missing"),
    (lambda p: rewrite(p, theta=np.zeros(7)), "theta has shape (7,)"),                                    # wrong shapes
    (lambda p: rewrite(p, opt_v=np.zeros((2, 2))), "opt_v has shape (2, 2)"),
    (lambda p: rewrite(p, theta=np.full(8, np.nan)), "theta holds NaN"),
    (lambda p: rewrite(p, meta=lambda m: {**m, "epochs_done": "one"}), "epochs_done is 'one'"),
    (lambda p: rewrite(p, meta=lambda m: {**m, "rng": {"state": 3}}), "random generator state is unusable"),
    (lambda p: rewrite(p, meta=lambda m: {k: v for k, v in m.items() if k not in ("format", "version")}),
     "no checkpoint format version"),
    (lambda p: rewrite(p, meta=lambda m: {**m, "version": CHECKPOINT_VERSION + 1}),
     f"format version {CHECKPOINT_VERSION + 1}"),
    (lambda p: rewrite(p, meta=lambda m: [1, 2]), "metadata is list"),
])
def test_a_corrupt_checkpoint_is_refused_naming_the_file_and_the_problem(data, checkpoint, corrupt, problem):
    corrupt(checkpoint)
    with pytest.raises(FileFormatError) as error:
        resume(data, checkpoint)
    assert f"checkpoint {checkpoint}" in str(error.value) and problem in str(error.value), str(error.value)


@pytest.mark.parametrize("changes, mismatch", [
    ({"layers": 2}, "layers 1 in the file, 2 here"),
    ({"ansatz": "alternating"}, "ansatz 'hea' in the file, 'alternating' here"),
    ({"encoding": "dense_angle"}, "encoding 'angle' in the file, 'dense_angle' here"),
    ({"learning_rate": 0.2}, "hyperparameters.learning_rate 0.1 in the file, 0.2 here"),
    ({"cost": "global"}, "readouts"),
])
def test_a_checkpoint_of_another_model_is_refused_with_the_mismatch(data, checkpoint, changes, mismatch):
    with pytest.raises(FileFormatError, match="is of another model") as error:
        resume(data, checkpoint, **changes)
    assert str(checkpoint) in str(error.value) and mismatch in str(error.value), str(error.value)


def test_more_epochs_resume_the_same_model(data, checkpoint):
    assert [h["epoch"] for h in resume(data, checkpoint).history_] == [0, 1]


def test_a_write_that_dies_leaves_the_previous_checkpoint_and_no_temporary_file(data, checkpoint, monkeypatch):
    import qfab.scheduling.cachefiles as cachefiles

    before = checkpoint.read_bytes()

    def die(fd):
        raise OSError("disk full")

    monkeypatch.setattr(cachefiles.os, "fsync", die)
    with pytest.raises(OSError, match="disk full"):
        resume(data, checkpoint)
    assert checkpoint.read_bytes() == before
    assert [p.name for p in checkpoint.parent.iterdir()] == [checkpoint.name]
