"""Fuzzing the file loaders: board files (``qfab_hw.boards.load_board``), co-design workload files
(``qfab.design.load_workload``), the cache files (calibration profile, run history) and training
checkpoints — each as random bytes, and as a valid file truncated, with bytes flipped, deleted or
inserted, nested thousands deep, or with one field's value replaced by a random one.

The property: the loader's error naming the file (``BoardConfigError``, which ``qfab_hw`` defines
as a ``ValueError`` because it never imports qfab; :class:`~qfab.errors.ConfigurationError`;
:class:`~qfab.errors.FileFormatError`), a cache file moved aside with a
:class:`~qfab.errors.CacheFileWarning` and defaults taking over, or what the file says, read
without coercion: never another exception.
"""
from __future__ import annotations

import io
import json
import tempfile
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from qfab.design.workload import SECTION, WorkloadError, load_workload
from qfab.errors import CacheFileWarning, FileFormatError
from qfab.qml import QuantumClassifier
from qfab.scheduling.calibrate import PROFILE_SCHEMA, load_profile
from qfab.scheduling.history import SCHEMA_VERSION, History
from qfab_hw.boards import BOARD_DIR, SCHEMA, BoardConfigError, load_board
from tests.fuzz.fuzzing import fuzz_settings

ROOT = Path(__file__).resolve().parents[2]
BOARD_TEXTS = [path.read_text(encoding="utf-8") for path in sorted(BOARD_DIR.glob("*.toml"))]
WORKLOAD_TEXT = (ROOT / "examples" / "digits_codesign.toml").read_text(encoding="utf-8")
GOOD_PROFILE = {"schema": PROFILE_SCHEMA, "host": "h", "created": "now",
                "devices": {"cpu": {"kind": "cpu", "parameters": {"call_s": 1e-5, "pass_s": 2e-9}},
                            "fpga": {"kind": "fpga", "parameters": {"word_s": 3e-8}}}}
GOOD_HISTORY = {"schema": SCHEMA_VERSION, "host": "h", "samples": {"cpu": {"abc": {"4": [0.1, 0.2, 0.1]}}},
                "ratios": {"cpu|values": [1.0, 1.1]}, "ratio_models": {"cpu|values": None}, "seen": {"cpu": ["abc"]}}

# -- mutations ---------------------------------------------------------------------------------------
TOKENS = [b"[", b"]", b"{", b"}", b"=", b",", b'"', b"'", b"\n", b"#", b".", b"-", b"nan", b"inf", b"1e999", b"true",
          b"null", b"NaN", b"Infinity", b"\x00", b"\xff", "ü".encode(), b"[section]", b"[[x]]", b"0x10", b"1_000"]


