"""An in-process stand-in for the parts of ``pynq`` that qfab's PYNQ transport uses.

``Overlay`` (with an ``axi_dma`` whose send/receive channels take ``transfer`` and report
``idle``, and the core's AXI-Lite registers as ``qfab`` with ``read``/``write``) and
``allocate``. Behind it runs the real RTL: when the driver writes START, the words in the send
buffer go through the Verilator simulation and its beats land in the receive buffer, so the
board path is exercised with the hardware's own answers. ``hang=True`` makes the receive channel
never complete, like a DMA whose TLAST never came.
"""
from __future__ import annotations

import numpy as np
from qfab_hw.register_map import CONTROL_RESET, CONTROL_START, STATUS_DONE, STATUS_ERROR_SHIFT, STATUS_OVERFLOW, Register


class Buffer(np.ndarray):
    def freebuffer(self) -> None:
        self.freed = True


class Channel:
    def __init__(self):
        self.buffer = None
        self.idle = True

    def transfer(self, buffer) -> None:
        self.buffer = buffer
        self.idle = False


class DMA:
    def __init__(self):
        self.sendchannel = Channel()
        self.recvchannel = Channel()


class CoreRegisters:
    def __init__(self, standin, dma):
        self.standin, self.dma = standin, dma
        self.values = {Register.STATUS: 0, Register.CYCLES_LO: 0, Register.CYCLES_HI: 0,
                       Register.BUILD: standin.reported_build or standin.reported_params.build_word,
                       Register.BUILD2: standin.reported_params.build2_word}

    def read(self, offset: int) -> int:
        return self.values[Register(offset)]

    def write(self, offset: int, value: int) -> None:
        if offset != Register.CONTROL:
            return
        if value >> CONTROL_RESET & 1:
            self.values[Register.STATUS] = 0
        if value >> CONTROL_START & 1:
            self.start()

    def start(self) -> None:
        send, receive = self.dma.sendchannel, self.dma.recvchannel
        run = self.standin.backend.execute([int(w) for w in send.buffer], len(receive.buffer), 600)
        send.idle = True
        receive.buffer[: len(run.beats)] = np.asarray(run.beats, dtype=np.uint64)
        receive.idle = not self.standin.hang
        self.standin.runs += 1
        self.values[Register.STATUS] = (1 << STATUS_DONE | int(run.overflow) << STATUS_OVERFLOW
                                        | int(run.error) << STATUS_ERROR_SHIFT)
        self.values[Register.CYCLES_LO] = run.cycles & 0xFFFFFFFF
        self.values[Register.CYCLES_HI] = run.cycles >> 32


class Overlay:
    def __init__(self, standin, bitfile: str):
        standin.loaded.append(bitfile)
        self.axi_dma = DMA()
        self.qfab = CoreRegisters(standin, self.axi_dma)


class PynqStandin:
    """Module-like: pass as ``pynq_module`` to :class:`qfab.backends.fpga.PynqTransport`."""

    def __init__(self, backend, reported_params=None, hang: bool = False, reported_build=None):
        """``reported_params`` / ``reported_build``: what the BUILD and BUILD2 registers say
        (default: the backend's build; a raw BUILD word to play an old core)."""
        self.backend = backend
        self.reported_params = reported_params or backend.params
        self.reported_build = reported_build
        self.hang = hang
        self.loaded: list[str] = []
        self.runs = 0

    def Overlay(self, bitfile: str) -> Overlay:  # noqa: N802 (pynq's name)
        return Overlay(self, bitfile)

    def allocate(self, shape, dtype) -> Buffer:
        return np.zeros(shape, dtype=dtype).view(Buffer)
