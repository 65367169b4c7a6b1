"""Fuzzing qfab's Qiskit primitives (``EstimatorV2``, ``SamplerV2``): PUBs of random circuits,
parameter-value shapes and observable arrays, run- and PUB-level precisions and shots, and the
malformed ones a Qiskit user can write (wrong lengths, observables of the wrong width or with
complex, NaN or infinite coefficients, parameter values of the wrong width, complex, boolean, NaN,
shapes that do not broadcast, precisions and shots that are negative, NaN, booleans or text).

The property: a malformed PUB or argument raises a :class:`~qfab.errors.QfabError` at ``run``,
before any work (an ``InputTypeError``/``InputError``, so still the ``TypeError``/``ValueError``
Qiskit raises there); a well-formed one gives Qiskit's ``StatevectorEstimator`` values in its
shape, or samples of the PUB's shape and shots from outcomes Qiskit gives a probability.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp, Statevector

from qfab.errors import QfabError
from qfab.qiskit import EstimatorV2, SamplerV2
from tests.fuzz.fuzzing import Drawn, fuzz_settings
from tests.support.circuits import random_circuits

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")

LETTERS = "IXYZ"


def _labels(draw, num_qubits: int, count: int) -> list[str]:
    return ["".join(draw(st.lists(st.sampled_from(LETTERS), min_size=num_qubits, max_size=num_qubits)))
            for _ in range(count)]


@st.composite
def parameter_values(draw, num_parameters: int, batch: tuple[int, ...]) -> Drawn:
    """Values of shape ``batch + (P,)``, or a malformed version of them (meaning ``None``)."""
    values = np.array(draw(st.lists(st.floats(-2 * np.pi, 2 * np.pi), min_size=int(np.prod(batch)) * num_parameters,
                                    max_size=int(np.prod(batch)) * num_parameters))).reshape(batch + (num_parameters,))
    kind = draw(st.sampled_from(["ok"] * 8 + ["width", "complex", "nan", "bool", "text"]))
    # Qiskit reads any last axis of a 1-parameter circuit's values as batch when it is not 1 (its
    # BindingsArray convention), so a wrong width is malformed only at other parameter counts
    if kind == "ok" or (num_parameters == 0 and kind != "width") or (num_parameters == 1 and kind == "width"):
        return Drawn(values, values)
    if kind == "width":
        return Drawn(np.zeros(batch + (num_parameters + 1,)), None)
    if kind == "complex":
        return Drawn(values + 0.5j, None)
    if kind == "nan":
        bad = values.copy()
        bad.reshape(-1)[draw(st.integers(0, bad.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return Drawn(bad, None)
    return Drawn(values > 0 if kind == "bool" else values.astype(str), None)


@st.composite
def observable_arrays(draw, num_qubits: int) -> Drawn:
    """A label, a SparsePauliOp or a list of them (shape ``(K,)``), or a malformed one."""
    count = draw(st.integers(1, 3))
    ops = []
    for _ in range(count):  # distinct terms with nonzero coefficients (Qiskit refuses an observable that is 0)
        labels = sorted(set(_labels(draw, num_qubits, draw(st.integers(1, 2)))))
        coefficients = draw(st.lists(st.floats(0.05, 2) | st.floats(-2, -0.05), min_size=len(labels), max_size=len(labels)))
        ops.append(SparsePauliOp(labels, coefficients))
    kind = draw(st.sampled_from(["ok"] * 8 + ["width", "letter", "complex", "nan", "inf", "int"]))
    if kind != "ok":
        bad = {"width": "Z" * (num_qubits + 1), "letter": "Q" * num_qubits,
               "complex": SparsePauliOp("Z" * num_qubits, 0.5 + 0.5j), "nan": SparsePauliOp("Z" * num_qubits, np.nan),
               "inf": SparsePauliOp("Z" * num_qubits, np.inf), "int": 7}[kind]
        ops_value = [*ops[:-1], bad] if count > 1 else bad
        return Drawn(ops_value, None)
    if count == 1 and draw(st.booleans()):
        return Drawn(ops[0], ops[0])
    return Drawn(ops, ops)


PRECISIONS = st.one_of(st.just(Drawn(None, 0.0)), st.floats(0, 1).map(lambda p: Drawn(p, p)),
                       st.sampled_from([Drawn(p, None) for p in (-0.1, np.nan, np.inf, True, "0.1")]))
SHOTS = st.one_of(st.integers(1, 400).map(lambda s: Drawn(s, s)), st.just(Drawn(np.int64(9), 9)),
                  st.sampled_from([Drawn(s, None) for s in (0, -3, True, 2.5, "10", 2**70)]))


@st.composite
def estimator_pubs(draw):
    """(circuit, a PUB ``(circuit, observables, values[, precision])``), the PUB's meaning ``None``
    when it is malformed."""
    qc = draw(random_circuits(max_qubits=3, max_gates=8))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    values = draw(parameter_values(qc.num_parameters, batch))
    observables = draw(observable_arrays(qc.num_qubits))
    precision = draw(PRECISIONS)
    shape = draw(st.sampled_from(["pub"] * 4 + ["short", "long", "not a pub"]))
    if shape == "short":
        return qc, Drawn((qc,), None)
    if shape == "long":
        return qc, Drawn((qc, observables.value, values.value, 0.1, "extra"), None)
    if shape == "not a pub":
        return qc, Drawn(draw(st.sampled_from([5, "circuit", None])), None)
    obs_value, obs_meaning = observables.value, observables.meaning
    pub = (qc, obs_value, values.value) if precision.value is None else (qc, obs_value, values.value, precision.value)
    valid = values.meaning is not None and obs_meaning is not None and precision.meaning is not None
    try:  # K observables against parameter values of batch (..., b): refused unless they broadcast
        np.broadcast_shapes((len(obs_value),) if isinstance(obs_value, list) else (), batch)
    except ValueError:
        valid = False
    return qc, Drawn(pub, pub if valid else None)


@fuzz_settings(60)
@given(pubs=st.lists(estimator_pubs(), min_size=1, max_size=3), precision=PRECISIONS)
def test_estimator_values_are_qiskits_or_a_qfab_error_at_run(pubs, precision):
    drawn = [pub for _, pub in pubs]
    given_pubs = [d.value for d in drawn]
    estimator = EstimatorV2(device="cpu")
    if precision.meaning is None or any(d.meaning is None for d in drawn):
        with pytest.raises(QfabError) as error:
            estimator.run(given_pubs, precision=precision.value)
        assert str(error.value).strip()
        return
    ours = estimator.run(given_pubs, precision=precision.value).result()
    # Qiskit's exact values: StatevectorEstimator adds noise of the precision, so at precision 0
    reference = StatevectorEstimator().run([pub[:3] for pub in given_pubs], precision=0.0).result()
    for pub, mine, theirs in zip(given_pubs, ours, reference):
        assert mine.data.evs.shape == theirs.data.evs.shape
        np.testing.assert_allclose(mine.data.evs, theirs.data.evs, atol=1e-9)
        np.testing.assert_array_equal(mine.data.stds, 0.0)
        asked = pub[3] if len(pub) > 3 else precision.meaning if precision.value is not None else 0.0
        assert mine.metadata["target_precision"] == asked


@st.composite
def sampler_pubs(draw):
    qc = draw(random_circuits(max_qubits=3, max_gates=8))
    qc.measure_all()
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    values = draw(parameter_values(qc.num_parameters, batch))
    shots = draw(st.one_of(st.just(Drawn(None, "run")), SHOTS))
    shape = draw(st.sampled_from(["pub"] * 5 + ["bare", "long", "not a pub"]))
    if shape == "bare" and qc.num_parameters == 0:
        return qc, Drawn(qc, (qc, np.zeros((0,)), "run"))
    if shape == "long":
        return qc, Drawn((qc, values.value, 10, "extra"), None)
    if shape == "not a pub":
        return qc, Drawn(draw(st.sampled_from([5, "circuit", None])), None)
    pub = (qc, values.value) if shots.value is None else (qc, values.value, shots.value)
    valid = values.meaning is not None and shots.meaning is not None
    return qc, Drawn(pub, (qc, values.meaning, shots.meaning) if valid else None)


@fuzz_settings(60)
@given(pubs=st.lists(sampler_pubs(), min_size=1, max_size=3), shots=SHOTS)
def test_sampler_samples_have_the_pubs_shape_and_qiskits_support_or_a_qfab_error_at_run(pubs, shots):
    drawn = [pub for _, pub in pubs]
    sampler = SamplerV2(device="cpu", seed=1)
    if shots.meaning is None or any(d.meaning is None for d in drawn):
        with pytest.raises(QfabError) as error:
            sampler.run([d.value for d in drawn], shots=shots.value)
        assert str(error.value).strip()
        return
    results = sampler.run([d.value for d in drawn], shots=shots.value).result()
    for d, result in zip(drawn, results):
        qc, values, pub_shots = d.meaning
        expected_shots = shots.meaning if pub_shots == "run" else pub_shots
        batch = np.shape(values)[:-1] if np.ndim(values) > 1 else ()
        meas = result.data.meas
        assert meas.shape == batch and meas.num_shots == expected_shots and meas.num_bits == qc.num_qubits
        bare = qc.remove_final_measurements(inplace=False)
        for index in np.ndindex(batch) if batch else [()]:
            row = np.asarray(values)[index] if qc.num_parameters else []
            probabilities = Statevector(bare.assign_parameters(dict(zip(bare.parameters, row)))).probabilities_dict()
            counts = meas[index].get_counts() if batch else meas.get_counts()
            assert sum(counts.values()) == expected_shots
            assert all(probabilities.get(key, 0.0) > 1e-12 for key in counts), (counts, probabilities)
