"""Check the predictions on what runs here: a short slice of the workload, predicted vs measured.

For the CPU (the host's calibrated cost model), the FPGA core's bit-accurate model with each
build's lanes and width, and Verilator builds of the RTL (a few sizes, since each build takes a
while), one training step over a few parameter sets runs for real. The table compares:

- time: the cost model's prediction for *that device here* (CPU, or the model/RTL simulation
  on the host) against the measured time;
- cycles: the closed form the board predictions stand on, against the cycles the core counted
  (its CYCLES register under Verilator, the model's count otherwise). Board time is cycles at
  the board's clock plus link and driver time, so exact cycles carry over to the boards;
- error: the predicted rms error of the readout values (fixed-point law, or round-off) against
  the measured rms error versus Qiskit's exact ``Statevector`` expectation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from qiskit.quantum_info import Statevector

from qfab.backends import get_device
from qfab.backends.fpga import FPGADevice
from qfab.backends.calibration import timed_run
from qfab.backends.fpga.compiler import predicted_expectation_error
from qfab.scheduling.calibrate import load_profile
from qfab.design.explore import CodesignResult, step_job, build_label

__all__ = ["ValidationRow", "validate"]


@dataclass
class ValidationRow:
    what: str
    device: str
    predicted_seconds: float
    measured_seconds: float
    predicted_cycles: int | None
    measured_cycles: int | None
    predicted_error: float
    measured_error: float

    @property
    def time_ratio(self) -> float:
        return self.measured_seconds / self.predicted_seconds


def _exact_values(workload, variant, params) -> np.ndarray:
    """The readout's exact expectation per parameter set, from Qiskit's Statevector."""
    qc = workload.qiskit_circuit(variant)
    return np.array([Statevector(qc.assign_parameters(row)).expectation_value(workload.readout()).real
                     for row in params])


def _rms(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a).ravel() - np.asarray(b).ravel()) ** 2)))


def _timed(device, job, repeats: int):
    """Seconds (the fastest of ``repeats`` after a warm run: noise on a shared machine only adds)
    and the result."""
    result = device.run([job])[0]  # warm: compilation, RTL build, caches
    return timed_run(device, job, repeats=repeats, min_total_s=0.0, warm=False), result


def validate(result: CodesignResult, rows: int = 4, builds: int = 3, verilator: int = 1,
             verilator_rows: int = 1, profile: dict | None = None, progress: bool = True) -> list:
    """Run one step's slice of the chosen variant on the CPU, on the FPGA model for ``builds``
    builds (the FPGA front's first, then the workload's) and under Verilator for the first
    ``verilator`` of them; returns (and stores in ``result.validation``) the rows."""
    from tqdm.auto import tqdm

    workload = result.workload
    profile = load_profile() if profile is None else profile
    variant = (result.chosen or result.fpga_chosen or result.points[0]).variant
    circuit = workload.circuit(variant)
    exact = _exact_values(workload, variant, workload.batch_params(circuit, rows))
    chosen_builds = []
    for point in result.fpga_front + [p for p in result.points if p.build is not None]:
        if point.build not in chosen_builds:
            chosen_builds.append(point.build)
    chosen_builds = chosen_builds[:builds]
    from qfab_hw.verilator import HW_EXTRA, missing_tools

    if verilator and (missing := missing_tools()):
        import warnings

        warnings.warn(f"validation under Verilator skipped: {', '.join(missing)} not installed ({HW_EXTRA})",
                      stacklevel=2)
        verilator = 0
    checks = [("cpu", None, rows)] + [("model", b, rows) for b in chosen_builds] + \
             [("verilator", b, verilator_rows) for b in chosen_builds[:verilator]]
    table = []
    for transport, build, count in tqdm(checks, desc="validation", unit="run", disable=not progress):
        if transport == "cpu":
            device = get_device("cpu")
            job = step_job(workload, circuit, count, gradient="adjoint")
            model = device.cost_model(profile.get(device.name))
            predicted_error = 1e-12
            predicted_cycles = None
        else:
            device = FPGADevice(transport, build)
            # the step's gradients on chip, by the build's best method (RUN_ADJOINT where it
            # has bank B, else RUN_SHIFT), in the model and in the RTL alike
            offered = device.capabilities.gradient_methods
            job = step_job(workload, circuit, count, gradient=offered[0] if offered else None)
            model = device.cost_model(profile.get(device.name))
            # the timed runs follow a warm one: the program is resident (where the transport keeps it)
            predicted_cycles = device.program_counts(job, resident=True)[0]
            predicted_error = predicted_expectation_error(len(device.lowered(circuit).ops), build.width, quantile=1.0)
        seconds, outcome = _timed(device, job, repeats=1 if transport == "verilator" else 3)
        measured_cycles = device.last_cycles if build is not None else None  # the core's count of its last run
        label = "cpu (adjoint)" if build is None else f"{build_label(build)} ({transport})"
        # The RTL simulation's host time is not what the cost models predict (a board's is):
        # under Verilator only cycles and error are compared.
        predicted = math.nan if transport == "verilator" else model.predict(job) + model.link_seconds(job)
        table.append(ValidationRow(f"{variant.label}, {count} sets, values + gradients", label,
                                   predicted, seconds, predicted_cycles,
                                   measured_cycles, predicted_error, _rms(outcome.expectations[:, 0], exact[:count])))
    result.validation = table
    return table


def validation_table(rows: list[ValidationRow]) -> str:
    lines = ["| slice | device here | predicted time | measured time | measured / predicted | predicted cycles "
             "| measured cycles | predicted rms error | measured rms error |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cycles = (f"{r.predicted_cycles:,} | {r.measured_cycles:,}" if r.predicted_cycles is not None else "- | -")
        if math.isnan(r.predicted_seconds):
            times = f"- | {r.measured_seconds * 1e3:.1f} ms | -"
        else:
            times = f"{r.predicted_seconds * 1e3:.1f} ms | {r.measured_seconds * 1e3:.1f} ms | {r.time_ratio:.2f}"
        lines.append(f"| {r.what} | {r.device} | {times} | {cycles} | {r.predicted_error:.1e} | {r.measured_error:.1e} |")
    return "\n".join(lines)


def median_time_error(rows: list[ValidationRow]) -> float:
    """Median |measured - predicted| / measured over the rows."""
    timed = [r for r in rows if not math.isnan(r.predicted_seconds)]
    return float(np.median([abs(r.measured_seconds - r.predicted_seconds) / r.measured_seconds for r in timed])) \
        if timed else math.nan
