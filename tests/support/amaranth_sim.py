"""Amaranth's simulator as the hardware tests use it: one clock, one testbench, run to its end."""
from amaranth.sim import Simulator


def simulate(dut, testbench) -> None:
    """Run ``testbench`` (an async function of the simulator context) against ``dut``, clocked
    at 100 MHz."""
    sim = Simulator(dut)
    sim.add_clock(1e-8, if_exists=True)
    sim.add_testbench(testbench)
    sim.run()
