"""First-principles cost models: one per kind of device, each with parameters a calibration fits.

A model predicts the seconds ``Device.run`` takes for one job. Every model has the same shape,
``call overhead + work``, because that is where time goes on every device qfab drives: a fixed
price per call (Python, a kernel launch, a DMA set-up, a queue) and a price per parameter set
proportional to what the hardware must move or compute.

- :class:`CPUCostModel`: passes over the state from the fused program (``Program.num_blocks``),
  each pass moving ``2 x itemsize x 2**n`` bytes at a time per byte that depends on the working
  set (cache levels), plus the flops of dense blocks, kernel launches, per-set matrix building
  and call overheads; small batches spread over cores one set per thread as the engine does.
- :class:`FPGACostModel`: on a board, the core's cycle counts (``qfab_hw.model.cycles``) at its
  clock plus the PS-PL transfer of program words and result beats; the bit-accurate model, host
  seconds per call, instruction, amplitude and word.
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

import numpy as np

from qfab.backends.base import Device, Job
from qfab.core.shift import shifted_circuit_count

__all__ = ["CostModel", "CPUCostModel", "FPGACostModel", "QPUCostModel", "GenericCostModel", "cost_model_for",
           "transfer_bytes"]


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


# Working-set sizes (log2 bytes) at which the CPU model's time per byte is fitted; between two
# knots it is interpolated linearly in log2(working set), outside them held at the end value.
# 2**14 B: an L1-sized 10-qubit state; 2**18: 14 qubits, in the per-core L2; 2**21: 17 qubits,
# past L2; 2**24: 20 qubits, past what a shared L3 gives one process; beyond, DRAM.
BYTE_KNOTS = (14, 18, 21, 24)


def _knot_weights(working_bytes: float) -> list[float]:
    """Hat-function weights of ``working_bytes`` on :data:`BYTE_KNOTS` (they sum to one)."""
    x = math.log2(max(working_bytes, 1.0))
    knots = BYTE_KNOTS
    if x <= knots[0]:
        return [1.0] + [0.0] * (len(knots) - 1)
    if x >= knots[-1]:
        return [0.0] * (len(knots) - 1) + [1.0]
    weights = [0.0] * len(knots)
    for i in range(len(knots) - 1):
        if knots[i] <= x <= knots[i + 1]:
            t = (x - knots[i]) / (knots[i + 1] - knots[i])
            weights[i], weights[i + 1] = 1.0 - t, t
            break
    return weights


class CPUCostModel(CostModel):
    """``features(job) . parameters``: per call, per parameter set, per parallel kernel launch,
    per element of the small block matrices built per set, and per byte moved over the state,
    the time per byte depending on the working set (:data:`BYTE_KNOTS`).

    Where the time goes in the engine (``qfab.backends.cpu``), and why each term is there:

    - a fixed price per engine call (Python, argument packing, the numba dispatch; an adjoint
      job makes two calls: values, then the gradient);
    - states of at most 13 qubits, and larger ones while a set's states fit the per-core cache,
      run one parameter set per thread, serial kernels (the engine's ``runs_over_sets``), so
      sets cost ``ceil(batch / threads)`` rounds; larger states
      (and single sets) run one set at a time with every kernel a ``prange`` over chunks, which
      costs a launch per kernel (tens of microseconds: it dominates small states) and splits
      the bytes over the threads;
    - every block with a rotation has its ``2**k x 2**k`` matrix rebuilt per set, and the
      adjoint pass multiplies per gate into the transition matrices: flops on small matrices,
      not on the state;
    - each pass over the state reads and writes it; a dense k-qubit block also does ``2**k``
      multiply-adds per amplitude (``flop_s``: the compute Qiskit Aer's fused-gate cost table
      approximates, here its own term, so a wide block costs what it costs on this core rather
      than a fixed multiple of a pass); the time per byte is a measured curve over the working set
      (section 2.2 of the scheduling reference: one bandwidth mispredicts by 60 %), fitted at a
      few knots and interpolated in log2(bytes) between them (L1, L2, past L2, past L3), with
      its own curve for serial kernels over sets (the first three knots: sets run one per thread
      while a set's states fit the per-core cache).

    Every term is linear in a parameter, so calibration fits them all by least squares; the one
    shape parameter, ``backward_weight`` (the adjoint's backward sweep against a forward pass),
    by a line search around that fit.
    """

    kind = "cpu"
    #: The fitted parameters, in the order of :meth:`features`.
    FEATURES = ("call_overhead_s", "set_overhead_s", "launch_overhead_s", "matrix_element_s") + tuple(
        f"byte_s_ws{k}" for k in BYTE_KNOTS) + tuple(f"set_byte_s_ws{k}" for k in BYTE_KNOTS[:3]) + ("flop_s",)
    defaults = {  # calibrate() on the 2-core reference VM (load 2, OMP_WAIT_POLICY=passive)
        "call_overhead_s": 120e-6,
        "set_overhead_s": 13e-6,
        "launch_overhead_s": 13e-6,
        "matrix_element_s": 18e-9,
        "byte_s_ws14": 8e-10,
        "byte_s_ws18": 3.7e-10,
        "byte_s_ws21": 2.4e-10,
        "byte_s_ws24": 2.6e-10,
        "set_byte_s_ws14": 1.1e-10,
        "set_byte_s_ws18": 1.35e-10,
        "set_byte_s_ws21": 1.35e-10,  # sets per thread past 14 qubits (L2-sized states): a fit at load 1
        "flop_s": 1.9e-10,  # one complex multiply-add of a dense block, per amplitude
        # passes per vector per block of the adjoint's backward sweep: the un-apply, and the
        # transition-matrix accumulation, which is as many flops again (not linear: calibration
        # picks it by a line search)
        "backward_weight": 3.5,
        "threads": os.cpu_count() or 1,
    }

    def _from_profile(self, device):
        profile = device.profile().parameters
        return {"threads": profile["threads"]} if profile.get("threads") else {}

    def features(self, job: Job) -> tuple[float, ...]:
        """The job's counts, one per entry of :attr:`FEATURES`: the prediction is their dot
        product with the parameters."""
        from qfab.backends.cpu import kernels
        from qfab.backends.cpu.simulator import runs_over_sets

        engine = getattr(self.device, "engine", None)
        circuit = job.circuit
        program = (engine.program(circuit) if engine is not None and hasattr(engine, "program")
                   else _default_program(circuit))
        blocks = program.num_blocks
        # per amplitude, a dense k-qubit block multiplies by a 2**k x 2**k matrix: 2**k
        # multiply-adds (diagonal and permutation blocks: one, in the pass itself)
        dense = float(sum(2 ** len(qubits) for kind, qubits in zip(program.block_kinds, program.block_qubits)
                          if kind == kernels.DENSE))
        forward = blocks + 0.5  # a pass per block, after writing |0> over the whole state
        b_nq, b_gstart, b_gend, b_param = (program.arrays[i] for i in (0, 3, 4, 7))
        # gates x matrix elements of the blocks rebuilt per set (those with a rotation)
        build = float(sum((b_gend[i] - b_gstart[i]) * 4 ** b_nq[i] for i in range(blocks) if b_param[i]))
        observables = len(job.observables)
        terms = sum(len(s.x_masks) for s in job.observables)
        state_bytes = np.dtype(job.dtype).itemsize * 2 ** circuit.num_qubits
        calls = passes = flops = launches = matrix = 0.0
        rows = 1  # parameter sets per set of the job (parameter shift multiplies them)
        vectors = 1
        if job.want_state or job.shots:
            calls, passes, flops, launches, matrix = calls + 1, passes + forward, flops + dense, launches + blocks, matrix + build
        if observables:
            calls += 1
            passes += forward + 0.5 * terms  # forward, then each term reads the state
            flops += dense
            launches += blocks + observables
            matrix += build
            if job.gradient == "adjoint":
                # a second call: forward again, each observable applied into its lambda, then
                # every block un-applied on psi and each lambda with the transition-matrix read
                calls += 1
                backward = (1 + observables) * self.parameters["backward_weight"]
                passes += forward + terms + backward * blocks
                flops += dense + backward * dense
                launches += 2 * blocks + observables
                matrix += build * (2 + 2 * observables)
                vectors = 1 + observables
            elif job.gradient == "parameter-shift":
                calls += 1
                rows = 1 + shifted_circuit_count(circuit)
        sets = job.batch * rows
        threads = max(1, int(self.parameters["threads"]))
        over_sets = runs_over_sets(circuit.num_qubits, sets, vectors, np.dtype(job.dtype).itemsize)
        amplitudes = 2 ** circuit.num_qubits
        if over_sets:  # one set per thread, serial kernels: no launches, full work per set
            rounds = math.ceil(sets / threads)
            launches, per_round_bytes, per_round_flops = 0.0, 2 * state_bytes * passes, amplitudes * flops
        else:  # one set at a time, every kernel over all threads
            rounds = sets
            per_round_bytes = 2 * state_bytes * passes / threads
            per_round_flops = amplitudes * flops / threads
        weights = _knot_weights(vectors * state_bytes)
        moved = rounds * per_round_bytes
        # serial kernels on a thread's own state (over sets) stream faster than the same bytes
        # cut into chunks over threads: their own time per byte, at the two knots they reach
        chunked = [0.0 if over_sets else moved * w for w in weights]
        serial = [moved * w for w in weights[:3]] if over_sets else [0.0, 0.0, 0.0]
        serial[2] += sum(weights[3:]) * moved if over_sets else 0.0
        return (calls, float(rounds), rounds * launches, rounds * matrix, *chunked, *serial, rounds * per_round_flops)

    def predict(self, job: Job) -> float:
        return float(sum(f * self.parameters[name] for f, name in zip(self.features(job), self.FEATURES)))


def _default_program(circuit):
    from qfab.backends.cpu import CPUEngine

    return CPUEngine().program(circuit)


class FPGACostModel(CostModel):
    """An FPGA core: on a board, ``call_overhead_s + cycles x seconds_per_cycle + 8 B x (words +
    beats) / link rate``; for the bit-accurate model (transport ``"model"``), host seconds.

    Cycles come from the core's closed form per instruction (INIT, one pass per fused gate of
    ``pairs / lanes`` issue cycles plus its coefficient words and the drain, one reduction per
    Pauli term) summed over the program the driver assembles, per parameter set and measurement
    basis; a parameter-shift gradient runs ``1 + 2 x rotations`` circuits.
    ``seconds_per_cycle`` is one over the board's clock; under Verilator it is the host's time
    per simulated cycle (an RTL simulator's work is per clock), which calibration measures.

    The bit-accurate model is numpy on the host, not a clock: its time is a Python price per
    instruction (decode, a dozen numpy calls), a numpy price per amplitude each instruction
    touches (``2**n`` per gate, INIT and reduction) and a Python price per program word
    (assembled per set, unpacked by the model), plus the call. Those four are
    :attr:`HOST_FEATURES`, fitted by calibration; cycles x any clock would mispredict it by 2x
    across sizes (a 7-qubit gate costs 4x the cycles of a 5-qubit one, but not 4x the time).
    """

    kind = "fpga"
    HOST_FEATURES = ("host_call_overhead_s", "instruction_s", "amplitude_s", "word_s")
    defaults = {
        "call_overhead_s": 2e-3,
        "seconds_per_cycle": 1e-8,  # 100 MHz PL clock
        "word_bytes_per_s": 0.83 * 1200e6,  # HP port at the fraction reached in practice
        "set_overhead_s": 0.0,
        # the bit-accurate model on a host (a fit on the 2-core reference VM)
        "host_call_overhead_s": 20e-6,
        "instruction_s": 30e-6,
        "amplitude_s": 10e-9,
        "word_s": 8e-6,
    }

    @property
    def host_model(self) -> bool:
        """Whether the device is the bit-accurate numpy model (priced by :attr:`HOST_FEATURES`)."""
        return self.device.profile().parameters.get("transport") == "model"

    def cycles_and_words(self, job: Job) -> tuple[int, int]:
        """Core cycles and 64-bit words moved (program in, beats out) for the whole job, counted
        on the program the driver assembles (``FPGADevice.program_counts``): each fused gate at
        its own instruction's cycles and coefficient words, so exact rather than a bound."""
        cycles, words, beats = self.device.program_counts(job)
        return cycles, words + beats

    def host_features(self, job: Job) -> tuple[float, float, float, float]:
        """(calls, instructions, amplitudes touched, words) for the bit-accurate model, in the
        order of :attr:`HOST_FEATURES`: counted on the assembled program (fused gates, basis
        changes, reads), every instruction but END touching the whole state."""
        n = max(job.circuit.num_qubits, self.device.params.min_qubits)
        instructions = self.device.program_instructions(job)
        _, words = self.cycles_and_words(job)
        return 1.0, float(instructions), float((instructions - 1) * 2 ** n), float(words)

    def predict(self, job: Job) -> float:
        p = self.parameters
        if self.host_model:
            return float(sum(f * p[name] for f, name in zip(self.host_features(job), self.HOST_FEATURES)))
        cycles, words = self.cycles_and_words(job)
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
