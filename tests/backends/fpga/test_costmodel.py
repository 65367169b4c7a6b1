"""The FPGA's cost model: its calibration fit, and where a job's time goes (``cost_breakdown``) on
the bit-accurate model and on a board config, the parts adding up to the model's prediction."""
from __future__ import annotations

import pytest
from qfab_hw import CoreParams
from qfab_hw.boards import load_board

from qfab.backends.calibration import benchmark_job, fit_parameters
from qfab.backends.fpga import FPGADevice
from qfab.backends.fpga.board import BoardFPGA
from qfab.backends.fpga.calibration import driver_cost
from qfab.backends.fpga.costmodel import (BOARD_CALL_OVERHEAD_S, DMA_EFFICIENCY, PS_SLOWDOWN, DriverCost,
                                        FPGACostModel, board_clock, board_rates)

PARTS = {"core_s", "link_s", "driver_s"}


def clock_hz(board, params) -> float:
    """The build's clock on the board: min(board clock, its measured closure), tests/hw/test_pnr.py."""
    return board_clock(board, params).mhz * 1e6


def link_rate(board, params) -> float:
    """The port's width per PL clock, at most its theoretical bandwidth, at the practical DMA fraction."""
    return min(board.bandwidth_mb_s * 1e6, board.width_bits / 8 * clock_hz(board, params)) * DMA_EFFICIENCY[board.family]


def test_calibration_fit_recovers_the_host_terms_behind_the_times():
    """The bit-accurate model's host features over calibration-like jobs, timed by known
    parameters: the fit gives them back."""
    model = FPGADevice("model").cost_model()
    assert type(model) is FPGACostModel and model.host_model
    jobs = [benchmark_job(n, b, layers=2) for n in (2, 4, 6, 8) for b in (1, 3)]
    truth = {"host_call_overhead_s": 1e-4, "instruction_s": 3e-5, "amplitude_s": 1e-8, "word_s": 2e-6}
    rows = [model.host_features(job) for job in jobs]
    seconds = [sum(f * truth[n] for f, n in zip(row, model.HOST_FEATURES)) for row in rows]
    assert fit_parameters(model.HOST_FEATURES, rows, seconds) == pytest.approx(truth, rel=1e-6)


def test_breakdown_on_the_bit_accurate_model_adds_up_to_its_prediction():
    device = FPGADevice("model")
    job = benchmark_job(4, 3, layers=1, gradient="parameter-shift")
    parts = device.cost_breakdown(job)
    assert set(parts) == PARTS and parts["link_s"] == 0.0 and parts["core_s"] > 0
    assert sum(parts.values()) == pytest.approx(device.cost_model().predict(job), rel=1e-12)


def test_breakdown_on_a_board_adds_up_to_the_board_model_and_the_arithmetic():
    """A build priced on a board config: the core's cycles at the board's clock; the link: one DMA
    round trip and the words at the practical DMA fraction; the driver's host time per word on
    the board's processor; what the planner predicts for the board is their sum."""
    board, params = load_board("pynq-z2"), CoreParams(max_qubits=4, lanes=2, width=18)
    job = benchmark_job(4, 3, layers=1, gradient="parameter-shift")
    predicted = BoardFPGA(board, params, host_word_seconds=2e-6)
    cycles, words, beats = predicted.program_counts(job, resident=True)  # a training step: program resident
    expected = {"core_s": cycles / clock_hz(board, params),
                "link_s": BOARD_CALL_OVERHEAD_S
                + 8 * (words + beats) / link_rate(board, params),
                "driver_s": (words + beats) * 2e-6 * PS_SLOWDOWN[board.ps]}
    parts = predicted.cost_breakdown(job)
    assert parts == pytest.approx(expected, rel=1e-12) and predicted.breakdown(job) == parts
    assert predicted.cost_model().predict(job) == pytest.approx(sum(expected.values()), rel=1e-12)
    assert not predicted.cost_model().host_model and not predicted.shares_host

    # A device on the bit-accurate model, asked about the board by its key: the same core and
    # link, and a driver at this host's time per call and per word (measured) scaled to the
    # board's processor.
    here = FPGADevice("model", params).cost_breakdown(job, "pynq-z2")
    assert set(here) == PARTS
    assert here["core_s"] == pytest.approx(expected["core_s"]) and here["link_s"] == pytest.approx(expected["link_s"])
    host = here["driver_s"] / PS_SLOWDOWN[board.ps]
    assert 0 < host < 5e-3
    # the same driver cost, given as a measured per-call and per-word pair, reproduces the part
    host_cost = DriverCost(call_s=host, word_s=0.0)
    assert sum(here.values()) == pytest.approx(BoardFPGA(board, params, host_cost).cost_model().predict(job), rel=1e-9)
    on_board = FPGADevice("model", params).cost_breakdown(job, board)  # a Board object, not its key
    assert (on_board["core_s"], on_board["link_s"]) == pytest.approx((here["core_s"], here["link_s"]))


