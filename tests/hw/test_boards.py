"""Board configurations: schema errors, memory planning, and the overlay manifest."""

from __future__ import annotations

import pytest

from qfab_hw import CORE_VERSION, CoreParams
from qfab_hw.bitstream import ManifestError, Overlay, load_manifest, overlay_wrapper
from qfab_hw.boards import (
    BOARD_DIR,
    BoardConfigError,
    LogicCost,
    bank_cost,
    board_keys,
    check_fit,
    largest_state,
    load_board,
    state_memory_cost,
)

GOOD = BOARD_DIR / "pynq-z2.toml"


def test_every_board_of_the_issue_is_configured_and_loads():
    assert board_keys() == ["kv260", "pynq-z2", "rfsoc4x2", "ultra96-v2", "zcu104"]
    for key in board_keys():
        board = load_board(key)
        assert board.key == key and board.dsp > 0 and board.dma_length_bits == 26


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("dsp = 220", 'dsp = "many"'),
         r"\[resources\] dsp must be an integer from 4 to 100,000 .*, not 'many'"),
        (lambda t: t.replace("dsp = 220", "dsps = 220"), r"unknown field 'dsps' in \[resources\]"),
        (lambda t: t.replace('family = "xc7"', 'family = "ecp5"'),
         r'\[board\] family must be "xc7" or "xcup", not \'ecp5\''),
        (lambda t: t.replace("dma_length_bits = 26", "dma_length_bits = 30"),
         r"dma_length_bits must be an integer from 8 to 26"),
        (lambda t: t.replace("[clock]\npl_mhz = 100.0", ""), r"missing section \[clock\]"),
        (lambda t: t.replace("width_bits = 64\n", ""), r"\[ps_pl\] is missing 'width_bits'"),
        (lambda t: t + "\n[extra]\nx = 1\n", r"unknown section \[extra\]"),
        (lambda t: t.replace("lut = 53200", "lut = "), "not valid TOML"),
    ],
)
def test_malformed_board_file_is_rejected_with_a_precise_message(tmp_path, edit, message):
    text = GOOD.read_text()
    edited = edit(text)
    assert edited != text
    path = tmp_path / "broken.toml"
    path.write_text(edited)
    with pytest.raises(BoardConfigError, match=message):
        load_board(path)


@pytest.mark.parametrize(
    ("old", "new", "field", "shown"),
    [
        ("pl_mhz = 100.0", "pl_mhz = inf", r"\[clock\] pl_mhz", "inf"),
        ("pl_mhz = 100.0", "pl_mhz = nan", r"\[clock\] pl_mhz", "nan"),
        ("pl_mhz = 100.0", "pl_mhz = -100.0", r"\[clock\] pl_mhz", "-100.0"),
        ("pl_mhz = 100.0", "pl_mhz = 0", r"\[clock\] pl_mhz", "0"),
        ("pl_mhz = 100.0", "pl_mhz = 100e6", r"\[clock\] pl_mhz", "100000000.0"),  # Hz, not MHz
        ("pl_mhz = 100.0", "pl_mhz = true", r"\[clock\] pl_mhz", "True"),
        ("bandwidth_mb_s = 1200.0", "bandwidth_mb_s = 1e-300", r"\[ps_pl\] bandwidth_mb_s", "1e-300"),
        ("bandwidth_mb_s = 1200.0", "bandwidth_mb_s = inf", r"\[ps_pl\] bandwidth_mb_s", "inf"),
        ("bandwidth_mb_s = 1200.0", "bandwidth_mb_s = 1e9", r"\[ps_pl\] bandwidth_mb_s", "1000000000.0"),
        ("lut = 53200", "lut = 1", r"\[resources\] lut", "1"),
        ("lut = 53200", "lut = true", r"\[resources\] lut", "True"),
        ("ff = 106400", "ff = 106400.0", r"\[resources\] ff", "106400.0"),  # no silent float count
        ("dsp = 220", "dsp = 1", r"\[resources\] dsp", "1"),
        ("bram36 = 140", "bram36 = 0", r"\[resources\] bram36", "0"),
        ("uram = 0", "uram = -1", r"\[resources\] uram", "-1"),
        ("width_bits = 64", "width_bits = 64.0", r"\[ps_pl\] width_bits", "64.0"),
        ("dma_length_bits = 26", "dma_length_bits = true", r"\[ps_pl\] dma_length_bits", "True"),
    ],
)
def test_a_board_that_makes_no_physical_sense_is_refused_naming_file_field_and_value(
        tmp_path, old, new, field, shown):
    text = GOOD.read_text()
    assert old in text
    path = tmp_path / "odd-board.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(BoardConfigError, match=rf"{field} must be .*, not {shown}$") as error:
        load_board(path)
    assert str(error.value).startswith(f"{path}: ")


