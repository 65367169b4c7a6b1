"""What the wheel ships: the package data as real files, the Verilator runner as a module of the
hardware package, no reference to the source tree, and a runtime dependency set without test
tools. Builds the wheel from a copy of the sources (no network, nothing written to the checkout);
``make wheel-check`` goes further and installs it into a fresh virtualenv.
"""
from __future__ import annotations

import ast
import email.parser
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from qfab_hw.paths import DATA_DIR

ROOT = Path(__file__).resolve().parents[1]

#: Top-level modules of the checkout's sim/ (the old runner lived there).
SIM_MODULES = {"rtl_build", "run_program", "cocotb_program", "cocotb_core", "test_core_rtl"}
TEST_TOOLS = {"pytest", "pytest-xdist", "hypothesis", "cocotb", "cocotbext-axi", "cocotb-coverage", "verilator",
              "import-linter"}
RUNNER = ["__init__.py", "build.py", "bench.py", "cocotb_program.py", "run_program.py"]


def _ignore(folder, names):
    return [n for n in names if n in ("__pycache__", "build") or n.endswith((".egg-info", ".pyc"))]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("sw", "hw"):
        shutil.copytree(ROOT / name, source / name, ignore=_ignore)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--wheel-dir", str(dist), str(source)], check=True, capture_output=True, timeout=300)
    (built,) = dist.glob("qfab-*.whl")
    return built


def _members(wheel: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(wheel) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_package_data_is_in_the_wheel_as_real_files(wheel):
    members = _members(wheel)
    expected = sorted(p.relative_to(DATA_DIR.parent).as_posix() for p in DATA_DIR.rglob("*") if p.is_file())
    assert {"data/board_configs/pynq-z2.toml", "data/bitstreams/manifest.toml",
            "data/bitstreams/vivado/qfab_overlay.tcl"} <= set(expected)
    with zipfile.ZipFile(wheel) as archive:
        for relative in expected:
            name = f"qfab_hw/{relative}"
            assert name in members, f"{name} is not in the wheel"
            mode = members[name].external_attr >> 16
            assert not mode or stat.S_ISREG(mode), f"{name} is not a plain file in the wheel"
            assert archive.read(name) == (DATA_DIR.parent / relative).read_bytes()


def test_the_verilator_runner_is_a_module_of_the_hardware_package(wheel):
    members = _members(wheel)
    for module in RUNNER:
        assert f"qfab_hw/verilator/{module}" in members
    tops = {name.split("/")[0] for name in members}
    assert tops == {"qfab", "qfab_hw", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}


def source_tree_references(name: str, text: str) -> list[str]:
    """Where the module ``name`` (a path in the wheel) reaches outside its installed package: a
    ``sys.path`` edit, ``Path(__file__)`` climbing above the top-level package, an import of a
    sim/ module, or a "sim/" path. Docstrings and comments do not count."""
    tree = ast.parse(text)
    depth = name.count("/")  # package folders above the file: qfab_hw/boards.py -> 1
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) \
                and node.value.id == "sys":
            found.append(f"{where}: uses sys.path")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level:
                continue
            found += [f"{where}: imports sim/'s {m}" for m in modules if m.split(".")[0] in SIM_MODULES]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value == "sim" or "sim/" in node.value:
                found.append(f"{where}: names sim/: {node.value!r}")
        elif isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.ClassDef, ast.If, ast.With, ast.Try, ast.For)):
            code = ast.unparse(node)
            if "__file__" in code:
                ups = [int(k) + 1 for k in re.findall(r"\.parents\[(\d+)\]", code)]
                ups.append(len(re.findall(r"\.parent\b", code)))
                if max(ups) > depth:
                    found.append(f"{where}: climbs above its package: {code}")
    return found


def test_the_source_tree_check_catches_what_it_should():
    bad = ("import sys\nsys.path.insert(0, 'x')\nfrom rtl_build import build_core\n"
           "from pathlib import Path\nROOT = Path(__file__).resolve().parents[1]\nS = ROOT / 'sim'\n"
           "UP = Path(__file__).parent.parent\n")
    assert len(source_tree_references("qfab_hw/x.py", bad)) == 5
    good = ('"""Runs sim/ benches."""\nfrom pathlib import Path\nDATA = Path(__file__).resolve().parent / "data"\n'
            "TOP = Path(__file__).parents[1]\n")
    assert source_tree_references("qfab_hw/model/x.py", good) == []


def test_no_module_refers_to_the_source_tree(wheel):
    found = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".py"):
                found += source_tree_references(name, archive.read(name).decode())
    assert not found, "\n".join(found)


def test_runtime_dependencies_hold_no_test_tools_and_the_extras_hold_them(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.Parser().parsestr(archive.read(metadata).decode())
    runtime, extras = set(), {}
    for requirement in message.get_all("Requires-Dist"):
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group().lower()
        extra = re.search(r"extra\s*==\s*\"([^\"]+)\"", requirement)
        if extra:
            extras.setdefault(extra.group(1), set()).add(name)
        else:
            runtime.add(name)
    assert not runtime & TEST_TOOLS, f"test tools in the runtime set: {runtime & TEST_TOOLS}"
    assert {"numpy", "numba", "qiskit", "amaranth", "platformdirs"} <= runtime
    assert {"cocotb", "cocotbext-axi", "verilator"} <= extras["hw"]
    assert {"qfab", "pytest", "hypothesis", "pytest-xdist", "import-linter"} <= extras["dev"]  # qfab = qfab[hw]
    assert any("qfab[hw]" in r and "dev" in r for r in message.get_all("Requires-Dist"))
    assert "qfab = qfab.cli:main" in zipfile.ZipFile(wheel).read(
        metadata.replace("METADATA", "entry_points.txt")).decode()


def test_the_unpacked_wheel_finds_its_data_and_runner_outside_the_checkout(wheel, tmp_path):
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    script = (
        "import pathlib, qfab_hw\n"
        f"assert pathlib.Path(qfab_hw.__file__).is_relative_to({str(unpacked)!r}), qfab_hw.__file__\n"
        "from qfab_hw.boards import board_keys, load_board\n"
        "from qfab_hw.bitstream import load_manifest\n"
        "assert len(board_keys()) >= 5 and load_board('pynq-z2').dsp > 0\n"
        "assert sorted(o.board for o in load_manifest() if not o.adjoint) == board_keys()\n"
        "import qfab_hw.verilator.build\n"
    )
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env, timeout=120)
    usage = subprocess.run([sys.executable, "-m", "qfab_hw.verilator.run_program"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "qfab_hw.verilator.run_program BUILD_DIR" in usage.stderr

