"""First-principles cost models: one per kind of device, each with parameters a calibration fits.

A model predicts the seconds ``Device.run`` takes for one job. Every model has the same shape,
``call overhead + work``, because that is where time goes on every device qfab drives: a fixed
price per call (Python, a kernel launch, a DMA set-up, a queue) and a price per parameter set
proportional to what the hardware must move or compute.

- :class:`CPUCostModel`: passes over the state from the fused program (``Program.num_blocks``),
  each pass moving ``2 x itemsize x 2**n`` bytes at the bandwidth of the level of memory the
  state lives in (a knee where it leaves the per-core cache), a dense k-qubit block weighted by
  Qiskit Aer's fused-gate cost table (the flops a wide block adds), small batches spread over
  cores one set per thread as the engine does.
- :class:`FPGACostModel`: the core's closed-form cycle counts (``qfab_hw.model.cycles``) at a
  calibrated time per cycle (the board's clock, or the host's speed for the bit-accurate model)
  plus the PS-PL transfer of program words and result beats.
- :class:`QPUCostModel`: the device's own estimate (queue, latency, shots x shot time).
- :class:`GenericCostModel`: any other device (the GPU, test doubles), from the rates its
  ``profile()`` declares: ``call_overhead_s`` plus ``seconds_per_set`` or passes x amplitudes x
  ``pass_seconds_per_amplitude``.

``cost_model_for(device, parameters)`` picks the model; calibrated ``parameters`` (from
:mod:`.calibrate`) override the defaults.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..devices.base import Device, Job

__all__ = ["CostModel", "CPUCostModel", "FPGACostModel", "QPUCostModel", "GenericCostModel", "cost_model_for",
           "transfer_bytes", "aer_fused_gate_cost"]


def aer_fused_gate_cost(kind: str, qubits: int) -> float:
    """Relative cost of one pass of a fused block, after Qiskit Aer's ``CostBasedFusion`` (AVX2):
    diagonal or permutation blocks and dense blocks of up to 2 qubits cost one pass, 3 qubits
    1.1, 4 qubits 3, wider ones 1.8**(k-2): the flops of a dense 2**k x 2**k product per
    amplitude start to dominate the bytes moved."""
    if kind != "dense" or qubits <= 2:
        return 1.0
    if qubits == 3:
        return 1.1
    if qubits == 4:
        return 3.0
    return 1.8 ** (qubits - 2)


def transfer_bytes(job: Job) -> int:
    """Bytes a job sends to a device and gets back: parameters in; values, gradients, states out."""
    batch, observables = job.batch, len(job.observables)
    out = batch * observables * 8
    if job.gradient:
        out += batch * observables * job.params.shape[1] * 8
    if job.want_state or job.shots:
        out += batch * (2 ** job.circuit.num_qubits) * np.dtype(job.dtype).itemsize
    return int(job.params.nbytes + out)


class CostModel:
    """Predicts ``Device.run`` seconds for one job from calibratable ``parameters``."""

    kind = "generic"
    defaults: dict = {}

    def __init__(self, device: Device, parameters: dict | None = None):
        self.device = device
        self.parameters = {**self.defaults, **self._from_profile(device), **(parameters or {})}

    def _from_profile(self, device: Device) -> dict:
        profile = device.profile().parameters
        return {key: profile[key] for key in self.defaults if profile.get(key) is not None}

    def predict(self, job: Job) -> float:
        raise NotImplementedError

    def link_seconds(self, job: Job) -> float:
        """Time to move the job's data to the device and back (zero for host memory)."""
        bandwidth = self.parameters.get("link_bytes_per_s")
        latency = self.parameters.get("link_latency_s", 0.0)
        return latency + (transfer_bytes(job) / bandwidth if bandwidth else 0.0)

    def expected_error(self, job: Job) -> float:
        """Worst error of a result against the exact value: 0 for double precision, the
        single-precision rounding for complex64, shot noise for sampled results, or what the
        device itself predicts (fixed-point error of the FPGA, hardware noise of a QPU)."""
        for method in ("predicted_error", "expected_error"):
            estimate = getattr(self.device, method, None)
            if callable(estimate):
                return float(estimate(job.circuit))
        if not self.device.capabilities.exact:
            return 1.0 / math.sqrt(job.shots or 1024)
        return 1e-6 if np.dtype(job.dtype) == np.complex64 else 1e-12


