"""The FPGA gate-application core as a qfab device.

``FPGADevice(transport="model" | "verilator" | "pynq" | Transport)``: circuits are lowered to
the core's operations once, each call becomes one gate program (one DMA round trip), and the
core's flags become errors naming the circuit. Gradients come by parameter shift, every shifted
circuit in the same program. The default build is the one that fits a PYNQ-Z2 (16 qubits on
chip, one lane, 18-bit fixed point).
"""
from __future__ import annotations

import numpy as np
from qfab_hw import CoreParams
from qfab_hw.boards import load_board

from qfab.core.shift import shift_plan, shifted_circuit_count
from qfab.backends.base import Capabilities, Device, DeviceCapabilityError, DeviceProfile, Job, JobResult
from qfab.backends.fpga.compiler import LoweredCircuit, lower, predicted_expectation_error, predicted_infidelity
from qfab.backends.fpga.driver import Program, check_run, expectation_program, state_program
from qfab.backends.fpga.transports import Transport, make_transport
from qfab.backends.fpga.calibration import calibrate_fpga, host_seconds_per_word
from qfab.backends.fpga.costmodel import FPGACostModel

__all__ = ["FPGADevice", "fpga_status", "DEFAULT_PARAMS"]

DEFAULT_PARAMS = CoreParams(max_qubits=16, lanes=1, width=18)


