"""qfab as a Qiskit ``SamplerV2``: per-shot bitstrings for each classical register.

The state vector of each parameter row is computed exactly by a qfab device and the shots are
drawn from its probabilities, so the only noise in the counts is the shot noise itself. A dynamic
circuit (mid-circuit measurement, reset, ``initialize``, ``if_test``/``if_else``) runs on the
CPU engine branch by branch (``qfab.backends.cpu.dynamic``), the shots split over the outcomes.
"""
from __future__ import annotations

import numpy as np
from qiskit.primitives import BaseSamplerV2, DataBin, PrimitiveJob, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers import BitArray
from qiskit.primitives.containers.sampler_pub import SamplerPub

from qfab.backends import Job
from qfab.backends.cpu.dynamic import dynamic_clbits
from qfab.backends.job import check_free_memory
from qfab.core.inputs import as_seed, as_shots
from qfab.core.ir import Circuit
from qfab.qiskit.pubs import coerce_pubs, prepared, pub_rows, run_jobs

__all__ = ["SamplerV2", "draw_clbits"]


class SamplerV2(BaseSamplerV2):
    """Samples of PUBs ``(circuit[, parameter_values[, shots]])``, like ``StatevectorSampler``.

    Args:
        device: ``"auto"`` (qfab's planner chooses), or a qfab device that returns state vectors
            (``"cpu"`` or a Device instance).
        default_shots: shots when neither ``run`` nor the PUB gives them.
        seed: seed of the shot sampling.
    """

    def __init__(self, *, device="auto", default_shots: int = 1024, seed=None):
        self.device = device
        self.default_shots = as_shots(default_shots, "SamplerV2 default_shots")
        self._rng = np.random.default_rng(as_seed(seed))

    def run(self, pubs, *, shots: int | None = None) -> PrimitiveJob[PrimitiveResult[SamplerPubResult]]:
        shots = self.default_shots if shots is None else as_shots(shots, "SamplerV2.run shots")
        coerced = coerce_pubs(pubs, SamplerPub.coerce, shots, "SamplerV2", values_at=1)
        need = 0
        for index, pub in enumerate(coerced):
            as_shots(pub.shots, f"SamplerV2 PUB {index}: shots")
            # the clbit table of every row (a byte a clbit) and one row's outcomes drawn (int64)
            need += int(np.prod(pub.shape, dtype=np.int64)) * pub.shots * pub.circuit.num_clbits + pub.shots * 8
        check_free_memory(need, "SamplerV2.run", "the shots' clbits and outcomes of every PUB")
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[SamplerPub]) -> PrimitiveResult[SamplerPubResult]:
        preparations = [prepared(pub.circuit) for pub in pubs]
        jobs, static = [], []
        for pub, preparation in zip(pubs, preparations):
            if preparation.dynamic is None:
                jobs.append(Job(preparation.circuit, preparation.rows(pub_rows(pub)), want_state=True))
                static.append(pub)
        drawn = {id(pub): draw_clbits(job.circuit, result.states, pub.shots, self._rng)
                 for pub, job, result in zip(static, jobs, run_jobs(self.device, jobs))}
        results = []
        for pub, preparation in zip(pubs, preparations):
            dynamic = preparation.dynamic
            if dynamic is not None:
                clbits = np.stack([dynamic_clbits(dynamic, row, pub.shots, self._rng) for row in pub_rows(pub)])
            else:
                clbits = drawn[id(pub)]
            results.append(self._pub_result(pub, clbits))
        return PrimitiveResult(results, metadata={"version": 2})

    def _pub_result(self, pub: SamplerPub, clbits: np.ndarray) -> SamplerPubResult:
        """The PUB's registers from its ``(rows, shots, num_clbits)`` clbit values."""
        circuit = pub.circuit
        registers = {}
        for register in circuit.cregs:
            columns = [circuit.find_bit(bit).index for bit in register]
            bits = BitArray.from_bool_array(clbits[:, :, columns], order="little")
            registers[register.name] = bits.reshape(pub.shape)
        return SamplerPubResult(
            DataBin(**registers, shape=pub.shape),
            metadata={"shots": pub.shots, "circuit_metadata": circuit.metadata},
        )


def draw_clbits(circuit: Circuit, states: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Shots drawn from each state, as clbit values ``(rows, shots, num_clbits)`` (bool).

    A clbit no measurement writes stays 0, as on Qiskit's simulators.
    """
    clbits = np.zeros((len(states), shots, circuit.num_clbits), dtype=bool)
    for row, state in enumerate(states):
        probabilities = np.abs(state) ** 2
        outcomes = rng.choice(len(probabilities), size=shots, p=probabilities / probabilities.sum())
        for measurement in circuit.measurements:
            clbits[row, :, measurement.clbit] = (outcomes >> measurement.qubit) & 1
    return clbits
