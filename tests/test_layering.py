"""The package's layering holds: the import-linter contracts in ``pyproject.toml`` (layers,
independence, no circles, no private modules or names across modules, no test tools in the
library) are all kept."""
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.contracts import private_names

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    run = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout, run.stdout


def test_private_name_detection():
    assert private_names("from qfab.qml.costs import _shift_for, build_cost") == ["_shift_for"]
    assert private_names("from qfab.backends import (Job,  # noqa") == []
    assert private_names("from a import _x as y, __version__") == ["_x"]
    assert private_names("import qfab._moved") == []


def test_the_fpga_host_side_loads_no_gateware():
    """The planner looks at every device on a process's first call: the FPGA device, its cost
    model and transports read the register map as data, so Amaranth (0.3 s to import) stays out
    until a build or a simulation needs it."""
    probe = ("import sys, qfab, qfab.backends.fpga.device, qfab.backends.fpga.transports; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth'))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", run.stdout
