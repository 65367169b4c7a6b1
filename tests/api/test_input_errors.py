"""Bad inputs at the public calls raise a qfab InputError naming the problem, before any work, and
never a silent wrong answer: complex or non-finite parameters, non-Hermitian observables."""
import warnings

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp

import qfab
from qfab.errors import CapacityError, DeviceError, InputError, QfabError, UnsupportedInstructionError

from tests.support.circuits import hardware_efficient


@pytest.fixture(scope="module")
def circ():
    return qfab.from_qiskit(hardware_efficient(2, 1))  # 4 parameters


def test_complex_parameters_are_refused_without_a_numpy_warning(circ):
    params = np.full(4, 0.3 + 0.2j)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match=r"params is a complex array \(complex128, largest imaginary part 0.2\)"):
            qfab.statevector(circ, params)
        with pytest.raises(InputError, match="complex array"):
            qfab.expectation(circ, "ZZ", params.astype(np.complex64))
        with pytest.raises(InputError, match="complex"):
            qfab.gradient(circ, "ZZ", [0.1, 0.2, 0.3, 1j])
    assert not [w for w in caught if issubclass(w.category, np.exceptions.ComplexWarning)]


@pytest.mark.parametrize("params, message", [
    (np.array([0.1, np.nan, 0.2, 0.3]), r"params\[1\] \('.*'\) is nan"),
    (np.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, np.inf, 0.4]]), r"params\[1, 2\] \('.*'\) is inf"),
    (np.array([0.1, 0.2, -np.inf, 0.3]), "NaN or infinity"),
    (["a", "b", "c", "d"], "real numbers; got an array of dtype <U1"),
    (np.array([True, False, True, False]), "booleans"),
    ([[0.1, 0.2], [0.3]], "real numbers"),
    (np.zeros(3), r"shape \(4,\) or \(B, 4\)"),
])
def test_bad_parameter_values_name_the_problem(circ, params, message):
    for call in (lambda: qfab.statevector(circ, params), lambda: qfab.expectation(circ, "ZZ", params),
                 lambda: qfab.gradient(circ, "ZZ", params)):
        with pytest.raises(InputError, match=message):
            call()


def test_expectation_of_a_non_hermitian_observable_is_refused(circ):
    with pytest.raises(InputError, match="observable 0 is not Hermitian .*expectation value is not real"):
        qfab.expectation(circ, SparsePauliOp("ZZ", 1j), np.zeros(4))
    with pytest.raises(InputError, match="observable 1 is not Hermitian"):
        qfab.expectation(circ, [SparsePauliOp("ZI"), SparsePauliOp(["XX", "ZZ"], [1.0, 0.5j])], np.zeros(4))
    with pytest.raises(InputError, match="its gradient is undefined"):
        qfab.gradient(circ, SparsePauliOp("ZZ", 1j), np.zeros(4))
    # a Hermitian one still works (and real-valued results are unchanged)
    assert qfab.expectation(circ, SparsePauliOp(["ZZ", "XI"], [1.0, 0.5]), np.zeros(4)) == pytest.approx(1.0)


def test_other_bad_arguments_are_input_errors_and_keep_their_builtin_types(circ):
    with pytest.raises(InputError, match="shots must be a positive integer"):
        qfab.sample(circ, np.zeros(4), shots=True)
    with pytest.raises(TypeError, match="expected a qfab.Circuit"):
        qfab.statevector("not a circuit")
    with pytest.raises(InputError, match="observable 0 'ZQ' is not a Pauli label"):
        qfab.expectation(circ, "ZQ", np.zeros(4))
    with pytest.raises(InputError, match="observable 0 acts on 3 qubits"):
        qfab.expectation(circ, "ZZZ", np.zeros(4))


def test_the_error_families_derive_from_the_builtin_types_callers_catch():
    assert issubclass(InputError, ValueError) and issubclass(UnsupportedInstructionError, InputError)
    assert issubclass(qfab.UnsupportedInstruction, UnsupportedInstructionError)
    assert issubclass(qfab.InsufficientMemoryError, CapacityError) and issubclass(qfab.InsufficientMemoryError, MemoryError)
    assert issubclass(qfab.DeviceCapabilityError, CapacityError) and issubclass(qfab.DeviceCapabilityError, ValueError)
    assert issubclass(qfab.DeviceUnavailable, DeviceError) and issubclass(qfab.DeviceUnavailable, RuntimeError)
    from qfab.scheduling.failover import NoLiveDeviceError

    assert issubclass(NoLiveDeviceError, DeviceError)
    assert all(issubclass(cls, QfabError) for cls in (InputError, CapacityError, DeviceError))


# Found by tests/fuzz/test_fuzz_api.py: each was a raw numpy/Python exception or a silent coercion.
@pytest.mark.parametrize("params, message", [
    (np.ma.masked_array(np.zeros(4), mask=[0, 1, 0, 0]), "masked array with 1 masked value"),   # was: the hidden 0.0 used
    (np.array([0.1, "0.5", 0.2, 0.3], dtype=object), r"got '0.5' \(str\) among them"),        # was: "0.5" read as 0.5
    (np.array([0.1, None, 0.2, 0.3], dtype=object), r"got None \(NoneType\)"),                 # was: "params[1] is nan"
    ([10**400, 0, 0, 0], "real numbers; got objects that are not"),                            # was: OverflowError
])
def test_parameters_numpy_would_coerce_are_refused(circ, params, message):
    with pytest.raises(InputError, match=message):
        qfab.statevector(circ, params)


def test_bad_shots_seeds_dtypes_devices_and_observable_coefficients_are_qfab_errors(circ):
    zeros = np.zeros(4)
    with pytest.raises(InputError, match=r"shots must be a positive integer \(at most 2\*\*63 - 1\), got 10{30}"):
        qfab.sample(circ, zeros, shots=10**30)                                                  # was: OverflowError
    for seed in (-1, 1.5, "seed"):
        with pytest.raises(InputError, match="seed must be None, a non-negative integer"):
            qfab.sample(circ, zeros, seed=seed)                                                 # was: numpy's errors
    with pytest.raises(TypeError, match="dtype must be a numpy dtype") as error:
        qfab.statevector(circ, zeros, dtype="banana")
    assert isinstance(error.value, InputError)
    with pytest.raises(InputError, match="unknown device 'banana'"):
        qfab.statevector(circ, zeros, device="banana")
    with pytest.raises(InputError, match=r"observable 0 has a coefficient that is NaN or infinite: \(nan"):
        qfab.expectation(circ, SparsePauliOp("ZZ", np.nan), zeros)                              # was: "not Hermitian"
    with pytest.raises(InputError, match=r"observable 1 has a coefficient that is NaN or infinite: \(inf"):
        qfab.expectation(circ, ["ZZ", SparsePauliOp("XX", np.inf)], zeros)                     # was: inf returned
    assert qfab.statevector(circ, zeros, dtype="complex64").dtype == np.complex64
