"""The v2 driver: a stored program per circuit structure, parameters per call, values and gradients
from the core (RUN, RUN_SHIFT, RUN_ADJOINT) agreeing with the CPU engine within the fixed-point
law, the program sent once for a whole training loop, and the goal's words per step."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qfab_hw import CoreParams, ErrorCode
from qfab_hw.program import Instruction, Opcode

import qfab
from qfab.backends import DeviceCapabilityError, Job
from qfab.backends.fpga import FPGADevice, FPGAError, ModelTransport, driver
from qfab.backends.fpga.compiler import measurement_groups, structure_key
from qfab.backends.fpga.driver import CoreRun
from qfab.core.observables import as_pauli_sums

from tests.support.circuits import hardware_efficient, random_circuits

BUILD = CoreParams(max_qubits=5, lanes=1, width=18, adjoint=True, program_depth=4096)
LSB = 2.0 ** -(BUILD.width - 2)
#: RUN_ADJOINT un-computes psi and lambda through every gate, three times the passes of a value
#: (hw/README.md, "Error budget"), and its lambda = O psi / 2^k has 2^k up to 2 S: the adjoint's
#: tolerance is the shift rule's widened by 2·sqrt(3).
ADJOINT_FACTOR = 2 * math.sqrt(3)


class SpyTransport(ModelTransport):
    """The model, recording the words of every call."""

    def __init__(self, params):
        super().__init__(params)
        self.sent = []

    def execute(self, words, beats_expected, timeout_s):
        self.sent.append(np.asarray(words, dtype=np.uint64))
        return super().execute(words, beats_expected, timeout_s)


class Recorder(SpyTransport):
    """Records the words and answers with zero beats at once: a call's words without the core's
    time (they do not depend on what the core answers)."""

    def execute(self, words, beats_expected, timeout_s):
        self.sent.append(np.asarray(words, dtype=np.uint64))
        return CoreRun([0] * beats_expected, ErrorCode.NONE, False, 0)


class FaultyTransport(SpyTransport):
    """The model; ``fail`` makes the next call report an error, as a faulty board would."""

    fail = False

    def execute(self, words, beats_expected, timeout_s):
        run = super().execute(words, beats_expected, timeout_s)
        if self.fail:
            self.fail = False
            return CoreRun(run.beats, ErrorCode.BAD_PROGRAM, False, run.cycles)
        return run


def opcodes(words) -> list[Opcode]:
    """The opcodes of a call's top-level instructions (PROGRAM bodies skipped)."""
    words, found, position = [int(w) for w in words], [], 0
    while position < len(words):
        opcode = Opcode(words[position] & 0xFF)
        found.append(opcode)
        position += 1 + Instruction.payload_words(words[position])
        if opcode == Opcode.PROGRAM:
            position += (words[position - 1] >> 32) & 0xFFFF
    return found


def weight(pauli_sum) -> float:
    """S: the sum of |c| over the observable's non-identity terms."""
    return float(np.abs(pauli_sum.prefactors[(pauli_sum.x_masks | pauli_sum.z_masks) != 0]).sum())


def slope_sums(device, circ) -> np.ndarray:
    """A_i: the sum of |a| over parameter i's rotation occurrences."""
    a = np.zeros(circ.num_parameters)
    for ref in device.lowered(circ).rotation_refs:
        a[ref.index] += abs(ref.a)
    return a


def gradient_tolerance(device, circ, value_error: float, observable_weight: float) -> np.ndarray:
    """The value's error times A_i, plus what rounding each a to GATE_ROT's Q4.28 scale costs
    (2^-29 times |dC/d angle| <= S per occurrence)."""
    occurrences = np.zeros(circ.num_parameters)
    for ref in device.lowered(circ).rotation_refs:
        occurrences[ref.index] += 1
    return value_error * slope_sums(device, circ) + observable_weight * 2.0**-29 * occurrences + 1e-12


@st.composite
def observables(draw, num_qubits):
    labels = draw(st.lists(st.text("IXYZ", min_size=num_qubits, max_size=num_qubits), min_size=1, max_size=3,
                           unique=True))
    coefficients = draw(st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=len(labels), max_size=len(labels)))
    return SparsePauliOp(labels, coefficients)


# ------------------------------------------------------------------------------ numbers