def _cache_bytes() -> int:
    """Per-core cache (L2) from sysfs; 512 KiB (where the reference machine's knee lies) if unreadable."""
    for index in (2, 1):
        path = f"/sys/devices/system/cpu/cpu0/cache/index{index}/size"
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        scale = {"K": 1024, "M": 1024 ** 2}.get(text[-1], 1)
        return int(text.rstrip("KM")) * scale
    return 512 * 1024


class CPUCostModel(CostModel):
    """``call_overhead_s + sets x (set_overhead_s + weighted passes x bytes per pass / bandwidth)``.

    The bandwidth is ``cache_bytes_per_s`` while the working state fits ``cache_bytes`` and
    ``dram_bytes_per_s`` beyond (section 2.2 of the scheduling reference: a single bandwidth
    mispredicts by 60 %, two regimes by 4-15 %). States of at most 13 qubits run one set per
    thread (the engine's ``_over_sets``), larger ones one set at a time over every thread.
    """

    kind = "cpu"
    defaults = {
        "call_overhead_s": 60e-6,
        "set_overhead_s": 2e-6,
        "cache_bytes_per_s": 8e9,
        "dram_bytes_per_s": 3.5e9,
        "cache_bytes": _cache_bytes(),
        "threads": os.cpu_count() or 1,
    }

    def _from_profile(self, device):
        profile = device.profile().parameters
        return {"threads": profile["threads"]} if profile.get("threads") else {}

    def features(self, job: Job) -> tuple[float, float, float, float]:
        """(calls, set-equivalents, bytes at cache speed, bytes at DRAM speed): the prediction
        is their dot product with (call overhead, set overhead, 1/cache bw, 1/DRAM bw)."""
        from ..engine.cpu import _SETS_PARALLEL_MAX_QUBITS
        from ..engine import kernels

        engine = getattr(self.device, "engine", None)
        circuit = job.circuit
        program = (engine.program(circuit) if engine is not None and hasattr(engine, "program")
                   else _default_program(circuit))
        kinds = {kernels.DIAGONAL: "diagonal", kernels.MONOMIAL: "monomial", kernels.DENSE: "dense"}
        weighted_passes = sum(aer_fused_gate_cost(kinds.get(kind, "dense"), len(qubits))
                              for kind, qubits in zip(program.block_kinds, program.block_qubits))
        observables = len(job.observables)
        terms = sum(len(s.x_masks) for s in job.observables)
        itemsize = np.dtype(job.dtype).itemsize
        state_bytes = itemsize * 2 ** circuit.num_qubits
        passes = 0.0  # passes over one state, each reading and writing it
        vectors = 1
        if job.want_state or job.shots:
            passes += weighted_passes + 0.5
        if observables:
            expectation = weighted_passes + 0.5 * terms
            if job.gradient == "adjoint":
                # forward, observables applied to copies, then every block un-applied on psi and
                # on each lambda, with one transition-matrix read of both per block
                passes += expectation + observables + (1 + observables) * 1.5 * weighted_passes
                vectors = 1 + observables
            elif job.gradient == "parameter-shift":
                shifted = sum(1 for op in circuit.operations if op.param is not None)
                passes += (1 + 2 * shifted) * expectation
            else:
                passes += expectation
        moved = 2 * state_bytes * passes
        threads = max(1, int(self.parameters["threads"]))
        over_sets = circuit.num_qubits <= _SETS_PARALLEL_MAX_QUBITS and job.batch >= min(2, threads)
        rounds = math.ceil(job.batch / threads) if over_sets else job.batch
        working = vectors * state_bytes
        in_cache = working <= self.parameters["cache_bytes"]
        per_round_bytes = moved * (1 if over_sets else 1.0 / threads) if in_cache else moved
        if not in_cache and over_sets:
            per_round_bytes = moved * min(threads, job.batch)  # every thread streams from DRAM at once
        total = rounds * per_round_bytes
        return 1.0, float(rounds), total if in_cache else 0.0, 0.0 if in_cache else total

    def predict(self, job: Job) -> float:
        calls, sets, cache_bytes, dram_bytes = self.features(job)
        p = self.parameters
        return (calls * p["call_overhead_s"] + sets * p["set_overhead_s"] + cache_bytes / p["cache_bytes_per_s"]
                + dram_bytes / p["dram_bytes_per_s"])


def _default_program(circuit):
    from ..engine import CPUEngine

    return CPUEngine().program(circuit)