# ---------------------------------------------------------------- the goal's training step (v2)

def _goal_job(gradient):
    """One training step of the 8-qubit, 2-layer hardware-efficient ansatz (RY, RZ per qubit, a CX
    ladder per layer: P = 32), B = 16 sets, values and gradients of <Z_0>."""
    import numpy as np
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    import qfab
    from qfab.backends import Job
    from qfab.core.observables import as_pauli_sums

    n, layers = 8, 2
    theta = ParameterVector("t", 2 * n * layers)
    qc = QuantumCircuit(n)
    for layer in range(layers):
        for q in range(n):
            qc.ry(theta[2 * n * layer + 2 * q], q)
            qc.rz(theta[2 * n * layer + 2 * q + 1], q)
        for q in range(n - 1):
            qc.cx(q, q + 1)
    sums = tuple(as_pauli_sums("I" * (n - 1) + "Z", n)[0])
    thetas = np.random.default_rng(0).uniform(-np.pi, np.pi, (16, 2 * n * layers))
    return Job(qfab.from_qiskit(qc), thetas, sums, gradient=gradient)


@pytest.mark.parametrize("gradient, mode", [("parameter-shift", "shift"), ("adjoint", "adjoint"), (None, "values")])
def test_a_training_step_is_priced_as_driver_v2_runs_it(gradient, mode):
    """Core cycles, words and beats of the goal's step are step_cost's (RUN / RUN_SHIFT /
    RUN_ADJOINT on the resident program), the link carries those words and beats, and the parts
    add up to the prediction; the first step also sends the program."""
    from qfab_hw.model import step_cost

    from qfab.backends.fpga import driver

    board = load_board("zcu104")
    params = CoreParams(max_qubits=8, lanes=8, width=18, adjoint=True)
    job = _goal_job(gradient)
    device = BoardFPGA(board, params, DriverCost(call_s=50e-6, word_s=10e-9))
    plan = driver.call_plan(device.lowered(job.circuit), job, params)
    assert len(plan.segments) == 1
    cost = step_cost(plan.segments[0].program.body, params, 16, plan.param_count, mode=mode)
    model = device.cost_model()
    cycles, words = model.cycles_and_words(job)
    assert cycles == cost.step_cycles and words == cost.resident_words + cost.beats
    assert words - cost.beats <= 1000 + 16 * 32
    parts = model.breakdown(job)
    slowdown = PS_SLOWDOWN[board.ps]
    assert parts == pytest.approx({
        "core_s": cost.step_cycles / clock_hz(board, params),
        "link_s": BOARD_CALL_OVERHEAD_S
        + 8 * (cost.resident_words + cost.beats) / link_rate(board, params),
        "driver_s": slowdown * (50e-6 + 10e-9 * (cost.resident_words + cost.beats))}, rel=1e-12)
    assert model.predict(job) == pytest.approx(sum(parts.values()), rel=1e-12)
    first = FPGACostModel(device, board=board, host_seconds_per_word=DriverCost(50e-6, 10e-9), resident=False)
    assert first.cycles_and_words(job) == (cost.cycles, cost.host_words + cost.beats)


