"""Import paths that moved when qfab took one backend layout (``core``, ``backends``, ``cli``):
the old paths keep working, with a :class:`DeprecationWarning`, for code written against them.

``import qfab.engine`` gives the package ``qfab.backends.cpu`` itself (not a copy), so old and
new names are the same objects. An old path whose new home is a plain module (``qfab.hardware`` →
``qfab.qml.hardware``) gets a stand-in module that hands out that module's names and can still
hold the old submodules (``qfab.hardware.mapping``). Installed by ``qfab/__init__`` at the front
of ``sys.meta_path``, so that an old path never loads a second copy of a module.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

__all__ = ["MOVED", "install"]

#: old module path -> the module that now holds its names
MOVED = {
    "qfab.gates": "qfab.core.gates",
    "qfab.ir": "qfab.core.ir",
    "qfab.observables": "qfab.core.observables",
    "qfab.frontend": "qfab.core.frontend",
    "qfab.gradients": "qfab.core.shift",
    "qfab.devices": "qfab.backends",
    "qfab.devices.base": "qfab.backends.base",
    "qfab.devices.cpu": "qfab.backends.cpu",
    "qfab.devices.gpu": "qfab.backends.gpu",
    "qfab.devices.qpu": "qfab.backends.qpu",
    "qfab.devices.fpga": "qfab.backends.fpga",
    "qfab.devices.fpga.compiler": "qfab.backends.fpga.compiler",
    "qfab.devices.fpga.driver": "qfab.backends.fpga.driver",
    "qfab.devices.fpga.transports": "qfab.backends.fpga.transports",
    "qfab.engine": "qfab.backends.cpu",
    "qfab.engine.cpu": "qfab.backends.cpu.simulator",
    "qfab.engine.kernels": "qfab.backends.cpu.kernels",
    "qfab.engine.program": "qfab.backends.cpu.program",
    "qfab.engine.fusion": "qfab.backends.cpu.fusion",
    "qfab.engine.warmup": "qfab.backends.cpu.warmup",
    "qfab.gpu": "qfab.backends.gpu.simulator",
    "qfab.gpu.engine": "qfab.backends.gpu.simulator",
    "qfab.gpu.kernels": "qfab.backends.gpu.kernels",
    "qfab.gpu.host": "qfab.backends.gpu.host",
    "qfab.hardware": "qfab.qml.hardware",
    "qfab.hardware.ansatz": "qfab.qml.hardware",
    "qfab.hardware.mapping": "qfab.backends.qpu.mapping",
    "qfab.hardware.circuits": "qfab.backends.qpu.circuits",
    "qfab.demo": "qfab.cli.demo",
    "qfab.design.cli": "qfab.cli.codesign",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old path with the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {MOVED[spec.name]}; import it from there", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(MOVED[spec.name])
        if not hasattr(module, "__path__"):
            return _stand_in(spec.name, module)
        spec.loader_state = module.__spec__  # the import machinery sets __spec__ to the old path's
        return module

    def exec_module(self, module):
        if module.__spec__.loader_state is not None:
            module.__spec__ = module.__spec__.loader_state


def _stand_in(name: str, module: types.ModuleType) -> types.ModuleType:
    """A module named ``name`` that hands out ``module``'s names, and a package path so that the
    old path's submodules (also moved) can be imported under it."""
    stand_in = types.ModuleType(name, module.__doc__)
    stand_in.__path__ = []
    stand_in.__all__ = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
    stand_in.__getattr__ = lambda attribute: getattr(module, attribute)
    stand_in.__dir__ = lambda: sorted(set(dir(module)))
    return stand_in


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
