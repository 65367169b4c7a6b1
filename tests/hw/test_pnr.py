"""The open place-and-route (qfab_hw.pnr): a tiny design routed for real, the report's parsing,
the recorded closures and the rule that maps them to a board's clock."""
import json

import pytest
from qfab_hw import CoreParams
from qfab_hw.boards import board_keys, load_board
from qfab_hw.pnr import (FAMILY_FACTOR, GRADE_FACTOR, critical_path_summary, closing_clock, family_fmax, load_timing,
                         measured_closure, record, route_verilog, speed_grade)


def multiplier_chain(stages: int) -> str:
    """Verilog of registered 18-bit operands through ``stages`` combinational multipliers into a register."""
    from amaranth.back import verilog
    from amaranth.hdl import Module, Signal, signed

    m = Module()
    a, b = Signal(signed(18)), Signal(signed(18))
    ra, rb, out = Signal(signed(18)), Signal(signed(18)), Signal(signed(18))
    value = ra
    for _ in range(stages):
        value = (value * rb)[17:35].as_signed()
    m.d.sync += [ra.eq(a), rb.eq(b), out.eq(value)]
    return verilog.convert(m, name="chain", ports=[a, b, out])


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pnr")
    return {stages: route_verilog(multiplier_chain(stages), "chain", folder / f"chain{stages}", seed=1)
            for stages in (1, 2)}


@pytest.mark.slow
def test_a_routed_design_reports_its_fmax_path_and_multipliers(routed):
    one, two = routed[1], routed[2]
    assert one["resources"]["mult18"]["used"] >= 1 and one["resources"]["mult18"]["available"] == 156
    assert two["resources"]["mult18"]["used"] > one["resources"]["mult18"]["used"]
    # two multipliers in series between the registers: a longer path, a lower clock
    assert 0 < two["fmax_mhz"] < one["fmax_mhz"]
    for result in (one, two):
        path = result["critical_path"]
        assert path["total_ns"] == pytest.approx(sum(path["delay_ns"].values()), abs=1e-3)
        assert 1000.0 / path["total_ns"] == pytest.approx(result["fmax_mhz"], rel=0.05)
    assert sum("MULT18X18D" in cell or "mul" in cell.lower() for cell in two["critical_path"]["cells"]) >= 1


def test_critical_path_summary_adds_up_the_segments_by_kind():
    report = {"critical_paths": [{"from": "clk", "to": "clk", "path": [
        {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "ff_a"}, "to": {"cell": "ff_a"}},
        {"type": "routing", "delay": 1.25, "from": {"cell": "ff_a"}, "to": {"cell": "mult"}},
        {"type": "logic", "delay": 3.0, "from": {"cell": "mult"}, "to": {"cell": "mult"}},
        {"type": "routing", "delay": 0.75, "from": {"cell": "mult"}, "to": {"cell": "ff_b"}},
        {"type": "setup", "delay": 0.25, "from": {"cell": "ff_b"}, "to": {"cell": "ff_b"}}]}]}
    summary = critical_path_summary(report)
    assert summary["from"] == "ff_a" and summary["to"] == "ff_b" and summary["cells"] == ["ff_a", "mult", "ff_b"]
    assert summary["delay_ns"] == {"clk-to-q": 0.5, "routing": 2.0, "logic": 3.0, "setup": 0.25}
    assert summary["total_ns"] == 5.75 and summary["logic_levels"] == 1
    assert critical_path_summary({}) == {}


def _result(params: CoreParams, fmax: float) -> dict:
    return {"params": {f: getattr(params, f) for f in params.__dataclass_fields__}, "fmax_mhz": fmax,
            "device": "LFE5U-85F-6", "critical_path": {"from": "a", "to": "b", "total_ns": 1000 / fmax}}


def test_recorded_closures_replace_per_build_and_the_nearest_build_stands_in(tmp_path):
    path = tmp_path / "timing.json"
    one = CoreParams(max_qubits=10, lanes=1, width=18)
    record(_result(one, 40.0), path)
    record(_result(one, 45.5), path)  # the same build again: replaces
    record(_result(CoreParams(max_qubits=13, lanes=8, width=18), 30.0), path)
    records = load_timing(path)
    assert [(r.params.lanes, r.fmax_mhz) for r in records] == [(1, 45.5), (8, 30.0)]
    assert json.loads(path.read_text())[0]["params"]["max_qubits"] == 10
    # a board's 17-qubit build has the datapath of the measured 10-qubit one
    assert measured_closure(CoreParams(max_qubits=17, lanes=1, width=18), path).fmax_mhz == 45.5
    # 2 lanes: the 1-lane figure stands in (the most lanes measured below); 16 lanes: the 8-lane one
    assert measured_closure(CoreParams(max_qubits=10, lanes=2, width=18), path).params.lanes == 1
    assert measured_closure(CoreParams(max_qubits=14, lanes=16, width=18), path).fmax_mhz == 30.0
    # an adjoint build: the same build without bank B stands in; the reverse never
    assert measured_closure(CoreParams(max_qubits=13, lanes=8, width=18, adjoint=True), path).fmax_mhz == 30.0
    record(_result(CoreParams(max_qubits=10, lanes=1, width=18, adjoint=True), 20.0), path)
    assert measured_closure(CoreParams(max_qubits=13, lanes=8, width=18), path).fmax_mhz == 30.0
    assert measured_closure(CoreParams(max_qubits=12, lanes=1, width=18, adjoint=True), path).fmax_mhz == 20.0
    assert measured_closure(CoreParams(max_qubits=10, lanes=1, width=16), path) is None
    assert load_timing(tmp_path / "absent.json") == []


@pytest.mark.parametrize(("part", "grade"), [("xc7z020clg400-1", "1"), ("xck26-sfvc784-2LV-c", "2LV"),
                                             ("xczu7ev-ffvc1156-2-e", "2"), ("xczu3eg-sbva484-1-i", "1"),
                                             ("xczu48dr-ffvg1517-2-e", "2")])
def test_speed_grade_is_read_from_the_part_name(part, grade):
    assert speed_grade(part) == grade


def test_every_board_part_has_a_mapping_factor():
    for key in board_keys():
        board = load_board(key)
        assert family_fmax(100.0, board) == pytest.approx(
            100.0 * FAMILY_FACTOR[board.family] * GRADE_FACTOR[board.family][speed_grade(board.part)])
    with pytest.raises(ValueError, match="no speed grade"):
        speed_grade("xc7z020clg400")


def test_the_clock_is_the_board_clock_or_the_closure_below_it(tmp_path):
    path = tmp_path / "timing.json"
    board = load_board("pynq-z2")  # 100 MHz, xc7 -1: factor 1.70
    params = CoreParams(max_qubits=16, lanes=1, width=18)
    assert closing_clock(params, board, path).mhz == board.pl_mhz  # nothing measured
    record(_result(replace_qubits(params, 10), 40.0), path)
    slow = closing_clock(params, board, path)
    assert slow.mhz == pytest.approx(40.0 * 1.70) and "below the board clock" in slow.source
    record(_result(replace_qubits(params, 10), 200.0), path)
    fast = closing_clock(params, board, path)
    assert fast.mhz == board.pl_mhz and fast.closes_mhz == pytest.approx(340.0)


def replace_qubits(params: CoreParams, qubits: int) -> CoreParams:
    from dataclasses import replace

    return replace(params, max_qubits=qubits)
