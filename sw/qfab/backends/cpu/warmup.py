"""Compile every numba specialisation the CPU engine uses into the on-disk cache, under the
cross-process compile lock, unless a process already has (see ``numba_cache``)."""
from __future__ import annotations

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from qfab.core.ir import Circuit, Operation, ParamRef
from qfab.core.observables import PauliSum
from qfab.backends.cpu.numba_cache import compile_lock, is_complete, mark_complete

_done = False


def _tiny_circuit() -> Circuit:
    """Dense, diagonal and monomial blocks, 1- to 3-qubit gates, every path of the drivers."""
    h = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)
    cx = np.eye(4, dtype=complex)[[0, 3, 2, 1]]
    ops = (
        Operation("h", (0,), matrix=h),
        Operation("ry", (1,), param=ParamRef(0)),
        Operation("cx", (0, 1), matrix=cx),
        Operation("crx", (1, 2), param=ParamRef(1, 0.5, 0.1)),
        Operation("rzz", (0, 2), param=ParamRef(0)),
        Operation("swap", (0, 2), matrix=np.eye(4, dtype=complex)[[0, 2, 1, 3]]),
        Operation("ccz", (0, 1, 2), matrix=np.diag([1, 1, 1, 1, 1, 1, 1, -1]).astype(complex)),
    )
    return Circuit(num_qubits=3, operations=ops, parameters=("a", "b"))


def warm_up(engine_class) -> None:
    global _done
    if _done:
        return
    _done = True
    if is_complete():  # every kernel is in the cache: calls load what they use
        return
    circuit = _tiny_circuit()
    sums = [PauliSum.from_sparse_pauli_op(SparsePauliOp(["XYZ", "ZIZ"]))]
    with compile_lock():
        if is_complete():  # another process finished while this one waited
            return
        for width in (1, 3):
            engine = engine_class(width)
            for dtype in (np.complex128, np.complex64):
                for batch in (1, 4):  # one set: kernels over amplitudes; several: over sets
                    thetas = np.full((batch, 2), 0.3)
                    engine.statevector(circuit, thetas, dtype)
                    engine.expectation(circuit, sums, thetas, dtype)
                    engine.adjoint_gradient(circuit, sums, thetas, dtype)
        mark_complete()
