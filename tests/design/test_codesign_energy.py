"""Energy per training step in the co-design: each point's joules against the power model's
arithmetic from the plan's own times, the power-delay product against the CPU, and energy as a
Pareto axis."""
from __future__ import annotations

import math

import pytest
from qfab_hw.power import cpu_power, fpga_step_energy, pl_power

from qfab.design import Variant, pareto_front
from qfab.design.explore import DesignPoint
from tests.design.test_codesign import explore, small


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return explore(small(), tmp_path_factory.mktemp("energy"))


def test_an_fpga_points_energy_is_its_pl_and_ps_power_over_its_breakdown(result):
    cpu = cpu_power()
    assert result.cpu_power == cpu
    alone = [p for p in result.points if p.devices == ("fpga",) and p.feasible]
    assert alone
    for point in alone:
        build = point.resources
        power = pl_power({"lut": build.logic.lut, "ff": build.logic.ff, "dsp": build.logic.dsp,
                          "bram36": build.bram36, "uram": build.uram}, point.board, point.clock_mhz)
        assert point.fpga_power == power
        step = fpga_step_energy(power, point.board, point.fpga_breakdown)
        # the FPGA alone: its breakdown is the whole step, so nothing is added for waiting
        assert point.energy_j == pytest.approx(step["total_j"], rel=1e-9)
        assert point.clock_mhz <= point.board.pl_mhz
    cpu_alone = next(p for p in result.points if p.devices == ("cpu",))
    # one mini-batch step on the CPU: its package power over the step's predicted seconds
    steps = result.workload.steps_per_epoch
    assert cpu_alone.energy_j == pytest.approx(cpu.watts * cpu_alone.step_seconds / steps, rel=1e-9)
    for point in result.points:
        if math.isfinite(point.energy_j) and point.board is not None:
            assert point.cpu_energy_j == cpu_alone.energy_j
            assert point.energy_vs_cpu == pytest.approx(cpu_alone.energy_j / point.energy_j)


def test_a_mix_adds_the_cpus_busy_time_to_the_boards_energy(result):
    cpu = cpu_power()
    for point in result.points:
        if point.board is None or len(point.used) < 2 or not point.feasible:
            continue
        board_only = fpga_step_energy(point.fpga_power, point.board, point.fpga_breakdown)["total_j"]
        assert point.energy_j > board_only  # the CPU's share costs its package power on top
        assert point.energy_j < board_only + cpu.watts * point.step_seconds + point.fpga_power.static_w * point.step_seconds


def test_energy_is_a_pareto_axis():
    """A slower point that takes less energy stays on the front; one worse on every axis does not."""
    fast = DesignPoint(Variant("hea", 1), ("cpu",), train_seconds=1.0, error=1e-3, energy_j=5.0)
    frugal = DesignPoint(Variant("hea", 1), ("fpga",), train_seconds=2.0, error=1e-3, energy_j=0.5)
    worse = DesignPoint(Variant("hea", 1), ("fpga",), train_seconds=3.0, error=1e-3, energy_j=0.6)
    assert pareto_front([fast, frugal, worse]) == [fast, frugal]
    assert math.isnan(DesignPoint(Variant("hea", 1), ("cpu",)).energy_vs_cpu)
