"""The scheduler's view of cost models: every device prices itself (``Device.cost_model``).

Each backend package brings its model, and this module names them where the scheduling docs
do:

- :class:`CPUCostModel` (``qfab.backends.cpu.costmodel``): passes over the state from the
  fused program, each pass moving ``2 x itemsize x 2**n`` bytes at a time per byte that depends
  on the working set (cache levels), plus the flops of dense blocks, kernel launches, per-set
  matrix building and call overheads; small batches spread over cores one set per thread as
  the engine does.
- :class:`FPGACostModel` (``qfab.backends.fpga.costmodel``): on a board, the core's cycle
  counts (``qfab_hw.model.cycles``) at its clock plus the PS-PL transfer of program words and
  result beats and the driver's time; the bit-accurate model, host seconds per call,
  instruction, amplitude and word.
- :class:`QPUCostModel` (``qfab.backends.qpu.costmodel``): the device's own estimate (queue,
  latency, shots x shot time).
- :class:`GPUCostModel` (``qfab.backends.gpu.costmodel``): the generic rates over the fused
  blocks the GPU runs.
- :class:`GenericCostModel` (``qfab.backends.costmodel``): any other device (test doubles, a
  backend registered from outside), from the rates its ``profile()`` declares.

``cost_model_for(device, parameters)`` is ``device.cost_model(parameters)``; calibrated
``parameters`` (from :mod:`.calibrate`) override the defaults. The kinds' models load with
their backend, on first use, so importing the scheduler imports no backend.
"""
from __future__ import annotations

import importlib

from qfab.backends.base import Device
from qfab.backends.costmodel import CostModel, GenericCostModel, transfer_bytes

__all__ = ["CostModel", "CPUCostModel", "FPGACostModel", "QPUCostModel", "GPUCostModel", "GenericCostModel",
           "cost_model_for", "transfer_bytes"]

# Each kind's model by the backend module that defines it, loaded on first use.
_KIND_MODELS = {"CPUCostModel": "cpu", "FPGACostModel": "fpga", "QPUCostModel": "qpu", "GPUCostModel": "gpu"}


def cost_model_for(device: Device, parameters: dict | None = None) -> CostModel:
    """``device``'s own model (``device.cost_model``), calibrated by ``parameters``."""
    return device.cost_model(parameters)


def __getattr__(name):
    if name in _KIND_MODELS:
        return getattr(importlib.import_module(f"qfab.backends.{_KIND_MODELS[name]}.costmodel"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
