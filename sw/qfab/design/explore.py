"""The design space, its predicted points, the Pareto front and the recommendation.

``codesign(workload)`` enumerates circuit variants x device mixes, and for mixes with an FPGA
every board x core build, and predicts each point (``predict.py``, ``resources.py``) without
building or running anything. A point is *feasible* when its build fits the board, its error
meets the workload's accuracy and its gradients stand above the device's noise floor; the Pareto
front is over (training time, error, peak resource share, energy per training step) among
feasible points, and the recommendation is the front's fastest point, a near-tie (within 5 %)
going to fewer resources.

Energy per step (``qfab_hw.power``): a board's programmable logic at the clock its build runs
at (``min(board clock, the closure measured by the open place-and-route)``), static over the
whole step and dynamic while the core computes, plus the processing system while it drives the
link and runs the driver; a CPU's package power (RAPL where readable, else stated) over the
time it works. Each FPGA point also gives its power-delay product against the CPU alone doing
the same step (:attr:`DesignPoint.energy_vs_cpu`). A device kind without a power model (GPU,
QPU) has no energy figure (infinite on the axis).

A build's training step is priced with the device's best gradient method, as a run would get it
(``FPGADevice.capabilities.gradient_methods``, first): RUN_ADJOINT on a build with the second
state bank (``BuildSpec(..., adjoint=True)``), RUN_SHIFT, the on-chip parameter-shift loop,
otherwise.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from qfab_hw import CoreParams
from qfab_hw.boards import Board, load_board
from qfab_hw.power import CpuPower, PowerEstimate, cpu_power, fpga_step_energy, pl_power

from qfab.backends import get_device
from qfab.backends.base import DeviceCapabilityError, DeviceUnavailable
from qfab.backends.fpga.board import BoardFPGA
from qfab.backends.fpga.calibration import host_seconds_per_word
from qfab.backends.fpga.device import FPGADevice
from qfab.scheduling import History, Workload, plan
from qfab.scheduling.calibrate import load_profile
from qfab.design.predict import Trainability, gradient_floor, trainability
from qfab.design.resources import BuildResources, build_resources, yosys_logic
from qfab.design.workload import BOARD_KIND, QPU_PREFIX, CodesignWorkload, Variant, load_workload

__all__ = ["DesignPoint", "CodesignResult", "codesign", "pareto_front", "build_label", "duration_text", "step_job",
           "gradient_method", "step_energy"]

NEAR_TIE = 0.05


def build_label(params: CoreParams) -> str:
    """A core build in a table cell: lanes, width, qubits on chip, ``+adj`` with the adjoint's bank."""
    return f"{params.lanes}L W{params.width} Q{params.max_qubits}{' +adj' if params.adjoint else ''}"


def gradient_method(device) -> str:
    """The gradient method a step gets on ``device``: the first it offers (RUN_ADJOINT on an
    adjoint build, RUN_SHIFT otherwise), as ``qfab.gradient(..., method=None)`` and the planner
    choose it."""
    offered = device.capabilities.gradient_methods
    return offered[0] if offered else "parameter-shift"


