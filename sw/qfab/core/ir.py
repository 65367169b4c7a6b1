"""qfab's circuit IR: what every device receives.

A :class:`Circuit` is an immutable sequence of :class:`Operation` s on ``num_qubits`` qubits in
Qiskit's little-endian order. An operation is either a fixed unitary (its matrix is stored) or a
*rotation* of a known kind whose angle is an affine function ``a * theta[index] + b`` of one
circuit parameter. Keeping parametric gates symbolic (kind + affine map) instead of as Python
callables is what lets the numba engine rebuild their matrices and derivatives for thousands of
parameter sets without returning to Python.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qfab.core import gates

__all__ = ["ParamRef", "Operation", "Circuit", "Measurement"]


@dataclass(frozen=True)
class ParamRef:
    """The angle ``a * theta[index] + b`` of a parametric gate."""

    index: int
    a: float = 1.0
    b: float = 0.0

    def angle(self, theta: np.ndarray) -> float:
        return self.a * float(theta[self.index]) + self.b


@dataclass(frozen=True)
class Operation:
    """One gate. Exactly one of ``matrix`` (fixed gate) or ``param`` (rotation) is set.

    ``qubits[0]`` is the least significant qubit of ``matrix`` (Qiskit's convention).
    ``source`` is the position of the instruction in the user's circuit, kept so that errors
    raised later (by a device that lacks the gate, say) can point back at it.
    """

    name: str
    qubits: tuple[int, ...]
    matrix: np.ndarray | None = field(default=None, compare=False)
    param: ParamRef | None = None
    source: int = -1

    def __post_init__(self):
        if (self.matrix is None) == (self.param is None):
            raise ValueError(f"operation {self.name!r}: give a matrix or a parameter, not both or neither")
        if self.param is not None and self.name not in gates.ROTATION_KINDS:
            raise ValueError(
                f"operation {self.name!r} is not a rotation qfab can differentiate; "
                f"known rotations: {sorted(gates.ROTATION_KINDS)}"
            )
        if self.matrix is not None:
            dim = 2 ** len(self.qubits)
            if self.matrix.shape != (dim, dim):
                raise ValueError(
                    f"operation {self.name!r} on {len(self.qubits)} qubits needs a {dim}x{dim} matrix, "
                    f"got shape {self.matrix.shape}"
                )
            gates.check_unitary(self.matrix, self.name)
        elif len(self.qubits) != gates.ROTATION_KINDS[self.name].num_qubits:
            raise ValueError(f"rotation {self.name!r} acts on {gates.ROTATION_KINDS[self.name].num_qubits} qubits")
        if len(set(self.qubits)) != len(self.qubits):
            raise ValueError(f"operation {self.name!r} repeats a qubit: {self.qubits}")

    @property
    def is_parametric(self) -> bool:
        return self.param is not None

    @property
    def is_diagonal(self) -> bool:
        if self.param is not None:
            return gates.ROTATION_KINDS[self.name].diagonal
        return bool(np.allclose(self.matrix, np.diag(np.diag(self.matrix)), atol=0))

    def unitary(self, theta: np.ndarray | None = None) -> np.ndarray:
        """The gate's matrix, binding the parameter from ``theta`` if it has one."""
        if self.matrix is not None:
            return self.matrix
        return gates.rotation_matrix(self.name, self.param.angle(theta))


@dataclass(frozen=True)
class Measurement:
    qubit: int
    clbit: int


@dataclass(frozen=True)
class Circuit:
    """An immutable parameterized circuit.

    ``parameters`` are the names of the circuit's parameters, in Qiskit's order of
    ``QuantumCircuit.parameters``; ``params`` arrays passed to qfab follow that order.
    ``global_phase`` is ``(constant, ((index, coefficient), ...))``: Qiskit tracks a global phase
    that can depend linearly on parameters after decomposition, and statevectors must carry it to
    equal Qiskit's.
    """

    num_qubits: int
    operations: tuple[Operation, ...]
    parameters: tuple[str, ...] = ()
    global_phase: tuple[float, tuple[tuple[int, float], ...]] = (0.0, ())
    measurements: tuple[Measurement, ...] = ()
    num_clbits: int = 0

    def __post_init__(self):
        if self.num_qubits < 1:
            raise ValueError("a circuit needs at least one qubit")
        for position, op in enumerate(self.operations):
            if any(q < 0 or q >= self.num_qubits for q in op.qubits):
                raise ValueError(
                    f"operation {position} ({op.name}) acts on qubits {op.qubits} outside 0..{self.num_qubits - 1}"
                )
            if op.param is not None and not 0 <= op.param.index < len(self.parameters):
                raise ValueError(f"operation {position} ({op.name}) refers to parameter {op.param.index}, "
                                 f"but the circuit has {len(self.parameters)}")

    @property
    def num_parameters(self) -> int:
        return len(self.parameters)

    def phase(self, theta: np.ndarray) -> float:
        const, terms = self.global_phase
        return const + sum(coef * float(theta[i]) for i, coef in terms)

    def __len__(self) -> int:
        return len(self.operations)

    def __repr__(self) -> str:
        return (f"qfab.Circuit(num_qubits={self.num_qubits}, operations={len(self.operations)}, "
                f"parameters={self.num_parameters})")