def test_the_physical_ranges_hold_every_shipped_board():
    from qfab_hw.boards import LIMITS

    for key in board_keys():
        board = load_board(key)
        for field, (low, high) in LIMITS.items():
            assert low <= getattr(board, field) <= high, (key, field)


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardConfigError, match="unknown board 'zedboard'; known boards: kv260"):
        load_board("zedboard")


def test_board_files_are_package_data_and_the_checkout_links_to_them():
    from qfab_hw.paths import DATA_DIR

    assert BOARD_DIR == DATA_DIR / "board_configs" and GOOD.is_file()
    checkout_link = DATA_DIR.parents[2] / "board_configs"  # <repo>/board_configs in a checkout
    if checkout_link.exists():
        assert checkout_link.resolve() == BOARD_DIR.resolve()


def test_a_users_board_file_loads_by_path(tmp_path, monkeypatch):
    own = tmp_path / "my-z2.toml"
    own.write_text(GOOD.read_text().replace('name = "PYNQ-Z2"', 'name = "My Z2"'))
    for given in (own, str(own)):
        board = load_board(given)
        assert (board.key, board.name) == ("my-z2", "My Z2")
        assert board.dsp == load_board("pynq-z2").dsp
    monkeypatch.chdir(tmp_path)
    assert load_board("my-z2.toml").key == "my-z2"  # relative to the working folder
    with pytest.raises(BoardConfigError, match="unknown board 'my-z2'"):
        load_board("my-z2")  # a bare key is only ever a packaged board


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"missing\.toml: no such board file"),
        ('board = "pynq"\n', r"board must be a table \[board\], not 'pynq'"),
        ("\xff\xfe", "cannot read the board file|not valid TOML"),
    ],
)
def test_a_bad_board_path_names_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "missing.toml"
    if text is not None:
        path.write_bytes(text.encode("latin-1"))
    with pytest.raises(BoardConfigError, match=message) as error:
        load_board(path)
    assert str(path) in str(error.value)


def test_built_overlays_lie_in_a_folder_of_their_name_beside_the_manifest(tmp_path):
    from qfab_hw.bitstream import MANIFEST, overlay_files

    overlay = load_manifest()[0]
    bit, hwh = overlay_files(overlay)
    assert bit == MANIFEST.parent / overlay.name / f"{overlay.name}.bit"
    assert hwh.with_suffix(".bit") == bit
    assert overlay_files(overlay, tmp_path / "manifest.toml")[0].parent == tmp_path / overlay.name


def test_manifest_errors_name_the_file(tmp_path):
    path = tmp_path / "manifest.toml"
    path.write_text('[[overlay]]\nname = "qfab_x"\nbits = 3\n')
    with pytest.raises(ManifestError, match=r"manifest\.toml: overlay 'qfab_x': unknown field\(s\) bits"):
        load_manifest(path)
    path.write_text("[[overlay]\n")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(path)


def test_bram_cost_matches_the_measured_packing():
    # reference section 5: 2**14 x 36 bit (lib.memory) -> 16 RAMB36E1, 1024 amplitudes each
    bram, _ = bank_cost(CoreParams(max_qubits=15, lanes=1))  # two banks of 2**14
    assert bram == 16
    small, _ = bank_cost(CoreParams(max_qubits=9, lanes=2))  # banks of 128 -> one RAMB18
    assert small == 0.5