@settings(max_examples=20, deadline=None)
@given(data=st.data(), qc=random_circuits(max_qubits=4, max_gates=10), wide=st.booleans())
def test_values_and_on_chip_gradients_agree_with_the_cpu_engine(data, qc, wide):
    """RUN's values, RUN_SHIFT's and RUN_ADJOINT's gradients against the CPU engine: within the
    law's error (``predicted_error``, plus an LSB) times the observable's weight S, and for
    gradient i times A_i; the adjoint's widened by 2·sqrt(3). ``wide`` values beyond ±2π make the
    driver send one angle per rotation (the core cannot wrap them for non-integer slopes)."""
    circ = qfab.from_qiskit(qc)
    obs = data.draw(observables(circ.num_qubits))
    (pauli_sum,), _ = as_pauli_sums(obs, circ.num_qubits)
    transport = SpyTransport(BUILD)
    device = FPGADevice(transport)
    span = 10.0 if wide else math.pi
    thetas = np.random.default_rng(data.draw(st.integers(0, 2**16))).uniform(-span, span, (2, circ.num_parameters))
    try:
        values = qfab.expectation(circ, obs, thetas, device=device)
    except DeviceCapabilityError as refusal:  # synthesised multi-controlled gates can outgrow the program memory
        assert "program_depth" in str(refusal)
        return
    error = (device.predicted_error(circ) + LSB) * weight(pauli_sum)
    assert np.all(np.abs(values - qfab.expectation(circ, obs, thetas)) <= error + 1e-12)
    reference = qfab.gradient(circ, obs, thetas)
    tolerance = gradient_tolerance(device, circ, error, weight(pauli_sum))
    shift = qfab.gradient(circ, obs, thetas, device=device, method="parameter-shift")
    assert np.all(np.abs(shift - reference) <= tolerance)
    adjoint = qfab.gradient(circ, obs, thetas, device=device)  # the API's default method runs on chip
    assert np.all(np.abs(adjoint - reference) <= ADJOINT_FACTOR * tolerance)
    if weight(pauli_sum):
        assert Opcode.RUN_ADJOINT in opcodes(transport.sent[-1])


def test_several_observables_states_and_gradients_in_one_call():
    """K observables' values share one READ_EXPZ program per measurement group; their gradients
    have one OBS program per observable and group; a state is a READ_STATE program. All of a job
    is one call."""
    qc = hardware_efficient(3, 2)
    qc.rzz(0.4, 0, 2)
    qc.crx(0.3, 1, 2)
    circ = qfab.from_qiskit(qc)
    obs = [SparsePauliOp(["ZZI", "XIX", "III"], [0.7, -0.4, 0.25]), SparsePauliOp(["IZY", "ZZI"], [1.2, 0.3])]
    sums, _ = as_pauli_sums(obs, 3)
    thetas = np.random.default_rng(3).uniform(-np.pi, np.pi, (3, circ.num_parameters))
    transport = SpyTransport(BUILD)
    device = FPGADevice(transport)
    error = device.predicted_error(circ) + LSB
    values = qfab.expectation(circ, obs, thetas, device=device)
    shared, apart = len(measurement_groups(sums, 3)), sum(len(measurement_groups([s], 3)) for s in sums)
    assert opcodes(transport.sent[-1]).count(Opcode.RUN) == shared < apart
    np.testing.assert_allclose(values, qfab.expectation(circ, obs, thetas), atol=error * 2.0, rtol=0)
    (result,) = device.run([Job(circ, thetas, tuple(sums), gradient="adjoint", want_state=True)])
    assert len(transport.sent) == 2
    amplitude_error = float(np.sqrt(10 * device.predicted_infidelity(circ))) + LSB
    np.testing.assert_allclose(result.states, qfab.statevector(circ, thetas), atol=amplitude_error, rtol=0)
    np.testing.assert_allclose(result.expectations, values, atol=2 * error * 2.0, rtol=0)
    reference = qfab.gradient(circ, obs, thetas)
    tolerance = ADJOINT_FACTOR * error * np.array([weight(s) for s in sums])[:, None] * slope_sums(device, circ)
    assert np.all(np.abs(result.gradients - reference) <= tolerance)