@st.composite
def mutated_bytes(draw, good: bytes) -> bytes:
    """``good`` truncated, or with bytes flipped, deleted, inserted or repeated; or random bytes;
    or nested thousands deep (the parsers recurse per level)."""
    kind = draw(st.sampled_from(["edit"] * 6 + ["truncate", "random", "nested"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "nested":
        depth = draw(st.integers(2000, 20000))
        opener = draw(st.sampled_from([b"[", b"{\"a\":", b"x = [", b"a = {b = "]))
        return opener * depth + b"1" + draw(st.sampled_from([b"]", b"}", b""])) * depth
    if kind == "truncate":
        return good[:draw(st.integers(0, len(good) - 1))]
    body = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        edit = draw(st.sampled_from(["flip", "delete", "insert", "repeat"]))
        if edit == "flip" and body:
            body[at] = draw(st.integers(0, 255))
        elif edit == "delete":
            del body[at:at + draw(st.integers(1, 12))]
        elif edit == "insert":
            body[at:at] = draw(st.sampled_from(TOKENS))
        else:
            body[at:at] = body[at:at + draw(st.integers(1, 40))]
    return bytes(body)


TOML_VALUES = st.one_of(
    st.integers(-10**20, 10**20).map(str),
    st.floats().map(lambda v: "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == -float("inf") else repr(v))),
    st.sampled_from(["true", "false", "[]", '["a", "b"]', "[1, 2.5]", "{ a = 1 }", "1979-05-27T07:32:00Z", "1979-05-27",
                     '""', '"all"', "1e-300", "0", "-1", "1.0", "2.5", '"8"']),
    st.text(max_size=12).map(json.dumps),
)


@st.composite
def mutated_toml(draw, good: str) -> bytes:
    """``good`` with the value of one ``key = value`` line replaced, or a line dropped or added."""
    lines = good.split("\n")
    assignments = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith(("#", "{"))]
    kind = draw(st.sampled_from(["replace"] * 4 + ["drop", "add"]))
    at = draw(st.sampled_from(assignments))
    if kind == "replace":
        key = lines[at].split("=", 1)[0]
        lines[at] = f"{key}= {draw(TOML_VALUES)}"
    elif kind == "drop":
        del lines[at]
    else:
        lines.insert(at, f"{draw(st.sampled_from(['extra', 'lut', 'qubits', 'name', 'ansatz']))} = {draw(TOML_VALUES)}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=6)


def _paths(data, prefix=()):
    """Every path into a JSON document (keys and indices)."""
    yield prefix
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        yield from _paths(value, prefix + (key,))


@st.composite
def mutated_json(draw, good: dict) -> dict:
    """``good`` with one value anywhere in it replaced by a random JSON value, or one key dropped."""
    data = json.loads(json.dumps(good))
    path = draw(st.sampled_from([p for p in _paths(data) if p]))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES)
    return data


def _file(folder: str, name: str, body: bytes) -> Path:
    path = Path(folder) / name
    path.write_bytes(body)
    return path


def _parsed(body: bytes) -> dict:
    return tomllib.loads(body.decode("utf-8"))


# -- board files ---------------------------------------------------------------------------------------
@fuzz_settings(80)
@given(data=st.data())
def test_a_board_file_loads_as_it_says_or_is_refused_naming_it(data):
    good = data.draw(st.sampled_from(BOARD_TEXTS), label="board")
    body = data.draw(st.one_of(mutated_bytes(good.encode()), mutated_toml(good)), label="file")
    with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
        path = _file(folder, "fuzzed-board.toml", body)
        try:
            board = load_board(path)
        except BoardConfigError as err:
            assert str(path) in str(err), err
            return
        document = _parsed(body)
        for section, fields in SCHEMA.items():
            for key, (_, check) in fields.items():
                value = getattr(board, key)
                assert check(value), (section, key, value)
                assert value == document[section][key] and type(value) is type(document[section][key])


# -- workload files ------------------------------------------------------------------------------------
@fuzz_settings(80)
@given(body=st.one_of(mutated_bytes(WORKLOAD_TEXT.encode()), mutated_toml(WORKLOAD_TEXT)))
def test_a_workload_file_loads_as_it_says_or_is_refused_naming_it(body):
    with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
        path = _file(folder, "fuzzed-workload.toml", body)
        try:
            workload = load_workload(path)
        except WorkloadError as err:
            assert str(path) in str(err), err
            return
        document = _parsed(body)
        for key, section in SECTION.items():  # every scalar field as the file gives it, no coercion
            if key in document.get(section, {}) and section in ("model", "training"):
                given_value = document[section][key]
                assert getattr(workload, key) == given_value and type(getattr(workload, key)) is type(given_value)
        model = document.get("model", {})
        base = workload.variants[0]
        assert (base.ansatz, base.layers, base.entangler) == (model.get("ansatz", "hea"), model.get("layers", 2),
                                                             model.get("entangler", "cz"))


# -- cache files ---------------------------------------------------------------------------------------
def _cache_bodies(good: dict):
    return st.one_of(mutated_bytes(json.dumps(good).encode()), mutated_json(good).map(lambda d: json.dumps(d).encode()))


def _read_healing(path: Path, read):
    """``read(path)`` and whether it moved the file aside with a warning naming it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read(path)
    moved = [w for w in caught if issubclass(w.category, CacheFileWarning)]
    assert all(str(path) in str(w.message) for w in moved)
    if moved:
        assert not path.exists() and list(path.parent.glob(f"{path.name}.corrupt-*"))
    return result, bool(moved)


@fuzz_settings(100)
@given(body=_cache_bodies(GOOD_PROFILE))
def test_a_calibration_profile_is_read_as_it_says_or_moved_aside(body):
    with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
        path = _file(folder, "profile.json", body)
        profile, moved = _read_healing(path, load_profile)
        if moved or profile == {}:
            assert profile == {}
            return
        document = json.loads(body)
        assert profile == {name: entry["parameters"] for name, entry in document["devices"].items()}
        for parameters in profile.values():
            assert all(type(v) in (int, float) and np.isfinite(v) for v in parameters.values())


@fuzz_settings(100)
@given(body=_cache_bodies(GOOD_HISTORY))
def test_a_run_history_is_read_as_it_says_or_moved_aside(body):
    from tests.support.circuits import hardware_efficient
    from qfab.backends import Job
    from qfab.core.frontend import from_qiskit

    job = Job(from_qiskit(hardware_efficient(2, 1)), np.zeros((4, 4)))
    with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
        path = _file(folder, "history.json", body)
        history, moved = _read_healing(path, History)
        prediction = history.predict("cpu", job)  # a history that loaded answers without an error
        assert prediction is None or (np.isfinite(prediction[0]) and prediction[0] >= 0)
        assert np.isfinite(history.correction("cpu", job))
        if moved:
            assert history.samples == {} and history.ratios == {}


# -- checkpoints -----------------------------------------------------------------------------------------
CHECKPOINT_SETTINGS = dict(layers=1, epochs=1, batch_size=6, learning_rate=0.1, random_state=1)
_GOOD_CHECKPOINT: list[bytes] = []


def _training_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(12, 4))
    return X, (X[:, 0] > 0.5).astype(int)


def _good_checkpoint() -> bytes:
    """One epoch's checkpoint, trained once per session."""
    if not _GOOD_CHECKPOINT:
        with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
            path = Path(folder) / "model.npz"
            QuantumClassifier(checkpoint=path, **CHECKPOINT_SETTINGS).fit(*_training_data())
            _GOOD_CHECKPOINT.append(path.read_bytes())
    return _GOOD_CHECKPOINT[0]


@st.composite
def checkpoint_bodies(draw) -> bytes:
    good = _good_checkpoint()
    if draw(st.booleans()):
        return draw(mutated_bytes(good))
    with np.load(io.BytesIO(good)) as archive:
        entries = {k: archive[k] for k in archive.files}
    meta = json.loads(str(entries["meta"][()]))
    kind = draw(st.sampled_from(["meta", "meta", "array", "drop"]))
    if kind == "meta":
        entries["meta"] = np.array(json.dumps(draw(mutated_json(meta))))
    elif kind == "array":
        name = draw(st.sampled_from(sorted(k for k in entries if k != "meta")))
        shape = draw(st.sampled_from([entries[name].shape, (), (3,), (2, 4)]))
        dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, np.complex128, np.bool_, "U3"]))
        fill = draw(st.sampled_from([0.0, 1.0, np.nan, np.inf, 1e300]))
        with np.errstate(invalid="ignore", over="ignore"):
            entries[name] = np.full(shape, fill).astype(dtype)
    else:
        del entries[draw(st.sampled_from(sorted(entries)))]
    body = io.BytesIO()
    np.savez(body, **entries)
    return body.getvalue()


@fuzz_settings(60)
@given(body=checkpoint_bodies())
def test_a_checkpoint_resumes_as_saved_or_is_refused_naming_it(body):
    X, y = _training_data()
    with tempfile.TemporaryDirectory(prefix="qfab-fuzz-") as folder:
        path = _file(folder, "model.npz", body)
        try:
            model = QuantumClassifier(checkpoint=path, **CHECKPOINT_SETTINGS).fit(X, y)
        except FileFormatError as err:
            assert f"checkpoint {path}" in str(err), err
            return
        assert np.all(np.isfinite(model.theta_))
        with np.load(io.BytesIO(body)) as archive:  # it loaded, so the file is a readable checkpoint
            saved_theta = np.array(archive["theta"])
            epochs_done = json.loads(str(archive["meta"][()]))["epochs_done"]
        if epochs_done >= CHECKPOINT_SETTINGS["epochs"]:  # nothing left to train: the saved parameters
            np.testing.assert_array_equal(model.theta_, saved_theta)