@dataclass
class DesignPoint:
    variant: Variant
    devices: tuple[str, ...]  # device kinds of the mix
    board: Board | None = None
    build: CoreParams | None = None
    resources: BuildResources | None = None
    step_seconds: float = math.inf
    train_seconds: float = math.inf
    error: float = math.inf
    gradient_std: float = 0.0
    gradient_floor: float = 0.0
    used: tuple[str, ...] = ()  # devices the plan gives work to
    shares: dict = field(default_factory=dict)  # device -> parameter sets of a full step
    fpga_breakdown: dict = field(default_factory=dict)  # core_s / link_s / driver_s of the FPGA's share of a step
    fpga_gradient: str = ""  # the gradient method the FPGA's share is priced with (adjoint / parameter-shift)
    problems: list[str] = field(default_factory=list)
    energy_j: float = math.inf  # joules of one mini-batch training step (inf: a device without a power model)
    cpu_energy_j: float = math.nan  # the CPU alone doing the same step
    fpga_power: PowerEstimate | None = None  # the board's PL power at the build's clock
    clock_mhz: float = math.nan  # the clock the build runs at on the board

    @property
    def energy_vs_cpu(self) -> float:
        """How many times less energy (the power-delay product) the step takes than on the CPU
        alone (nan without both figures)."""
        if not (math.isfinite(self.energy_j) and math.isfinite(self.cpu_energy_j)) or self.energy_j <= 0:
            return math.nan
        return self.cpu_energy_j / self.energy_j

    @property
    def label(self) -> str:
        where = "+".join(self.devices)
        if self.board is not None:
            where += f" @ {self.board.key} ({build_label(self.build)})"
        return f"{self.variant.label} | {where}"

    @property
    def utilisation(self) -> float:
        return self.resources.peak_utilisation if self.resources else 0.0

    @property
    def trainable(self) -> bool:
        return self.gradient_std > self.gradient_floor

    @property
    def feasible(self) -> bool:
        return not self.problems

    def objectives(self) -> tuple[float, float, float, float]:
        return self.train_seconds, self.error, self.utilisation, self.energy_j


