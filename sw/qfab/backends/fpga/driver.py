"""The FPGA driver, written once and free of I/O.

Instruction set v2 (hw/README.md): a circuit structure is lowered once to a stored program per
measurement (compiler.py, :func:`~.compiler.stored_program`), cached here by structure, and a call
is ``[PROGRAM ...] LOAD_PARAMS RUN | RUN_SHIFT | RUN_ADJOINT ... END``: the program only when the
core does not hold it already, then the parameter sets (two angle words per 64-bit word, packed as
arrays) and one header per program; values and gradients come back reduced on chip and are decoded
as arrays. So a training step sends about ``B·P/2`` words instead of one bound circuit per set and
per shifted angle, and its host work no longer grows with the gates. What does not change from
call to call is cached by structure: the plan (:func:`call_plan`, which did the checks) and, per
batch size and resident program, the call's words but the angles (a read-only layout); a call
copies those words, packs its angles into them and decodes its beats, a dozen array operations
whatever the batch, and builds no Python list of words. Transports (``transports.py``)
only move words and read registers; the model, the Verilator simulation and a PYNQ board therefore
run the same bits.

Which programs a job needs (:func:`call_plan`): a state (``want_state``, or shots, which are drawn
from it) is a program ending in READ_STATE, run by RUN. An observable is measured per qubit-wise
commuting group of its Pauli terms (:func:`~.compiler.measurement_groups`), one program per group
ending in the group's basis change: for gradients, and for the values of one observable, the
group's terms as OBS weights (the core reduces them to one value, and RUN_SHIFT / RUN_ADJOINT
differentiate it), one program per observable and group; for the values of K > 1 observables, the
groups of all K together with one READ_EXPZ per term, combined on the host, so K observables on
the same qubits cost one replay per group instead of K. Identity terms are constants added on the
host. All the programs of a call go in its one word stream; the core holds one program at a time,
so a job with several re-sends all but the first on every call (a single-group observable, the
usual cost function, sends its program once for a whole training run).

The v1 builders at the end (:func:`state_program`, :func:`expectation_program`: every set bound on
the host into gate words) are no longer the device's path; they stay only for the v1 comparison
in ``benchmarks/fpga_step.py`` (host time, words and cycles of the same step).
"""
from __future__ import annotations

import math
import sys
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from qfab_hw import Assembler, CoreParams, ErrorCode
from qfab_hw.model.cycles import HEADER_CYCLES, load_params_cycles, program_cycles, run_cycles, shift_terms
from qfab_hw.program import (ANGLE_WORD_RADIANS, GATE_ROW_WORDS, LAST_BIT, PROGRAM_GATE_OPCODES, READ_OPCODES, Opcode,
                             decode_amplitudes, decode_expectation, load_params_words,
                             param_payload_words, run_word)

from qfab.core.observables import PauliSum
from qfab.errors import DeviceError
from qfab.backends.base import DeviceCapabilityError, Job
from qfab.backends.fpga.compiler import (LoweredCircuit, Measurement, StoredProgram, basis_change, gate_words, lower,
                                         measurement_groups, phase_factor, stored_program, structure_key,
                                         weight_scale)

__all__ = ["CoreRun", "FPGAError", "FPGAOverflowError", "Program", "state_program", "expectation_program", "check_run",
           "lowered", "Segment", "CallPlan", "Call", "CallCounts", "CallResult", "call_plan", "call_words",
           "call_counts", "run_call"]


class FPGAError(DeviceError):
    """The core reported an error, or a transport failed (timeout, missing overlay): a
    :class:`qfab.errors.DeviceError` (so a ``RuntimeError``, as it was before the families).
    :class:`FPGAOverflowError` and :class:`~qfab.backends.fpga.transports.FPGATimeoutError`
    derive from it."""


class FPGAOverflowError(FPGAError):
    """Saturation happened: the fixed-point result is not trustworthy."""


@dataclass
class CoreRun:
    """What a transport returns: the output beats and the STATUS/CYCLES registers."""

    beats: list[int]
    error: ErrorCode
    overflow: bool
    cycles: int
    seconds: float = 0.0