class FPGACostModel(CostModel):
    """``call_overhead_s + cycles x seconds_per_cycle + 8 B x (words + beats) / link rate``.

    Cycles come from the core's closed form per instruction (INIT, one pass per native gate of
    ``pairs / lanes`` issue cycles plus the drain, one reduction per Pauli term), per parameter
    set and measurement basis; a parameter-shift gradient runs ``1 + 2 x rotations`` circuits.
    ``seconds_per_cycle`` is one over the board's clock on hardware; for the bit-accurate model
    it is the host's time per simulated cycle, which calibration measures.
    """

    kind = "fpga"
    defaults = {
        "call_overhead_s": 2e-3,
        "seconds_per_cycle": 1e-8,  # 100 MHz PL clock
        "word_bytes_per_s": 0.83 * 1200e6,  # HP port at the fraction reached in practice
        "set_overhead_s": 0.0,
    }

    def cycles_and_words(self, job: Job) -> tuple[int, int]:
        from qfab_hw.model.cycles import instruction_cycles
        from qfab_hw.program import Opcode

        from ..devices.fpga.compiler import measurement_groups

        params = self.device.params
        n = job.circuit.num_qubits
        gates = len(self.device.lowered(job.circuit).ops)
        gate_cycles = instruction_cycles(Opcode.GATE_U, n, params)  # the general gate bounds the others
        init = instruction_cycles(Opcode.INIT, n, params)
        if job.observables:
            groups = measurement_groups(list(job.observables), n)
            terms = sum(1 for _, members in groups for _, mask, _ in members if mask)
            per_circuit = len(groups) * (init + gates * gate_cycles) + terms * instruction_cycles(Opcode.READ_EXPZ, n, params)
            words_per_circuit = len(groups) * (1 + 4 * gates) + terms * 2
            beats = terms
        else:
            per_circuit = init + gates * gate_cycles + instruction_cycles(Opcode.READ_STATE, n, params)
            words_per_circuit = 1 + 4 * gates + 1
            beats = 2 ** n
        circuits = job.batch
        if job.gradient == "parameter-shift" and job.observables:
            circuits *= 1 + 2 * sum(1 for op in job.circuit.operations if op.param is not None)
        return circuits * per_circuit, circuits * (words_per_circuit + beats)

    def predict(self, job: Job) -> float:
        cycles, words = self.cycles_and_words(job)
        p = self.parameters
        return (p["call_overhead_s"] + job.batch * p["set_overhead_s"] + cycles * p["seconds_per_cycle"]
                + 8 * words / p["word_bytes_per_s"])


class QPUCostModel(CostModel):
    """The QPU's own estimate: queue + latency + runs x shots x (rep delay + readout + depth)."""

    kind = "qpu"

    def predict(self, job: Job) -> float:
        return float(self.device.estimated_seconds(job.circuit, job.batch, job.shots, bool(job.gradient)))


class GenericCostModel(CostModel):
    """Any device that declares its rates in ``profile()``: ``call_overhead_s`` plus per set
    either ``seconds_per_set`` or weighted passes x ``2**n`` x ``pass_seconds_per_amplitude``;
    ``link_bytes_per_s``/``link_latency_s`` for a device behind a bus or a network."""

    kind = "generic"
    defaults = {
        "call_overhead_s": 1e-3,
        "seconds_per_set": None,
        "pass_seconds_per_amplitude": 2e-9,
        "launch_overhead_s": None,
        "link_bytes_per_s": None,
        "link_latency_s": 0.0,
    }

    def predict(self, job: Job) -> float:
        p = self.parameters
        if p["seconds_per_set"] is not None:
            per_set = p["seconds_per_set"]
        else:
            program = _default_program(job.circuit)
            passes = program.num_blocks * (1 + len(job.observables)) * (3 if job.gradient else 1)
            per_set = passes * 2 ** job.circuit.num_qubits * p["pass_seconds_per_amplitude"]
            per_set += (p["launch_overhead_s"] or 0.0) * program.num_blocks
        return p["call_overhead_s"] + job.batch * per_set


def cost_model_for(device: Device, parameters: dict | None = None) -> CostModel:
    """The model for ``device``'s kind (by its profile's ``kind`` or its name), calibrated by ``parameters``."""
    kind = device.profile().parameters.get("kind") or device.name
    model = {"cpu": CPUCostModel, "fpga": FPGACostModel, "qpu": QPUCostModel}.get(kind, GenericCostModel)
    if model is FPGACostModel and not hasattr(device, "lowered"):
        model = GenericCostModel
    if model is CPUCostModel and not hasattr(device, "engine"):
        model = GenericCostModel
    return model(device, parameters)
