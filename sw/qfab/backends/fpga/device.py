"""The FPGA gate-application core as a qfab device.

``FPGADevice(transport="model" | "verilator" | "pynq" | Transport)``: a circuit structure is
lowered once to the core's stored programs (instruction set v2), each call sends the parameter
sets and one run per program (one DMA round trip; driver.py), and the core's flags become errors
naming the circuit. Gradients are computed on chip: ``"parameter-shift"`` by RUN_SHIFT's shifted
replays, ``"adjoint"`` by RUN_ADJOINT where the build has the second state bank
(``CoreParams(adjoint=True)``). The default build is the one that fits a PYNQ-Z2 (16 qubits on
chip, one lane, 18-bit fixed point; no room for the adjoint's bank at 16 qubits).
"""
from __future__ import annotations

from qfab_hw import CoreParams
from qfab_hw.boards import load_board

from qfab.backends.base import Capabilities, Device, DeviceCapabilityError, DeviceProfile, Job, JobResult
from qfab.backends.fpga import driver
from qfab.backends.fpga.compiler import LoweredCircuit, predicted_expectation_error, predicted_infidelity
from qfab.backends.fpga.transports import Transport, make_transport
from qfab.backends.fpga.calibration import calibrate_fpga, host_seconds_per_word
from qfab.backends.fpga.costmodel import DriverCost, FPGACostModel

__all__ = ["FPGADevice", "fpga_status", "DEFAULT_PARAMS"]

#: The PYNQ-Z2 build: 16 qubits (64 BRAM36 of state), and v2 memories for circuits of up to 1,024
#: parameters and 4,096 stored words (parameters, program and gradients: 16 BRAM36 more; 80 of
#: the board's 140, within the 80 % budget).
DEFAULT_PARAMS = CoreParams(max_qubits=16, lanes=1, width=18, max_params=1024, param_depth=8192, program_depth=4096)


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
            # on chip, the best first: RUN_ADJOINT where the build has bank B, RUN_SHIFT on every build
            gradient_methods=("adjoint", "parameter-shift") if self.params.adjoint else ("parameter-shift",),
        )

    def profile(self) -> DeviceProfile:
        return DeviceProfile(self.name, {
            "transport": self.transport.name, "lanes": self.params.lanes, "width": self.params.width,
            "max_qubits": self.params.max_qubits,
            # the bit-accurate model and Verilator compute on this host's cores; a board does not
            "shares_host": self.transport.name in ("model", "verilator"),
        })

    def lowered(self, circuit) -> LoweredCircuit:
        """The circuit lowered to the core's operations, once per circuit structure."""
        return driver.lowered(circuit)

    def check(self, job: Job) -> None:
        """Also refuses what the build's memories cannot hold (``driver.call_plan``): more
        parameters per set than ``max_params``, a program longer than ``program_depth``; a
        batch beyond ``param_depth`` is loaded in chunks instead."""
        super().check(job)
        if job.circuit.num_qubits < 1:
            raise DeviceCapabilityError("the FPGA core needs at least one qubit")
        driver.call_plan(self.lowered(job.circuit), job, self.params)

    def predicted_infidelity(self, circuit, passes: int | None = None) -> float:
        """Infidelity of the state the fixed-point law predicts for one run of ``circuit`` on this build."""
        return predicted_infidelity(circuit.num_qubits, passes or len(self.lowered(circuit).ops), self.params.width)

    def predicted_error(self, circuit, passes: int | None = None) -> float:
        """Error of an expectation value of ``circuit`` on this build (three times the law's rms):
        what a job's ``accuracy`` is compared with."""
        return predicted_expectation_error(passes or len(self.lowered(circuit).ops), self.params.width)

    def program_counts(self, job: Job, resident: bool | None = None) -> tuple[int, int, int]:
        """(core cycles, words sent, beats received) of one call of ``job`` on this build: exact,
        from the driver's schedule and the core's closed-form cycles (:func:`driver.call_counts`).
        ``resident``: True, the core holds what the same call left (a training loop's steady
        state); False, none of the job's programs; None: as the transport stands now (what the
        next call sends). A transport that keeps no state (Verilator) always stores them again."""
        counts = self._call_counts(job, resident)
        return counts.cycles, counts.words, counts.beats

    def program_instructions(self, job: Job, resident: bool | None = None) -> int:
        """Instructions the core executes over the state for ``job`` (:class:`driver.CallCounts`):
        what the bit-accurate model's host time follows."""
        return self._call_counts(job, resident).instructions

    def _call_counts(self, job: Job, resident: bool | None) -> driver.CallCounts:
        if not self.transport.keeps_state:  # every call stores its programs again
            resident = False
        resident = self.transport.resident if resident is None else resident
        return driver.call_counts(self.lowered(job.circuit), job, self.params, resident)

    def execute(self, job: Job) -> JobResult:
        what = f"{job.circuit!r} ({job.batch} parameter sets)"
        outcome = driver.run_call(self.transport, self.lowered(job.circuit), job, self.timeout_s, what)
        run = outcome.run  # None: nothing to run (observables of identity terms only)
        self.last_cycles, self.last_words, self.last_beats = (
            (run.cycles, outcome.words, len(run.beats)) if run else (0, 0, 0))
        result = JobResult(device=self.name, seconds=0.0)
        if outcome.states is not None:
            result.states = outcome.states.astype(job.dtype)
        result.expectations, result.gradients = outcome.values, outcome.gradients
        return result

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
        ``link_s`` (the PS-PL DMA: its round trip per call, and the words sent and beats received
        at the port's rate) and ``driver_s`` (the driver's host time per call and per word); they
        add up to the cost model's prediction (:meth:`FPGACostModel.breakdown`). ``board``, a
        board config's key or a ``qfab_hw.boards.Board``: this build as that board would run it
        (its clock and link, the driver at this host's time per call and per word, measured now,
        scaled to the board's processor); None: on this device's own transport."""
        if board is None:
            return self.cost_model().breakdown(job)
        board = load_board(board) if isinstance(board, str) else board
        driver_cost = host_seconds_per_word(job, self.params, type(self))
        return FPGACostModel(self, board=board, host_seconds_per_word=driver_cost).breakdown(job)

    def seconds_on_board(self, board, cycles: int | None = None, words: int | None = None,
                         beats: int | None = None, driver: DriverCost | float = 0.0) -> float:
        """Predicted wall time of the last call (or of the given counts) on ``board`` (a
        ``qfab_hw.boards.Board``), priced by the board's cost model (:func:`board_rates`,
        :meth:`FPGACostModel.parts`): core cycles at its PL clock, the link (one DMA round trip,
        and the words sent and beats received over its HP port at ``DMA_EFFICIENCY``) and the
        driver at ``driver`` (this host's :class:`DriverCost`, scaled to the board's processor;
        zero by default: what a board's core and link take)."""
        cycles = self.last_cycles if cycles is None else cycles
        moved = (self.last_words if words is None else words) + (self.last_beats if beats is None else beats)
        model = FPGACostModel(self, board=board, host_seconds_per_word=driver)
        return float(sum(model.parts(cycles, moved).values()))


def fpga_status() -> tuple[bool, str]:
    """Whether an FPGA device can be made here, and how (for ``qfab info``)."""
    try:
        import qfab_hw  # noqa: F401
    except ImportError as err:
        return False, f"qfab_hw is not importable ({err})"
    return True, "bit-accurate model of the core (transport 'model'); 'verilator' and 'pynq' on request"

