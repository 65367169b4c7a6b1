"""Co-design with adjoint builds: the knob in the workload file, the synth cache key, the fit of
the second state bank, and steps priced with RUN_ADJOINT where the build has it."""
from __future__ import annotations

from dataclasses import asdict, fields, replace

import pytest
from qfab_hw import CoreParams
from qfab_hw.boards import LogicCost, load_board

from qfab.design import CodesignWorkload, Variant, WorkloadError, codesign, load_workload
from qfab.design.explore import build_label, gradient_method, step_job
from qfab.design.resources import build_resources
from qfab.design.workload import BuildSpec
from qfab.scheduling import History
from tests.design.test_codesign import EXAMPLE


def logic(params: CoreParams, family: str) -> LogicCost:
    """Stands in for yosys: linear in the lanes, the adjoint adding 12 DSPs a lane (the reducer's
    four multipliers and the lambda preparation's eight) and some logic."""
    adjoint = int(params.adjoint)
    return LogicCost(lut=(1400 + 900 * adjoint) * params.lanes, ff=(500 + 700 * adjoint) * params.lanes,
                     dsp=(20 + 12 * adjoint) * params.lanes)


def workload(**changes) -> CodesignWorkload:
    options = dict(name="adjoint", qubits=4, samples=12, epochs=2, batch_size=6, boards=("zcu104",),
                   builds=(BuildSpec(2, 18), BuildSpec(2, 18, adjoint=True)), devices=("fpga",),
                   variants=(Variant("hea", 1),), trainability_samples=12)
    options.update(changes)
    return CodesignWorkload(**options)


def explore(work, tmp_path):
    return codesign(work, logic_of=logic, profile={}, history=History(tmp_path / "h.json"), progress=False)


def test_adjoint_builds_load_from_the_workload_file_with_their_label():
    work = load_workload({"space": {"builds": [{"lanes": 8, "width": 18, "adjoint": True}, {"lanes": 2, "width": 18}]}})
    adjoint, shift = work.builds
    assert adjoint == BuildSpec(8, 18, None, True) and shift.adjoint is False
    assert adjoint.label == "8 lanes W=18 +adj" and shift.label == "2 lanes W=18"
    params = adjoint.params(work.qubits)
    assert params.adjoint and params.state_banks == 2 and not shift.params(work.qubits).adjoint
    assert build_label(params) == "8L W18 Q8 +adj"
    example = load_workload(EXAMPLE)
    assert {b.lanes for b in example.builds if b.adjoint} == {2, 4, 8}


@pytest.mark.parametrize("build, message", [
    ({"lanes": 2, "width": 18, "adjoint": "yes"}, "builds[0]: adjoint must be true or false, not 'yes'"),
    ({"lanes": 2, "width": 18, "adjoint": 1}, "adjoint must be true or false, not 1"),
    ({"lanes": "2", "width": 18}, "builds[0]: lanes must be an integer, not '2'"),
    ({"lanes": 2, "width": 18.0}, "width must be an integer, not 18.0"),
    ({"lanes": 2, "width": 18, "qubits": True}, "qubits must be an integer, not True"),
    ({"lanes": 2, "width": 18, "adjont": True}, "unknown field(s) ['adjont']"),
    ({"lanes": 2}, "builds: a list of tables"),
])
def test_bad_build_fields_are_refused_naming_the_field(build, message):
    with pytest.raises(WorkloadError) as error:
        load_workload({"space": {"builds": [build]}})
    assert message in str(error.value)


def test_a_python_build_spec_with_a_bad_adjoint_is_refused():
    with pytest.raises(WorkloadError, match="adjoint must be true or false"):
        workload(builds=(BuildSpec(1, 18, adjoint="no"),))


def test_the_synth_cache_folder_names_every_core_params_field():
    from qfab_hw.synth import cache_folder

    base = CoreParams(max_qubits=8, lanes=2, width=18)
    folder = cache_folder(base, "xc7")
    assert folder.name == "xc7-q8-l2-w18-p64-d1024-i512-adj0"
    assert cache_folder(replace(base, adjoint=True), "xc7").name.endswith("-adj1")
    changed = {"max_qubits": 9, "lanes": 4, "width": 16, "max_params": 128, "param_depth": 2048,
               "program_depth": 1024, "adjoint": True}
    assert set(changed) == {f.name for f in fields(CoreParams)}  # a new field needs a case here
    folders = {cache_folder(replace(base, **{name: value}), "xc7") for name, value in changed.items()}
    assert len(folders) == len(changed) and folder not in folders
    assert cache_folder(base, "xcup") != folder