def test_slopes_beyond_the_affine_format_and_parameters_beyond_the_wrap_range():
    """|a| >= 8 does not fit GATE_ROT's Q4.28 scale, and a non-integer a cannot take a parameter
    wrapped mod 4π: the driver then loads one angle per rotation and applies the chain rule."""
    theta, phi = Parameter("θ"), Parameter("φ")
    qc = QuantumCircuit(2)
    qc.ry(0.5 * theta + 0.2, 0)
    qc.cx(0, 1)
    qc.rz(phi, 1)
    qc.rx(2 * phi, 0)
    circ = qfab.from_qiskit(qc)
    device = FPGADevice("model", BUILD)
    lowered = device.lowered(circ)
    inside, outside = np.array([[1.0, -2.0]]), np.array([[7.5, -2.0]])  # θ beyond 2π, a = 0.5
    assert driver.call_plan(lowered, Job(circ, inside, ()), BUILD).slots == "parameters"
    assert driver.call_plan(lowered, Job(circ, outside, ()), BUILD).slots == "angles"
    big = QuantumCircuit(2)
    big.ry(10 * theta, 0)
    big.crx(phi, 0, 1)
    steep = qfab.from_qiskit(big)
    assert driver.call_plan(device.lowered(steep), Job(steep, inside, ()), BUILD).slots == "angles"
    for circuit, values in ((circ, outside), (steep, inside)):
        error = ADJOINT_FACTOR * (device.predicted_error(circuit) + LSB) * slope_sums(device, circuit)
        np.testing.assert_allclose(qfab.gradient(circuit, "XZ", values, device=device),
                                   qfab.gradient(circuit, "XZ", values), atol=float(error.max()), rtol=0)


def test_circuit_without_parameters():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    circ = qfab.from_qiskit(qc)
    device = FPGADevice("model", BUILD)
    np.testing.assert_allclose(qfab.expectation(circ, ["ZZ", "XI"], device=device), [1.0, 0.0], atol=1e-4)
    assert qfab.gradient(circ, "ZZ", device=device).shape == (0,)


# ------------------------------------------------------------------------- the program

def test_fixed_runs_and_the_basis_change_fuse_into_one_pass():
    """Uncontrolled fixed gates on a qubit between other passes are one pass, and the last of
    them fuses with the observable's basis change: H then a measurement of X is no pass at all."""
    theta = Parameter("θ")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.s(0)
    qc.t(0)
    qc.ry(theta, 1)
    qc.cx(0, 1)
    qc.h(1)
    circ = qfab.from_qiskit(qc)
    (plan_segment,) = driver.call_plan(FPGADevice("model", BUILD).lowered(circ), Job(circ, np.zeros((1, 1)),
                                       tuple(as_pauli_sums("XI", 2)[0])), BUILD).segments
    body = [instruction.opcode for instruction in plan_segment.program.body]
    assert body == [Opcode.INIT, Opcode.GATE_ROT, Opcode.GATE_U, Opcode.GATE_X, Opcode.OBS, Opcode.END]


def test_same_structure_shares_the_lowering_and_the_program_key():
    qc = hardware_efficient(3, 1)
    a, b = qfab.from_qiskit(qc), qfab.from_qiskit(qc)
    assert a is not b and structure_key(a) == structure_key(b)
    assert driver.lowered(a) is driver.lowered(b)
    other = qc.copy()
    other.rz(0.1, 0)
    assert structure_key(qfab.from_qiskit(other)) != structure_key(a)


