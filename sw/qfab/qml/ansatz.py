"""Ansatz library: the parameterized circuits whose trainability qfab diagnoses and trains.

Every builder returns an :class:`Ansatz`: a Qiskit circuit (for inspection and export), its
qfab translation (for simulation), and the bookkeeping the trainability tools need — which
layer each parameter sits in (layerwise schedules, depth scans), which parameter mirrors which
(identity-block initialisation) and, for McClean's random circuit, how a sampled choice of
rotation axes maps onto circuit parameters.

McClean et al. draw a fresh rotation axis (X, Y or Z) for every gate of every random circuit.
Compiling one circuit per sample would forfeit qfab's batching, so each site carries the three
rotations ``RX(a) RY(b) RZ(c)`` and a sample sets the two it did not draw to zero: the circuit is
shared by the whole batch and the sample is exactly ``R_P(theta)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import PauliEvolutionGate
from qiskit.quantum_info import SparsePauliOp

from qfab.core.frontend import from_qiskit
from qfab.core.ir import Circuit

__all__ = [
    "Ansatz", "mcclean_random", "hardware_efficient", "alternating_layered", "qcnn", "tensor_product",
    "hamiltonian_variational", "with_identity_blocks", "ANSATZ_BUILDERS", "build_ansatz",
]

_AXES = ("rx", "ry", "rz")


@dataclass
class Ansatz:
    """A parameterized circuit plus what trainability analysis needs to know about it.

    ``parameters`` are the trainable parameters in the order of ``theta`` arrays.
    ``axis_choices`` is set for random-axis ansätze: row ``j`` holds the three circuit parameters
    (RX, RY, RZ) of trainable parameter ``j``; ``axis_source[j]`` is the trainable parameter whose
    sampled axis ``j`` reuses (itself, or its forward twin in a mirrored identity block).
    ``mirror_of[j]`` is the forward twin of a mirrored parameter, ``-1`` otherwise.
    ``first_gate_state_term`` is ``E[(1 - <G>^2)/2]`` over the state before the first parametric
    gate, when the builder knows it; the 2-design prediction of the first parameter's gradient
    variance needs it.
    """

    name: str
    num_qubits: int
    num_layers: int
    qiskit_circuit: QuantumCircuit
    parameters: list[Parameter]
    layer_of: np.ndarray
    mirror_of: np.ndarray | None = None
    axis_choices: list[tuple[Parameter, Parameter, Parameter]] | None = None
    axis_source: np.ndarray | None = None
    first_gate_state_term: float | None = None
    generators: list[SparsePauliOp] | None = field(default=None, repr=False)

    @cached_property
    def circuit(self) -> Circuit:
        return from_qiskit(self.qiskit_circuit)

    @property
    def num_parameters(self) -> int:
        return len(self.parameters)

    @property
    def random_axes(self) -> bool:
        return self.axis_choices is not None

    @cached_property
    def _columns(self) -> np.ndarray:
        """(P, 3) circuit-parameter columns of each trainable parameter (one column unless random axes)."""
        index = {name: i for i, name in enumerate(self.circuit.parameters)}
        if self.axis_choices is None:
            return np.array([[index[p.name]] for p in self.parameters], dtype=np.int64)
        return np.array([[index[p.name] for p in triple] for triple in self.axis_choices], dtype=np.int64)

    def sample_structure(self, rng: np.random.Generator, batch: int) -> np.ndarray | None:
        """Random axes ``(batch, P)`` in {0: X, 1: Y, 2: Z} for random-axis ansätze; ``None`` otherwise."""
        if not self.random_axes:
            return None
        drawn = rng.integers(0, 3, size=(batch, self.num_parameters))
        return drawn[:, self.axis_source]

    def circuit_parameters(self, theta, structure=None, num_circuit_parameters: int | None = None) -> np.ndarray:
        """Trainable ``theta`` (B, P) -> the circuit's parameter array (B, P_circuit)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        width = self.circuit.num_parameters if num_circuit_parameters is None else num_circuit_parameters
        out = np.zeros((theta.shape[0], width))
        columns = self.active_columns(theta.shape[0], structure)
        np.put_along_axis(out, columns, theta, axis=1)
        return out

    def trainable_gradient(self, circuit_gradient: np.ndarray, structure=None) -> np.ndarray:
        """Gradient over circuit parameters (B, ..., P_circuit) -> over trainable ones (B, ..., P)."""
        columns = self.active_columns(circuit_gradient.shape[0], structure)
        columns = columns.reshape(columns.shape[:1] + (1,) * (circuit_gradient.ndim - 2) + columns.shape[1:])
        columns = np.broadcast_to(columns, circuit_gradient.shape[:-1] + (self.num_parameters,))
        return np.take_along_axis(circuit_gradient, columns, axis=-1)

    def active_columns(self, batch: int, structure=None) -> np.ndarray:
        """(batch, P) circuit-parameter column that each trainable parameter drives in each sample."""
        if self.random_axes:
            if structure is None:
                raise ValueError(f"ansatz {self.name!r} draws random rotation axes: pass the structure "
                                 "from sample_structure()")
            return np.take_along_axis(self._columns[None, :, :], np.asarray(structure)[:, :, None], axis=2)[:, :, 0]
        return np.broadcast_to(self._columns[:, 0], (batch, self.num_parameters))

    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]