def check_run(run: CoreRun, program, what: str) -> None:
    """Turn the core's flags into errors that name the circuit, and catch lost beats
    (``program``: a :class:`Call` or a v1 :class:`Program`, anything with ``beats_expected``)."""
    if run.error != ErrorCode.NONE:
        raise FPGAError(f"the FPGA core rejected the program for {what}: error {run.error.name}")
    if run.overflow:
        raise FPGAOverflowError(f"fixed-point overflow (saturation) while running {what}; the result is not exact")
    if len(run.beats) != program.beats_expected:
        raise FPGAError(f"{what}: expected {program.beats_expected} output beats, got {len(run.beats)}")


_END = np.array(Assembler().end().words(), dtype=np.uint64)  # no readout before it: just the END word


# ---------------------------------------------------------------- v2: stored program, parameters per call

class _LRU:
    """A dict bounded to ``size`` entries that forgets the least recently used: the caches by
    structure keep a working set however many structures a long session sees. Locked, since
    the runtime may run several FPGA devices from threads and the caches are shared."""

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, make):
        with self.lock:
            value = self.entries.get(key, _MISSING)
            if value is not _MISSING:
                self.entries.move_to_end(key)
                return value
            value = self.entries[key] = make()
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
            return value


_MISSING = object()
_RECENT = threading.local()  # call_plan's last job and plan, per thread
_LOWERED, _PROGRAMS, _PLANS, _LAYOUTS = _LRU(256), _LRU(512), _LRU(512), _LRU(1024)
_RUN_OPCODE = {None: Opcode.RUN, "parameter-shift": Opcode.RUN_SHIFT, "adjoint": Opcode.RUN_ADJOINT}
_FIELD_MAX = 0xFFFF  # LOAD_PARAMS' B and RUN's count are 16-bit fields


def lowered(circuit) -> LoweredCircuit:
    """``compiler.lower(circuit)``, once per circuit structure (:func:`~.compiler.structure_key`),
    and kept on the (immutable) circuit object: a call asks for it several times, and only the
    first on a new object compares its structure with the cached ones."""
    found = circuit.__dict__.get("_qfab_fpga_lowered")
    if found is None:
        found = _LOWERED.get(structure_key(circuit), lambda: lower(circuit))
        circuit.__dict__["_qfab_fpga_lowered"] = found
    return found


@dataclass(frozen=True, eq=False)
class Segment:
    """One stored program of a call: its key (what ``Transport.resident`` is compared with),
    how it runs and where its beats go."""

    key: tuple
    program: StoredProgram
    opcode: Opcode  # RUN, RUN_SHIFT or RUN_ADJOINT
    role: str  # "state", "readout" or "cost"
    observable: int = 0  # cost: the observable its value (and gradients) add to
    scale: float = 1.0  # cost: the weights' power-of-two scale (results are divided by it)
    readout: np.ndarray | None = None  # readout: (terms, K) coefficients of its READ_EXPZ beats

    def beats_per_set(self, param_count: int) -> int:
        return self.program.beats if self.opcode == Opcode.RUN else 1 + param_count


@dataclass(frozen=True, eq=False)
class CallPlan:
    """What a call runs for every job of one structure (circuit, observables, gradient method,
    state or not, build), whatever its parameter values."""

    segments: tuple[Segment, ...]
    slots: str  # "parameters" or "angles" (compiler.stored_program)
    param_count: int  # P of LOAD_PARAMS
    sets_per_load: int  # sets the parameter memory takes at once (a bigger batch is loaded in chunks)
    constants: np.ndarray  # (K,) the observables' identity terms
    gradient: bool
    angle_map: np.ndarray | None  # slots "angles": (rotations, P) d angle_j / d theta_i
    num_qubits: int
    num_parameters: int
    width: int

    def slot_values(self, thetas: np.ndarray, lowered: LoweredCircuit) -> np.ndarray:
        """The (B, param_count) values LOAD_PARAMS sends for circuit parameters ``thetas`` (a
        float64 array; returned as it is where the slots are the circuit's parameters)."""
        if self.slots == "parameters" and self.param_count == self.num_parameters:
            return thetas
        values = np.zeros((len(thetas), self.param_count))
        if self.slots == "angles":
            index, slope, offset = lowered.rotation_affine
            values[:, : len(index)] = thetas[:, index] * slope + offset
        else:
            values[:, : self.num_parameters] = thetas
        return values