@pytest.mark.parametrize(("key", "qubits"), [("pynq-z2", 16), ("ultra96-v2", 17), ("zcu104", 18),
                                             ("kv260", 17), ("rfsoc4x2", 19)])
def test_largest_state_fills_but_does_not_exceed_the_memory_budget(key, qubits):
    board = load_board(key)
    assert largest_state(board) == qubits
    assert state_memory_cost(CoreParams(max_qubits=qubits), board) is not None
    assert state_memory_cost(CoreParams(max_qubits=qubits + 1), board) is None


def test_fit_check_names_the_resource_that_overflows():
    board = load_board("pynq-z2")
    fit = check_fit(CoreParams(max_qubits=17), board, LogicCost(lut=1000, ff=1000, dsp=200))
    assert not fit.fits
    assert any("state memory of 2**17" in r and "at most 16 qubits" in r for r in fit.reasons)
    assert any(r.startswith("DSP 200 > 176") for r in fit.reasons)
    assert check_fit(CoreParams(max_qubits=16), board, LogicCost(1000, 1000, 20)).fits


def test_manifest_lists_a_shift_and_an_adjoint_overlay_per_board():
    """Per board the largest state with one bank (RUN_SHIFT) and the largest with bank B
    (RUN_ADJOINT), both of this core version, each fitting the board's memory."""
    overlays = load_manifest()
    for adjoint in (False, True):
        assert sorted(o.board for o in overlays if o.adjoint == adjoint) == board_keys()
    for overlay in overlays:
        assert overlay.bit == f"{overlay.name}.bit" and overlay.hwh == f"{overlay.name}.hwh"
        assert overlay.version == CORE_VERSION
        board = load_board(overlay.board)
        assert overlay.max_qubits == largest_state(board, overlay.lanes, overlay.width, overlay.adjoint)
        assert state_memory_cost(overlay.params, board) is not None


def test_manifest_rejects_inconsistent_entries():
    entry = dict(name="qfab_x", board="pynq-z2", max_qubits=10, lanes=1, width=18, version=2,
                 bit="qfab_x.bit", hwh="qfab_x.hwh", built=False)
    Overlay(**entry).check()
    with pytest.raises(ManifestError, match="same basename|must be named"):
        Overlay(**{**entry, "hwh": "other.hwh"}).check()
    with pytest.raises(ManifestError, match="needs SHA-256"):
        Overlay(**{**entry, "built": True}).check()
    with pytest.raises(ManifestError, match="checksums given"):
        Overlay(**{**entry, "sha256_bit": "0" * 64}).check()
    with pytest.raises(ValueError, match="lanes must be a power of two"):
        Overlay(**{**entry, "lanes": 3}).check()
    with pytest.raises(ManifestError, match="built for core version 1; this qfab drives version 2"):
        Overlay(**{**entry, "version": 1}).check()
    adjoint = Overlay(**{**entry, "adjoint": True, "max_params": 256})
    assert adjoint.params.adjoint and adjoint.params.max_params == 256


def test_overlay_wrapper_maps_every_core_port():
    from qfab_hw.core import QfabCore

    core = QfabCore(CoreParams(max_qubits=4))
    core._MustUse__silence = True  # only its signature is needed, not its elaboration
    core_ports = ["__".join(path) for path, member in core.signature.members.flatten()
                  if not member.is_signature]
    assert len(core_ports) == 8 + 19
    wrapper = overlay_wrapper()
    for port in core_ports:
        assert f".{port}(" in wrapper


def test_bitstream_refuses_a_state_the_board_cannot_hold(capsys):
    from qfab_hw import bitstream

    assert bitstream.main(["--board", "pynq-z2", "--max-qubits", "17"]) == 1
    assert "17-qubit state does not fit PYNQ-Z2's memory; at most 16" in capsys.readouterr().err
    assert bitstream.main(["--board", "pynq-z2", "--max-qubits", "16", "--adjoint"]) == 1
    assert "16-qubit state pair (psi and lambda, --adjoint) does not fit PYNQ-Z2's memory; at most 15" in \
        capsys.readouterr().err


