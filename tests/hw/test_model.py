"""The bit-accurate model against exact complex128 state-vector arithmetic.

Multiplier-free gates must be exact; matrix gates must stay within the fixed-point error law
1 - F <= C * depth * 2**n * 2**(-2F) (reference: C ~ 0.16 on average, checked with C = 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qfab_hw import Assembler, CoreModel, CoreParams, ErrorCode, ProgramError
from qfab_hw.model import bank_of, offset_of, pair_addresses
from qfab_hw.model.cycles import instruction_cycles
from qfab_hw.program import Opcode
from qfab_hw.testing import random_state, random_unitary

ERROR_LAW_BOUND = 1.0  # the constant C of the error law, ~6x the measured mean


def apply_exact(state: np.ndarray, matrix, target: int, control: int | None = None):
    """Reference: a (controlled) 2x2 gate on a complex128 state vector, qubit 0 = LSB."""
    state = state.copy()
    index = np.arange(len(state))
    i0 = index[(index >> target) & 1 == 0]
    if control is not None:
        i0 = i0[(i0 >> control) & 1 == 1]
    i1 = i0 | (1 << target)
    x0, x1 = state[i0].copy(), state[i1].copy()
    state[i0] = matrix[0][0] * x0 + matrix[0][1] * x1
    state[i1] = matrix[1][0] * x0 + matrix[1][1] * x1
    return state


def fixed_state(model: CoreModel) -> tuple[np.ndarray, np.ndarray]:
    return model.re.copy(), model.im.copy()


def infidelity(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - abs(np.vdot(a, b)) ** 2 / (np.vdot(a, a).real * np.vdot(b, b).real)


def run_random_circuit(rng, n_qubits: int, depth: int, width: int = 18):
    """The same random circuit on the model (via the assembler) and exactly in numpy."""
    params = CoreParams(max_qubits=max(n_qubits, 2), lanes=1, width=width)
    program = Assembler(width).init(n_qubits)
    exact = np.zeros(1 << n_qubits, dtype=np.complex128)
    exact[0] = 1
    for _ in range(depth):
        matrix = random_unitary(rng)
        target = int(rng.integers(n_qubits))
        control = None
        if n_qubits > 1 and rng.integers(2):
            control = int(rng.choice([q for q in range(n_qubits) if q != target]))
        program.unitary(matrix, target, control)
        exact = apply_exact(exact, matrix, target, control)
    model = CoreModel(params)
    result = model.run(program.end().words())
    assert result.error == ErrorCode.NONE and not result.overflow
    return model, exact


@pytest.mark.parametrize("n_qubits", [1, 4, 8, 10])
@pytest.mark.parametrize("width", [16, 18])
def test_matrix_gates_within_fixed_point_error_law(n_qubits, width):
    rng = np.random.default_rng(n_qubits * 100 + width)
    depth = 40
    model, exact = run_random_circuit(rng, n_qubits, depth, width)
    error = infidelity(model.amplitudes(), exact)
    bound = ERROR_LAW_BOUND * depth * 2**n_qubits * 2.0 ** (-2 * (width - 2))
    assert error <= bound, (error, bound)


def test_infidelity_grows_with_depth_and_qubits_as_the_law_says():
    """Averaged over circuits, doubling 2**n (or depth) roughly doubles the infidelity."""
    rng = np.random.default_rng(7)

    def mean_infidelity(n_qubits, depth):
        samples = []
        for _ in range(6):
            model, exact = run_random_circuit(rng, n_qubits, depth)
            samples.append(infidelity(model.amplitudes(), exact))
        return np.mean(samples)

    small, large = mean_infidelity(6, 40), mean_infidelity(10, 40)
    assert 4 < large / small < 64  # 2**4 = 16 expected
    shallow, deep = mean_infidelity(8, 50), mean_infidelity(8, 200)
    assert 2 < deep / shallow < 8  # 4 expected


@pytest.mark.parametrize("lanes", [1, 2])
def test_multiplier_free_gates_are_exact_permutations_and_negations(lanes):
    rng = np.random.default_rng(3)
    n_qubits = 4
    params = CoreParams(max_qubits=n_qubits, lanes=lanes)
    model = CoreModel(params)
    state = random_state(rng, n_qubits)
    model.run(Assembler(18).load(state).end().words())
    re, im = fixed_state(model)
    amplitudes = re + 1j * im  # exact integers in complex128
    index = np.arange(1 << n_qubits)
    for control in [None, 0, 1, 2, 3]:
        for target in range(n_qubits):
            if control == target:
                continue
            flipped = (index >> control) & 1 == 1 if control is not None else np.ones(16, bool)
            program = Assembler(18).x(target, control).phase_quarter(1, target, control)
            result = model.run(program.end().words())
            assert not result.overflow
            swapped = np.where(flipped, index ^ (1 << target), index)
            amplitudes = amplitudes[swapped]
            ones = flipped & ((index >> target) & 1 == 1)
            amplitudes = np.where(ones, 1j * amplitudes, amplitudes)
            np.testing.assert_array_equal(model.re + 1j * model.im, amplitudes)


def test_swap_matches_exact_qubit_exchange():
    rng = np.random.default_rng(5)
    model = CoreModel(CoreParams(max_qubits=3, lanes=1))
    state = random_state(rng, 3)
    model.run(Assembler(18).load(state).end().words())
    before = model.re + 1j * model.im
    model.run(Assembler(18).swap(0, 2).end().words())
    index = np.arange(8)
    exchanged = (index & 0b010) | ((index & 1) << 2) | ((index >> 2) & 1)
    np.testing.assert_array_equal(model.re + 1j * model.im, before[exchanged])


def test_readouts_agree_with_the_state():
    rng = np.random.default_rng(11)
    n_qubits = 5
    model = CoreModel(CoreParams(max_qubits=6, lanes=2))
    program = Assembler(18).load(random_state(rng, n_qubits)).h(2).cx(2, 4)
    program.read_state().read_probs().expect_z([0, 2, 4]).end()
    result = model.run(program.words())
    size = 1 << n_qubits
    assert len(result.beats) == 2 * size + 1 and result.last == [False] * 2 * size + [True]
    words = np.array(result.beats[:size], dtype=np.uint64)
    re = (words & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.int64)
    im = (words >> np.uint64(32)).astype(np.uint32).view(np.int32).astype(np.int64)
    np.testing.assert_array_equal(re, model.re)
    np.testing.assert_array_equal(im, model.im)
    probabilities = np.array(result.beats[size:2 * size], dtype=np.int64)
    np.testing.assert_array_equal(probabilities, re * re + im * im)
    signs = np.array([(-1) ** bin(i & 0b10101).count("1") for i in range(size)])
    expectation = np.int64(np.uint64(result.beats[-1]))
    assert expectation == int(np.sum(signs * probabilities))
    exact = np.sum(signs * np.abs(model.amplitudes()) ** 2)
    assert expectation / 2.0**32 == pytest.approx(exact, abs=1e-12)


def test_beat_decoders_give_the_physical_values():
    from qfab_hw import decode_amplitudes, decode_expectation, decode_probabilities

    model = CoreModel(CoreParams(max_qubits=3, lanes=1))
    program = Assembler(18).init(2).h(0).ry(1.0, 1).read_state().read_probs().expect_z([1]).end()
    result = model.run(program.words())
    exact = np.kron([math.cos(0.5), math.sin(0.5)], [1, 1]) / math.sqrt(2)
    np.testing.assert_allclose(decode_amplitudes(result.beats[:4], 18), exact, atol=4e-5)
    np.testing.assert_allclose(decode_probabilities(result.beats[4:8], 18), exact**2, atol=4e-5)
    assert decode_expectation(result.beats[8], 18) == pytest.approx(math.cos(1.0), abs=1e-4)
    np.testing.assert_array_equal(decode_amplitudes(result.beats[:4], 18), model.amplitudes())


def test_overflow_saturates_and_sets_the_flag():
    model = CoreModel(CoreParams(max_qubits=2, lanes=1))
    big = np.array([1.9, 1.9, -1.9, -1.9])
    result = model.run(Assembler(18).load(big).h(0).end().words())
    assert result.overflow
    top = (1 << 17) - 1
    assert model.re[0] == top and model.re[2] == -top - 1  # clamped, not wrapped


def test_malformed_word_reports_error_and_keeps_the_state():
    model = CoreModel(CoreParams(max_qubits=4, lanes=1))
    model.run(Assembler(18).init(3).h(0).end().words())
    before = model.amplitudes()
    result = model.run(Assembler(18).x(5).h(1).end().words())
    assert result.error == ErrorCode.BAD_TARGET
    # the header, then the rest of the packet (H's header and 4 coefficients, END) skipped
    assert result.cycles == 1 + 6
    np.testing.assert_array_equal(model.amplitudes(), before)
    assert model.run(Assembler(18).h(0).end().words()).error == ErrorCode.NONE
    model.reset()
    assert model.run(Assembler(18).h(0).end().words()).error == ErrorCode.NO_STATE


def test_incomplete_program_is_a_program_error():
    model = CoreModel(CoreParams(max_qubits=4))
    with pytest.raises(ProgramError, match="without an END"):
        model.run(Assembler(18).init(2).h(0).words())
    with pytest.raises(ProgramError, match="GATE_U needs 4 payload words"):
        model.run(Assembler(18).init(2).h(0).words()[:-1])


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_cycles_are_pairs_over_lanes_plus_latency(lanes):
    params = CoreParams(max_qubits=10, lanes=lanes)
    for n_qubits in range((2 * lanes).bit_length(), 11):
        gate = instruction_cycles(Opcode.GATE_X, n_qubits, params)
        wider = instruction_cycles(Opcode.GATE_X, n_qubits, CoreParams(10, 2 * lanes))
        assert gate - wider == (1 << (n_qubits - 1)) // lanes // 2  # parallel part halves
        assert instruction_cycles(Opcode.GATE_U, n_qubits, params) == gate + 4  # coefficients


@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
def test_bank_mapping_is_a_bijection_without_conflicts(lanes):
    """Every issue step touches 2*lanes distinct banks, for every target (section: banking)."""
    lane_bits = lanes.bit_length() - 1
    n_qubits = 7
    addresses = np.arange(1 << n_qubits)
    pairs = set(zip(bank_of(addresses, lane_bits).tolist(), offset_of(addresses, lane_bits).tolist()))
    assert len(pairs) == 1 << n_qubits
    for target in range(n_qubits):
        for step in range((1 << (n_qubits - 1)) // lanes):
            i0, i1 = pair_addresses(step * lanes + np.arange(lanes), target)
            banks = bank_of(np.concatenate([i0, i1]), lane_bits)
            assert len(set(banks.tolist())) == 2 * lanes


@given(st.integers(2, 7), st.integers(1, 25), st.integers(0, 2**32 - 1))
def test_random_circuits_property(n_qubits, depth, seed):
    rng = np.random.default_rng(seed)
    model, exact = run_random_circuit(rng, n_qubits, depth)
    error = infidelity(model.amplitudes(), exact)
    assert error <= ERROR_LAW_BOUND * depth * 2**n_qubits * 2.0**-32
    assert abs(np.linalg.norm(model.amplitudes()) - 1) < depth * 2**(n_qubits / 2) * 2.0**-15


@given(st.integers(1, 6), st.integers(0, 15), st.integers(0, 2**32 - 1), st.sampled_from([1, 2]))
def test_random_program_readouts_are_mutually_consistent(n_qubits, depth, seed, lanes):
    """On any random program, READ_EXPZ(mask) is exactly the signed sum of the READ_PROBS
    beats, and each probability beat is re**2 + im**2 of the READ_STATE beat."""
    from qfab_hw.testing import random_program

    params = CoreParams(max_qubits=7, lanes=lanes)
    n_qubits = max(n_qubits, params.min_qubits)
    rng = np.random.default_rng(seed)
    mask = int(rng.integers(1 << n_qubits))
    program = random_program(rng, params, n_qubits, depth, readouts=False)
    program.instructions.pop()  # END: append the readouts under test
    words = program.read_state().read_probs().expect_z(
        [q for q in range(n_qubits) if mask >> q & 1]).end().words()
    result = CoreModel(params).run(words)
    size = 1 << n_qubits
    state = np.array(result.beats[:size], dtype=np.uint64)
    re = (state & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.int64)
    im = (state >> np.uint64(32)).astype(np.uint32).view(np.int32).astype(np.int64)
    probabilities = np.array(result.beats[size:2 * size], dtype=np.int64)
    np.testing.assert_array_equal(probabilities, re * re + im * im)
    signs = 1 - 2 * (np.array([bin(i & mask).count("1") for i in range(size)]) % 2)
    assert int(np.int64(np.uint64(result.beats[-1]))) == int(np.sum(signs * probabilities))
    assert result.last == [False] * (2 * size) + [True]
