"""The FPGA's cost model: its calibration fit, and where a job's time goes (``cost_breakdown``) on
the bit-accurate model and on a board config, the parts adding up to the model's prediction."""
from __future__ import annotations

import pytest
from qfab_hw import CoreParams
from qfab_hw.boards import load_board

from qfab.backends.calibration import benchmark_job, fit_parameters
from qfab.backends.fpga import FPGADevice
from qfab.backends.fpga.board import BoardFPGA
from qfab.backends.fpga.costmodel import BOARD_CALL_OVERHEAD_S, DMA_EFFICIENCY, PS_SLOWDOWN, FPGACostModel

PARTS = {"core_s", "link_s", "driver_s"}


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
    """A build priced on a board config: the core's cycles at the board's clock, the words over
    its link at the practical DMA fraction, the driver's DMA call and time per word on its
    processor; what the planner predicts for the board is their sum."""
    board, params = load_board("pynq-z2"), CoreParams(max_qubits=4, lanes=2, width=18)
    job = benchmark_job(4, 3, layers=1, gradient="parameter-shift")
    predicted = BoardFPGA(board, params, host_word_seconds=2e-6)
    cycles, words, beats = predicted.program_counts(job)
    expected = {"core_s": cycles / (board.pl_mhz * 1e6),
                "link_s": 8 * (words + beats) / (board.bandwidth_mb_s * 1e6 * DMA_EFFICIENCY[board.family]),
                "driver_s": BOARD_CALL_OVERHEAD_S + (words + beats) * 2e-6 * PS_SLOWDOWN[board.ps]}
    parts = predicted.cost_breakdown(job)
    assert parts == pytest.approx(expected, rel=1e-12) and predicted.breakdown(job) == parts
    assert predicted.cost_model().predict(job) == pytest.approx(sum(expected.values()), rel=1e-12)
    assert not predicted.cost_model().host_model and not predicted.shares_host

    # A device on the bit-accurate model, asked about the board by its key: the same core and
    # link, and a driver at this host's time per word (measured) scaled to the board's processor.
    here = FPGADevice("model", params).cost_breakdown(job, "pynq-z2")
    assert set(here) == PARTS
    assert here["core_s"] == pytest.approx(expected["core_s"]) and here["link_s"] == pytest.approx(expected["link_s"])
    host_word = (here["driver_s"] - BOARD_CALL_OVERHEAD_S) / (words + beats) / PS_SLOWDOWN[board.ps]
    assert 0 < host_word < 1e-3
    assert sum(here.values()) == pytest.approx(BoardFPGA(board, params, host_word).cost_model().predict(job), rel=1e-9)
    on_board = FPGADevice("model", params).cost_breakdown(job, board)  # a Board object, not its key
    assert (on_board["core_s"], on_board["link_s"]) == pytest.approx((here["core_s"], here["link_s"]))
