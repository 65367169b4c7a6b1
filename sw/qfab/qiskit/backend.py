"""qfab as a Qiskit ``BackendV2``: Qiskit's transpiler, ``BackendSamplerV2``/``BackendEstimatorV2``
and qiskit-ibm-runtime's local mode all work on it unchanged.

The Target says what qfab simulates exactly: all-to-all connectivity, no errors, qfab's
rotations and fixed gates, and final measurements (no reset, no mid-circuit measurement).
"""
from __future__ import annotations

import time
import uuid

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ForLoopOp, IfElseOp, SwitchCaseOp, WhileLoopOp
from qiskit.providers import BackendV2, JobStatus, JobV1, Options
from qiskit.result import Result
from qiskit.transpiler import Target

from qfab.backends import Job, get_device
from qfab.core.gates import ROTATION_KINDS
from qfab.backends.cpu.dynamic import dynamic_clbits
from qfab.core.dynamic import is_dynamic
from qfab.qiskit.pubs import prepared, run_jobs, without_idle_qubits
from qfab.qiskit.sampler import draw_clbits

__all__ = ["QfabBackend", "QfabJob"]

FIXED_GATES = ["x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "cx", "cy", "cz", "ch", "swap", "ecr",
               "iswap", "ccx", "cswap"]
BASIS_GATES = sorted(ROTATION_KINDS) + ["u", "r"] + FIXED_GATES + ["measure", "delay", "reset"]


class QfabJob(JobV1):
    """A finished job: qfab runs synchronously, so the result exists when ``run`` returns."""

    def __init__(self, backend, job_id: str, result: Result):
        super().__init__(backend, job_id)
        self._result = result

    def submit(self):
        return

    def result(self, timeout=None) -> Result:
        return self._result

    def status(self) -> JobStatus:
        return JobStatus.DONE


class QfabBackend(BackendV2):
    """Runs circuits on a qfab device and returns counts and per-shot memory.

    Per-shot memory is always produced, because ``BackendSamplerV2`` reads it (counts alone
    would give it wrong bitstrings). Qubits a circuit never touches are dropped before
    simulation, so a circuit transpiled onto the full Target costs only its active qubits.

    Args:
        num_qubits: width of the Target; default: the largest state vector the device holds
            in free memory, at most 32.
        device: the qfab device the circuits run on (``"cpu"``, ``"auto"`` or a Device).
    """

    def __init__(self, num_qubits: int | None = None, device="cpu", **fields):
        super().__init__(name="qfab", description="qfab exact state-vector simulation", backend_version="0.1.0",
                         **fields)
        self.device = device
        if num_qubits is None:
            sizing = get_device("cpu" if device == "auto" else device)
            num_qubits = min(sizing.capabilities.max_qubits, 32)
        self._target = Target.from_configuration(basis_gates=BASIS_GATES, num_qubits=num_qubits)
        for operation, name in ((IfElseOp, "if_else"), (SwitchCaseOp, "switch_case"), (WhileLoopOp, "while_loop"),
                                (ForLoopOp, "for_loop")):  # classical control flow (dynamic circuits)
            self._target.add_instruction(operation, name=name)

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self):
        return None

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=1024, memory=True, seed_simulator=None)

    def run(self, run_input, **options) -> QfabJob:
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        shots = int(options.get("shots", self.options.shots))
        memory = options.get("memory", self.options.memory)
        rng = np.random.default_rng(options.get("seed_simulator", self.options.seed_simulator))
        start = time.perf_counter()
        # a dynamic circuit keeps its qubits (its conditions name the circuit's own registers)
        compact = [c if is_dynamic(c) else without_idle_qubits(c) for c in circuits]
        for circuit in compact:
            if circuit.num_parameters:
                raise ValueError(f"circuit {circuit.name!r} has unbound parameters {list(circuit.parameters)[:4]}")
        preparations = [prepared(c) for c in compact]
        jobs = [Job(p.circuit, np.zeros((1, 0)), want_state=True) for p in preparations if p.dynamic is None]
        states = iter(result.states for result in run_jobs(self.device, jobs))
        static = iter(job.circuit for job in jobs)
        clbits = [dynamic_clbits(p.dynamic, None, shots, rng) if p.dynamic is not None
                  else draw_clbits(next(static), next(states), shots, rng)[0] for p in preparations]
        experiments = [self._experiment(original, bits, shots, memory) for original, bits in zip(circuits, clbits)]
        job_id = str(uuid.uuid4())
        result = Result.from_dict({
            "backend_name": self.name, "backend_version": self.backend_version, "job_id": job_id,
            "results": experiments, "status": "COMPLETED", "success": True,
            "time_taken": time.perf_counter() - start,
        })
        return QfabJob(self, job_id, result)

    @staticmethod
    def _experiment(circuit: QuantumCircuit, clbits: np.ndarray, shots: int, memory: bool) -> dict:
        """One experiment's result from its ``(shots, num_clbits)`` clbit values."""
        values = clbits.astype(np.int64) @ (np.int64(1) << np.arange(clbits.shape[1], dtype=np.int64))
        hexes = [hex(int(v)) for v in values]
        unique, counts = np.unique(values, return_counts=True)
        data = {"counts": {hex(int(v)): int(c) for v, c in zip(unique, counts)}}
        if memory:
            data["memory"] = hexes
        header = {
            "name": circuit.name,
            "n_qubits": circuit.num_qubits,
            "qreg_sizes": [[r.name, r.size] for r in circuit.qregs],
            "creg_sizes": [[r.name, r.size] for r in circuit.cregs],
            "memory_slots": circuit.num_clbits,
            "global_phase": float(circuit.global_phase),
            "metadata": circuit.metadata or {},
        }
        return {"name": circuit.name, "shots": shots, "data": data, "status": "DONE", "success": True,
                "header": header}
