"""One simulation seed per pytest run of the RTL benches, and their merged coverage at the end.

The seed is fresh unless ``QFAB_SIM_SEED`` is set, so every CI run draws new random programs,
stalls and angles, and prints the seed (the header, the summary, and the message of every
failure) to rerun exactly that with ``QFAB_SIM_SEED=<seed> pytest sim``. It is put in this
process's environment before pytest-xdist starts its workers, so all of them, and the
simulators they start, use the same one. ``QFAB_SIM_PROGRAMS`` (random programs per state
size, default 4) is passed on the same way, and so is the folder the simulations of this run
write their coverage databases to (one per run, so runs in the same checkout stay apart).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

from report import COVERAGE_DIR, coverage_files, merge_coverage_files

SEED_VARIABLE = "QFAB_SIM_SEED"
#: The folder this run's simulations export their coverage databases to.
COVERAGE_VARIABLE = "QFAB_SIM_COVERAGE_DIR"
FRESH = pytest.StashKey[bool]()


def pytest_configure(config):
    config.stash[FRESH] = SEED_VARIABLE not in os.environ
    if config.stash[FRESH]:
        os.environ[SEED_VARIABLE] = str(secrets.randbelow(1 << 31))
    # this run's coverage databases, apart from those of any other pytest run in the checkout
    os.environ.setdefault(COVERAGE_VARIABLE, str(COVERAGE_DIR / f"run-{os.getpid()}"))


def seed_line(config) -> str:
    how = "fresh" if config.stash.get(FRESH, False) else "from the environment"
    seed = os.environ[SEED_VARIABLE]
    return f"RTL simulation seed: {SEED_VARIABLE}={seed} ({how}; rerun with {SEED_VARIABLE}={seed})"


def pytest_report_header(config):
    return seed_line(config)


def pytest_terminal_summary(terminalreporter, config):
    """The merged coverage of this run's simulations (the folder is removed once merged)."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller merges at the end
        return
    folder = Path(os.environ[COVERAGE_VARIABLE])
    if coverage_files(folder):
        terminalreporter.section("RTL functional coverage")
        for line in merge_coverage_files(folder):
            terminalreporter.write_line(line)
    shutil.rmtree(folder, ignore_errors=True)
    terminalreporter.write_line(seed_line(config))
