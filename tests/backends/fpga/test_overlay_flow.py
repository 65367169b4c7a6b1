"""The overlay flow end to end: `make bitstream`'s build (Vivado played by a script that writes what
the Tcl writes) -> the manifest -> PynqTransport finds, checks and loads the same files, and the
core behind the PYNQ stand-in answers with the model's bits; the timing gate; the port width."""
import os
import stat
import sys

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp
from qfab_hw import bitstream
from qfab_hw.bitstream import (TCL_FLOW, TIMING_FAILED, build, load_manifest, overlay_files, planned_overlay,
                               routed_slack, ManifestError)
from qfab_hw.boards import board_keys, load_board

import qfab
from qfab.backends.fpga import FPGADevice, FPGAError, ModelTransport, PynqTransport
from qfab.backends.fpga.costmodel import DMA_EFFICIENCY, FPGACostModel, link_bytes_per_s
from qfab.backends.fpga.board import BoardFPGA
from tests.support.circuits import hardware_efficient
from tests.support.pynq_standin import PynqStandin

FAKE_VIVADO = """#!{python}
# Plays `vivado -mode batch -source qfab_overlay.tcl -tclargs <name> ... <port_width> <sources>`:
# writes <name>.bit, <name>.hwh and <name>.timing where the Tcl writes them, and its arguments.
import os, sys
args = sys.argv[sys.argv.index("-tclargs") + 1:]
name = args[0]
open("vivado_args.txt", "w").write(" ".join(args))
open(name + ".bit", "wb").write(b"bitstream of " + name.encode())
open(name + ".hwh", "w").write("<hwh name='%s'/>" % name)
wns = os.environ.get("FAKE_WNS", "0.125")
if wns != "none":
    open(name + ".timing", "w").write("wns_ns %s\\nfclk_mhz %s\\n" % (wns, args[4]))
"""


@pytest.fixture
def vivado(tmp_path, monkeypatch):
    """A `vivado` on PATH that writes what the flow writes; Vivado's work folders under tmp_path."""
    tools = tmp_path / "tools"
    tools.mkdir()
    script = tools / "vivado"
    script.write_text(FAKE_VIVADO.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(bitstream, "BUILD_DIR", tmp_path / "work")
    return tmp_path


def small_overlay(key: str = "pynq-z2"):
    board = load_board(key)
    return board, planned_overlay(board, lanes=1, width=18, max_qubits=4)


@pytest.mark.slow
def test_built_overlay_is_found_checked_and_loaded_by_the_pynq_transport(vivado):
    board, overlay = small_overlay()
    manifest = vivado / "overlays" / "manifest.toml"
    manifest.parent.mkdir()
    assert build(board, overlay, manifest) == 0
    args = (bitstream.BUILD_DIR / overlay.name / "vivado_args.txt").read_text().split()
    assert args[6] == str(board.width_bits)  # the Tcl builds the board file's port width
    [entry] = load_manifest(manifest)
    assert entry.built and entry.name == overlay.name and entry.params == overlay.params
    bit, hwh = overlay_files(entry, manifest)
    assert bit == manifest.parent / overlay.name / f"{overlay.name}.bit" and hwh.with_suffix(".bit") == bit
    assert entry.sha256_bit == bitstream.sha256(bit) and entry.sha256_hwh == bitstream.sha256(hwh)

    standin = PynqStandin(ModelTransport(overlay.params))
    transport = PynqTransport(board.key, overlay.params, manifest=manifest, pynq_module=standin)
    assert standin.loaded == [str(bit)] and transport.bitfile == bit
    device = FPGADevice(transport)
    circuit = qfab.from_qiskit(hardware_efficient(3, 1))
    values = np.random.default_rng(3).uniform(-np.pi, np.pi, (2, circuit.num_parameters))
    observable = SparsePauliOp(["ZIZ", "XXI"], [0.7, -0.4])
    model = FPGADevice("model", overlay.params)
    assert np.array_equal(qfab.expectation(circuit, observable, values, device=device),
                          qfab.expectation(circuit, observable, values, device=model))
    assert standin.runs == 1

    # a file changed after the build is refused, naming it
    bit.write_bytes(b"someone else's bitstream")
    with pytest.raises(FPGAError, match=f"{bit.name} does not match the SHA-256"):
        PynqTransport(board.key, overlay.params, manifest=manifest, pynq_module=PynqStandin(ModelTransport(overlay.params)))
    bit.unlink()
    with pytest.raises(FPGAError, match="is missing"):
        PynqTransport(board.key, overlay.params, manifest=manifest, pynq_module=PynqStandin(ModelTransport(overlay.params)))


@pytest.mark.slow
@pytest.mark.parametrize("wns", ["-0.412", "none"])
def test_a_build_that_misses_its_clock_or_reports_no_timing_is_not_recorded(vivado, monkeypatch, capsys, wns):
    monkeypatch.setenv("FAKE_WNS", wns)
    board, overlay = small_overlay()
    manifest = vivado / "manifest.toml"
    assert build(board, overlay, manifest) == TIMING_FAILED
    assert not manifest.exists() and not overlay_files(overlay, manifest)[0].exists()
    message = capsys.readouterr().err
    assert ("worst negative slack -0.412 ns" in message) if wns != "none" else ("no timing report" in message)


def test_routed_slack_reads_the_flows_report(tmp_path):
    report = tmp_path / "x.timing"
    report.write_text("wns_ns 0.031\nfclk_mhz 100.0\n")
    assert routed_slack(report) == pytest.approx(0.031)
    report.write_text("fclk_mhz 100.0\n")
    with pytest.raises(ManifestError, match="no 'wns_ns <number>' line"):
        routed_slack(report)


def test_the_tcl_gates_on_slack_and_builds_the_port_width_it_is_given():
    tcl = TCL_FLOW.read_text()
    assert "set port_width  [lindex $argv 6]" in tcl
    assert "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH $port_width" in tcl and "CONFIG.PSU__SAXIGP2__DATA_WIDTH $port_width" in tcl
    assert "get_timing_paths -max_paths 1 -nworst 1 -setup" in tcl and "$wns < 0" in tcl


@pytest.mark.parametrize("key", board_keys())
def test_the_link_model_reads_the_board_files_port_width(key):
    """Every board file states the 64-bit port the Tcl builds, and the link's rate is that width per
    PL clock (at most the port's theoretical bandwidth) at the practical DMA fraction."""
    from qfab_hw import CoreParams

    board = load_board(key)
    assert board.width_bits == 64
    params = CoreParams(max_qubits=4, lanes=1, width=18)
    model = FPGACostModel(BoardFPGA(board, params, 0.0), board=board)
    clock = model.clock.mhz
    expected = min(board.bandwidth_mb_s, 64 / 8 * clock) * 1e6 * DMA_EFFICIENCY[board.family]
    assert model.parameters["word_bytes_per_s"] == pytest.approx(expected, rel=1e-12)
    assert link_bytes_per_s(board, clock) == pytest.approx(expected, rel=1e-12)
    wider = board.__class__(**{**board.__dict__, "width_bits": 128, "bandwidth_mb_s": 1e5})
    assert link_bytes_per_s(wider, clock) == pytest.approx(2 * 64 / 8 * clock * 1e6 * DMA_EFFICIENCY[board.family])