def test_a_training_loop_sends_its_program_once():
    """Steps on new Circuit objects of the same structure send LOAD_PARAMS and one run; the
    program goes again only where the core holds another one (another observable's, or none
    after a fault), and every call on a transport that keeps no state."""
    qc = hardware_efficient(3, 2)
    transport = FaultyTransport(BUILD)
    device = FPGADevice(transport)
    rng = np.random.default_rng(0)

    def step(observable="ZZZ"):
        circ = qfab.from_qiskit(qc)
        thetas = rng.uniform(-np.pi, np.pi, (4, circ.num_parameters))
        qfab.gradient(circ, observable, thetas, device=device)
        return Job(circ, thetas, tuple(as_pauli_sums(observable, 3)[0]), gradient="adjoint")

    job = step()
    lowered = device.lowered(job.circuit)
    first, resident = (driver.call_counts(lowered, job, BUILD, resident=flag) for flag in (False, True))
    for _ in range(3):
        step()
    assert [len(words) for words in transport.sent] == [first.words] + [resident.words] * 3
    assert opcodes(transport.sent[0]) == [Opcode.LOAD_PARAMS, Opcode.PROGRAM, Opcode.RUN_ADJOINT, Opcode.END]
    assert opcodes(transport.sent[1]) == [Opcode.LOAD_PARAMS, Opcode.RUN_ADJOINT, Opcode.END]
    assert first.words - resident.words == first.program_words > 0
    step("XXI")  # another program replaces it
    step()
    assert Opcode.PROGRAM in opcodes(transport.sent[-1])
    transport.fail = True
    with pytest.raises(FPGAError, match="BAD_PROGRAM"):
        step()
    assert transport.resident is None
    step()
    assert Opcode.PROGRAM in opcodes(transport.sent[-1])
    transport.keeps_state = False  # like Verilator: a fresh core every call
    step()
    step()
    assert all(Opcode.PROGRAM in opcodes(words) for words in transport.sent[-2:])


def test_batches_beyond_the_parameter_memory_are_loaded_in_chunks():
    """B·P beyond param_depth: the batch goes in loads that fit, each followed by every program's
    run (the programs in alternating order, so one stays resident across loads); the results
    are those of a build that holds the whole batch, and the counts are exact."""
    small = CoreParams(max_qubits=4, lanes=1, width=18, adjoint=True, max_params=16, param_depth=16)
    large = CoreParams(max_qubits=4, lanes=1, width=18, adjoint=True)
    circ = qfab.from_qiskit(hardware_efficient(3, 1))  # P = 6: 2 sets per load
    obs = SparsePauliOp(["ZZI", "XXX"], [0.6, -0.9])  # two groups: two programs
    thetas = np.random.default_rng(5).uniform(-np.pi, np.pi, (5, circ.num_parameters))
    transport = SpyTransport(small)
    chunked = FPGADevice(transport)
    job = Job(circ, thetas, tuple(as_pauli_sums(obs, 3)[0]), gradient="parameter-shift")
    predicted = chunked.program_counts(job)
    (result,) = chunked.run([job])
    (whole,) = FPGADevice("model", large).run([job])
    # the same beats; only the order in which two groups' shares are added differs
    np.testing.assert_allclose(result.expectations, whole.expectations, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.gradients, whole.gradients, rtol=1e-12, atol=1e-15)
    assert predicted == (chunked.last_cycles, chunked.last_words, chunked.last_beats)
    calls = opcodes(transport.sent[-1])
    assert calls.count(Opcode.LOAD_PARAMS) == 3 and calls.count(Opcode.RUN_SHIFT) == 6
    assert calls.count(Opcode.PROGRAM) == 4  # both, then one per load: the other stays resident


def test_program_counts_follow_the_resident_program():
    device = FPGADevice("model", BUILD)
    circ = qfab.from_qiskit(hardware_efficient(4, 1))
    thetas = np.random.default_rng(1).uniform(-1, 1, (2, circ.num_parameters))
    job = Job(circ, thetas, tuple(as_pauli_sums("ZIZI", 4)[0]), gradient="adjoint", want_state=True)
    for _ in range(2):
        predicted = device.program_counts(job)
        device.run([job])
        assert predicted == (device.last_cycles, device.last_words, device.last_beats)
    assert device.program_counts(job, resident=False)[1] > device.program_counts(job, resident=True)[1]


def test_the_build_refuses_what_it_cannot_hold():
    circ = qfab.from_qiskit(hardware_efficient(3, 2))  # 12 parameters, 12 rotations
    job = Job(circ, np.zeros((1, 12)), tuple(as_pauli_sums("ZZZ", 3)[0]), gradient="parameter-shift")
    few = FPGADevice("model", CoreParams(max_qubits=4, max_params=8, param_depth=8))
    with pytest.raises(DeviceCapabilityError, match="at most 8 per set"):
        few.run([job])
    short = FPGADevice("model", CoreParams(max_qubits=4, program_depth=16))
    with pytest.raises(DeviceCapabilityError, match=r"program of this circuit is \d+ words.*holds 16"):
        short.run([job])
    assert FPGADevice("model", BUILD).capabilities.gradient_methods == ("adjoint", "parameter-shift")
    assert FPGADevice("model", CoreParams(max_qubits=4)).capabilities.gradient_methods == ("parameter-shift",)