def _sums_key(sums) -> tuple:
    return tuple((s.x_masks.tobytes(), s.z_masks.tobytes(), s.prefactors.tobytes()) for s in sums)


def _slots(lowered: LoweredCircuit, thetas: np.ndarray, params: CoreParams) -> str:
    """"parameters" where the core can read the circuit's parameters (slopes in Q4.28, values of
    parameters with non-integer slopes within [-2π, 2π), no more than ``max_params``), else
    "angles"."""
    if lowered.affine_fits and lowered.circuit.num_parameters <= params.max_params:
        if not len(lowered.range_limited):
            return "parameters"
        limited = thetas[:, lowered.range_limited]
        if ((limited >= -2 * math.pi) & (limited < 2 * math.pi)).all():
            return "parameters"
    return "angles"


def call_plan(lowered: LoweredCircuit, job: Job, params: CoreParams) -> CallPlan:
    """The :class:`CallPlan` of ``job`` (``lowered`` is its circuit's lowering) on build ``params``,
    cached by structure. Raises ``DeviceCapabilityError`` for what the build cannot hold: more
    parameters per set than ``max_params``, a program longer than ``program_depth``.

    ``FPGADevice.check`` and then ``run_call`` ask for the plan of the same job: the thread's
    last answer is kept for that job (its slots, which depend on the values, recomputed)."""
    thetas = np.asarray(job.params, dtype=np.float64)
    slots = _slots(lowered, thetas, params)
    recent = getattr(_RECENT, "plan", None)
    if recent is not None and recent[0]() is job and recent[1] is params and recent[2].slots == slots:
        return recent[2]
    sums = list(job.observables)
    gradient = job.gradient if sums else None
    key = (structure_key(lowered.circuit), _sums_key(sums), gradient, bool(job.want_state or job.shots), slots, params)
    plan = _PLANS.get(key, lambda: _make_plan(lowered, sums, gradient, key[3], slots, params))
    _RECENT.plan = (weakref.ref(job), params, plan)
    return plan


