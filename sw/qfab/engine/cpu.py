"""The CPU engine: numba kernels behind statevector / expectation / gradient / sample.

Small states run one parameter set per thread (``prange`` over the batch, serial kernels);
large states run one parameter set at a time with each kernel split over threads. Which one is
chosen by ``_over_sets``; either way the numbers are the same.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import psutil

from ..ir import Circuit, Operation, ParamRef
from ..observables import PauliSum
from . import program as prog
from .program import Program, compile_program

__all__ = ["CPUEngine", "InsufficientMemoryError", "fusion_width"]

_DTYPES = {np.dtype(np.complex128): np.complex128, np.dtype(np.complex64): np.complex64}

# Largest state (in qubits) simulated one-parameter-set-per-thread; above it, kernels split the
# amplitudes over threads. Measured by benchmarks/fusion_width.py on the 2-core reference machine.
_SETS_PARALLEL_MAX_QUBITS = 13


class InsufficientMemoryError(MemoryError):
    """Raised before allocating when the state vectors of a run would not fit in free memory."""


def fusion_width(num_qubits: int) -> int:
    """Qubits per fused block: wide blocks cut passes over large states, narrow ones keep
    per-parameter-set matrix building cheap for small states (see docs/performance.md)."""
    if num_qubits <= 6:
        return 2
    if num_qubits <= 12:
        return 3
    return 4


def check_memory(num_qubits: int, vectors: int, dtype, what: str) -> None:
    itemsize = np.dtype(dtype).itemsize
    need = vectors * (2**num_qubits) * itemsize
    free = psutil.virtual_memory().available
    if need > 0.9 * free:
        raise InsufficientMemoryError(
            f"{what} at n={num_qubits} needs {need / 2**30:.2f} GiB for {vectors} state vector(s) of "
            f"{np.dtype(dtype).name} (2^{num_qubits} amplitudes x {itemsize} B each), but only "
            f"{free / 2**30:.2f} GiB of memory is free"
        )


def _pack(sums: list[PauliSum]):
    starts = np.zeros(len(sums) + 1, np.int64)
    starts[1:] = np.cumsum([len(s.x_masks) for s in sums])
    return (
        np.concatenate([s.x_masks for s in sums]),
        np.concatenate([s.z_masks for s in sums]),
        np.concatenate([s.prefactors for s in sums]),
        starts,
    )


def _workers(batch: int) -> int:
    """Independent slices of a batch: a few per thread, so uneven slices still balance."""
    return max(1, min(batch, 4 * numba.get_num_threads()))


def _over_sets(num_qubits: int, batch: int) -> bool:
    return num_qubits <= _SETS_PARALLEL_MAX_QUBITS and batch >= min(2, numba.get_num_threads())


class CPUEngine:
    """Exact state-vector simulation on this machine's cores."""

    name = "cpu"

    def __init__(self, width: int | None = None):
        self.width = width

    def program(self, circuit: Circuit) -> Program:
        width = self.width or fusion_width(circuit.num_qubits)
        cache = circuit.__dict__.setdefault("_qfab_programs", {})
        if width not in cache:
            cache[width] = compile_program(circuit, width)
        return cache[width]

    def statevector(self, circuit: Circuit, thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch = thetas.shape[0]
        check_memory(circuit.num_qubits, batch, dtype, "statevector")
        program = self.program(circuit)
        out = np.empty((batch, 2**circuit.num_qubits), dtype)
        if _over_sets(circuit.num_qubits, batch):
            prog.forward_batch_over_sets(program.arrays, thetas, out)
        else:
            prog.forward_batch_over_amplitudes(program.arrays, thetas, out)
        phases = np.array([circuit.phase(t) for t in thetas])
        if np.any(phases != 0):
            out *= np.exp(1j * phases)[:, None].astype(dtype)
        return out

    def expectation(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch, n = thetas.shape[0], circuit.num_qubits
        program = self.program(circuit)
        x_all, z_all, pre_all, starts = _pack(sums)
        out = np.empty((batch, len(sums)))
        if _over_sets(n, batch):
            workers = _workers(batch)
            check_memory(n, workers, dtype, "expectation")
            work = np.empty((workers, 2**n), dtype)
            prog.expect_batch_over_sets(program.arrays, thetas, work, x_all, z_all, pre_all, starts, out)
        else:
            check_memory(n, 1, dtype, "expectation")
            psi = np.empty(2**n, dtype)
            prog.expect_batch_over_amplitudes(program.arrays, thetas, psi, x_all, z_all, pre_all, starts, out)
        return out

    def adjoint_gradient(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        dtype = _DTYPES[np.dtype(dtype)]
        batch, n = thetas.shape[0], circuit.num_qubits
        program = self.program(circuit)
        x_all, z_all, pre_all, starts = _pack(sums)
        grads = np.empty((batch, len(sums), circuit.num_parameters))
        vectors = 1 + len(sums)
        if _over_sets(n, batch):
            workers = _workers(batch)
            check_memory(n, vectors * workers, dtype, "adjoint gradient")
            work = np.empty((workers, 2**n), dtype)
            lam_work = np.empty((workers, len(sums), 2**n), dtype)
            prog.gradient_batch_over_sets(program.arrays, thetas, work, lam_work, x_all, z_all, pre_all, starts, grads)
        else:
            check_memory(n, vectors, dtype, "adjoint gradient")
            psi = np.empty(2**n, dtype)
            lams = np.empty((len(sums), 2**n), dtype)
            prog.gradient_batch_over_amplitudes(program.arrays, thetas, psi, lams, x_all, z_all, pre_all, starts, grads)
        return grads

    def parameter_shift_gradient(self, circuit: Circuit, sums: list[PauliSum], thetas: np.ndarray, dtype=np.complex128) -> np.ndarray:
        """Gradient by parameter-shift rules, all shifted circuits as one batch.

        Every rotation occurrence gets a parameter of its own (its angle), so each shift is just
        another row of the batch; the chain rule ``a * dC/dangle`` maps back to the user's
        parameters. Gates with generator eigenvalues {+-1} (or a single gap, like P) use the
        two-term rule; controlled rotations (gaps 1/2 and 1) the four-term rule of
        Anselmetti et al. (2021).
        """
        occurrences = [i for i, op in enumerate(circuit.operations) if op.param is not None]
        expanded = Circuit(
            num_qubits=circuit.num_qubits,
            operations=tuple(
                Operation(op.name, op.qubits, param=ParamRef(occurrences.index(i)), source=op.source)
                if op.param is not None else op
                for i, op in enumerate(circuit.operations)
            ),
            parameters=tuple(f"angle{j}" for j in range(len(occurrences))),
        )
        rules = [_shift_rule(circuit.operations[i].name) for i in occurrences]
        grads = np.zeros((thetas.shape[0], len(sums), circuit.num_parameters))
        for b, theta in enumerate(thetas):
            angles = np.array([circuit.operations[i].param.angle(theta) for i in occurrences])
            rows, weights, owners = [], [], []
            for j, rule in enumerate(rules):
                for shift, weight in rule:
                    shifted = angles.copy()
                    shifted[j] += shift
                    rows.append(shifted)
                    weights.append(weight)
                    owners.append(j)
            if not rows:
                continue
            values = self.expectation(expanded, sums, np.array(rows), dtype)  # (rows, K)
            for value, weight, j in zip(values, weights, owners):
                op = circuit.operations[occurrences[j]]
                grads[b, :, op.param.index] += op.param.a * weight * value
        return grads

    def probabilities(self, circuit: Circuit, thetas: np.ndarray) -> np.ndarray:
        return np.abs(self.statevector(circuit, thetas)) ** 2


_SQRT2 = math.sqrt(2.0)
_TWO_TERM = ((math.pi / 2, 0.5), (-math.pi / 2, -0.5))
_FOUR_TERM = (
    (math.pi / 2, (_SQRT2 + 1) / (4 * _SQRT2)),
    (-math.pi / 2, -(_SQRT2 + 1) / (4 * _SQRT2)),
    (3 * math.pi / 2, -(_SQRT2 - 1) / (4 * _SQRT2)),
    (-3 * math.pi / 2, (_SQRT2 - 1) / (4 * _SQRT2)),
)


def _shift_rule(name: str):
    return _FOUR_TERM if name in ("crx", "cry", "crz") else _TWO_TERM
