"""Fuzzing the public calls (``qfab.statevector``, ``expectation``, ``gradient``, ``sample``): random
circuits with parameters of random shapes, containers, dtypes and values, observables of random
kinds and widths, and random shots, seeds, dtypes, methods and devices.

Each argument is drawn together with what the documented rules make of it (:class:`Drawn`): the
real values it stands for, or ``None`` when it must be refused (complex, boolean, text or None
entries, NaN or infinity, a wrong shape, masked entries, a non-Hermitian or non-finite
observable, shots that are not a positive integer...). The property: a refused argument raises a
:class:`~qfab.errors.QfabError` (a message, before any work), an accepted one gives Qiskit's
``Statevector`` answer, and nothing else ever comes out (no other exception, no silent coercion).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, strategies as st
from qiskit import QuantumCircuit
from qiskit.quantum_info import Pauli, SparsePauliOp, Statevector

import qfab
from qfab.errors import QfabError
from tests.fuzz.fuzzing import Drawn, fuzz_settings
from tests.support.circuits import random_circuits
from tests.support.reference import finite_difference

#: Angles up to this size are compared with Qiskit to 1e-9; beyond it (up to 1e300) the rounding
#: of a gate's angle differs between any two simulators, so the result is checked for being a
#: unit state / an expectation within the observable's bounds instead.
COMPARABLE_ANGLE = 1e4

#: Qiskit warns while it builds the NaN/infinite-coefficient observables drawn to be refused.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")


# -- parameters ---------------------------------------------------------------------------------------
def _angles(large: bool):
    bound = 1e300 if large else 2 * np.pi
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False)


@st.composite
def parameter_arguments(draw, num_parameters: int) -> Drawn:
    """A ``params`` argument for a circuit of ``num_parameters`` parameters; its meaning is the
    ``(rows, P)`` float64 values the call must compute with."""
    if num_parameters == 0 and draw(st.integers(0, 4)) == 0:
        return Drawn(None, np.zeros((1, 0)))
    batched = draw(st.booleans())
    rows = draw(st.integers(1, 3)) if batched else 1
    large = draw(st.integers(0, 5)) == 0
    integral = draw(st.integers(0, 4)) == 0
    if integral:
        values = np.array(draw(st.lists(st.integers(-20, 20), min_size=rows * num_parameters,
                                        max_size=rows * num_parameters)), dtype=np.float64)
    else:
        values = np.array(draw(st.lists(_angles(large), min_size=rows * num_parameters,
                                        max_size=rows * num_parameters)), dtype=np.float64)
    values = values.reshape(rows, num_parameters)
    shape = values.shape if batched else values.shape[1:]

    container = draw(st.sampled_from(["float64", "float32", "float16", "int", "list", "tuple", "object", "fraction",
                                      "masked"] if integral else ["float64", "float32", "list", "object", "masked"]))
    if container in ("float32", "float16"):
        with np.errstate(over="ignore"):
            stored = values.astype(container)
        meaning = stored.astype(np.float64)
        value = stored.reshape(shape)
        if not np.all(np.isfinite(meaning)):  # a large float64 beyond float32's range is inf there
            meaning = None
    elif container == "int":
        dtype = draw(st.sampled_from([np.int8, np.int16, np.int64, np.uint8])) if np.all(values >= 0) else np.int64
        value, meaning = values.astype(dtype).reshape(shape), values
    elif container in ("list", "tuple"):
        nested = values.reshape(shape).tolist()
        value, meaning = (nested if container == "list" else _tuples(nested)), values
    elif container == "object":
        value, meaning = values.reshape(shape).astype(object), values
    elif container == "fraction":
        value = np.array([Fraction(int(v)) for v in values.ravel()], dtype=object).reshape(shape)
        meaning = values
    elif container == "masked":
        value, meaning = np.ma.masked_array(values.reshape(shape), mask=False), values
    else:
        value, meaning = values.reshape(shape), values

    corruption = draw(st.sampled_from(["none"] * 6 + ["nan", "inf", "complex", "complex zero", "bool", "text",
                                                      "object odd", "shape", "ragged", "masked entry", "huge int",
                                                      "datetime", "empty"]))
    if corruption == "none":
        return Drawn(value, meaning)
    flat = values.reshape(-1)
    if corruption in ("nan", "inf") and flat.size:
        bad = values.reshape(shape).copy()
        bad.reshape(-1)[draw(st.integers(0, flat.size - 1))] = np.nan if corruption == "nan" else -np.inf
        return Drawn(bad, None)
    if corruption == "complex":
        return Drawn(values.reshape(shape) + 1j * draw(st.floats(1e-3, 1.0)), None)
    if corruption == "complex zero":  # complex dtype even with zero imaginary parts: refused, not cast
        with np.errstate(over="ignore"):  # a large float64 is inf in complex64: refused all the same
            return Drawn(values.reshape(shape).astype(np.complex64), None)
    if corruption == "bool":  # refused by dtype, even empty
        return Drawn(values.reshape(shape) > 0, None)
    if corruption == "text":
        return Drawn(values.reshape(shape).astype(str), None)
    if corruption == "object odd" and flat.size:
        odd = values.reshape(shape).astype(object)
        odd.reshape(-1)[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([None, True, "0.5", 1 + 0j, b"1", [1.0]]))
        return Drawn(odd, None)
    if corruption == "shape":
        wrong = draw(st.sampled_from([(num_parameters + 1,), (rows, num_parameters + 1), (rows, num_parameters, 1),
                                      (), (1, 1, num_parameters), (max(num_parameters - 1, 0) + 2, 1)]))
        resized = np.resize(values, wrong)
        if len(wrong) in (1, 2) and wrong[-1] == num_parameters:  # (2, 1) for one parameter is a batch
            return Drawn(resized, resized.reshape(-1, num_parameters))
        return Drawn(resized, None)
    if corruption == "ragged" and num_parameters:
        return Drawn([[0.1] * num_parameters, [0.1] * (num_parameters + 1)], None)
    if corruption == "masked entry" and flat.size:
        mask = np.zeros(shape, dtype=bool)
        mask.reshape(-1)[draw(st.integers(0, flat.size - 1))] = True
        return Drawn(np.ma.masked_array(values.reshape(shape), mask=mask), None)
    if corruption == "huge int" and flat.size:
        return Drawn([10**400] * num_parameters if not batched else [[10**400] * num_parameters] * rows, None)
    if corruption == "datetime" and flat.size:
        return Drawn(np.zeros(shape, dtype="datetime64[s]"), None)
    if corruption == "empty" and num_parameters:
        return Drawn([], None)
    return Drawn(value, meaning)


def _tuples(nested):
    return tuple(_tuples(v) for v in nested) if isinstance(nested, list) else nested


# -- observables ----------------------------------------------------------------------------------------
_LETTERS = "IXYZ"


@st.composite
def observable_arguments(draw, num_qubits: int) -> Drawn:
    """One observable, or a list: ``meaning`` is ``(list of SparsePauliOp, many)``."""
    many = draw(st.booleans())
    count = draw(st.integers(1, 3)) if many else 1
    items, valid = [], True
    for _ in range(count):
        label = "".join(draw(st.lists(st.sampled_from(_LETTERS), min_size=num_qubits, max_size=num_qubits)))
        kind = draw(st.sampled_from(["label", "op", "pauli"] * 3 + ["wrong width", "bad letter", "complex", "nan",
                                                                    "inf", "int", "none", "dict", "matrix"]))
        if kind == "label":
            items.append((label, SparsePauliOp(label)))
        elif kind == "pauli":
            items.append((Pauli(label), SparsePauliOp(label)))
        elif kind == "op":
            terms = [label] + ["".join(draw(st.lists(st.sampled_from(_LETTERS), min_size=num_qubits,
                                                     max_size=num_qubits))) for _ in range(draw(st.integers(0, 2)))]
            coeffs = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=len(terms), max_size=len(terms)))
            op = SparsePauliOp(terms, coeffs)
            items.append((op, op))
        else:
            valid = False
            bad = {"wrong width": label + draw(st.sampled_from(_LETTERS)),
                   "bad letter": label[:-1] + draw(st.sampled_from("AQz0 ")),
                   "complex": SparsePauliOp(label, draw(st.floats(0.01, 2)) * 1j + draw(st.floats(-1, 1))),
                   "nan": SparsePauliOp(label, np.nan), "inf": SparsePauliOp(label, np.inf),
                   "int": draw(st.integers(-5, 5)), "none": None, "dict": {label: 1.0},
                   "matrix": np.eye(2**num_qubits)}[kind]
            items.append((bad, None))
    if many and draw(st.integers(0, 9)) == 0:
        return Drawn([], None)
    value = [v for v, _ in items] if many else items[0][0]
    return Drawn(value, ([op for _, op in items], many) if valid else None)


# -- the other arguments --------------------------------------------------------------------------------
DEVICES = [Drawn("cpu", "cpu")] * 8 + [Drawn("banana", None), Drawn(3, None), Drawn(None, None)]
DTYPES = ([Drawn(np.complex128, 1e-9)] * 6 + [Drawn(np.complex64, 1e-4), Drawn("complex128", 1e-9),
                                              Drawn("banana", None), Drawn(np.float32, None), Drawn(int, None)])
METHODS = [Drawn(m, m) for m in ("best", "adjoint", "parameter-shift")] * 2 + [Drawn(m, None) for m in ("exact", 5, None)]
SHOTS = st.one_of(st.integers(1, 3000).map(lambda s: Drawn(s, s)), st.just(Drawn(np.int64(17), 17)),
                  st.sampled_from([Drawn(s, None) for s in (0, -1, True, 2.0, "100", None, 2**63, 10**30)]))
SEEDS = st.one_of(st.integers(0, 2**32).map(lambda s: Drawn(s, s)), st.just(Drawn(None, "any")),
                  st.sampled_from([Drawn(s, None) for s in (-1, 1.5, "seed")]))


@st.composite
def calls(draw, with_observables: bool, max_qubits: int = 4):
    qc = draw(random_circuits(max_qubits=max_qubits, max_gates=10))
    drawn = {"params": draw(parameter_arguments(qc.num_parameters)), "device": draw(st.sampled_from(DEVICES))}
    if with_observables:
        drawn["observables"] = draw(observable_arguments(qc.num_qubits))
    return qc, drawn


def _call(function, qc, drawn: dict, **extra: Drawn):
    """Call ``function`` with the drawn arguments: a QfabError if any argument is one to refuse,
    else the result (which the caller checks)."""
    arguments = {**drawn, **extra}
    positional = [arguments.pop(name).value for name in ("observables", "params") if name in arguments]
    keywords = {name: d.value for name, d in arguments.items()}
    refused = [name for name, d in {**drawn, **extra}.items() if d.meaning is None]
    if refused:
        with pytest.raises(QfabError) as error:
            function(qc, *positional, **keywords)
        assert str(error.value).strip()
        return None
    return function(qc, *positional, **keywords)


def _bound(qc: QuantumCircuit, row) -> Statevector:
    return Statevector(qc.assign_parameters(dict(zip(qc.parameters, row))))


def _rows(drawn: dict) -> np.ndarray:
    return drawn["params"].meaning


def _batched(drawn: dict) -> bool:
    value = drawn["params"].value
    return value is not None and np.ndim(value) == 2


def _comparable(rows: np.ndarray) -> bool:
    return bool(np.all(np.abs(rows) <= COMPARABLE_ANGLE))


# -- the properties ---------------------------------------------------------------------------------------
@fuzz_settings(60)
@given(case=calls(with_observables=False), dtype=st.sampled_from(DTYPES))
def test_statevector_is_qiskits_or_a_qfab_error(case, dtype):
    qc, drawn = case
    out = _call(qfab.statevector, qc, drawn, dtype=dtype)
    if out is None:
        return
    rows = _rows(drawn)
    states = np.asarray(out).reshape(len(rows), 2**qc.num_qubits)
    assert np.shape(out) == ((len(rows),) if _batched(drawn) else ()) + (2**qc.num_qubits,)
    for row, state in zip(rows, states):
        if _comparable(rows):
            np.testing.assert_allclose(state, _bound(qc, row).data, atol=10 * dtype.meaning)
        else:
            assert np.isclose(np.linalg.norm(state), 1.0, atol=10 * dtype.meaning)


@fuzz_settings(60)
@given(case=calls(with_observables=True), dtype=st.sampled_from(DTYPES))
def test_expectation_is_qiskits_or_a_qfab_error(case, dtype):
    qc, drawn = case
    out = _call(qfab.expectation, qc, drawn, dtype=dtype)
    if out is None:
        return
    ops, many = drawn["observables"].meaning
    rows = _rows(drawn)
    assert np.shape(out) == ((len(rows),) if _batched(drawn) else ()) + ((len(ops),) if many else ())
    values = np.asarray(out, dtype=np.float64).reshape(len(rows), len(ops))
    for row, got in zip(rows, values):
        if _comparable(rows):
            state = _bound(qc, row)
            expected = [state.expectation_value(op).real for op in ops]
            np.testing.assert_allclose(got, expected, atol=100 * dtype.meaning)
        else:
            assert np.all(np.abs(got) <= [np.abs(op.coeffs).sum() + 1e-6 for op in ops])


@fuzz_settings(40)
@given(case=calls(with_observables=True, max_qubits=3), method=st.sampled_from(METHODS))
def test_gradient_is_the_finite_difference_of_qiskits_or_a_qfab_error(case, method):
    qc, drawn = case
    out = _call(qfab.gradient, qc, drawn, method=method)
    if out is None:
        return
    ops, many = drawn["observables"].meaning
    rows = _rows(drawn)
    assert np.shape(out) == ((len(rows),) if _batched(drawn) else ()) + ((len(ops),) if many else ()) + (qc.num_parameters,)
    gradients = np.asarray(out).reshape(len(rows), len(ops), qc.num_parameters)
    assert np.all(np.isfinite(gradients))
    if not _comparable(rows):
        return
    for row, got in zip(rows, gradients):
        for op, gradient in zip(ops, got):
            np.testing.assert_allclose(gradient, finite_difference(qc, op, row), atol=1e-5)


@fuzz_settings(50)
@given(case=calls(with_observables=False), shots=SHOTS, seed=SEEDS)
def test_sample_counts_come_from_qiskits_distribution_or_a_qfab_error(case, shots, seed):
    qc, drawn = case
    out = _call(qfab.sample, qc, drawn, shots=shots, seed=seed)
    if out is None:
        return
    rows = _rows(drawn)
    counts = out if _batched(drawn) else [out]
    assert isinstance(counts, list) and len(counts) == len(rows)
    for row, row_counts in zip(rows, counts):
        assert sum(row_counts.values()) == shots.meaning
        assert all(len(key) == qc.num_qubits and set(key) <= {"0", "1"} for key in row_counts)
        if _comparable(rows):  # only outcomes Qiskit gives a probability
            probabilities = _bound(qc, row).probabilities_dict()
            assert all(probabilities.get(key, 0.0) > 1e-12 for key in row_counts), (row_counts, probabilities)


GRADIENTS = [Drawn(g, g) for g in (True, False, None, "adjoint", "parameter-shift")] + [Drawn(g, None) for g in ("yes", 1)]
ACCURACIES = [Drawn(a, a) for a in ("exact", None, 1e-3, 1)] + [Drawn(a, None) for a in (np.nan, -1.0, 0, "fast", True)]
AFTERS = [Drawn((), ()), Drawn((0,), (0,)), Drawn([np.int64(0)], (0,))] + [Drawn(a, None) for a in ((5,), (1.5,), "ab", 3)]


@fuzz_settings(60)
@given(case=calls(with_observables=True), without_observables=st.booleans(), gradient=st.sampled_from(GRADIENTS),
       shots=st.one_of(st.just(Drawn(None, None)), SHOTS), accuracy=st.sampled_from(ACCURACIES),
       after=st.sampled_from(AFTERS))
def test_a_workload_job_is_added_as_given_or_refused_with_a_qfab_error(case, without_observables, gradient, shots,
                                                                       accuracy, after):
    from qfab.scheduling import Workload

    qc, drawn = case
    observables = Drawn(None, ([], False)) if without_observables else drawn["observables"]
    wants_gradient = gradient.value not in (False, None)
    arguments = {"params": drawn["params"], "gradient": gradient, "accuracy": accuracy, "after": after}
    refused = [d for d in arguments.values() if d.meaning is None and d.value is not None]
    refused += [observables] if observables.meaning is None else []
    refused += [shots] if shots.value is not None and shots.meaning is None else []
    work = Workload()
    work.add(QuantumCircuit(1), None, None, gradient=False)  # job 0, for ``after``
    call = lambda: work.add(qc, observables.value, drawn["params"].value, gradient=gradient.value,  # noqa: E731
                            shots=shots.value, accuracy=accuracy.value, after=after.value)
    if refused or (wants_gradient and not observables.meaning[0]) or (arguments["params"].meaning is None):
        with pytest.raises(QfabError):
            call()
        assert len(work) == 1
        return
    index = call()
    item = work.items[index]
    assert index == 1 and item.after == after.meaning
    np.testing.assert_array_equal(item.job.params, drawn["params"].meaning)
    assert item.job.shots == shots.meaning and len(item.job.observables) == len(observables.meaning[0])
    assert (item.job.gradient is not None) == wants_gradient
