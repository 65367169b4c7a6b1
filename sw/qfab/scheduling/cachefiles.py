"""The cache files qfab keeps per machine (the calibration profile, the run history): read with
validation, healed when they fail it, written atomically.

A cache file is only ever a speed-up, so one that fails validation (truncated, not JSON, JSON of
another shape or with values of the wrong type, NaN or infinite numbers) must not break a call:
:func:`read_cache` moves it aside to ``<name>.corrupt-<timestamp>`` (kept for a post-mortem),
warns with a :class:`~qfab.errors.CacheFileWarning` naming both files, and returns ``None``, so
that defaults (or a recalibration) take over. :func:`write_cache` writes through a temporary file
in the same folder and ``os.replace`` (:func:`atomic_write`, which checkpoints use too), so a reader
never sees half a file.

The validators are small and explicit (:func:`check`), rather than a schema library qfab does
not otherwise depend on: each names the path of the offending field, e.g.
``devices.cpu.parameters.pass_s is nan, not a finite number``.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

from qfab.errors import CacheFileError, CacheFileWarning

__all__ = ["read_cache", "write_cache", "atomic_write", "quarantine", "check", "equal_to", "of_schema", "finite_number", "mapping_of",
           "list_of", "text", "integer_text", "optional"]

Validator = Callable[[Any, str], None]


# --- validators: each takes (value, where) and raises CacheFileError naming ``where`` -------------------

def _describe(value) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def finite_number(minimum: float | None = None) -> Validator:
    """A JSON number (not a boolean) that is finite and at least ``minimum``."""
    def validate(value, where):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CacheFileError(f"{where} is {_describe(value)}, not a number")
        if not math.isfinite(value):
            raise CacheFileError(f"{where} is {value}, not a finite number")
        if minimum is not None and value < minimum:
            raise CacheFileError(f"{where} is {value}, below its minimum {minimum}")
    return validate


def equal_to(expected) -> Validator:
    """Exactly ``expected`` (a schema version: 5, not 5.0 or "5")."""
    def validate(value, where):
        if type(value) is not type(expected) or value != expected:
            raise CacheFileError(f"{where} is {_describe(value)}, not {expected!r}")
    return validate


def of_schema(data: dict, version: int, field: str = "schema") -> bool:
    """False for a file that declares another schema version (an integer): it is not corrupt but
    of another qfab, so it is ignored and left alone; True otherwise, including a missing or
    malformed version, which validation then reports."""
    declared = data.get(field)
    return not (type(declared) is int and declared != version)


def text(value, where) -> None:
    """A JSON string."""
    if not isinstance(value, str):
        raise CacheFileError(f"{where} is {_describe(value)}, not a string")


def integer_text(value, where) -> None:
    """A string holding a non-negative decimal integer (JSON object keys that count, like batch sizes)."""
    if not isinstance(value, str) or not value.isdecimal():
        raise CacheFileError(f"{where} is {_describe(value)}, not a non-negative integer")


def optional(inner: Validator) -> Validator:
    """``inner`` or JSON null."""
    def validate(value, where):
        if value is not None:
            inner(value, where)
    return validate


def list_of(item: Validator) -> Validator:
    def validate(value, where):
        if not isinstance(value, list):
            raise CacheFileError(f"{where} is {_describe(value)}, not a list")
        for index, entry in enumerate(value):
            item(entry, f"{where}[{index}]")
    return validate


def mapping_of(value_validator: Validator, key: Validator = text) -> Validator:
    """A JSON object of any keys (each checked by ``key``) to values checked by ``value_validator``."""
    def validate(value, where):
        if not isinstance(value, dict):
            raise CacheFileError(f"{where} is {_describe(value)}, not an object")
        for name, entry in value.items():
            key(name, f"{where} key {name!r}")
            value_validator(entry, f"{where}.{name}")
    return validate


def check(fields: dict[str, Validator], optional_fields: dict[str, Validator] | None = None) -> Validator:
    """A JSON object with the given fields (others are allowed and ignored)."""
    optional_fields = optional_fields or {}

    def validate(value, where):
        if not isinstance(value, dict):
            raise CacheFileError(f"{where or 'the file'} is {_describe(value)}, not an object")
        for name, validator in fields.items():
            if name not in value:
                raise CacheFileError(f"{where + '.' if where else ''}{name} is missing")
            validator(value[name], f"{where + '.' if where else ''}{name}")
        for name, validator in optional_fields.items():
            if name in value:
                validator(value[name], f"{where + '.' if where else ''}{name}")
    return validate


# --- reading, healing, writing ----------------------------------------------------------------------

def quarantine(path: Path, problem: str, what: str = "cache file", fallback: str = "defaults take over") -> Path | None:
    """Move ``path`` aside to ``<name>.corrupt-<UTC timestamp>`` and warn; returns where it went
    (None if it could not be moved: then it is left, and still ignored)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another process moved it first
        target = None
    except OSError as err:
        warnings.warn(f"{what} {path} is unusable ({problem}) and could not be moved aside ({err}); ignoring it, "
                      f"{fallback}", CacheFileWarning, stacklevel=3)
        return None
    moved = f"moved it to {target.name}" if target is not None else "it is gone already"
    warnings.warn(f"{what} {path} is unusable ({problem}); {moved}; {fallback}", CacheFileWarning, stacklevel=3)
    return target


def read_cache(path: Path, validate: Validator, *, current: Callable[[dict], bool] = lambda data: True,
               what: str = "cache file", fallback: str = "defaults take over") -> dict | None:
    """The JSON object in ``path`` if it passes ``validate``; ``None`` when there is no file, when
    ``current(data)`` says it is of another (older or newer) schema version (ignored, not moved:
    it is not corrupt), or when it fails validation (then it is moved aside with a warning)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        quarantine(path, "a directory where a file belongs", what, fallback)
        return None
    except OSError as err:
        warnings.warn(f"{what} {path} cannot be read ({err}); ignoring it, {fallback}", CacheFileWarning, stacklevel=2)
        return None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as err:
        quarantine(path, f"not text: byte {err.start} is not UTF-8", what, fallback)
        return None
    except ValueError as err:  # json.JSONDecodeError, and the NaN/Infinity constants refused below
        quarantine(path, f"not valid JSON: {err}", what, fallback)
        return None
    except RecursionError:  # "[[[[..." thousands deep: the decoder recurses per level
        quarantine(path, "not a cache file: JSON nested too deeply to read", what, fallback)
        return None
    if isinstance(data, dict) and not current(data):
        return None
    try:
        validate(data, "")
    except CacheFileError as err:
        quarantine(path, str(err), what, fallback)
        return None
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def write_cache(path: Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (:func:`atomic_write`). Refuses NaN and
    infinity, which JSON cannot hold."""
    return atomic_write(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False).encode("utf-8"))


def atomic_write(path: Path, body: bytes) -> Path:
    """Write ``body`` to ``path`` atomically: a temporary file in the same folder (a unique name,
    so two writers never share one), flushed to disk, then ``os.replace`` (readers see the old
    file or the new one, never a mixture; a writer killed half-way leaves the old file)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(body)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
