"""The CPU's cost model and its calibration: the program's named block counts it reads, and a fit
that recovers the parameters behind synthetic times."""
from __future__ import annotations

import numpy as np

from qfab.backends import get_device
from qfab.backends.calibration import benchmark_circuit, fit_parameters
from qfab.backends.cpu import CPUEngine
from qfab.backends.cpu.calibration import calibration_jobs, fit_cpu
from qfab.backends.cpu.costmodel import CPUCostModel
from qfab.backends.cpu.fusion import fuse
from qfab.scheduling.costmodel import cost_model_for


def test_the_cpu_device_brings_its_model_and_the_scheduler_asks_it():
    cpu = get_device("cpu")
    model = cpu.cost_model({"call_overhead_s": 1e-3})
    assert type(model) is CPUCostModel and model.parameters["call_overhead_s"] == 1e-3
    assert type(cost_model_for(cpu)) is CPUCostModel
    assert model.parameters["threads"] == cpu.profile().parameters["threads"]


def test_program_accessors_name_the_blocks_the_model_counts():
    """Per block, as the fusion formed it: its qubits, its gates, whether it holds a rotation."""
    circuit = benchmark_circuit(5, 2)  # RY, RZ per qubit, then a CNOT ladder, twice
    blocks = fuse(circuit.operations, circuit.num_qubits, 3)
    program = CPUEngine(3).program(circuit)
    assert program.num_blocks == len(blocks)
    assert list(program.block_num_qubits) == [len(b.qubits) for b in blocks]
    assert list(program.block_gate_counts) == [len(b.gates) for b in blocks]
    assert list(program.block_has_rotation) == [any(circuit.operations[g].param is not None for g in b.gates)
                                                for b in blocks]
    assert not all(program.block_has_rotation)  # the ladder's fixed blocks are built once


def test_calibration_fit_recovers_the_parameters_behind_the_times():
    """The CPU model's features over the calibration jobs, timed by known parameters (with 5 %
    noise): the least-squares fit on relative error finds parameters that predict those times
    to within the noise, and leaves a term no job exercised at its default."""
    rng = np.random.default_rng(1)
    cpu = get_device("cpu").cost_model()
    truth = {name: value * rng.uniform(0.5, 2.0) for name, value in cpu.defaults.items() if name in cpu.FEATURES}
    jobs = [job for job in calibration_jobs() if job.circuit.num_qubits <= 16]  # compiling 20 qubits is slow
    rows = [cpu.features(job) for job in jobs]
    seconds = [sum(f * truth[n] for f, n in zip(row, cpu.FEATURES)) * rng.uniform(0.95, 1.05) for row in rows]
    fitted = CPUCostModel(cpu.device, fit_parameters(cpu.FEATURES, rows, seconds))
    errors = [abs(fitted.predict(job) - s) / s for job, s in zip(jobs, seconds)]
    assert np.median(errors) < 0.05
    assert "byte_s_ws24" not in fit_parameters(cpu.FEATURES, rows, seconds)  # nothing that large
    # the adjoint's backward weight, the one non-linear term, comes back from a line search
    cpu.parameters["backward_weight"] = 1.2
    seconds = [sum(f * truth[n] for f, n in zip(cpu.features(job), cpu.FEATURES)) for job in jobs]
    assert fit_cpu(CPUCostModel(cpu.device), jobs, seconds)["backward_weight"] == 1.2
