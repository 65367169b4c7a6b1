"""What a co-design question is about: a QML training workload and the design space to search.

A workload file (TOML) names the model (ansatz family, qubits, layers, encoding, readout), the
training (samples, epochs, mini-batch, the accuracy a result needs, shots for sampled targets)
and, optionally, the space: boards, core builds, device kinds that may appear in a mix, circuit
variants. Everything is checked on load, and a bad field is reported with its section and the
allowed values before any prediction starts. ``examples/digits_codesign.toml`` is the annotated
example.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from qfab.backends import device_kinds
from qfab.errors import ConfigurationError

__all__ = ["CodesignWorkload", "Variant", "BuildSpec", "WorkloadError", "load_workload", "DEFAULT_BUILDS", "BOARD_KIND",
           "QPU_PREFIX"]

#: Core builds explored when the workload names none: the lane count (throughput per cycle,
#: DSPs) at the default 18-bit width, and the width (error, DSP per product) at one lane.
DEFAULT_BUILDS = ((1, 16), (1, 18), (1, 25), (2, 18), (4, 18), (8, 18))

#: The device kind whose hardware the space designs: one board x core build per point. The other
#: kinds are the registry's (``qfab.backends.device_kinds()``), or ``qpu:<fake backend>``.
BOARD_KIND = "fpga"
QPU_PREFIX = "qpu:"
OBSERVABLES = {"local": "local_pauli", "global": "global_pauli"}
#: The data encodings (``qfab.qml.encoding.build_encoding``) and the two-qubit gates a variant may
#: entangle with (fixed gates every qfab device runs).
ENCODINGS = ("amplitude", "angle", "dense_angle")
ENTANGLERS = ("ch", "cx", "cy", "cz", "ecr", "swap")
#: Where each field of :class:`CodesignWorkload` lives in the workload file (for messages).
SECTION = {"qubits": "model", "encoding": "model", "observable": "model", "samples": "training",
           "epochs": "training", "batch_size": "training", "accuracy": "training", "shots": "training",
           "seed": "training", "trainability_samples": "training", "boards": "space", "devices": "space"}


class WorkloadError(ConfigurationError):
    """A workload file or argument that cannot describe a co-design question (a
    :class:`~qfab.errors.ConfigurationError`, so also a ``ValueError``)."""


def _field(name: str) -> str:
    """``name`` as the file spells it: ``[training] epochs``."""
    return f"[{SECTION[name]}] {name}" if name in SECTION else name


def _integer(value, where: str, low: int) -> int:
    """``value`` if it is an integer >= ``low`` (not a boolean, not 2.0 or 2.5: no silent truncation)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise WorkloadError(f"{where} must be an integer >= {low}, not {value!r}")
    return value


