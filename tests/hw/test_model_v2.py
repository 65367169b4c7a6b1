"""Instruction set v2 on the bit-accurate model: rotations from the sin/cos unit, RUN, RUN_SHIFT,
RUN_ADJOINT against v1 and against exact gradients, the v2 error codes, the closed-form cycles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qfab_hw import Assembler, CoreModel, CoreParams, ErrorCode, Instruction, Opcode
from qfab_hw.model import run_cycles, step_cost
from qfab_hw.model import trig
from qfab_hw.model.cycles import instruction_cycles, load_params_cycles, program_cycles
from qfab_hw.model.rotation import half_angle, rotation_coefficients
from qfab_hw.model.sequencer import obs_scale_shift
from qfab_hw.program import (
    angle_word,
    decode_amplitudes,
    decode_expectation,
    decode_gradients,
    split_affine,
)
from qfab_hw.parametric import KINDS, error_law, hea, occurrence_scale, random_circuit

#: Gradient error law (hw/README.md, "Error budget"; ``python -m qfab_hw.parametric`` measures it):
#: a value or gradient error is of the order u = sqrt(passes) * 2**-F * max(S, 2**k) * A_i, with
#: passes = gates + OBS terms (3x for the adjoint), S = sum |c_j|, A_i = sum of |a| over the
#: parameter's occurrences (1 for the value). Measured on random circuits and the HEA: rms
#: <= 0.81 u, max <= 1.48 u. The tests allow KAPPA u.
KAPPA = 3.0


def core(width=18, max_qubits=8, lanes=1, **kwargs):
    kwargs.setdefault("adjoint", True)
    return CoreParams(max_qubits=max_qubits, lanes=lanes, width=width, **kwargs)


def run_mode(circuit, thetas, params, mode, first=0, count=None, strict=False):
    count = len(thetas) - first if count is None else count
    outer = Assembler(params.width).program(circuit.body(params.width)).load_params(thetas, strict=strict)
    getattr(outer, mode)(first, count)
    return CoreModel(params).run(outer.end().words())


def law(circuit, params, a_sum, adjoint=False):
    return error_law(circuit, params, a_sum, kappa=KAPPA, adjoint=adjoint)


# -- the rotation datapath -----------------------------------------------------------------
@pytest.mark.parametrize("width", [14, 18, 25])
@pytest.mark.parametrize("kind", KINDS)
def test_rotation_coefficients_are_within_one_lsb_of_the_host_rounded_ones(kind, width):
    params = core(width=width)
    rng = np.random.default_rng(width)
    for theta, a, b in zip(rng.uniform(-2 * math.pi, 2 * math.pi, 200), rng.choice([1.0, -2.0, 0.37], 200),
                           rng.uniform(-math.pi, math.pi, 200)):
        t = int(np.int64(angle_word(theta)).astype(np.int32))
        a_word, b_word = split_affine(Assembler(width).rot(kind, 0, 0, a=a, b=b).instructions[0].data[0])
        ours = rotation_coefficients(["rx", "ry", "rz", "p"].index(kind), half_angle(t, a_word, b_word), params)
        host = getattr(Assembler(width), {"p": "phase"}.get(kind, kind))(a * theta + b, 0).instructions[0]
        host_coefficients = host.payload if len(host.payload) == 4 else (
            host.payload[0], (0, 0), (0, 0), host.payload[1])
        assert np.max(np.abs(np.array(ours) - np.array(host_coefficients))) <= 1


@pytest.mark.parametrize("kind", KINDS)
def test_quarter_turn_rotations_are_exact(kind):
    params = core()
    one = 1 << params.frac_bits
    for quarter in range(8):  # phi = quarter * pi/2
        h = half_angle(0, 0, angle_word(quarter * math.pi / 2))
        coefficients = np.array(rotation_coefficients(["rx", "ry", "rz", "p"].index(kind), h, params))
        assert set(np.unique(np.abs(coefficients))) <= {0, one, round(one / math.sqrt(2))} | set(
            np.unique(np.abs(trig.sincos(np.array([1 << 29]), params)[0])))


def test_integer_scale_wraps_and_strict_range():
    params = core(max_qubits=3)
    circuit = random_circuit(np.random.default_rng(3), 3, 12, 2, integer_a=True)
    thetas = np.array([[7.0, -9.0]])
    wrapped = thetas - 4 * math.pi * np.round(thetas / (4 * math.pi))
    assert run_mode(circuit, thetas, params, "run").beats == run_mode(circuit, wrapped, params, "run").beats
    with pytest.raises(ValueError):
        run_mode(circuit, thetas, params, "run", strict=True)


# -- RUN against v1 --------------------------------------------------------------------------
def core_coefficients(circuit, theta_words, params):
    """The coefficients the core computes for each rotation (set 0)."""
    out = []
    for op in circuit.rotations:
        _, kind, _, _, param, a, b = op
        a_word, b_word = split_affine(Assembler(params.width).rot(kind, 0, 0, a=a, b=b).instructions[0].data[0])
        t = int(np.int64(theta_words[param]).astype(np.int32))
        out.append(rotation_coefficients(KINDS.index(kind), half_angle(t, a_word, b_word), params))
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([1, 2, 4]), st.integers(3, 6))
def test_run_is_bit_exact_with_the_v1_program_of_the_same_coefficients(seed, lanes, n):
    from qfab_hw.program import angle_words

    rng = np.random.default_rng(seed)
    params = core(lanes=lanes, max_qubits=6)
    circuit = random_circuit(rng, n, 14, 3, terms=1)
    body = circuit.body(params.width).read_state()
    theta = rng.uniform(-math.pi, math.pi, size=(1, 3))
    outer = Assembler(params.width).program(body).load_params(theta).run(0, 1).end()
    v2 = CoreModel(params).run(outer.words())
    coefficients = core_coefficients(circuit, angle_words(theta[0]), params)
    v1 = CoreModel(params).run(circuit.v1(theta[0], params.width, coefficients=coefficients).end().words())
    assert v2.error == v1.error == ErrorCode.NONE
    assert v2.beats[:-1] == v1.beats  # the state, bit for bit; then RUN's value beat
    assert v2.overflow == v1.overflow
    assert abs(decode_expectation(v2.beats[-1], params.width) - circuit.cost(theta[0])) < law(circuit, params, 1)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10**6))
def test_run_matches_the_host_bound_v1_program_within_the_sin_cos_error(seed):
    rng = np.random.default_rng(seed)
    params = core(max_qubits=5)
    circuit = random_circuit(rng, 5, 16, 3, terms=1)
    theta = rng.uniform(-math.pi, math.pi, size=(1, 3))
    body = circuit.body(params.width).read_state()
    outer = Assembler(params.width).program(body).load_params(theta).run(0, 1).end()
    v2 = CoreModel(params).run(outer.words())
    v1 = CoreModel(params).run(circuit.v1(theta[0], params.width).end().words())
    ours, host = decode_amplitudes(v2.beats[:-1], params.width), decode_amplitudes(v1.beats, params.width)
    # sin/cos unit (<= 0.8 LSB) vs host rounding (<= 0.5 LSB): per rotation a coefficient
    # difference of at most 1 LSB on each entry, i.e. <= 2 LSB on each amplitude pass.
    rotations = len(circuit.rotations)
    assert np.max(np.abs(ours - host)) <= (2 * rotations + 2) * 2.0 ** -params.frac_bits
    exact = circuit.state(theta[0])  # (fixed-point coefficients shrink the norm a little: normalise)
    assert abs(np.vdot(exact, ours)) ** 2 / np.vdot(ours, ours).real > 1 - 1e-6


@pytest.mark.parametrize("lanes", [1, 2])
def test_run_over_sets_equals_separate_runs_and_v1(lanes):
    rng = np.random.default_rng(11)
    params = core(lanes=lanes, max_qubits=5)
    circuit = random_circuit(rng, 4, 14, 3)
    body = circuit.body(params.width).expect_z([0, 1]).read_probs()
    thetas = rng.uniform(-math.pi, math.pi, size=(5, 3))
    together = CoreModel(params).run(
        Assembler(params.width).program(body).load_params(thetas).run(0, 5).end().words())
    separate = []
    model = CoreModel(params)
    model.run(Assembler(params.width).program(body).load_params(thetas).end().words())
    for s in range(5):
        separate += model.run(Assembler(params.width).run(s, 1).end().words()).beats
    assert together.beats == separate
    per_set = len(together.beats) // 5
    assert per_set == 1 + (1 << 4) + 1  # READ_EXPZ, READ_PROBS, the value
    assert together.last == [False] * (len(together.beats) - 1) + [True]  # TLAST once, at the end
    from qfab_hw.program import angle_words

    for s in range(5):
        coefficients = core_coefficients(circuit, angle_words(thetas[s]), params)
        v1 = circuit.v1(thetas[s], params.width, readout=False, coefficients=coefficients)
        v1 = CoreModel(params).run(v1.expect_z([0, 1]).read_probs().end().words())
        assert together.beats[s * per_set:(s + 1) * per_set - 1] == v1.beats


def test_value_is_bit_identical_in_every_mode():
    rng = np.random.default_rng(5)
    params = core(max_qubits=5)
    circuit = random_circuit(rng, 5, 18, 4, terms=3)
    thetas = rng.uniform(-math.pi, math.pi, size=(3, 4))
    run = run_mode(circuit, thetas, params, "run").beats
    shift = run_mode(circuit, thetas, params, "run_shift").beats
    adjoint = run_mode(circuit, thetas, params, "run_adjoint").beats
    assert run == shift[::5] == adjoint[::5]


def test_state_after_run_is_the_last_sets():
    rng = np.random.default_rng(9)
    params = core(max_qubits=4)
    circuit = random_circuit(rng, 4, 10, 2)
    thetas = rng.uniform(-1, 1, size=(3, 2))
    model = CoreModel(params)
    result = model.run(Assembler(params.width).program(circuit.body(params.width)).load_params(thetas)
                       .run(0, 3).read_state().end().words())
    assert result.n_qubits == 4
    state = decode_amplitudes(result.beats[3:], params.width)
    assert abs(np.vdot(circuit.state(thetas[2]), state)) ** 2 / np.vdot(state, state).real > 1 - 1e-6


# -- gradients --------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([14, 16, 18]), st.integers(2, 6), st.booleans())
def test_shift_and_adjoint_gradients_match_exact_within_the_law(seed, width, n, controlled):
    rng = np.random.default_rng(seed)
    params = core(width=width, max_qubits=6)
    circuit = random_circuit(rng, n, 16, 4, controlled=controlled)
    thetas = rng.uniform(-math.pi, math.pi, size=(2, 4))
    scale = occurrence_scale(circuit)
    for mode in ("run_shift", "run_adjoint"):
        result = run_mode(circuit, thetas, params, mode)
        assert result.error == ErrorCode.NONE and not result.overflow
        values, grads = decode_gradients(result.beats, 2, 4, width)
        for s in range(2):
            assert abs(values[s] - circuit.cost(thetas[s])) <= law(circuit, params, 1)
            exact = circuit.gradient(thetas[s])
            for i in range(4):
                if scale[i] == 0:
                    assert grads[s, i] == 0  # unused parameter: no contribution at all
                else:
                    bound = law(circuit, params, scale[i], adjoint=mode == "run_adjoint")
                    assert abs(grads[s, i] - exact[i]) <= bound, (mode, s, i)


def test_hea_8_qubits_2_layers_gradients():
    circuit = hea(8, 2)
    params = core(width=18, max_qubits=8)
    rng = np.random.default_rng(0)
    thetas = rng.uniform(-math.pi, math.pi, size=(2, 32))
    for mode in ("run_shift", "run_adjoint"):
        result = run_mode(circuit, thetas, params, mode)
        values, grads = decode_gradients(result.beats, 2, 32, params.width)
        for s in range(2):
            assert abs(values[s] - circuit.cost(thetas[s])) <= law(circuit, params, 1)
            bound = law(circuit, params, 1, adjoint=mode == "run_adjoint")
            assert np.max(np.abs(grads[s] - circuit.gradient(thetas[s]))) <= bound
        assert result.cycles == (program_cycles(1 + 32 * 2 + 14 + 2 + 1) + load_params_cycles(32, 2)
                                 + run_cycles(Opcode[mode.upper()], circuit.body(18), params, 2, 32) + 1)


def test_gradient_errors_are_as_small_as_the_law_says():
    from qfab_hw.parametric import gradient_errors

    thetas = np.random.default_rng(4).uniform(-math.pi, math.pi, size=(3, 48))
    errors = gradient_errors(hea(4, 6), 16, thetas, lanes=2)
    for key in ("value", "shift", "adjoint"):
        assert math.sqrt(np.mean(np.square(errors[key]))) <= 1.0, key  # rms in law units
        assert max(errors[key]) <= KAPPA, key


def test_large_observable_weights_scale_lambda_instead_of_saturating():
    rng = np.random.default_rng(2)
    params = core(max_qubits=4)
    circuit = random_circuit(rng, 4, 12, 3, terms=3)
    circuit.terms = [(q, w * 40) for q, w in circuit.terms]
    thetas = rng.uniform(-math.pi, math.pi, size=(1, 3))
    result = run_mode(circuit, thetas, params, "run_adjoint")
    assert not result.overflow
    _, grads = decode_gradients(result.beats, 1, 3, params.width)
    scale = occurrence_scale(circuit)
    exact = circuit.gradient(thetas[0])
    for i in range(3):
        assert abs(grads[0, i] - exact[i]) <= law(circuit, params, max(scale[i], 1), adjoint=True)


def test_obs_scale_shift():
    one = 1 << 24
    assert obs_scale_shift([one]) == 0
    assert obs_scale_shift([one, -1]) == 1
    assert obs_scale_shift([one // 2, -one // 2]) == 0
    assert obs_scale_shift([3 * one]) == 2
    assert obs_scale_shift([]) == 0


# -- error codes: refused before any state changes ------------------------------------------
def loaded_model(params):
    """A model holding a state, a program (P_prog = 2, one OBS) and 3 sets of 2 parameters."""
    model = CoreModel(params)
    body = Assembler(params.width).init(3).rot("ry", 0, 0).rot("rx", 1, 1).cx(0, 1).obs([1])
    words = (Assembler(params.width).program(body).load_params(np.full((3, 2), 0.4)).run(0, 1)
             .end().words())
    assert model.run(words).error == ErrorCode.NONE
    return model


def snapshot(model):
    return (model.re.copy(), model.im.copy(), model.n_qubits, model.program,
            model.param_memory.words.copy(), model.param_memory.count, model.param_memory.sets)


def same(a, b):
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b))


SMALL = dict(max_qubits=4, lanes=1, width=18, max_params=4, param_depth=8, program_depth=32)


@pytest.mark.parametrize(
    ("words", "code"),
    [
        (Assembler(18).load_params(np.zeros((1, 5))).words(), ErrorCode.BAD_PARAM),  # P > max_params
        (Assembler(18).load_params(np.zeros((3, 3))).words(), ErrorCode.BAD_SET),  # 9 > param_depth
        (Assembler(18).run(2, 2).words(), ErrorCode.BAD_SET),
        (Assembler(18).run_shift(0, 0).words(), ErrorCode.BAD_SET),
        ([Instruction(Opcode.PROGRAM, count=33).header()], ErrorCode.PROGRAM_TOO_LONG),
        ([Instruction(Opcode.PROGRAM, count=0).header()], ErrorCode.BAD_PROGRAM),
        ([Instruction(Opcode.GATE_ROT, 0).header(), 0], ErrorCode.BAD_PROGRAM),
        ([Instruction(Opcode.OBS, mask=1).header(), 0], ErrorCode.BAD_PROGRAM),
        ([0x11], ErrorCode.BAD_OPCODE),
    ],
)
def test_stream_errors_change_nothing(words, code):
    params = CoreParams(**SMALL, adjoint=False)
    model = loaded_model(params)
    before = snapshot(model)
    words = list(words) + [0, 0, 0]
    result = model.run(words)
    assert result.error == code
    assert same(snapshot(model), before)
    assert result.beats == []
    # the next program runs normally
    assert model.run(Assembler(18).run(0, 1).end().words()).error == ErrorCode.NONE


def test_run_needs_the_programs_parameter_count():
    model = loaded_model(CoreParams(**SMALL, adjoint=False))
    model.run(Assembler(18).load_params(np.zeros((2, 1))).end().words())  # P = 1 < P_prog = 2
    before = snapshot(model)
    result = model.run(Assembler(18).run(0, 1).end().words())
    assert result.error == ErrorCode.BAD_PARAM and result.cycles == 2 and same(snapshot(model), before)


def test_adjoint_without_the_second_bank():
    model = loaded_model(CoreParams(**SMALL, adjoint=False))
    assert model.run(Assembler(18).run_adjoint(0, 1).end().words()).error == ErrorCode.NO_ADJOINT
    with pytest.raises(ValueError, match="NO_ADJOINT"):
        step_cost(model.program.instructions, model.params, sets=1, mode="adjoint")


def test_no_program_and_no_observable():
    params = CoreParams(**SMALL, adjoint=True)
    fresh = CoreModel(params)
    fresh.run(Assembler(18).load_params(np.zeros((1, 2))).end().words())
    assert fresh.run(Assembler(18).run(0, 1).end().words()).error == ErrorCode.NO_PROGRAM
    model = loaded_model(params)
    model.reset()
    assert model.run(Assembler(18).run(0, 1).end().words()).error == ErrorCode.NO_PROGRAM  # RESET
    model = loaded_model(params)
    body = Assembler(18).init(3).rot("ry", 0, 0).read_state()
    model.run(Assembler(18).program(body).end().words())
    for run in ("run_shift", "run_adjoint"):
        assert model.run(getattr(Assembler(18), run)(0, 1).end().words()).error == ErrorCode.NO_OBSERVABLE
    assert model.run(Assembler(18).run(0, 1).end().words()).error == ErrorCode.NONE  # RUN needs none


def _stored(*instructions, count=None):
    body = [i.words() for i in instructions]
    words = [w for ws in body for w in ws]
    return [Instruction(Opcode.PROGRAM, count=len(words) if count is None else count).header()] + words


INIT3 = Instruction(Opcode.INIT, target=3)
END = Instruction(Opcode.END)
ROT = Assembler(18).rot("rx", 0, 1).instructions[0]
OBS = Assembler(18).obs([0]).instructions[0]


@pytest.mark.parametrize(
    ("words", "code"),
    [
        (_stored(Instruction(Opcode.GATE_X, 0), END), ErrorCode.BAD_PROGRAM),  # no INIT first
        (_stored(END), ErrorCode.BAD_PROGRAM),  # empty
        (_stored(INIT3, INIT3, END), ErrorCode.BAD_PROGRAM),
        (_stored(INIT3, Instruction(Opcode.READ_STATE, last=True), END), ErrorCode.BAD_PROGRAM),
        (_stored(INIT3, OBS, ROT, END), ErrorCode.BAD_PROGRAM),  # gate after OBS
        (_stored(INIT3, END, ROT, END), ErrorCode.BAD_PROGRAM),  # early END
        (_stored(INIT3, ROT, count=3), ErrorCode.BAD_PROGRAM),  # N-th word is not END
        (_stored(INIT3, ROT, count=2), ErrorCode.BAD_PROGRAM),  # payload runs past N
        (_stored(INIT3, Instruction(Opcode.RUN, count=1), END), ErrorCode.BAD_PROGRAM),
        (_stored(INIT3, Instruction(Opcode.LOAD, target=3, payload=((0, 0),) * 8), END), ErrorCode.BAD_PROGRAM),
        (_stored(INIT3, Assembler(18).rot("rx", 0, 4).instructions[0], END), ErrorCode.BAD_PARAM),
        (_stored(INIT3, Assembler(18).rot("rx", 3, 0).instructions[0], END), ErrorCode.BAD_TARGET),
        (_stored(INIT3, Assembler(18).rot("rx", 1, 0, control=1).instructions[0], END), ErrorCode.BAD_CONTROL),
        (_stored(INIT3, Assembler(18).obs([3]).instructions[0], END), ErrorCode.BAD_MASK),
        (_stored(Instruction(Opcode.INIT, target=5), END), ErrorCode.BAD_QUBIT_COUNT),
    ],
)
def test_faulty_program_bodies(words, code):
    params = CoreParams(**SMALL, adjoint=True)
    model = loaded_model(params)
    state = snapshot(model)
    result = model.run(list(words) + [0] * 12)
    assert result.error == code
    assert model.program is None  # the memory was being overwritten: no program remains
    assert same(snapshot(model)[:3], state[:3]) and same(snapshot(model)[4:], state[4:])  # state, params kept
    assert model.run(Assembler(18).run(0, 1).end().words()).error == ErrorCode.NO_PROGRAM
    # a malformed word costs 1 cycle plus 1 per word skipped, after what came before it
    assert result.cycles == len(words) + 12


# -- cycles -------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([1, 2, 4]), st.integers(3, 6),
       st.sampled_from(["run", "run_shift", "run_adjoint"]))
def test_cycles_equal_the_closed_form(seed, lanes, n, mode):
    rng = np.random.default_rng(seed)
    params = core(lanes=lanes, max_qubits=6)
    circuit = random_circuit(rng, n, 10, 3)
    body = circuit.body(params.width)
    if rng.random() < 0.5:
        body.expect_z([0]).read_probs()
    sets = int(rng.integers(1, 4))
    first = int(rng.integers(0, 2))
    thetas = rng.uniform(-math.pi, math.pi, size=(sets + first, 3))
    outer = Assembler(params.width).program(body).load_params(thetas)
    getattr(outer, mode)(first, sets)
    result = CoreModel(params).run(outer.end().words())
    assert result.error == ErrorCode.NONE
    stored = sum(i.word_count for i in body.instructions) + 1
    expected = (program_cycles(stored) + load_params_cycles(3, sets + first)
                + run_cycles(Opcode[mode.upper()], body, params, sets, 3) + 1)
    assert result.cycles == expected


@pytest.mark.parametrize("lanes", [1, 2, 8])
def test_gate_rot_and_obs_cycles(lanes):
    params = core(lanes=lanes, max_qubits=8)
    for n in (4, 8):
        base = Assembler(18).init(n)
        with_rot = Assembler(18).init(n).rot("ry", 1, 0, control=0)
        with_obs = Assembler(18).init(n).obs([0])
        cycles = {}
        for name, body in (("base", base), ("rot", with_rot), ("obs", with_obs)):
            words = Assembler(18).program(body).load_params(np.zeros((1, 1))).run(0, 1).end().words()
            cycles[name] = CoreModel(params).run(words).cycles - (len(body.instructions) > 1) * (
                1 + (1 if name == "rot" else 1))  # the extra stored words in PROGRAM
        passes = (1 << n) // 2 // lanes
        assert cycles["rot"] - cycles["base"] == instruction_cycles(Opcode.GATE_ROT, n, params) \
            == 1 + 1 + 10 + passes + 4
        assert cycles["obs"] - cycles["base"] == instruction_cycles(Opcode.OBS, n, params) + 1 \
            == 1 + 1 + passes + 10 + 1  # + the value beat at END


# -- host words and step cost ------------------------------------------------------------
@pytest.mark.parametrize("lanes", [1, 2, 8])
def test_step_cost_of_the_hea_step(lanes):
    circuit = hea(8, 2)
    params = core(lanes=lanes, max_qubits=8)
    body = circuit.body(params.width)
    rng = np.random.default_rng(1)
    thetas = rng.uniform(-math.pi, math.pi, size=(16, 32))
    for mode, opcode in (("shift", "run_shift"), ("adjoint", "run_adjoint"), ("values", "run")):
        cost = step_cost(body, params, sets=16, mode=mode)
        assert cost.resident_words == 1 + 256 + 2
        assert cost.host_words <= 1000 + 16 * 32
        sets = 2 if mode == "shift" else 16  # the model's shift loop (65 replays a set) is slow
        cost = step_cost(body, params, sets=sets, mode=mode)
        model = CoreModel(params)
        model.run(Assembler(18).program(body).end().words())
        step = Assembler(18).load_params(thetas[:sets])
        getattr(step, opcode)(0, sets)
        words = step.end().words()
        assert len(words) == cost.resident_words
        result = model.run(words)
        assert result.cycles == cost.step_cycles and len(result.beats) == cost.beats
    assert step_cost(body, params, 16, mode="shift").beats == 16 * 33