class FPGADevice(Device):
    name = "fpga"

    def __init__(self, transport: str | Transport = "model", params: CoreParams = DEFAULT_PARAMS,
                 timeout_s: float = 600.0, **transport_options):
        self.transport = transport if isinstance(transport, Transport) else make_transport(transport, params, **transport_options)
        self.params = self.transport.params
        self.timeout_s = timeout_s
        self.last_cycles = self.last_words = self.last_beats = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            max_qubits=self.params.max_qubits,
            precisions=("complex128", "complex64"),
            gradient_methods=("parameter-shift",),
        )

    def profile(self) -> DeviceProfile:
        return DeviceProfile(self.name, {
            "transport": self.transport.name, "lanes": self.params.lanes, "width": self.params.width,
            "max_qubits": self.params.max_qubits,
            # the bit-accurate model and Verilator compute on this host's cores; a board does not
            "shares_host": self.transport.name in ("model", "verilator"),
        })

    def lowered(self, circuit) -> LoweredCircuit:
        cache = circuit.__dict__.setdefault("_qfab_fpga_lowered", {})
        if "ops" not in cache:
            cache["ops"] = lower(circuit)
        return cache["ops"]

    def check(self, job: Job) -> None:
        super().check(job)
        if job.circuit.num_qubits < 1:
            raise DeviceCapabilityError("the FPGA core needs at least one qubit")

    def predicted_infidelity(self, circuit, passes: int | None = None) -> float:
        """Infidelity of the state the fixed-point law predicts for one run of ``circuit`` on this build."""
        return predicted_infidelity(circuit.num_qubits, passes or len(self.lowered(circuit).ops), self.params.width)

    def predicted_error(self, circuit, passes: int | None = None) -> float:
        """Error of an expectation value of ``circuit`` on this build (three times the law's rms):
        what a job's ``accuracy`` is compared with."""
        return predicted_expectation_error(passes or len(self.lowered(circuit).ops), self.params.width)

    def program_counts(self, job: Job) -> tuple[int, int, int]:
        """(core cycles, program words, result beats) of ``job`` on this build.

        Counted on the program the driver assembles for one generic parameter set, instruction by
        instruction with the core's closed-form cycles (``qfab_hw.model.cycles``), times the
        circuits the job runs (each parameter set, and each shifted circuit of a parameter-shift
        gradient, has the same instructions). Exact unless a parameter value turns a gate into an
        X or a quarter-turn phase, which the driver emits as a cheaper instruction (also when a
        parameter enters with a zero coefficient and only its shifts make the gate a phase)."""
        cycles, words, beats, _ = self._counts(job)
        return cycles, words, beats

    def program_instructions(self, job: Job) -> int:
        """Instructions the core executes for ``job`` (each touches the whole state but END),
        counted like :meth:`program_counts`: what the bit-accurate model's host time follows."""
        return self._counts(job)[3]

    def _counts(self, job: Job) -> tuple[int, int, int, int]:
        """(cycles, words, beats, instructions) of the whole job, from one assembled parameter set."""
        from qfab_hw.model.cycles import instruction_cycles
        from qfab_hw.program import decode_program

        circuit, sums = job.circuit, list(job.observables)
        key = (tuple((tuple(s.x_masks), tuple(s.z_masks)) for s in sums), bool(job.want_state or job.shots))
        cache = circuit.__dict__.setdefault("_qfab_fpga_counts", {}).setdefault(self.params, {})
        if key not in cache:
            theta = np.random.default_rng(0).uniform(0.1, 1.0, (1, circuit.num_parameters))  # no special angles
            programs = ([state_program(self.lowered(circuit), theta, self.params)] if key[1] else []) + (
                [expectation_program(self.lowered(circuit), sums, theta, self.params)] if sums else [])
            n = max(circuit.num_qubits, self.params.min_qubits)
            instructions = [i for p in programs for i in decode_program(p.words, self.params.width)]
            cycles = sum(instruction_cycles(i.opcode, n, self.params) for i in instructions)
            # Each program ends with one END (one word, one cycle); a job's program has one in all.
            ends = len(programs)
            cache[key] = (cycles - ends, sum(len(p.words) for p in programs) - ends,
                          sum(p.beats_expected for p in programs), len(instructions) - ends)
        circuits = job.batch
        if job.gradient == "parameter-shift" and sums:
            circuits *= 1 + shifted_circuit_count(circuit)
        cycles, words, beats, instructions = cache[key]
        return circuits * cycles + 1, circuits * words + 1, circuits * beats, circuits * instructions + 1

    def _run(self, program: Program, what: str):
        run = self.transport.execute(program.words, program.beats_expected, self.timeout_s)
        check_run(run, program, what)
        self.last_cycles, self.last_words, self.last_beats = run.cycles, len(program.words), len(run.beats)
        return program.decode(run.beats)

    def _expectations(self, circuit, sums, thetas):
        program = expectation_program(self.lowered(circuit), sums, thetas, self.params)
        return self._run(program, f"{circuit!r} ({len(thetas)} parameter sets)")

    def execute(self, job: Job) -> JobResult:
        circuit, thetas, sums = job.circuit, job.params, list(job.observables)
        result = JobResult(device=self.name, seconds=0.0)
        if job.want_state or job.shots:
            program = state_program(self.lowered(circuit), thetas, self.params)
            result.states = self._run(program, repr(circuit)).astype(job.dtype)
        if sums and job.gradient == "parameter-shift":
            result.expectations, result.gradients = self._values_and_shift_gradients(circuit, sums, thetas)
        elif sums:
            result.expectations = self._expectations(circuit, sums, thetas)
        return result

    def _values_and_shift_gradients(self, circuit, sums, thetas):
        """Values and every shifted circuit in one program: one DMA round trip per gradient."""
        plan = shift_plan(circuit)
        values = self._expectations(plan.circuit, sums, plan.rows(thetas, unshifted=True))
        values = values.reshape(len(thetas), 1 + plan.num_shifted, len(sums))
        return values[:, 0], plan.gradients(values[:, 1:])

    def cost_model(self, parameters: dict | None = None) -> FPGACostModel:
        """The core's model on this device's transport: cycles and words on a board or under
        Verilator, host seconds for the bit-accurate model."""
        return FPGACostModel(self, parameters)

    def calibrate(self, repeats: int = 3) -> dict:
        """The bit-accurate model's host terms, or a board's (Verilator's) call overhead and
        time per cycle, from timed benchmark jobs."""
        return calibrate_fpga(self.cost_model(), repeats)

    def cost_breakdown(self, job: Job, board=None) -> dict[str, float]:
        """Where ``job``'s predicted seconds go: ``core_s`` (the core's cycles at its clock),
        ``link_s`` (program words and result beats over the PS-PL link) and ``driver_s`` (the
        calls, and the driver's time per word); they add up to the cost model's prediction
        (:meth:`FPGACostModel.breakdown`). ``board``, a board config's key or a
        ``qfab_hw.boards.Board``: this build as that board would run it (its clock and link,
        the driver at this host's time per word, measured now, scaled to the board's
        processor); None: on this device's own transport."""
        if board is None:
            return self.cost_model().breakdown(job)
        board = load_board(board) if isinstance(board, str) else board
        return FPGACostModel(self, board=board, host_seconds_per_word=host_seconds_per_word(job, self.params)).breakdown(job)

    def seconds_on_board(self, board, cycles: int | None = None, words: int | None = None,
                         beats: int | None = None, dma_efficiency: float = 0.83) -> float:
        """Predicted wall time of the last program (or of the given counts) on ``board``
        (a ``qfab_hw.boards.Board``): core cycles at the board's PL clock plus the PS–PL
        transfer of the program words and result beats (8 bytes each) over its HP port, at the
        fraction of the theoretical bandwidth that is reached in practice."""
        cycles = self.last_cycles if cycles is None else cycles
        moved = 8 * ((self.last_words if words is None else words) + (self.last_beats if beats is None else beats))
        return cycles / (board.pl_mhz * 1e6) + moved / (board.bandwidth_mb_s * 1e6 * dma_efficiency)


def fpga_status() -> tuple[bool, str]:
    """Whether an FPGA device can be made here, and how (for ``qfab info``)."""
    try:
        import qfab_hw  # noqa: F401
    except ImportError as err:
        return False, f"qfab_hw is not importable ({err})"
    return True, "bit-accurate model of the core (transport 'model'); 'verilator' and 'pynq' on request"