def _choice(value, where: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise WorkloadError(f"{where} must be one of {sorted(choices)}, not {value!r}")
    return value


def _names(value, where: str) -> tuple[str, ...]:
    """A list of strings (a bare string is refused, not split into its letters)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise WorkloadError(f"{where} must be a list of strings, like [\"a\", \"b\"], not {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class Variant:
    """One circuit variant: an ansatz family at a depth, with its entangling gate."""

    ansatz: str
    layers: int
    entangler: str = "cz"

    @property
    def label(self) -> str:
        return f"{self.ansatz} L={self.layers} {self.entangler}"


@dataclass(frozen=True)
class BuildSpec:
    """A core build's knobs: lanes, width, the qubits its state memory holds (default: the
    workload's, the smallest memory; more makes one bitstream serve bigger models too), and
    ``adjoint``: the second state bank and RUN_ADJOINT (``CoreParams(adjoint=True)``: twice the
    state memory, the adjoint reducer's and the lambda preparation's multipliers), whose
    gradients the explorer then prices instead of RUN_SHIFT's."""

    lanes: int
    width: int
    max_qubits: int | None = None
    adjoint: bool = False

    @property
    def label(self) -> str:
        qubits = f" Q={self.max_qubits}" if self.max_qubits else ""
        return f"{self.lanes} lane{'s' if self.lanes > 1 else ''} W={self.width}{qubits}{' +adj' if self.adjoint else ''}"

    def params(self, qubits: int):
        """The ``CoreParams`` of this build for a workload of ``qubits``, with the parameter and
        program memories of qfab's default build (the stored program of every variant must fit)."""
        from dataclasses import replace

        from qfab.backends.fpga import DEFAULT_PARAMS

        return replace(DEFAULT_PARAMS, max_qubits=max(self.max_qubits or qubits, self.lanes.bit_length()),
                       lanes=self.lanes, width=self.width, adjoint=self.adjoint)


@dataclass
class CodesignWorkload:
    name: str = "workload"
    qubits: int = 8
    encoding: str = "angle"
    observable: str = "local"
    samples: int = 250
    epochs: int = 40
    batch_size: int = 50
    accuracy: float = 1e-3
    shots: int = 1024
    boards: tuple[str, ...] = ()
    builds: tuple[BuildSpec, ...] = tuple(BuildSpec(*b) for b in DEFAULT_BUILDS)
    devices: tuple[str, ...] = ("cpu", "fpga")
    variants: tuple[Variant, ...] = (Variant("hea", 2),)
    seed: int = 0
    trainability_samples: int = 60

    def __post_init__(self):
        from qfab_hw.boards import board_keys

        from qfab.qml.ansatz import ANSATZ_BUILDERS

        if isinstance(self.name, bool) or not isinstance(self.name, str):
            raise WorkloadError(f"name must be a string, not {self.name!r}")
        self.boards = _names(self.boards, _field("boards")) or tuple(board_keys())
        unknown = [b for b in self.boards if b not in board_keys()]
        if unknown:
            raise WorkloadError(f"[space] boards: unknown {unknown}; known boards: {board_keys()}")
        for key, low in (("qubits", 1), ("samples", 1), ("epochs", 1), ("batch_size", 1), ("shots", 1),
                         ("trainability_samples", 4), ("seed", 0)):
            _integer(getattr(self, key), _field(key), low)
        accuracy = self.accuracy
        if (isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not math.isfinite(accuracy)
                or not 0 < accuracy < 1):
            raise WorkloadError(f"[training] accuracy must be a number in (0, 1), not {accuracy!r}")
        _choice(self.encoding, _field("encoding"), ENCODINGS)
        if not isinstance(self.observable, str) or self.observable not in OBSERVABLES:
            raise WorkloadError(f"[model] observable must be one of {sorted(OBSERVABLES)}, not {self.observable!r}")
        kinds = device_kinds()
        self.devices = _names(self.devices, _field("devices"))
        for kind in self.devices:
            if kind not in kinds and not kind.startswith(QPU_PREFIX):
                raise WorkloadError(f"[space] devices: unknown kind {kind!r}; use {list(kinds)} or "
                                    f"'{QPU_PREFIX}<fake backend>'")
        families = sorted(set(ANSATZ_BUILDERS) - {"mcclean"})
        for variant in self.variants:
            if not isinstance(variant.ansatz, str) or variant.ansatz not in families:
                raise WorkloadError(f"variant ansatz {variant.ansatz!r}: choose from {families}")
            _integer(variant.layers, f"variant {variant.ansatz}: layers", 1)
            _choice(variant.entangler, f"variant {variant.ansatz} L={variant.layers}: entangler", ENTANGLERS)
        for build in self.builds:
            if not isinstance(build.adjoint, bool):
                raise WorkloadError(f"[space] build {build}: adjoint must be true or false, not {build.adjoint!r}")
            if build.max_qubits is not None and build.max_qubits < self.qubits:
                raise WorkloadError(f"[space] build {build.label}: holds {build.max_qubits} qubits, the model has {self.qubits}")
            try:
                build.params(self.qubits)
            except (ValueError, TypeError) as err:
                raise WorkloadError(f"[space] build {build}: {err}") from None
        if not self.variants:
            raise WorkloadError("[space] variants: at least one circuit variant is needed")

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.samples // self.batch_size)

    @property
    def cost_name(self) -> str:
        return OBSERVABLES[self.observable]

    def readout(self) -> SparsePauliOp:
        """The model's readout: Z on the last qubit (local) or on every qubit (global)."""
        label = "Z" * self.qubits if self.observable == "global" else "Z" + "I" * (self.qubits - 1)
        return SparsePauliOp(label)

    def qiskit_circuit(self, variant: Variant):
        """The model circuit of ``variant`` in Qiskit: the data encoding, then the ansatz."""
        from qfab.qml.ansatz import build_ansatz
        from qfab.qml.encoding import build_encoding

        encoding = build_encoding(self.encoding, self.qubits)
        options = {"entangler": variant.entangler} if variant.ansatz == "hea" else {}
        ansatz = build_ansatz(variant.ansatz, self.qubits, variant.layers, **options)
        return encoding.qiskit_circuit.compose(ansatz.qiskit_circuit)

    def circuit(self, variant: Variant):
        """The model circuit of ``variant`` as a qfab Circuit (parameters in Qiskit's order)."""
        from qfab.core.frontend import from_qiskit

        return from_qiskit(self.qiskit_circuit(variant))

    def batch_params(self, circuit, rows: int) -> np.ndarray:
        """Random parameter rows standing in for a mini-batch (times do not depend on values)."""
        rng = np.random.default_rng(self.seed)
        return rng.uniform(0.0, np.pi, (rows, circuit.num_parameters))


def _table(document: dict, name: str) -> dict:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise WorkloadError(f"[{name}] must be a table, not {table!r}")
    return table


def _take(table: dict, section: str, allowed: dict) -> dict:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise WorkloadError(f"[{section}]: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    return {allowed[k]: v for k, v in table.items()}


BUILDS_HELP = "[space] builds: a list of tables like {lanes = 1, width = 18} (optional: qubits = 16, adjoint = true)"
BUILD_FIELDS = ("lanes", "width", "qubits", "adjoint")


def _builds(entries) -> tuple[BuildSpec, ...]:
    """The ``[space] builds`` list, each field's type checked (a bad one named with its build)."""
    if not isinstance(entries, list):
        raise WorkloadError(BUILDS_HELP)
    builds = []
    for index, entry in enumerate(entries):
        where = f"[space] builds[{index}]"
        if not isinstance(entry, dict) or "lanes" not in entry or "width" not in entry:
            raise WorkloadError(BUILDS_HELP)
        unknown = sorted(set(entry) - set(BUILD_FIELDS))
        if unknown:
            raise WorkloadError(f"{where}: unknown field(s) {unknown}; allowed: {list(BUILD_FIELDS)}")
        for key in ("lanes", "width", "qubits"):
            value = entry.get(key)
            if key in entry and (isinstance(value, bool) or not isinstance(value, int)):
                raise WorkloadError(f"{where}: {key} must be an integer, not {value!r}")
        adjoint = entry.get("adjoint", False)
        if not isinstance(adjoint, bool):
            raise WorkloadError(f"{where}: adjoint must be true or false, not {adjoint!r}")
        builds.append(BuildSpec(entry["lanes"], entry["width"], entry.get("qubits"), adjoint))
    return tuple(builds)


VARIANT_FIELDS = ("ansatz", "layers", "entangler")


def load_workload(source: str | Path | dict) -> CodesignWorkload:
    """A workload from a TOML file (or its parsed dict), every field checked before any work: a
    bad one raises :class:`WorkloadError` naming the file, the field and the value."""
    if isinstance(source, dict):
        document, where = source, "workload"
    else:
        path = Path(source)
        if not path.exists():
            raise WorkloadError(f"workload file {path} does not exist")
        if path.is_dir():
            raise WorkloadError(f"workload file {path} is a directory, not a TOML file")
        try:
            document = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise WorkloadError(f"{path}: not valid TOML: {err}") from None
        except RecursionError:  # arrays or tables thousands deep: the parser recurses per level
            raise WorkloadError(f"{path}: not a workload file: nested too deeply to read") from None
        where = str(path)
    try:
        return _workload(document, where)
    except WorkloadError as err:
        message = str(err)
        raise WorkloadError(message if message.startswith(where) else f"{where}: {message}") from None


def _workload(document: dict, where: str) -> CodesignWorkload:
    known = {"name", "model", "training", "space"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise WorkloadError(f"unknown section(s) {unknown}; expected {sorted(known)}")
    model = _take(_table(document, "model"), "model", {"ansatz": "ansatz", "qubits": "qubits", "layers": "layers",
                                                       "encoding": "encoding", "observable": "observable",
                                                       "entangler": "entangler"})
    training = _take(_table(document, "training"), "training", {
        "samples": "samples", "epochs": "epochs", "batch_size": "batch_size", "accuracy": "accuracy",
        "shots": "shots", "seed": "seed", "trainability_samples": "trainability_samples"})
    space = _take(_table(document, "space"), "space", {"boards": "boards", "builds": "builds", "devices": "devices",
                                                       "variants": "variants"})
    families = sorted(set(_ansatz_families()) - {"mcclean"})
    base = Variant(_choice(model.pop("ansatz", "hea"), "[model] ansatz", families),
                   _integer(model.pop("layers", 2), "[model] layers", 1),
                   _choice(model.pop("entangler", "cz"), "[model] entangler", ENTANGLERS))
    kwargs = {**model, **training}
    if "name" in document:
        if not isinstance(document["name"], str):
            raise WorkloadError(f"name must be a string, not {document['name']!r}")
        kwargs["name"] = document["name"]
    if "boards" in space:
        boards = space["boards"]
        kwargs["boards"] = () if boards in ("all", ["all"]) else _names(boards, "[space] boards")
    if "builds" in space:
        kwargs["builds"] = _builds(space["builds"])
    if "devices" in space:
        kwargs["devices"] = _names(space["devices"], "[space] devices")
    variants = [base]
    entries = space.get("variants", [])
    if not isinstance(entries, list):
        raise WorkloadError(f"[space] variants must be a list of tables like {{ansatz = \"hea\", layers = 4}}, not {entries!r}")
    for index, entry in enumerate(entries):
        at = f"[space] variants[{index}]"
        if not isinstance(entry, dict) or "ansatz" not in entry:
            raise WorkloadError(f"{at}: a table like {{ansatz = \"hea\", layers = 4}}, not {entry!r}")
        extra = sorted(set(entry) - set(VARIANT_FIELDS))
        if extra:
            raise WorkloadError(f"{at}: unknown field(s) {extra}; allowed: {list(VARIANT_FIELDS)}")
        variant = Variant(_choice(entry["ansatz"], f"{at} ansatz", families),
                          _integer(entry.get("layers", base.layers), f"{at} layers", 1),
                          _choice(entry.get("entangler", "cz"), f"{at} entangler", ENTANGLERS))
        if variant not in variants:
            variants.append(variant)
    kwargs["variants"] = tuple(variants)
    try:
        return CodesignWorkload(**kwargs)
    except TypeError as err:
        raise WorkloadError(str(err)) from None


def _ansatz_families():
    from qfab.qml.ansatz import ANSATZ_BUILDERS

    return ANSATZ_BUILDERS