def _make_plan(lowered: LoweredCircuit, sums: list[PauliSum], gradient, want_state: bool, slots: str,
               params: CoreParams) -> CallPlan:
    circuit = lowered.circuit
    rotations = len(lowered.rotation_refs)
    param_count = max(1, circuit.num_parameters if slots == "parameters" else rotations)
    if param_count > params.max_params:
        raise DeviceCapabilityError(
            f"the circuit has {circuit.num_parameters} parameters in {rotations} rotations; this FPGA build takes "
            f"at most {params.max_params} per set (max_params)")
    structure = structure_key(circuit)
    opcode = _RUN_OPCODE[gradient]
    segments = []

    def segment(measurement: Measurement, opcode: Opcode, role: str, **fields) -> None:
        program_key = (structure, measurement, slots, params)
        program = _PROGRAMS.get(program_key, lambda: stored_program(lowered, measurement, params, slots))
        if program.stored_words > params.program_depth:
            raise DeviceCapabilityError(
                f"the stored program of this circuit is {program.stored_words} words; this FPGA build's "
                f"instruction memory holds {params.program_depth} (program_depth)")
        segments.append(Segment(program_key, program, opcode, role, **fields))

    if want_state:
        segment(Measurement("state"), Opcode.RUN, "state")
    constants = np.zeros(len(sums))
    if gradient is not None or len(sums) == 1:  # OBS terms: one program per observable and group
        for k, pauli_sum in enumerate(sums):
            for basis, terms in measurement_groups([pauli_sum], circuit.num_qubits):
                live = [(mask, c) for _, mask, c in terms if mask]
                constants[k] += sum(c for _, mask, c in terms if not mask)
                if live:
                    scale = weight_scale(c for _, c in live)
                    measurement = Measurement("cost", tuple(sorted(basis.items())), tuple(m for m, _ in live),
                                              tuple(c * scale for _, c in live))
                    segment(measurement, opcode, "cost", observable=k, scale=scale)
    else:  # values of K > 1 observables: READ_EXPZ per term, shared by the observables of a group
        for basis, terms in measurement_groups(sums, circuit.num_qubits):
            masks = list(dict.fromkeys(mask for _, mask, _ in terms if mask))
            readout = np.zeros((len(masks), len(sums)))
            for k, mask, c in terms:
                if mask:
                    readout[masks.index(mask), k] += c
                else:
                    constants[k] += c
            if masks:
                segment(Measurement("readout", tuple(sorted(basis.items())), tuple(masks)), Opcode.RUN, "readout",
                        readout=readout)
    angle_map = None
    if slots == "angles":
        index, slope, _ = lowered.rotation_affine
        angle_map = np.zeros((rotations, circuit.num_parameters))
        angle_map[np.arange(rotations), index] = slope
    return CallPlan(tuple(segments), slots, param_count, min(params.param_depth // param_count, _FIELD_MAX),
                    constants, gradient is not None, angle_map, circuit.num_qubits, circuit.num_parameters,
                    params.width)


def _schedule(plan: CallPlan, sets: int, resident) -> list[tuple[int, int, Segment, bool]]:
    """``(first set, sets, segment, send its program)`` in stream order: per load of the parameter
    memory, one run per program. A program's words go only where the core holds another one;
    the resident program runs first, and every other load takes the programs in reverse order,
    so that the last program of one load is the first of the next."""
    order = sorted(plan.segments, key=lambda segment: segment.key != resident)
    steps, current = [], resident
    for load, start in enumerate(range(0, sets, plan.sets_per_load)):
        size = min(plan.sets_per_load, sets - start)
        for segment in order if load % 2 == 0 else order[::-1]:
            steps.append((start, size, segment, segment.key != current))
            current = segment.key
    return steps


@dataclass(frozen=True, eq=False)
class Call:
    """One call's word stream (uint64, what the DMA send buffer holds) and what it returns."""

    words: np.ndarray
    beats_expected: int
    steps: tuple[tuple[int, int, Segment, bool], ...]

    @property
    def resident(self):
        """The key of the program the core holds after the call."""
        return self.steps[-1][2].key if self.steps else None


@dataclass(frozen=True, eq=False)
class _Layout:
    """What every call of one plan, batch size and resident program sends, but the angles:
    ``words`` with LOAD_PARAMS' payloads zero (its headers, the programs to send, the RUN*
    headers and END), ``loads`` the ``(payload word offset, first set, sets)`` of each
    LOAD_PARAMS, and per step where its beats start."""

    words: np.ndarray
    beats_expected: int
    steps: tuple[tuple[int, int, Segment, bool], ...]
    loads: tuple[tuple[int, int, int], ...]
    beats: tuple[tuple[int, int], ...]  # per step: (first beat, beats)
    has_state: bool
    direct: bool  # one step per observable over the whole batch, each a cost program: decoded without sums


def _layout(plan: CallPlan, sets: int, resident) -> _Layout:
    """The :class:`_Layout` of ``sets`` sets on ``plan`` when the core holds ``resident``, cached
    (by the plan, the batch and which of the plan's programs is resident, if any)."""
    index = -1
    if resident is not None:
        for position, segment in enumerate(plan.segments):
            if segment.key is resident or segment.key == resident:
                index, resident = position, segment.key
                break
        else:  # another structure's program: the call sends all of its own, as from nothing
            resident = None
    return _LAYOUTS.get((plan, sets, index), lambda: _make_layout(plan, sets, resident))


def _make_layout(plan: CallPlan, sets: int, resident) -> _Layout:
    steps = _schedule(plan, sets, resident)
    parts, loads, slices, loaded, position, beats = [], [], [], None, 0, 0
    for step, (start, size, segment, send) in enumerate(steps):
        if start != loaded:
            header = load_params_words(np.zeros((size, plan.param_count)))
            loads.append((position + 1, start, size))
            parts.append(header)
            position += len(header)
            loaded = start
        if send:
            parts.append(segment.program.words)
            position += len(segment.program.words)
        parts.append(np.array([run_word(segment.opcode, 0, size, last=step == len(steps) - 1)], dtype=np.uint64))
        position += 1
        count = size * segment.beats_per_set(plan.param_count)
        slices.append((beats, count))
        beats += count
    words = np.concatenate(parts + [_END])
    words.setflags(write=False)
    observables = [segment.observable for _, _, segment, _ in steps]
    direct = (bool(steps) and all(segment.role == "cost" and size == sets for _, size, segment, _ in steps)
              and sorted(observables) == list(range(len(plan.constants))))
    return _Layout(words, beats, tuple(steps), tuple(loads), tuple(slices),
                   any(segment.role == "state" for segment in plan.segments), direct)


_FOUR_PI = 4 * math.pi
_BIG_ENDIAN = sys.byteorder != "little"


def _pack(layout: _Layout, values: np.ndarray, param_count: int) -> np.ndarray:
    """The layout's words with the (B, param_count) radians ``values`` packed into LOAD_PARAMS:
    ``qfab_hw.program.load_params_words``' payload bit for bit (``angle_words``: the half-angle
    word ``floor(fmod(theta, 4 pi) / ANGLE_WORD_RADIANS + 0.5) mod 2**32``, two per 64-bit word,
    the first in the low half), computed over the whole batch in a few array operations and
    written into a copy of the layout's words in place."""
    if not values.size:
        return layout.words.copy()
    if -_FOUR_PI < values.min() and values.max() < _FOUR_PI:  # (not NaN) fmod would return them as they are
        angles = np.divide(values, ANGLE_WORD_RADIANS)
    elif not np.isfinite(values).all():
        raise ValueError("angles must be finite")
    else:
        angles = np.fmod(values, _FOUR_PI)
        np.divide(angles, ANGLE_WORD_RADIANS, out=angles)
    angles += 0.5
    fixed = np.floor(angles, out=np.empty(angles.shape, dtype=np.int64), casting="unsafe")
    words = layout.words.copy()
    if _BIG_ENDIAN:  # the halves in the other order: pair them arithmetically
        for offset, start, size in layout.loads:
            halves = np.zeros(2 * (size * param_count + 1 >> 1), dtype=np.uint64)
            halves[: size * param_count] = fixed[start:start + size].reshape(-1).astype(np.uint32)
            words[offset: offset + len(halves) // 2] = halves[0::2] | halves[1::2] << np.uint64(32)
        return words
    halves = words.view(np.uint32)  # little-endian: a 64-bit word's low half comes first
    for offset, start, size in layout.loads:
        chunk = fixed if size == len(fixed) else fixed[start:start + size]
        halves[2 * offset: 2 * offset + size * param_count] = chunk.reshape(-1)  # mod 2**32
    return words


def call_words(plan: CallPlan, values: np.ndarray, resident=None) -> Call:
    """The call for the (B, param_count) slot values (:meth:`CallPlan.slot_values`) when the
    core holds the program with key ``resident`` (None: none)."""
    layout = _layout(plan, len(values), resident)
    return Call(_pack(layout, np.asarray(values, dtype=np.float64), plan.param_count), layout.beats_expected,
                layout.steps)


def _fixed(beats: np.ndarray, width: int) -> np.ndarray:
    """Value and gradient beats (READ_EXPZ's, RUN's, RUN_SHIFT's and RUN_ADJOINT's format: signed
    64-bit, 2(W-2) fraction bits) as floats, ``qfab_hw.program.decode_gradients``' arithmetic
    over any number of beats at once."""
    return beats.view(np.int64) / 4.0 ** (width - 2)


@dataclass
class CallResult:
    states: np.ndarray | None  # (B, 2**n) complex128, with the circuit's global phase
    values: np.ndarray | None  # (B, K)
    gradients: np.ndarray | None  # (B, K, P)
    run: CoreRun | None  # None when nothing had to run (observables of identity terms only)
    words: int


def _decode(plan: CallPlan, layout: _Layout, beats, thetas: np.ndarray, circuit,
            lowered_circuit: LoweredCircuit, words: int) -> CallResult:
    sets, width, param_count = len(thetas), plan.width, plan.param_count
    table = np.asarray(beats, dtype=np.uint64)
    if layout.direct:  # each observable's value (and gradients) from its one program's beats
        return _decode_direct(plan, layout, _fixed(table, width), words)
    states = np.empty((sets, 2**plan.num_qubits), dtype=np.complex128) if layout.has_state else None
    values = np.repeat(plan.constants[None], sets, axis=0) if len(plan.constants) else None
    gradients = np.zeros((sets, len(plan.constants), param_count)) if plan.gradient else None
    if layout.steps and not layout.has_state:  # every beat a signed fixed-point value: one conversion
        table = _fixed(table, width)
    for (start, size, segment, _), (position, count) in zip(layout.steps, layout.beats):
        chunk, rows = table[position:position + count], slice(start, start + size)
        if layout.has_state and segment.role != "state":
            chunk = _fixed(chunk, width)
        if segment.role == "state":
            states[rows] = decode_amplitudes(chunk, width).reshape(size, -1)[:, : 2**plan.num_qubits]
        elif segment.role == "readout":
            values[rows] += chunk.reshape(size, -1) @ segment.readout
        elif segment.opcode == Opcode.RUN:
            values[rows, segment.observable] += chunk / segment.scale
        else:
            chunk = chunk.reshape(size, 1 + param_count)
            values[rows, segment.observable] += chunk[:, 0] / segment.scale
            gradients[rows, segment.observable] += chunk[:, 1:] / segment.scale
    if states is not None:
        constant, terms = circuit.global_phase
        phase = np.full(sets, constant + lowered_circuit.phase)
        for index, coefficient in terms:
            phase += coefficient * thetas[:, index]
        states *= np.exp(1j * phase)[:, None]
    return CallResult(states, values, _parameter_gradients(plan, gradients), None, words)


def _decode_direct(plan: CallPlan, layout: _Layout, table: np.ndarray, words: int) -> CallResult:
    """:func:`_decode` where every observable has one cost program run over the whole batch: its
    values are ``constant + value / scale`` and its gradients ``gradient / scale``, the same
    floats as the sums of the general path (which adds them to the constants and to zeros)."""
    sets, param_count = layout.steps[0][1], plan.param_count
    if len(layout.steps) == 1:
        _, _, segment, _ = layout.steps[0]
        if plan.gradient:
            block = table.reshape(sets, 1 + param_count)
            values = block[:, :1] / segment.scale + plan.constants
            gradients = (block[:, 1:] / segment.scale)[:, None, :]
        else:
            values = table.reshape(sets, 1) / segment.scale + plan.constants
            gradients = None
        return CallResult(None, values, _parameter_gradients(plan, gradients), None, words)
    values = np.empty((sets, len(plan.constants)))
    gradients = np.empty((sets, len(plan.constants), param_count)) if plan.gradient else None
    for (_, _, segment, _), (position, count) in zip(layout.steps, layout.beats):
        chunk, k = table[position:position + count], segment.observable
        if plan.gradient:
            chunk = chunk.reshape(sets, 1 + param_count)
            values[:, k] = chunk[:, 0] / segment.scale + plan.constants[k]
            gradients[:, k] = chunk[:, 1:] / segment.scale
        else:
            values[:, k] = chunk / segment.scale + plan.constants[k]
    return CallResult(None, values, _parameter_gradients(plan, gradients), None, words)


def _parameter_gradients(plan: CallPlan, gradients: np.ndarray | None) -> np.ndarray | None:
    """Gradients by the circuit's parameters from those by LOAD_PARAMS' slots."""
    if gradients is None:
        return None
    if plan.slots == "angles":
        return gradients[..., : len(plan.angle_map)] @ plan.angle_map
    return gradients[..., : plan.num_parameters]


def run_call(transport, lowered_circuit: LoweredCircuit, job: Job, timeout_s: float, what: str) -> CallResult:
    """Run ``job`` on ``transport`` in one call: its programs (those the core does not hold),
    its parameter sets, one run per program; the beats decoded into states, values and
    gradients. ``transport.resident`` follows the program the core holds.

    What does not change from call to call is cached by structure: the plan (``call_plan``,
    which also did the checks), and per batch size and resident program the call's constant
    words (:class:`_Layout`); a call packs its angles into a copy of those words and decodes
    the beats, each in a few array operations."""
    plan = call_plan(lowered_circuit, job, transport.params)
    thetas = np.asarray(job.params, dtype=np.float64)
    layout = _layout(plan, len(thetas), transport.resident if transport.keeps_state else None)
    if not layout.steps:
        return _decode(plan, layout, [], thetas, job.circuit, lowered_circuit, len(layout.words))
    call = Call(_pack(layout, plan.slot_values(thetas, lowered_circuit), plan.param_count), layout.beats_expected,
                layout.steps)
    transport.resident = None  # a fault, a timeout or a reset leaves the core's program unknown
    run = transport.execute(call.words, call.beats_expected, timeout_s)
    check_run(run, call, what)
    if transport.keeps_state:
        transport.resident = call.resident
    result = _decode(plan, layout, run.beats, thetas, job.circuit, lowered_circuit, len(call.words))
    result.run = run
    return result


@dataclass(frozen=True)
class CallCounts:
    """What one call of a job moves and costs: 64-bit words the host sends (``program_words``:
    the PROGRAMs it has to send, ``param_words``: LOAD_PARAMS headers and angles, ``run_words``:
    the RUN* headers and the END), beats it receives, the core's cycles (closed form,
    ``qfab_hw.model.cycles``: what the CYCLES register counts) and the instructions the core
    executes over the state (each replay's INIT, gates, rotations, OBS terms and readouts, the
    adjoint's backward passes and reductions): what the bit-accurate model's host time follows."""

    program_words: int
    param_words: int
    run_words: int
    beats: int
    cycles: int
    instructions: int

    @property
    def words(self) -> int:
        return self.program_words + self.param_words + self.run_words


def _set_instructions(segment: Segment) -> int:
    body = segment.program.body
    gates = sum(1 for i in body if i.opcode in PROGRAM_GATE_OPCODES)
    rotations = [i for i in body if i.opcode == Opcode.GATE_ROT]
    forward = 1 + gates + sum(1 for i in body if i.opcode == Opcode.OBS)  # INIT, gates, OBS terms
    if segment.opcode == Opcode.RUN:
        return forward + sum(1 for i in body if i.opcode in READ_OPCODES)
    if segment.opcode == Opcode.RUN_SHIFT:
        return (1 + sum(shift_terms(i) for i in rotations)) * forward
    return forward + 2 * gates + len(rotations)  # backward: psi and lambda per gate, one reduction per rotation


def call_counts(lowered_circuit: LoweredCircuit, job: Job, params: CoreParams, resident) -> CallCounts:
    """:class:`CallCounts` of one call of ``job`` on build ``params``. ``resident``: True, the core
    holds the program the same call left (every call of a training loop after the first);
    False, none of the job's programs; or a program key (``Transport.resident``): that one.
    Exact: the schedule of the call's words, the core's closed-form cycles."""
    plan = call_plan(lowered_circuit, job, params)
    if resident is True:  # what the same call, from nothing resident, leaves: its last program
        first = _schedule(plan, job.batch, None)
        resident = first[-1][2].key if first else None
    steps = _schedule(plan, job.batch, None if resident is False else resident)
    program_words = param_words = beats = cycles = instructions = 0
    loaded = None
    for start, size, segment, send in steps:
        if start != loaded:
            param_words += 1 + param_payload_words(plan.param_count, size)
            cycles += load_params_cycles(plan.param_count, size)
            loaded = start
        if send:
            program_words += len(segment.program.words)
            cycles += program_cycles(segment.program.stored_words)
        beats += size * segment.beats_per_set(plan.param_count)
        cycles += run_cycles(segment.opcode, segment.program.body, params, size, plan.param_count)
        instructions += size * _set_instructions(segment)
    run_words = len(steps) + 1 if steps else 0
    return CallCounts(program_words, param_words, run_words, beats, cycles + (HEADER_CYCLES if steps else 0),
                      instructions)


# ------------------------------------------------------------ v1: every set bound on the host (see above)

@dataclass
class Program:
    """``words`` is a uint64 array: what the DMA send buffer holds, copied in without conversion."""

    words: np.ndarray
    beats_expected: int
    decode: object  # callable(beats) -> result
    passes: int  # gate passes per parameter set, for the error estimate


def _core_qubits(lowered: LoweredCircuit, params: CoreParams) -> int:
    return max(lowered.circuit.num_qubits, params.min_qubits)


def _rows(assembler: Assembler) -> tuple[np.ndarray, np.ndarray]:
    """The assembler's instructions (the same for every set: INIT, basis changes, readouts) as
    rows of the layout :func:`gate_words` uses, so that they interleave with the gates."""
    words = np.zeros((1, len(assembler.instructions), GATE_ROW_WORDS), dtype=np.uint64)
    counts = np.zeros((1, len(assembler.instructions)), dtype=np.int64)
    for row, instruction in enumerate(assembler.instructions):
        encoded = instruction.words()
        words[0, row, : len(encoded)] = encoded
        counts[0, row] = len(encoded)
    return words, counts


def _stream(blocks, sets: int, last_readout: int | None) -> np.ndarray:
    """One program from per-set rows: set 0's rows in block order, then set 1's, ..., then END.

    ``blocks`` are ``(words, counts)`` pairs with 1 or ``sets`` leading rows; a row contributes
    its first ``counts`` words, so a set whose angle removed a pass simply has fewer words. The
    readout in row ``last_readout`` of the last set gets LAST, as ``Assembler.end`` marks the
    final readout, so one DMA receive completes.
    """
    if not blocks or not sets:
        return _END.copy()
    widths = [counts.shape[1] for _, counts in blocks]
    words = np.empty((sets, sum(widths), GATE_ROW_WORDS), dtype=np.uint64)
    counts = np.empty((sets, sum(widths)), dtype=np.int64)
    column = 0
    for (block_words, block_counts), width in zip(blocks, widths):
        words[:, column:column + width], counts[:, column:column + width] = block_words, block_counts
        column += width
    if last_readout is not None:
        words[-1, last_readout, 0] |= np.uint64(1 << LAST_BIT)
    present = np.arange(GATE_ROW_WORDS) < counts[..., None]
    return np.concatenate([words[present], _END])


def state_program(lowered: LoweredCircuit, thetas: np.ndarray, params: CoreParams) -> Program:
    """INIT, gates, READ_STATE per parameter set; decodes to ``(B, 2**n)`` complex amplitudes."""
    n, n_core = lowered.circuit.num_qubits, _core_qubits(lowered, params)
    gate_rows, counts = gate_words(lowered, thetas, params.width)
    blocks = [_rows(Assembler(params.width).init(n_core)), (gate_rows, counts),
              _rows(Assembler(params.width).read_state())]
    words = _stream(blocks, len(thetas), 1 + counts.shape[1])
    passes = int(np.count_nonzero(counts)) // max(len(thetas), 1)

    def decode(beats):
        size = 2**n_core
        states = np.array([decode_amplitudes(beats[b * size:(b + 1) * size], params.width)[: 2**n]
                           for b in range(len(thetas))])
        return states * np.array([phase_factor(lowered, t) for t in thetas])[:, None]

    return Program(words, len(thetas) * 2**n_core, decode, passes)


def expectation_program(lowered: LoweredCircuit, sums: list[PauliSum], thetas: np.ndarray, params: CoreParams) -> Program:
    """Per parameter set and measurement basis: INIT, gates, basis change, one READ_EXPZ per term.

    The reduction happens on chip, so a term costs one beat instead of 2**n amplitudes. The gates
    of a set are bound once and repeated for each basis.
    """
    n_core = _core_qubits(lowered, params)
    groups = measurement_groups(sums, lowered.circuit.num_qubits)
    gate_rows, counts = gate_words(lowered, thetas, params.width)
    init = _rows(Assembler(params.width).init(n_core))
    blocks, rows, last_readout, basis_passes = [], 0, None, 0
    for basis, terms in groups:
        changes, readouts = Assembler(params.width), Assembler(params.width)
        for qubit, rotation in basis_change(basis):
            changes.unitary(rotation, qubit)
        for _, mask, _ in terms:
            if mask:  # the identity term needs no readout: its value is 1
                readouts.expect_z([q for q in range(n_core) if (mask >> q) & 1])
        blocks += [init, (gate_rows, counts), _rows(changes), _rows(readouts)]
        basis_passes += len(changes.instructions)
        rows += 1 + counts.shape[1] + len(changes.instructions) + len(readouts.instructions)
        if readouts.instructions:
            last_readout = rows - 1
    words = _stream(blocks, len(thetas), last_readout)
    terms_per_set = sum(1 for _, terms in groups for _, mask, _ in terms if mask)

    def decode(beats):
        values = np.zeros((len(thetas), len(sums)))
        position = 0
        for b in range(len(thetas)):
            for _, terms in groups:
                for index, mask, coefficient in terms:
                    if not mask:
                        values[b, index] += coefficient
                        continue
                    values[b, index] += coefficient * decode_expectation(beats[position], params.width)
                    position += 1
        return values

    gate_instructions = len(groups) * int(np.count_nonzero(counts)) + len(thetas) * basis_passes
    passes = gate_instructions // max(len(thetas) * len(groups), 1)
    return Program(words, len(thetas) * terms_per_set, decode, passes)