# -------------------------------------------------------------------------- the goal

GOAL_BUILD = CoreParams(max_qubits=8, lanes=1, width=18, adjoint=True)


@pytest.mark.parametrize("method", ["parameter-shift", "adjoint"])
def test_the_goals_step_sends_at_most_1000_plus_BP_words(method):
    """The 8-qubit, 2-layer hardware-efficient ansatz, P = 32, B = 16, values and gradients:
    at most 1,000 + B·P host words per step, counted (``driver.call_counts``) and sent."""
    qc = hardware_efficient(8, 2)
    sets, goal = 16, 1000 + 16 * qc.num_parameters
    transport = Recorder(GOAL_BUILD)
    device = FPGADevice(transport)
    counts = []
    for step in range(3):
        circ = qfab.from_qiskit(qc)
        thetas = np.random.default_rng(step).uniform(-np.pi, np.pi, (sets, circ.num_parameters))
        job = Job(circ, thetas, tuple(as_pauli_sums("IIIIIIIZ", 8)[0]), gradient=method)
        counts.append(driver.call_counts(device.lowered(circ), job, GOAL_BUILD, resident=step > 0))
        device.run([job])
    assert [len(words) for words in transport.sent] == [c.words for c in counts]
    assert qc.num_parameters == 32 and all(c.words <= goal for c in counts)
    assert counts[1].words == 1 + sets * 32 // 2 + 2  # LOAD_PARAMS, its angles, the run, END
    assert counts[0].beats == sets * (1 + 32)


def test_the_goals_adjoint_step_on_the_model_counts_its_cycles():
    qc = hardware_efficient(8, 2)
    circ = qfab.from_qiskit(qc)
    thetas = np.random.default_rng(0).uniform(-np.pi, np.pi, (16, circ.num_parameters))
    device = FPGADevice("model", GOAL_BUILD)
    job = Job(circ, thetas, tuple(as_pauli_sums("IIIIIIIZ", 8)[0]), gradient="adjoint")
    counts = driver.call_counts(device.lowered(circ), job, GOAL_BUILD, resident=False)
    (result,) = device.run([job])
    assert (device.last_cycles, device.last_words, device.last_beats) == (counts.cycles, counts.words, counts.beats)
    tolerance = ADJOINT_FACTOR * (device.predicted_error(circ) + LSB)
    assert np.abs(result.gradients[:, 0] - qfab.gradient(circ, "IIIIIIIZ", thetas)).max() <= tolerance


# ------------------------------------------------------------------- the thin per-call path

def _reference_words(plan, values, resident):
    """A call's words as the encoders give them, one piece at a time: LOAD_PARAMS per load
    (``load_params_words``), the programs to send, a RUN* header per run, END."""
    from qfab_hw.program import load_params_words, run_word

    steps = driver._schedule(plan, len(values), resident)
    parts, loaded = [], None
    for position, (start, size, segment, send) in enumerate(steps):
        if start != loaded:
            parts.append(load_params_words(values[start:start + size]))
            loaded = start
        if send:
            parts.append(segment.program.words)
        parts.append(np.array([run_word(segment.opcode, 0, size, last=position == len(steps) - 1)], dtype=np.uint64))
    parts.append(np.array(Instruction(Opcode.END).words(), dtype=np.uint64))
    return np.concatenate(parts)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("sets", [1, 3, 5])
