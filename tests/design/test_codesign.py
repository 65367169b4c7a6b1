"""Co-design: workload files, predictions against independent arithmetic, the Pareto front,
flags (fit, accuracy, trainability), validation against the core, and the command line."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from qfab_hw import CoreParams
from qfab_hw.boards import LogicCost, load_board

import qfab
from qfab.design import CodesignWorkload, Variant, WorkloadError, codesign, load_workload, pareto_front
from qfab.design.explore import DesignPoint, step_job
from qfab.design.predict import BOARD_CALL_OVERHEAD_S, DMA_EFFICIENCY, PS_SLOWDOWN, BoardFPGA, gradient_floor
from qfab.design.workload import BuildSpec
from qfab.backends.fpga.costmodel import board_clock
from qfab.scheduling import History
from qfab.scheduling.costmodel import cost_model_for
from tests.support.registered_device import CALL_S, KIND, SET_S, registered_fixed_rate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_codesign.toml"


def linear_logic(params: CoreParams, family: str) -> LogicCost:
    """Stands in for yosys (tens of seconds per build): the measured 1-lane W=18 cost per lane."""
    return LogicCost(lut=1400 * params.lanes, ff=500 * params.lanes, dsp=20 * params.lanes * (2 if params.width > 18 else 1))


def small(**changes) -> CodesignWorkload:
    options = dict(name="test", qubits=4, samples=12, epochs=2, batch_size=6, boards=("pynq-z2", "zcu104"),
                   builds=(BuildSpec(1, 18), BuildSpec(2, 16)), variants=(Variant("hea", 1),), trainability_samples=12)
    options.update(changes)
    return CodesignWorkload(**options)


def explore(workload, tmp_path):
    return codesign(workload, logic_of=linear_logic, profile={}, history=History(tmp_path / "h.json"), progress=False)


def test_example_workload_loads_with_every_board_and_three_builds_or_more():
    workload = load_workload(EXAMPLE)
    assert workload.qubits == 8 and workload.epochs == 40 and workload.steps_per_epoch == 5
    assert set(workload.boards) == {"pynq-z2", "ultra96-v2", "zcu104", "kv260", "rfsoc4x2"}
    assert len(workload.builds) >= 3 and len(workload.variants) == 4
    assert workload.readout().paulis[0].to_label() == "ZIIIIIII"


@pytest.mark.parametrize("document, message", [
    ({"modle": {}}, "unknown section"),
    ({"model": {"qubit": 4}}, "unknown field"),
    ({"space": {"boards": ["pynq-z3"]}}, "unknown ['pynq-z3']"),
    ({"space": {"builds": [{"lanes": 3, "width": 18}]}}, "lanes must be a power of two"),
    ({"space": {"builds": [{"lanes": 1}]}}, "builds: a list of tables"),
    ({"model": {"qubits": 8}, "space": {"builds": [{"lanes": 1, "width": 18, "qubits": 6}]}}, "holds 6 qubits, the model has 8"),
    ({"training": {"accuracy": 2}}, "accuracy must be a number in (0, 1)"),
    ({"model": {"observable": "middle"}}, "observable must be one of"),
    ({"space": {"devices": ["tpu"]}}, "unknown kind 'tpu'"),
    ({"space": {"variants": [{"ansatz": "mcclean"}]}}, "variants[0] ansatz must be one of"),
])
def test_bad_workloads_are_refused_naming_the_problem(document, message):
    with pytest.raises(WorkloadError, match=None) as error:
        load_workload(document)
    assert message in str(error.value)


def test_board_fpga_prices_cycles_at_the_board_clock_plus_link_and_driver():
    """The planner's prediction for a board equals the arithmetic from exact counts done here."""
    workload = small()
    circuit = workload.circuit(workload.variants[0])
    board, params = load_board("pynq-z2"), CoreParams(max_qubits=4, lanes=2, width=18)
    device = BoardFPGA(board, params, host_word_seconds=2e-6)
    job = step_job(workload, circuit, 3)
    cycles, words, beats = device.program_counts(job, resident=True)  # a training step: program resident
    clock = board_clock(board, params).mhz  # min(board clock, the build's measured closure): tests/hw/test_pnr.py
    link = min(board.bandwidth_mb_s, board.width_bits / 8 * clock) * 1e6 * DMA_EFFICIENCY[board.family]
    expected = (cycles / (clock * 1e6) + 8 * (words + beats) / link
                + (words + beats) * 2e-6 * PS_SLOWDOWN[board.ps] + BOARD_CALL_OVERHEAD_S)
    parts = device.breakdown(job)
    assert set(parts) == {"core_s", "link_s", "driver_s"} and sum(parts.values()) == pytest.approx(expected, rel=1e-12)
    assert cost_model_for(device).predict(job) == pytest.approx(expected, rel=1e-12)  # what the planner uses
    with pytest.raises(RuntimeError, match="not attached"):
        device.run([job])