def _finish(name, qc, parameters, layer_of, **extra) -> Ansatz:
    return Ansatz(name=name, num_qubits=qc.num_qubits, num_layers=int(max(layer_of, default=-1)) + 1,
                  qiskit_circuit=qc, parameters=list(parameters), layer_of=np.asarray(layer_of, dtype=np.int64),
                  **extra)


def _chain(num_qubits: int, coupling_map: Sequence[tuple[int, int]] | None, periodic: bool = False):
    if coupling_map is not None:
        return [tuple(edge) for edge in coupling_map]
    edges = [(q, q + 1) for q in range(num_qubits - 1)]
    if periodic and num_qubits > 2:
        edges.append((num_qubits - 1, 0))
    return edges


def mcclean_random(num_qubits: int, layers: int, entangler: str = "cz") -> Ansatz:
    """McClean et al. 2018: RY(pi/4) on all qubits, then layers of a random-axis rotation per qubit
    followed by a CZ ladder. Axes are drawn per sample with :meth:`Ansatz.sample_structure`."""
    qc = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        qc.ry(np.pi / 4, q)
    trainable, triples, layer_of = [], [], []
    for layer in range(layers):
        vector = ParameterVector(f"s{layer:04d}", 3 * num_qubits)
        for q in range(num_qubits):
            a, b, c = vector[3 * q: 3 * q + 3]
            qc.rx(a, q)
            qc.ry(b, q)
            qc.rz(c, q)
            triples.append((a, b, c))
            trainable.append(Parameter(f"theta_{layer}_{q}"))
            layer_of.append(layer)
        for control, target in _chain(num_qubits, None):
            getattr(qc, entangler)(control, target)
    # RY(pi/4)|0> has Bloch vector (1/sqrt2, 0, 1/sqrt2); averaging 1 - <P>^2 over P in {X, Y, Z} gives 2/3.
    return _finish("mcclean", qc, trainable, layer_of, axis_choices=triples,
                   axis_source=np.arange(len(trainable)), first_gate_state_term=1 / 3)


def hardware_efficient(num_qubits: int, layers: int, rotations: Sequence[str] = ("ry", "rz"), entangler: str = "cz",
                       coupling_map: Sequence[tuple[int, int]] | None = None, share_parameters: bool = False) -> Ansatz:
    """Layers of single-qubit ``rotations`` then ``entangler`` on every edge of ``coupling_map``
    (default: a linear chain), so the circuit can follow a backend's connectivity and native
    two-qubit gate (``cz``, ``cx``, ``ecr``...). With ``share_parameters`` every layer reuses the
    first layer's angles."""
    qc = QuantumCircuit(num_qubits)
    edges = _chain(num_qubits, coupling_map)
    per_layer = len(rotations) * num_qubits
    vectors = [ParameterVector(f"t{layer:04d}", per_layer) for layer in range(1 if share_parameters else layers)]
    for layer in range(layers):
        vector = vectors[0 if share_parameters else layer]
        for q in range(num_qubits):
            for r, rotation in enumerate(rotations):
                getattr(qc, rotation)(vector[q * len(rotations) + r], q)
        for control, target in edges:
            getattr(qc, entangler)(control, target)
    trainable = [p for v in vectors for p in v]
    layer_of = [layer for layer in range(len(vectors)) for _ in range(per_layer)]
    # The first gate acts on |0>: <G> = 1 for Z-type, 0 for X/Y.
    first = 0.0 if rotations[0] in ("rz", "p") else 0.5
    return _finish("hea", qc, trainable, layer_of, first_gate_state_term=first)