def test_a_call_s_words_are_the_encoders_bit_for_bit(sets, big_endian, monkeypatch):
    """The cached layout with the angles packed in place: the words ``load_params_words``,
    ``run_word`` and the programs give, for odd B·P (a padded half word), several loads, the
    program resident or not, and angles at the edges of the half-angle words' range; also
    where the host's byte order does not put a word's low half first."""
    monkeypatch.setattr(driver, "_BIG_ENDIAN", big_endian)
    small = CoreParams(max_qubits=4, lanes=1, width=18, adjoint=True, max_params=16, param_depth=16)
    qc = QuantumCircuit(3)
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc.ry(a, 0)
    qc.rz(b, 1)
    qc.cx(0, 1)
    qc.rx(c, 2)
    circ = qfab.from_qiskit(qc)  # P = 3: B·P odd for odd B, 5 sets per load
    edges = np.array([0.0, -0.0, 2 * np.pi, -2 * np.pi, 4 * np.pi, -4 * np.pi, np.nextafter(4 * np.pi, 0),
                      np.nextafter(-4 * np.pi, 0), 1e10, -1e10, 3e300, 0.5 * 4 * np.pi / 2**32, -1.5 * 4 * np.pi / 2**32,
                      7.0, -7.0])
    rng = np.random.default_rng(sets)
    obs = SparsePauliOp(["ZZI", "XXX"], [0.6, -0.9])  # two programs
    for gradient in (None, "adjoint"):
        for values in (rng.uniform(-20, 20, (sets * 2, 3)), np.resize(edges, (sets * 2, 3))):
            job = Job(circ, values, tuple(as_pauli_sums(obs, 3)[0]), gradient=gradient)
            plan = driver.call_plan(driver.lowered(circ), job, small)
            for resident in [None] + [segment.key for segment in plan.segments]:
                call = driver.call_words(plan, plan.slot_values(values, driver.lowered(circ)), resident)
                expected = _reference_words(plan, plan.slot_values(values, driver.lowered(circ)), resident)
                assert call.words.dtype == np.uint64 and np.array_equal(call.words, expected)
                assert call.words.flags.writeable  # the call's own buffer, not the cached layout's
    layout = driver._layout(plan, 2 * sets, None)
    assert driver._layout(plan, 2 * sets, None) is layout and not layout.words.flags.writeable


def test_non_finite_angles_are_refused_before_anything_is_sent():
    transport = Recorder(BUILD)
    device = FPGADevice(transport)
    circ = qfab.from_qiskit(hardware_efficient(3, 1))
    for bad in (np.nan, np.inf, -np.inf):
        thetas = np.zeros((2, circ.num_parameters))
        thetas[1, 2] = bad
        with pytest.raises(ValueError, match="angles must be finite"):
            device.run([Job(circ, thetas, tuple(as_pauli_sums("ZZZ", 3)[0]), gradient="adjoint")])
    assert transport.sent == []


@pytest.mark.parametrize("gradient", [None, "adjoint", "parameter-shift"])
def test_decoding_one_program_per_observable_is_the_general_sum_bit_for_bit(gradient):
    """Where every observable has one cost program over the whole batch the beats are decoded
    without the general path's sums over programs; the floats are the same, for signed beats
    across the whole 64-bit range, one observable or several, parameter or angle slots."""
    from dataclasses import replace

    theta, phi = Parameter("θ"), Parameter("φ")
    steep = QuantumCircuit(2)
    steep.ry(10 * theta, 0)
    steep.crx(phi, 0, 1)
    rng = np.random.default_rng(7)
    for qc, observables in ((hardware_efficient(3, 2), ["ZZI"]), (hardware_efficient(3, 2), ["ZZI", "IXX", "YII"]),
                            (steep, ["ZI"]), (steep, [SparsePauliOp(["ZI", "II"], [0.3, -0.2]), "XX"])):
        circ = qfab.from_qiskit(qc)
        thetas = rng.uniform(-np.pi, np.pi, (4, circ.num_parameters))
        job = Job(circ, thetas, tuple(as_pauli_sums(observables, circ.num_qubits)[0]), gradient=gradient)
        lowered = driver.lowered(circ)
        plan = driver.call_plan(lowered, job, BUILD)
        layout = driver._layout(plan, len(thetas), None)
        if gradient is None and len(observables) > 1:
            assert not layout.direct  # K values share READ_EXPZ programs
            continue
        assert layout.direct
        beats = rng.integers(0, 2**64, layout.beats_expected, dtype=np.uint64)
        fast = driver._decode(plan, layout, beats, thetas, circ, lowered, 0)
        general = driver._decode(plan, replace(layout, direct=False), beats, thetas, circ, lowered, 0)
        assert fast.values.tobytes() == general.values.tobytes() and fast.values.shape == general.values.shape
        if gradient:
            assert fast.gradients.shape == general.gradients.shape
            assert fast.gradients.tobytes() == general.gradients.tobytes()
        else:
            assert fast.gradients is None and general.gradients is None