@dataclass
class CodesignResult:
    workload: CodesignWorkload
    points: list[DesignPoint]
    trainability: dict[Variant, Trainability]
    front: list[DesignPoint]
    chosen: DesignPoint | None
    why: str
    fpga_front: list[DesignPoint] = field(default_factory=list)
    fpga_chosen: DesignPoint | None = None
    fpga_why: str = ""
    validation: list = field(default_factory=list)
    cpu_power: CpuPower | None = None  # the CPU's package power the energies use

    def commands(self, point: DesignPoint | None = None) -> list[str]:
        """How to build and run ``point`` (default: the chosen one)."""
        point = point or self.chosen
        if point is None:
            return []
        w, v = self.workload, point.variant
        model = (f"qfab.qml.QuantumClassifier(ansatz={v.ansatz!r}, layers={v.layers}, encoding={w.encoding!r}, "
                 f"epochs={w.epochs}, batch_size={w.batch_size}, device=DEVICE)")
        lines = []
        if point.build is not None:
            b = point.build
            knobs = f"BOARD={point.board.key} LANES={b.lanes} WIDTH={b.width} QUBITS={b.max_qubits}"
            params = (f"max_qubits={b.max_qubits}, lanes={b.lanes}, width={b.width}, max_params={b.max_params}, "
                      f"param_depth={b.param_depth}, program_depth={b.program_depth}" + (", adjoint=True" if b.adjoint else ""))
            if b.adjoint:
                # `make synth` has no ADJOINT knob: the resources of this build from Python
                lines += [f"python -c \"from qfab_hw import CoreParams; from qfab_hw.boards import load_board; "
                          f"from qfab.design.resources import build_resources; "
                          f"print(build_resources(CoreParams({params}), load_board('{point.board.key}')))\"",
                          f"make bitstream {knobs} ADJOINT=1   # needs Vivado"]
            else:
                lines += [f"make synth {knobs}", f"make bitstream {knobs}   # needs Vivado"]
            lines.append(f"DEVICE = qfab.backends.fpga.FPGADevice('pynq', qfab_hw.CoreParams({params}))   # on the board")
            if len(point.devices) > 1:
                lines.append("# with the CPU beside it: device='auto' with the FPGA registered, or qfab.plan over both")
        else:
            lines.append(f"DEVICE = {point.devices[0]!r}")
        lines.append(model + ".fit(X, y)")
        return lines

    def table(self, rows: list[DesignPoint] | None = None) -> str:
        """Markdown table of ``rows`` (default: the front, then the infeasible points' reasons)."""
        rows = self.front if rows is None else rows
        lines = ["| variant | devices | board | build | clock | train time | error | grad std / floor | peak resource "
                 "| energy / step | x less energy than CPU | feasible |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in rows:
            board = p.board.key if p.board else "-"
            build = build_label(p.build) if p.build else "-"
            clock = f"{p.clock_mhz:.0f} MHz" if math.isfinite(p.clock_mhz) else "-"
            ratio = f"{p.gradient_std:.1e} / {p.gradient_floor:.1e}"
            energy = f"{p.energy_j:.3g} J" if math.isfinite(p.energy_j) else "-"
            versus = f"{p.energy_vs_cpu:.3g}" if math.isfinite(p.energy_vs_cpu) else "-"
            lines.append(f"| {p.variant.label} | {'+'.join(p.used or p.devices)} | {board} | {build} | {clock} | "
                         f"{duration_text(p.train_seconds)} | {p.error:.1e} | {ratio} | {p.utilisation:.1%} | "
                         f"{energy} | {versus} | {'yes' if p.feasible else '; '.join(p.problems)} |")
        return "\n".join(lines)


def duration_text(seconds: float) -> str:
    """``seconds`` as a person reads a training time (``"-"`` when it cannot run)."""
    if not math.isfinite(seconds):
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


def pareto_front(points: list[DesignPoint]) -> list[DesignPoint]:
    """Feasible points no other feasible point beats or ties on every objective, by time."""
    feasible = [p for p in points if p.feasible]
    if not feasible:
        return []
    front = []
    for p in feasible:
        a = p.objectives()
        dominated = any(all(x <= y for x, y in zip(q.objectives(), a)) and q.objectives() != a for q in feasible)
        if not dominated and all(q.objectives() != a for q in front):
            front.append(p)
    return sorted(front, key=lambda p: p.objectives())


def _choose(front: list[DesignPoint]) -> tuple[DesignPoint | None, str]:
    if not front:
        return None, "no point is feasible: see the reasons in the table"
    fastest = front[0].train_seconds
    close = [p for p in front if p.train_seconds <= fastest * (1 + NEAR_TIE)]
    chosen = min(close, key=lambda p: (p.utilisation, p.error, p.train_seconds))
    why = (f"fastest predicted training ({duration_text(chosen.train_seconds)}) among the {len(front)} Pareto-optimal "
           f"points, error {chosen.error:.1e}, gradients {chosen.gradient_std / max(chosen.gradient_floor, 1e-300):.0e}x "
           f"above the device's noise floor")
    if len(close) > 1:
        why += f"; of the {len(close)} points within {NEAR_TIE:.0%} of the fastest, the one using the least FPGA"
    return chosen, why


def _mixes(kinds: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [m for r in range(1, len(kinds) + 1) for m in itertools.combinations(kinds, r)]


def _present(kind: str):
    """The device of a kind the space does not design (a registered kind, or ``qpu:<fake
    backend>``) here, or None with the reason."""
    try:
        if kind.startswith(QPU_PREFIX):
            return _fake_qpu(kind[len(QPU_PREFIX):]), ""
        return get_device(kind), ""
    except (DeviceUnavailable, ImportError, ValueError) as err:
        return None, str(err)


def _fake_qpu(name: str):
    """``QPU`` on a fake backend of qiskit-ibm-runtime by name (``fake_manila`` or ``FakeManilaV2``)."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError:
        raise ImportError("QPU targets need qiskit-ibm-runtime: pip install 'qfab[qpu]'") from None
    from qfab.backends.qpu import QPU

    wanted = name.replace("_", "").lower()
    for attribute in dir(fake_provider):
        if attribute.lower() in (wanted, wanted + "v2"):
            return QPU(getattr(fake_provider, attribute)(), shots=1024, seed=0)
    raise ValueError(f"no fake backend named {name!r} in qiskit_ibm_runtime.fake_provider")


def _plan_step(workload: CodesignWorkload, circuit, devices, profile, history):
    """Predicted seconds of the steps of one epoch on ``devices``; devices used; sets per device
    of a full mini-batch step; that step's makespan and seconds of work per device."""
    full, rest = divmod(workload.samples, workload.batch_size)
    seconds, used, shares, busy, makespan = 0.0, set(), {}, {}, 0.0
    for rows, count in ((workload.batch_size, full), (rest, 1)):
        if not rows or not count:
            continue
        work = Workload()
        shots = workload.shots if any(not d.capabilities.exact for d in devices) else None
        work.add(circuit, workload.readout(), workload.batch_params(circuit, rows), gradient=True, shots=shots,
                 accuracy=workload.accuracy)
        schedule = plan(work, devices=devices, profile=profile, history=history)
        seconds += count * schedule.makespan
        if rows == workload.batch_size:
            makespan = schedule.makespan
        for task in schedule.tasks:
            used.add(task.device)
            if rows == workload.batch_size:
                shares[task.device] = shares.get(task.device, 0) + task.rows[1] - task.rows[0]
                busy[task.device] = busy.get(task.device, 0.0) + task.finish - task.start
    return seconds, tuple(sorted(used)), shares, makespan or seconds, busy


def step_energy(point: DesignPoint, devices: dict, makespan: float, busy: dict, cpu: CpuPower,
                board_device=None) -> float:
    """Joules of one mini-batch step of ``point`` (``qfab_hw.power``): the board's PL static
    power over the whole step, its dynamic power while the core computes and the processing
    system while it drives the link and the driver (``point.fpga_breakdown``); a CPU's package
    power over its busy seconds; infinite when a device used has no power model."""
    joules = 0.0
    for name in point.used:
        device = devices[name]
        if device is board_device:
            energy = fpga_step_energy(point.fpga_power, point.board, point.fpga_breakdown)
            joules += energy["total_j"] + point.fpga_power.static_w * max(0.0, makespan - energy["step_s"])
        elif device.cost_model().kind == "cpu":
            joules += cpu.energy(busy.get(name, 0.0))
        else:
            return math.inf
    return joules


def codesign(workload: CodesignWorkload | str | Path | dict, logic_of=None, profile: dict | None = None,
             history: History | None = None, progress: bool = True) -> CodesignResult:
    """Explore the design space of ``workload`` (a :class:`CodesignWorkload` or a TOML file) and
    recommend a point; nothing is built or run except the short trainability sampling.

    ``logic_of(params, family)`` gives a build's logic cost (default: yosys, cached);
    ``profile``/``history`` are the cost models' calibration and measured history (default:
    this machine's)."""
    from tqdm.auto import tqdm

    if not isinstance(workload, CodesignWorkload):
        workload = load_workload(workload)
    logic_of = logic_of or yosys_logic
    profile = load_profile() if profile is None else profile
    history = history if history is not None else History()
    boards = [load_board(key) for key in workload.boards]
    cpu = cpu_power()
    builds = {spec: spec.params(workload.qubits) for spec in workload.builds}
    others = {kind: _present(kind) for kind in workload.devices if kind != BOARD_KIND}
    studies = {v: trainability(workload, v, progress=progress) for v in workload.variants}
    word_seconds = {}
    resources = {}
    tasks = []
    for variant in workload.variants:
        for mix in _mixes(workload.devices):
            if BOARD_KIND in mix:
                tasks += [(variant, mix, board, spec) for board in boards for spec in workload.builds]
            else:
                tasks.append((variant, mix, None, None))
    points = []
    model_circuits = {v: workload.circuit(v) for v in workload.variants}
    for variant, mix, board, spec in tqdm(tasks, desc="codesign", unit="point", disable=not progress):
        circuit = model_circuits[variant]
        point = DesignPoint(variant, mix, board, builds.get(spec))
        devices, board_device = [], None
        for kind in mix:
            if kind == BOARD_KIND:
                key = (board.key, spec)
                if key not in resources:
                    resources[key] = build_resources(builds[spec], board, logic_of)
                point.resources = resources[key]
                if not point.resources.fits:
                    point.problems += [f"does not fit: {r}" for r in point.resources.reasons]
                board_device = BoardFPGA(board, builds[spec], 0.0)
                if builds[spec].adjoint:  # its own name: the planner and the history know devices by name
                    board_device.name = board_device.name[:-1] + " +adj]"
                method = point.fpga_gradient = gradient_method(board_device)
                # one measurement per circuit and gradient method: the driver's work per word does
                # not depend on the lanes or width, and separate timings would only add their
                # noise to the comparison; RUN_ADJOINT's call returns other beats than RUN_SHIFT's
                if (variant, method) not in word_seconds:
                    # on a full step's program (the per-word price falls with the program's size)
                    word_seconds[variant, method] = host_seconds_per_word(
                        step_job(workload, circuit, workload.batch_size, gradient=method), builds[spec], FPGADevice)
                board_device.host_word_seconds = word_seconds[variant, method]
                devices.append(board_device)
            else:
                device, reason = others[kind]
                if device is None:
                    point.problems.append(f"{kind} not present here: {reason}")
                else:
                    devices.append(device)
        if point.problems:
            points.append(point)
            continue
        try:
            step, point.used, point.shares, makespan, busy = _plan_step(workload, circuit, devices, profile, history)
        except DeviceCapabilityError as err:
            point.problems.append(str(err).split(": ", 1)[-1])
            points.append(point)
            continue
        point.step_seconds = step
        point.train_seconds = step * workload.epochs
        by_name = {d.name: d for d in devices}
        if len(point.used) < len(devices):
            point.problems.append("the plan leaves " + ", ".join(d.name for d in devices if d.name not in point.used)
                                  + " idle (the same as a smaller mix)")
        study = studies[variant]
        point.gradient_std = study.gradient_std
        point.error = max(by_name[name].cost_model().expected_error(step_job(workload, circuit))
                          for name in point.used)
        point.gradient_floor = max(gradient_floor(by_name[name], circuit, workload.shots) for name in point.used)
        if board_device is not None and board_device.name in point.shares:
            # the FPGA's share as the plan runs it: by the build's best gradient method
            point.fpga_breakdown = board_device.cost_breakdown(
                step_job(workload, circuit, point.shares[board_device.name], gradient=point.fpga_gradient))
        if board_device is not None:
            point.clock_mhz = board_device.cost_model().clock.mhz
            build = point.resources
            point.fpga_power = pl_power({"lut": build.logic.lut, "ff": build.logic.ff, "dsp": build.logic.dsp,
                                         "bram36": build.bram36, "uram": build.uram}, board, point.clock_mhz)
        point.energy_j = step_energy(point, by_name, makespan, busy, cpu, board_device)
        if point.error > workload.accuracy:
            point.problems.append(f"error {point.error:.1e} > accuracy {workload.accuracy:.0e}")
        if not point.trainable:
            point.problems.append(f"untrainable: gradient std {point.gradient_std:.1e} below the device's "
                                  f"gradient error {point.gradient_floor:.1e}")
        points.append(point)
    alone_on_cpu = {p.variant: p.energy_j for p in points if p.devices == ("cpu",) and math.isfinite(p.energy_j)}
    for point in points:
        point.cpu_energy_j = alone_on_cpu.get(point.variant, math.nan)
    front = pareto_front(points)
    chosen, why = _choose(front)
    # The user asked which board and build too: the same choice among the points with an FPGA.
    fpga_front = pareto_front([p for p in points if p.board is not None])
    fpga_chosen, fpga_why = _choose(fpga_front)
    return CodesignResult(workload, points, studies, front, chosen, why, fpga_front, fpga_chosen, fpga_why,
                          cpu_power=cpu)


def step_job(workload: CodesignWorkload, circuit, rows: int = 1, gradient: str | None = "parameter-shift"):
    """A step's job (readout values and gradients over ``rows`` parameter sets) as a device runs it."""
    from qfab.backends.base import Job
    from qfab.core.observables import as_pauli_sums

    sums = tuple(as_pauli_sums(workload.readout(), circuit.num_qubits)[0])
    return Job(circuit, workload.batch_params(circuit, rows), sums, gradient=gradient)