def alternating_layered(num_qubits: int, layers: int, block_size: int = 2) -> Ansatz:
    """Cerezo et al. 2021: blocks on ``block_size`` neighbouring qubits, each RY on its qubits then a
    CZ ladder inside the block, staggered by half a block in alternate layers (a brick wall)."""
    qc = QuantumCircuit(num_qubits)
    trainable, layer_of = [], []
    for layer in range(layers):
        offset = (block_size // 2) * (layer % 2)
        vector = ParameterVector(f"t{layer:04d}", num_qubits)
        starts = range(offset - block_size if offset else 0, num_qubits, block_size)
        used = set()
        for start in starts:
            block = [q for q in range(start, start + block_size) if 0 <= q < num_qubits]
            for q in block:
                qc.ry(vector[q], q)
                used.add(q)
            for a, b in zip(block, block[1:]):
                qc.cz(a, b)
        trainable += [vector[q] for q in sorted(used)]
        layer_of += [layer] * len(used)
    return _finish("alternating", qc, trainable, layer_of, first_gate_state_term=0.5)


def tensor_product(num_qubits: int, layers: int, rotations: Sequence[str] = ("rx", "ry")) -> Ansatz:
    """No entanglement: layers of single-qubit rotations (Cerezo's and Storwick's product ansatz)."""
    return _rename(hardware_efficient(num_qubits, layers, rotations=rotations, coupling_map=()), "tensor_product")


def qcnn(num_qubits: int) -> Ansatz:
    """QCNN-style: convolution (RY pair, CX, RY pair) on neighbouring active qubits, then pooling
    (a controlled RZ from each discarded qubit onto its kept neighbour), halving the active qubits
    until one remains; read it out with Z on the last qubit."""
    qc = QuantumCircuit(num_qubits)
    active = list(range(num_qubits))
    trainable, layer_of, layer = [], [], 0
    while len(active) > 1:
        pairs = list(zip(active[0::2], active[1::2])) + list(zip(active[1::2], active[2::2]))
        vector = ParameterVector(f"c{layer:02d}", 4 * len(pairs) + len(active) // 2)
        k = 0
        for a, b in pairs:
            qc.ry(vector[k], a)
            qc.ry(vector[k + 1], b)
            qc.cx(a, b)
            qc.ry(vector[k + 2], a)
            qc.ry(vector[k + 3], b)
            k += 4
        kept = []
        for a, b in zip(active[0::2], active[1::2]):
            qc.crz(vector[k], a, b)
            k += 1
            kept.append(b)
        if len(active) % 2:
            kept.append(active[-1])
        trainable += list(vector)
        layer_of += [layer] * len(vector)
        active, layer = kept, layer + 1
    return _finish("qcnn", qc, trainable, layer_of, first_gate_state_term=0.5)


def hamiltonian_variational(generators: Sequence[SparsePauliOp | str], layers: int,
                            share_parameters: bool = False) -> Ansatz:
    """Layers of ``exp(-i theta_k G_k / 2)`` for each generator (a Pauli string or a sum of
    commuting ones): the circuits of the Lie-algebraic theory (HVA, QAOA), whose dynamical Lie
    algebra :func:`qfab.qml.lie.lie_closure` computes from ``generators``."""
    ops = [SparsePauliOp(g) if isinstance(g, str) else g for g in generators]
    num_qubits = ops[0].num_qubits
    qc = QuantumCircuit(num_qubits)
    vectors = [ParameterVector(f"h{layer:04d}", len(ops)) for layer in range(1 if share_parameters else layers)]
    for layer in range(layers):
        vector = vectors[0 if share_parameters else layer]
        for k, op in enumerate(ops):
            pauli_rotation(qc, op, vector[k])
    trainable = [p for v in vectors for p in v]
    layer_of = [layer for layer in range(len(vectors)) for _ in ops]
    return _finish("hva", qc, trainable, layer_of, generators=ops)


def pauli_rotation(qc: QuantumCircuit, op: SparsePauliOp, angle) -> None:
    """exp(-i angle op / 2); single-term 1- and 2-qubit strings become native rotations."""
    if len(op) == 1 and np.isclose(op.coeffs[0], 1.0):
        label = op.paulis[0].to_label()
        support = [q for q in range(op.num_qubits) if label[-1 - q] != "I"]
        letters = {label[-1 - q] for q in support}
        if len(support) == 1:
            getattr(qc, "r" + label[-1 - support[0]].lower())(angle, support[0])
            return
        if len(support) == 2 and len(letters) == 1:
            getattr(qc, "r" + 2 * letters.pop().lower())(angle, *support)
            return
    qc.append(PauliEvolutionGate(op, time=angle / 2), range(op.num_qubits))


def with_identity_blocks(ansatz: Ansatz, layers_per_half: int = 2) -> Ansatz:
    """Grant et al. 2019: every ``layers_per_half`` layers are followed by their inverse with fresh
    parameters, so that initialising each mirrored parameter to its twin (see
    :func:`qfab.qml.init.identity_blocks`) makes every block the identity and training starts
    from a shallow effective circuit. Fixed gates before the first rotation (McClean's RY(pi/4))
    stay outside the blocks. With one layer per half, a layer that ends in a fixed entangler meets
    that entangler's inverse at once and the block collapses to single-qubit rotations whatever the
    angles, so the default is two."""
    layer_of_circuit_parameter = {}
    for j in range(ansatz.num_parameters):
        for p in _circuit_parameters_of(ansatz, j):
            layer_of_circuit_parameter[p] = int(ansatz.layer_of[j])
    source = ansatz.qiskit_circuit
    qc = source.copy_empty_like()
    instructions_of_layer: dict[int, list] = {}
    current = None
    for instruction in source.data:
        free = {p for v in instruction.operation.params if hasattr(v, "parameters") for p in v.parameters}
        if free:
            current = layer_of_circuit_parameter[next(iter(free))]
        if current is None:
            qc.append(instruction)
        else:
            instructions_of_layer.setdefault(current, []).append(instruction)
    layer_ids = sorted(instructions_of_layer)
    trainable, layer_of, mirror_of, triples, axis_source = [], [], [], [], []
    for start in range(0, len(layer_ids), layers_per_half):
        block = layer_ids[start: start + layers_per_half]
        half = source.copy_empty_like()
        for lid in block:
            for instruction in instructions_of_layer[lid]:
                half.append(instruction)
        mirror = {p: Parameter(f"mirror_{p.name}") for p in half.parameters}
        qc.compose(half, inplace=True)
        qc.compose(half.inverse().assign_parameters(mirror), inplace=True)
        forward = [j for j in range(ansatz.num_parameters) if int(ansatz.layer_of[j]) in block]
        base = len(trainable)
        for j in forward:
            trainable.append(ansatz.parameters[j])
            layer_of.append(start * 2 + block.index(int(ansatz.layer_of[j])))
            mirror_of.append(-1)
            if ansatz.random_axes:
                triples.append(ansatz.axis_choices[j])
                axis_source.append(len(trainable) - 1)
        for offset, j in enumerate(forward):
            depth_in_block = block.index(int(ansatz.layer_of[j]))
            if ansatz.random_axes:
                trainable.append(Parameter(f"mirror_{ansatz.parameters[j].name}"))
                triples.append(tuple(mirror[p] for p in ansatz.axis_choices[j]))
                axis_source.append(base + offset)
            else:
                trainable.append(mirror[ansatz.parameters[j]])
            layer_of.append(start * 2 + 2 * len(block) - 1 - depth_in_block)
            mirror_of.append(base + offset)
    extra = dict(mirror_of=np.asarray(mirror_of, dtype=np.int64), first_gate_state_term=ansatz.first_gate_state_term)
    if ansatz.random_axes:
        extra.update(axis_choices=triples, axis_source=np.asarray(axis_source, dtype=np.int64))
    return _finish(ansatz.name + "+identity_blocks", qc, trainable, layer_of, **extra)


def _circuit_parameters_of(ansatz: Ansatz, j: int) -> tuple[Parameter, ...]:
    return ansatz.axis_choices[j] if ansatz.random_axes else (ansatz.parameters[j],)


def _rename(ansatz: Ansatz, name: str) -> Ansatz:
    ansatz.name = name
    return ansatz


ANSATZ_BUILDERS: dict[str, Callable[..., Ansatz]] = {
    "mcclean": mcclean_random,
    "hea": hardware_efficient,
    "alternating": alternating_layered,
    "tensor_product": tensor_product,
    "qcnn": lambda num_qubits, layers=None, **kw: qcnn(num_qubits),
}


def build_ansatz(name: str, num_qubits: int, layers: int, **options) -> Ansatz:
    """Build an ansatz by name (``mcclean``, ``hea``, ``alternating``, ``tensor_product``, ``qcnn``)."""
    if name not in ANSATZ_BUILDERS:
        raise ValueError(f"unknown ansatz {name!r}; choose from {sorted(ANSATZ_BUILDERS)}")
    return ANSATZ_BUILDERS[name](num_qubits, layers, **options)