def test_workload_device_kinds_are_the_registry_s():
    with registered_fixed_rate():
        assert small(devices=("cpu", KIND)).devices == ("cpu", KIND)
    with pytest.raises(WorkloadError, match="unknown kind 'tpu'") as error:
        small(devices=("tpu",))
    assert "'cpu'" in str(error.value) and "qpu:<fake backend>" in str(error.value)


def test_a_registered_device_is_explored_by_its_own_cost_model(tmp_path):
    """A kind from outside, in the workload by its registered name: the explorer plans each step
    on it with the model it brings and asks that model for its error and gradient floor."""
    with registered_fixed_rate():
        workload = small(devices=(KIND,))
        result = explore(workload, tmp_path)
    (point,) = result.points
    assert point.feasible and point.used == (KIND,) and point.board is None
    steps = workload.steps_per_epoch * workload.epochs  # 12 samples in mini-batches of 6, twice
    assert point.train_seconds == pytest.approx(steps * (CALL_S + workload.batch_size * SET_S))
    assert point.error == 1e-12 and point.gradient_floor == 1e-15
    assert result.chosen is point


def test_gradient_floors_follow_the_error_laws():
    workload = small()
    circuit = workload.circuit(workload.variants[0])
    device = qfab.backends.fpga.FPGADevice("model", CoreParams(max_qubits=4, lanes=1, width=16))
    passes = len(device.lowered(circuit).ops)
    assert gradient_floor(device, circuit, 100) == pytest.approx(0.6 * math.sqrt(passes) * 2.0**-14 / math.sqrt(2))
    assert gradient_floor(qfab.backends.get_device("cpu"), circuit, 100) < 1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(0, 6), st.booleans()), min_size=1, max_size=12))
def test_pareto_front_is_exactly_the_non_dominated_feasible_points(rows):
    points = []
    for time_, error, share, feasible in rows:
        point = DesignPoint(Variant("hea", 1), ("cpu",), train_seconds=float(time_), error=float(error))
        point.resources = None if share == 0 else type("R", (), {"peak_utilisation": share / 10})()
        point.problems = [] if feasible else ["no"]
        points.append(point)
    front = pareto_front(points)
    feasible = [p for p in points if p.feasible]

    def dominates(a, b):
        return all(x <= y for x, y in zip(a.objectives(), b.objectives())) and a.objectives() != b.objectives()

    assert all(p.feasible for p in front)
    assert not any(dominates(q, p) for p in front for q in feasible)
    assert all(any(dominates(q, p) or q.objectives() == p.objectives() for q in front) for p in feasible)


def test_codesign_explores_every_board_build_and_mix_and_recommends_a_front_point(tmp_path):
    workload = small()
    result = explore(workload, tmp_path)
    fpga_points = [p for p in result.points if p.board is not None]
    # boards x builds x (fpga, cpu+fpga), one variant; plus the cpu alone
    assert len(fpga_points) == 2 * 2 * 2 and len(result.points) == 9
    assert result.chosen in result.front and result.fpga_chosen in result.fpga_front
    assert all(p.board is not None for p in result.fpga_front)
    fpga_alone = [p for p in fpga_points if p.devices == ("fpga",) and p.feasible]
    assert fpga_alone and all(p.fpga_breakdown and p.train_seconds == pytest.approx(p.step_seconds * 2) for p in fpga_alone)
    commands = result.commands(result.fpga_chosen)
    b = result.fpga_chosen.build
    assert f"make synth BOARD={result.fpga_chosen.board.key} LANES={b.lanes} WIDTH={b.width} QUBITS=4" in commands
    assert "| variant |" in result.table()