def test_adjoint_steps_are_priced_with_run_adjoint_and_the_others_with_run_shift(tmp_path):
    work = workload()
    result = explore(work, tmp_path)
    shift, adjoint = sorted(result.points, key=lambda p: p.build.adjoint)
    assert shift.fpga_gradient == "parameter-shift" and adjoint.fpga_gradient == "adjoint"
    assert "+adj" in adjoint.label and "+adj" not in shift.label
    assert adjoint.feasible and shift.feasible
    assert adjoint.used[0].endswith("+adj]") and not shift.used[0].endswith("+adj]")
    # the FPGA's share of a step, as its cost model prices the job by that method
    from qfab.backends.fpga.board import BoardFPGA
    from qfab.backends.fpga.costmodel import board_clock

    circuit = work.circuit(work.variants[0])
    board = load_board("zcu104")
    for point, method in ((shift, "parameter-shift"), (adjoint, "adjoint")):
        device = BoardFPGA(board, point.build, 0.0)
        assert gradient_method(device) == method
        cycles = device.program_counts(step_job(work, circuit, work.batch_size, gradient=method), resident=True)[0]
        core = point.fpga_breakdown["core_s"]
        assert core == pytest.approx(cycles / (board_clock(board, point.build).mhz * 1e6), rel=1e-12)
    # RUN_ADJOINT's backward sweep costs fewer core cycles than 2 replays per parameter
    assert adjoint.fpga_breakdown["core_s"] < shift.fpga_breakdown["core_s"]
    assert adjoint.utilisation > shift.utilisation  # and more of the board


def test_an_adjoint_build_whose_banks_do_not_fit_says_why(tmp_path):
    """16 qubits fit the PYNQ-Z2's BRAM once (64 BRAM36), not twice."""
    board = load_board("pynq-z2")
    params = BuildSpec(1, 18, 16, adjoint=True).params(8)
    resources = build_resources(params, board, logic)
    assert not resources.fits
    assert any("two state banks" in r and "adjoint=False" in r for r in resources.reasons)
    assert "without it the build fits (gradients by RUN_SHIFT)" in resources.reasons[-1]
    assert "+12 DSP" in resources.reasons[-1] and "2x the state banks (2 -> 4)" in resources.reasons[-1]
    assert build_resources(replace(params, adjoint=False), board, logic).fits
    result = explore(workload(qubits=8, boards=("pynq-z2",), builds=(BuildSpec(1, 18, 16, adjoint=True),)), tmp_path)
    (point,) = result.points
    assert not point.feasible and any(p.startswith("does not fit: two state banks") for p in point.problems)


def test_an_adjoint_build_over_the_dsp_budget_says_what_the_adjoint_adds():
    board = load_board("pynq-z2")  # 220 DSP, 176 within the budget
    params = BuildSpec(8, 18, adjoint=True).params(8)  # 8 x 32 = 256 DSP here; 160 without
    resources = build_resources(params, board, logic)
    assert not resources.fits
    assert any(r.startswith("DSP 256 > 176") for r in resources.reasons)
    assert "+96 DSP" in resources.reasons[-1] and resources.reasons[-1].endswith("fits (gradients by RUN_SHIFT)")


def test_a_cached_synthesis_stands_while_the_verilog_is_the_same(tmp_path, monkeypatch):
    """An edit elsewhere in qfab_hw changes the design hash, not the build's Verilog: the cached
    yosys result is restamped, not re-run; a result of other Verilog (or another build) is not reused."""
    import json

    from qfab_hw import processes, synth

    params = CoreParams(max_qubits=3, lanes=1, width=12, adjoint=True)
    folder = synth.cache_folder(params, "xc7", tmp_path)
    folder.mkdir(parents=True)
    ran = []

    def yosys(command, **options):  # stands in for the yosys run, which is not wanted here
        ran.append(command)
        raise RuntimeError("yosys")

    monkeypatch.setattr(processes, "run", yosys)
    stored = {"design_hash": "an older source tree", "netlist_hash": "other verilog", "family": "xc7",
              "params": asdict(params), "lut": 1, "ff": 2, "dsp": 3, "cells": {}}
    (folder / "logic.json").write_text(json.dumps(stored))
    with pytest.raises(RuntimeError, match="yosys"):  # other Verilog: synthesised again
        synth.synthesize_logic(params, "xc7", tmp_path)
    assert len(ran) == 1
    core_v = (folder / "core.v").read_text()  # what this build generates now
    stub = (folder / "bank_stub.v").read_text()
    script = ran[0][2]  # [yosys, "-p", script]
    netlist = synth._netlist_hash(core_v, stub, script)
    (folder / "logic.json").write_text(json.dumps({**stored, "netlist_hash": netlist}))
    result = synth.synthesize_logic(params, "xc7", tmp_path)
    assert (result["lut"], result["ff"], result["dsp"]) == (1, 2, 3) and len(ran) == 1
    assert result["design_hash"] == synth._design_hash(params, "xc7")  # restamped: the next call is a plain hit
    # a result stored for another build in this folder is never taken
    (folder / "logic.json").write_text(json.dumps({**stored, "netlist_hash": netlist, "params": {"lanes": 2}}))
    with pytest.raises(RuntimeError, match="yosys"):
        synth.synthesize_logic(params, "xc7", tmp_path)
