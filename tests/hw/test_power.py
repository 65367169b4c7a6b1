"""The power and energy model (qfab_hw.power): its arithmetic against the stated coefficients, and
where the CPU's package power comes from."""
import pytest
from hypothesis import given, settings, strategies as st
from qfab_hw.boards import load_board
from qfab_hw.power import (DYNAMIC_MW_AT_100MHZ, FAMILY_DYNAMIC_SCALE, PS_ACTIVE_W, STATIC_W_PER_LUT, cpu_power,
                           fpga_step_energy, pl_power, rapl_watts)

USED = {"lut": 12_000, "ff": 9_000, "dsp": 40, "bram36": 32, "uram": 0}


def test_pl_power_is_static_plus_the_resources_at_the_clock():
    board = load_board("pynq-z2")
    power = pl_power(USED, board, 100.0)
    assert power.static_w == pytest.approx(0.113)  # the Zynq-7020 anchor: 53,200 LUTs
    expected = (12_000 * 2.6e-3 + 9_000 * 0.65e-3 + 40 * 0.5 + 32 * 1.0) * 1e-3
    assert power.dynamic_w == pytest.approx(expected, rel=1e-12)
    assert power.total_w == pytest.approx(0.113 + expected, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(clock=st.floats(1.0, 500.0), toggle=st.floats(0.01, 1.0), enable=st.floats(0.0, 1.0),
       key=st.sampled_from(["pynq-z2", "zcu104", "kv260", "ultra96-v2", "rfsoc4x2"]))
def test_dynamic_power_scales_with_clock_toggle_and_enable(clock, toggle, enable, key):
    board = load_board(key)
    power = pl_power(USED, board, clock, toggle, enable)
    scale = FAMILY_DYNAMIC_SCALE[board.family] * clock / 100 * 1e-3
    logic = (USED["lut"] * DYNAMIC_MW_AT_100MHZ["lut"] + USED["ff"] * DYNAMIC_MW_AT_100MHZ["ff"]) * toggle / 0.125
    blocks = (USED["dsp"] * DYNAMIC_MW_AT_100MHZ["dsp"] + USED["bram36"] * DYNAMIC_MW_AT_100MHZ["bram36"]) * enable
    assert power.dynamic_w == pytest.approx((logic + blocks) * scale, rel=1e-9)
    assert power.static_w == pytest.approx(STATIC_W_PER_LUT[board.family] * board.lut, rel=1e-12)


def test_ultrascale_switches_the_same_resources_for_less():
    seven, plus = load_board("pynq-z2"), load_board("zcu104")
    assert pl_power(USED, plus, 150.0).dynamic_w < pl_power(USED, seven, 150.0).dynamic_w
    with pytest.raises(ValueError, match="fractions"):
        pl_power(USED, seven, 100.0, toggle=1.5)
    with pytest.raises(ValueError, match="clock must be positive"):
        pl_power(USED, seven, 0.0)


def test_a_steps_energy_is_static_all_step_dynamic_while_computing_and_the_ps_while_driving():
    board = load_board("kv260")
    power = pl_power(USED, board, 150.0)
    breakdown = {"core_s": 2e-3, "link_s": 1e-3, "driver_s": 4e-3}
    energy = fpga_step_energy(power, board, breakdown)
    assert energy["step_s"] == pytest.approx(7e-3)
    assert energy["pl_static_j"] == pytest.approx(power.static_w * 7e-3)
    assert energy["pl_dynamic_j"] == pytest.approx(power.dynamic_w * 2e-3)
    assert energy["ps_j"] == pytest.approx(PS_ACTIVE_W[board.ps] * 5e-3)
    assert energy["total_j"] == pytest.approx(energy["pl_static_j"] + energy["pl_dynamic_j"] + energy["ps_j"])


def test_cpu_power_from_the_environment_rapl_or_the_stated_figure(tmp_path, monkeypatch):
    monkeypatch.delenv("QFAB_CPU_WATTS", raising=False)
    stated = cpu_power(cores=4, root=tmp_path)  # no RAPL counters here
    assert stated.watts == pytest.approx(14.0) and "stated" in stated.source
    assert stated.energy(2.0) == pytest.approx(28.0)
    # a counter that does not move (a frozen file) is no reading either
    package = tmp_path / "intel-rapl:0"
    package.mkdir()
    (package / "energy_uj").write_text("1000\n")
    (package / "max_energy_range_uj").write_text("262143328850\n")
    assert rapl_watts(tmp_path, busy_s=0.01) == 0.0
    assert "stated" in cpu_power(cores=2, root=tmp_path).source
    monkeypatch.setenv("QFAB_CPU_WATTS", "65")
    assert cpu_power(root=tmp_path).watts == 65.0
    monkeypatch.setenv("QFAB_CPU_WATTS", "a lot")
    with pytest.raises(ValueError, match="QFAB_CPU_WATTS must be a number"):
        cpu_power(root=tmp_path)
