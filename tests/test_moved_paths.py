"""The import paths that moved with the one-backend layout still work: each old path gives the new
module's objects, with a DeprecationWarning naming where it went (docs/architecture.md, "Moved paths")."""
import json
import subprocess
import sys

import pytest

from qfab.moved import MOVED

# Run in a fresh interpreter, where none of the old paths was imported yet: a JSON line per path,
# "" when it behaves, else what is wrong.
CHECK = """
import importlib, json, warnings
import qfab
from qfab.moved import MOVED

def check(old_name, new_name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        old = importlib.import_module(old_name)
    said = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    if f"{old_name} moved to {new_name}; import it from there" not in said:
        return f"no deprecation warning naming {new_name}: {said}"
    new = importlib.import_module(new_name)
    if hasattr(new, "__path__") and (old is not new or new.__spec__.name != new_name):
        return f"{old!r} is not the package {new!r} (spec {new.__spec__.name})"
    names = getattr(new, "__all__", [n for n in vars(new) if not n.startswith("_")])
    return ", ".join(n for n in names if getattr(old, n) is not getattr(new, n))

for old_name, new_name in sorted(MOVED.items()):
    try:
        problem = check(old_name, new_name)
    except Exception as error:
        problem = repr(error)
    print(json.dumps([old_name, problem]))
"""


@pytest.fixture(scope="module")
def problems():
    run = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return dict(json.loads(line) for line in run.stdout.splitlines())


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_gives_the_new_modules_names_with_a_warning(problems, old):
    assert problems[old] == ""


def test_names_from_the_readme_and_docs_resolve_at_their_old_paths():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from qfab.devices import DeviceCapabilityError, available_devices, device_status, get_device  # noqa: F401
        from qfab.devices.fpga import FPGADevice
        from qfab.engine import CPUEngine
        from qfab.engine.cpu import runs_over_sets  # noqa: F401
        from qfab.hardware import hardware_efficient_ansatz, map_circuit, to_qiskit  # noqa: F401
        from qfab.observables import PauliSum  # noqa: F401
    from qfab.backends.cpu import CPUEngine as new_engine
    from qfab.backends.fpga import FPGADevice as new_fpga

    assert CPUEngine is new_engine and FPGADevice is new_fpga
    assert get_device("cpu").name == "cpu"


def test_lazy_layers_are_reached_from_the_top_package():
    import qfab

    assert qfab.plan is __import__("qfab.scheduling", fromlist=["plan"]).plan
    assert qfab.codesign is __import__("qfab.design", fromlist=["codesign"]).codesign
    assert qfab.qml.__name__ == "qfab.qml"
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        qfab.nonsense  # noqa: B018