def test_builds_that_do_not_fit_and_inaccurate_widths_are_flagged(tmp_path):
    workload = small(boards=("pynq-z2",), builds=(BuildSpec(64, 18), BuildSpec(1, 8)), accuracy=1e-3,
                     devices=("fpga",))
    result = explore(workload, tmp_path)
    too_big = next(p for p in result.points if p.build.lanes == 64)
    assert not too_big.resources.fits and any("DSP" in r for r in too_big.problems)
    coarse = next(p for p in result.points if p.build.width == 8)
    assert any("no device can run it" in r or "accuracy" in r for r in coarse.problems)
    assert result.front == [] and result.chosen is None


def test_vanishing_gradients_below_the_fixed_point_floor_are_untrainable(tmp_path):
    """A deep global-cost model on an 8-bit core: the sampled gradient spread is below the LSB noise."""
    workload = small(qubits=8, observable="global", accuracy=0.9, boards=("zcu104",), builds=(BuildSpec(1, 8),),
                     devices=("fpga",), variants=(Variant("hea", 8),), trainability_samples=40)
    result = explore(workload, tmp_path)
    point = result.points[0]
    assert point.gradient_std < point.gradient_floor
    assert any(r.startswith("untrainable") for r in point.problems)


def test_validation_counts_cycles_exactly_and_errors_within_the_law(tmp_path):
    from qfab.design.validate import validate

    workload = small()
    result = explore(workload, tmp_path)
    rows = validate(result, rows=3, builds=2, verilator=0, profile={}, progress=False)
    assert rows[0].device.startswith("cpu") and rows[0].measured_error < 1e-10
    fpga = rows[1:]
    assert len(fpga) == 2
    for row in fpga:
        assert row.predicted_cycles == row.measured_cycles
        assert row.measured_error < 3 * row.predicted_error


def test_qfab_codesign_command_writes_the_report_and_refuses_bad_files(tmp_path, capsys, monkeypatch):
    from qfab.cli.main import main
    import qfab.design.explore as explore_module

    monkeypatch.setattr(explore_module, "yosys_logic", linear_logic)  # yosys takes tens of seconds a build
    workload = tmp_path / "w.toml"
    workload.write_text('name = "tiny"\n[model]\nqubits = 3\nlayers = 1\n[training]\nsamples = 4\nepochs = 1\n'
                        'batch_size = 4\ntrainability_samples = 8\n[space]\nboards = ["kv260"]\n'
                        'builds = [{lanes = 1, width = 18}]\n')
    assert main(["codesign", str(workload), "--out", str(tmp_path / "out"), "--no-validate", "--no-calibrate", "--quiet"]) == 0
    for name in ("index.html", "pareto.png", "codesign.md", "points.json"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "recommended:" in capsys.readouterr().out
    (tmp_path / "bad.toml").write_text("[model]\nqubits = 0\n")
    assert main(["codesign", str(tmp_path / "bad.toml"), "--no-calibrate"]) == 2
    assert "qubits must be an integer >= 1" in capsys.readouterr().err


def test_validation_under_verilator_counts_the_rtl_cycles(tmp_path):
    """The RTL's CYCLES register equals the closed form the board predictions stand on; the RTL's
    values are bit-identical to the model's, so their error obeys the same law."""
    from qfab.design.validate import validate

    workload = small(qubits=8, builds=(BuildSpec(1, 18),), boards=("pynq-z2",), devices=("fpga",))  # the tests' RTL build
    result = explore(workload, tmp_path)
    rows = validate(result, rows=2, builds=1, verilator=1, verilator_rows=1, profile={}, progress=False)
    rtl = rows[-1]
    assert "verilator" in rtl.device and math.isnan(rtl.predicted_seconds)
    assert rtl.predicted_cycles == rtl.measured_cycles > 0
    assert rtl.measured_error < 3 * rtl.predicted_error