def test_the_driver_is_measured_per_call_and_per_word_at_the_step_s_size():
    """driver_cost times the v2 driver on the goal's step (not 4 rows) and gives a per-call and a
    per-word part; a board prices its driver from them, scaled to its processor. (How small the
    driver's share is, is a measured figure: benchmarks/fpga_step.py, docs/fpga_device.md.)"""
    import math

    params = CoreParams(max_qubits=8, lanes=8, width=18, adjoint=True)
    job = _goal_job("parameter-shift")
    measured = driver_cost(job, params, FPGADevice)
    assert math.isfinite(measured.call_s) and measured.call_s > 0
    assert math.isfinite(measured.word_s) and measured.word_s >= 0
    chosen = DriverCost(call_s=1e-4, word_s=1e-8)
    for key in ("pynq-z2", "zcu104"):
        board = load_board(key)
        parts = BoardFPGA(board, params, chosen).breakdown(job)
        model = BoardFPGA(board, params, DriverCost(call_s=0.0, word_s=0.0)).breakdown(job)
        assert parts["core_s"] == model["core_s"] and parts["link_s"] == model["link_s"]
        assert parts["driver_s"] > model["driver_s"]


def test_the_dma_round_trip_is_the_link_s_and_the_driver_is_host_time_only():
    """board_rates keeps the link's latency (one DMA round trip per call) apart from the driver's
    per-call host time: a driver that costs nothing leaves the round trip in link_s, and
    driver_s is exactly the measured host time scaled to the board's processor."""
    board, params = load_board("zcu104"), CoreParams(max_qubits=4, lanes=2, width=18)
    job = benchmark_job(4, 3, layers=1, gradient="parameter-shift")
    rates = board_rates(board, DriverCost(call_s=20e-6, word_s=5e-9))
    assert rates["dma_round_trip_s"] == BOARD_CALL_OVERHEAD_S
    assert rates["call_overhead_s"] == pytest.approx(20e-6 * PS_SLOWDOWN[board.ps], rel=1e-12)
    assert rates["driver_seconds_per_word"] == pytest.approx(5e-9 * PS_SLOWDOWN[board.ps], rel=1e-12)
    free = BoardFPGA(board, params, DriverCost()).breakdown(job)
    assert free["driver_s"] == 0.0 and free["link_s"] > BOARD_CALL_OVERHEAD_S
    _, words, beats = BoardFPGA(board, params, DriverCost()).program_counts(job, resident=True)
    priced = BoardFPGA(board, params, DriverCost(call_s=20e-6, word_s=5e-9)).breakdown(job)
    assert (priced["core_s"], priced["link_s"]) == (free["core_s"], free["link_s"])
    assert priced["driver_s"] == pytest.approx(PS_SLOWDOWN[board.ps] * (20e-6 + 5e-9 * (words + beats)), rel=1e-12)
    # Verilator and other cycle-priced transports: no round trip unless calibrated or given
    assert FPGACostModel.defaults["dma_round_trip_s"] == 0.0


def test_seconds_on_board_is_the_cost_model_s_core_and_link():
    """FPGADevice.seconds_on_board prices the last call's counts with the board's cost model: its
    core and link parts (the round trip included), plus the driver when one is given."""
    params = CoreParams(max_qubits=4, lanes=1, width=18)
    device = FPGADevice("model", params)
    job = benchmark_job(3, 2, layers=1)
    device.run([job])
    board = load_board("pynq-z2")
    model = FPGACostModel(device, board=board)
    moved = device.last_words + device.last_beats
    parts = model.parts(device.last_cycles, moved)
    assert parts["driver_s"] == 0.0
    assert device.seconds_on_board(board) == pytest.approx(parts["core_s"] + parts["link_s"], rel=1e-12)
    assert device.seconds_on_board(board) == pytest.approx(
        device.last_cycles / clock_hz(board, params) + BOARD_CALL_OVERHEAD_S
        + 8 * moved / link_rate(board, params), rel=1e-12)
    driver = DriverCost(call_s=1e-5, word_s=1e-8)
    assert device.seconds_on_board(board, driver=driver) == pytest.approx(
        device.seconds_on_board(board) + PS_SLOWDOWN[board.ps] * (1e-5 + 1e-8 * moved), rel=1e-12)
    assert device.seconds_on_board(board, cycles=0, words=0, beats=0) == pytest.approx(BOARD_CALL_OVERHEAD_S)
