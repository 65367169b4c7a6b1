"""A board that is not attached, as a device the planner can price: the build that board would run.

``BoardFPGA(board, params, driver)`` lowers and counts circuits like any
:class:`~qfab.backends.fpga.FPGADevice` (on the bit-accurate model's transport, which it never
runs) and hands out the :class:`~qfab.backends.fpga.costmodel.FPGACostModel` of ``board``: the
board's PL clock per cycle, its PS-PL link, and the driver on its processor (this host's
measured time per call and per word, ``calibration.driver_cost``, scaled by ``PS_SLOWDOWN``).
A job is priced as driver v2 runs it, its program resident (a training step after the first). The co-design explorer plans every board x
core build with these before anything is built.
"""
from __future__ import annotations

from qfab_hw import CoreParams
from qfab_hw.boards import Board

from qfab.backends.base import DeviceProfile
from qfab.backends.fpga.costmodel import DriverCost, FPGACostModel
from qfab.backends.fpga.device import FPGADevice

__all__ = ["BoardFPGA"]


class BoardFPGA(FPGADevice):
    """The core of build ``params`` on ``board``, for prediction: its cost model prices it as
    that board would run it; ``host_word_seconds`` is this host's driver cost, a
    :class:`~qfab.backends.fpga.costmodel.DriverCost` (per call and per word,
    :func:`~qfab.backends.fpga.calibration.driver_cost`) or a bare time per word."""

    def __init__(self, board: Board, params: CoreParams, host_word_seconds: DriverCost | float):
        super().__init__("model", params)
        self.board = board
        self.host_word_seconds = host_word_seconds
        self.name = f"fpga[{board.key} {params.lanes}L W{params.width} Q{params.max_qubits}]"

    def profile(self) -> DeviceProfile:
        """The build's profile on the board: a board is hardware beside the host's cores."""
        profile = super().profile()
        profile.parameters.update({"transport": f"board:{self.board.key}", "shares_host": False})
        return profile

    def cost_model(self, parameters: dict | None = None) -> FPGACostModel:
        return FPGACostModel(self, parameters, board=self.board, host_seconds_per_word=self.host_word_seconds)

    def breakdown(self, job) -> dict[str, float]:
        """Where ``job``'s predicted time goes on the board (:meth:`FPGADevice.cost_breakdown`)."""
        return self.cost_breakdown(job)

    def run(self, jobs):
        raise RuntimeError(f"{self.name} is a prediction of a board that is not attached; build it first")