def test_bitstream_without_vivado_says_so_and_fails(monkeypatch, capsys, tmp_path):
    from qfab_hw import bitstream

    monkeypatch.setenv("PATH", str(tmp_path))  # no vivado anywhere
    monkeypatch.setattr(bitstream, "BUILD_DIR", tmp_path)
    assert bitstream.main(["--board", "pynq-z2", "--max-qubits", "4"]) == 2
    assert "Vivado is not on PATH" in capsys.readouterr().err
    sources = tmp_path / "qfab_pynq_z2_q4_l1_w18"
    assert "module qfab_core" in (sources / "qfab_core.v").read_text()
    assert "module qfab_overlay_top" in (sources / "qfab_overlay_top.v").read_text()


@pytest.mark.parametrize(("depth", "width", "key", "style"), [
    (64, 36, "zcu104", "distributed"),      # 2.3 Kb: 36 LUT columns, not an 18 Kb block
    (128, 36, "zcu104", "block"),           # 4.6 Kb: over the LUTRAM limit
    (65536, 36, "zcu104", "ultra"),         # 16 URAMs deep
    (65536, 36, "pynq-z2", "block"),        # no URAM on a Zynq-7000
    (2048, 64, "kv260", "block"),           # half a URAM deep: BRAM
    (4096, 12, "kv260", "block"),           # a sixth of a URAM word wide: BRAM
    (4096, 64, "kv260", "ultra"),
])
def test_memory_kind_follows_the_geometry_and_the_part(depth, width, key, style):
    from qfab_hw.boards import LUTRAM_MAX_BITS, memory_kind

    assert memory_kind(depth, width, load_board(key)) == style
    assert memory_kind(LUTRAM_MAX_BITS // 8, 8, load_board(key)) == "distributed"


def test_state_banks_go_to_uram_as_far_as_its_budget_holds_them():
    from qfab_hw.boards import URAM_DEPTH

    board = load_board("kv260")  # 64 URAM, budget 51
    memory = state_memory_cost(CoreParams(max_qubits=17, lanes=1, adjoint=True), board)  # 4 banks of 2**16
    per_bank = (2 ** 16) // URAM_DEPTH  # 16 URAM each
    assert memory.banks == ("ultra",) * 3 + ("block",) and memory.uram == 3 * per_bank
    assert memory.placement() == "1 BRAM + 3 URAM" and memory.bram36 == 64
    tiny = state_memory_cost(CoreParams(max_qubits=4, lanes=2), board)  # banks of 4 words
    assert tiny.banks == ("distributed",) * 4 and tiny.bram36 == 0 and tiny.placement() == "4 LUTRAM"


def test_the_resource_report_names_every_memorys_primitive():
    from qfab_hw.bitstream import OVERLAY_MEMORIES
    from qfab_hw.synth import core_memories

    board = load_board("kv260")
    params = CoreParams(max_qubits=17, lanes=1, adjoint=True, **OVERLAY_MEMORIES)
    table = core_memories(params, board)
    assert table["state banks (URAM)"]["count"] == 3 and table["state banks (BRAM)"]["count"] == 1
    assert table["state banks (URAM)"]["depth"] == 2 ** 16 and table["state banks (URAM)"]["width"] == 36
    assert table["program"] == {"depth": 4096, "width": 64, "count": 1, "ram_style": "ultra", "primitive": "URAM"}
    assert table["program gate index"]["primitive"] == "BRAM"  # 12 bits wide
    assert table["gradients"]["primitive"] == "BRAM" and table["parameters"]["depth"] == 4096
    seven = core_memories(CoreParams(max_qubits=16, lanes=1, **OVERLAY_MEMORIES), load_board("pynq-z2"))
    assert {entry["primitive"] for entry in seven.values()} == {"BRAM"}
