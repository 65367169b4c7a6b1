"""The FPGA driver's v1 batched program assembly (every set bound on the host; no longer the
device's path, which is v2's stored program: test_driver_v2.py): the same words, bit for bit, as
binding and assembling each parameter set on its own with ``qfab_hw.Assembler``, for states,
expectations and batches, including angles that turn a gate into an exact operation in some
sets and not in others."""
import itertools
import math

import numpy as np
from hypothesis import given, strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qfab_hw import Assembler, CoreParams, decode_program
from qfab_hw.program import Opcode, pack_complex, pack_complex_words

import qfab
from qfab.core import gates
from qfab.backends.fpga import FPGADevice
from qfab.backends.fpga.compiler import basis_change, measurement_groups
from qfab.backends.fpga.driver import expectation_program, state_program
from qfab.core.shift import angle_circuit
from qfab.core.observables import PauliSum

from tests.support.circuits import random_circuits

PARAMS = CoreParams(max_qubits=8, lanes=1, width=18)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
#: Angles at which rx/ry/rz/p become I, X-like, S, Z, ... : the exact fast paths.
SPECIAL_ANGLES = [0.0, math.pi / 2, -math.pi / 2, math.pi, -math.pi, 2 * math.pi, 4 * math.pi, math.pi / 4]


# ------------------------------------------------------------------- reference: one set at a time

def _bound(op, theta):
    if op.matrix is not None:
        return op.matrix
    kind, ref = op.rotation
    return gates.rotation_matrix(kind, ref.angle(theta))


def _quarter_turns(matrix):
    if abs(matrix[0, 1]) > 1e-12 or abs(matrix[1, 0]) > 1e-12 or abs(matrix[0, 0] - 1) > 1e-12:
        return None
    for k in range(4):
        if abs(matrix[1, 1] - 1j**k) < 1e-12:
            return k
    return None


def _emit(assembler, matrix, target, control):
    if np.allclose(matrix, _X, atol=1e-12):
        assembler.x(target, control)
    elif (k := _quarter_turns(matrix)) is not None:
        if k:
            assembler.phase_quarter(k, target, control)
    elif abs(matrix[0, 1]) < 1e-12 and abs(matrix[1, 0]) < 1e-12:
        assembler.diagonal(matrix[0, 0], matrix[1, 1], target, control)
    else:
        assembler.unitary(matrix, target, control)


def _assemble(lowered, theta, assembler):
    pending = {}

    def flush(qubit):
        if qubit in pending:
            _emit(assembler, pending.pop(qubit), qubit, None)

    for op in lowered.ops:
        matrix = _bound(op, theta)
        if op.control is None:
            pending[op.target] = matrix @ pending.get(op.target, np.eye(2, dtype=complex))
            continue
        flush(op.target)
        flush(op.control)
        _emit(assembler, matrix, op.target, op.control)
    for qubit in sorted(pending):
        flush(qubit)


def reference_state(lowered, thetas, params):
    """(words, passes) of the state program, one set at a time."""
    n_core = max(lowered.circuit.num_qubits, params.min_qubits)
    assembler = Assembler(params.width)
    for theta in thetas:
        assembler.init(n_core)
        _assemble(lowered, theta, assembler)
        assembler.read_state()
    passes = (len(assembler.instructions) - 2 * len(thetas)) // max(len(thetas), 1)
    return assembler.end().words(), passes


def reference_expectation(lowered, sums, thetas, params):
    """(words, passes) of the expectation program, one set and one basis at a time."""
    n_core = max(lowered.circuit.num_qubits, params.min_qubits)
    groups = measurement_groups(sums, lowered.circuit.num_qubits)
    assembler = Assembler(params.width)
    gate_instructions = 0
    for theta in thetas:
        for basis, terms in groups:
            assembler.init(n_core)
            before = len(assembler.instructions)
            _assemble(lowered, theta, assembler)
            for qubit, rotation in basis_change(basis):
                assembler.unitary(rotation, qubit)
            gate_instructions += len(assembler.instructions) - before
            for _, mask, _ in terms:
                if mask:
                    assembler.expect_z([q for q in range(n_core) if (mask >> q) & 1])
    return assembler.end().words(), gate_instructions // max(len(thetas) * len(groups), 1)


# ------------------------------------------------------------------------------ helpers

def parameter_sets(seed, sets, num_parameters):
    """Uniform angles with about a third of them replaced by special ones (exact gates)."""
    rng = np.random.default_rng(seed)
    thetas = rng.uniform(-np.pi, np.pi, (sets, num_parameters))
    special = rng.random((sets, num_parameters)) < 0.35
    thetas[special] = rng.choice(SPECIAL_ANGLES, size=int(special.sum()))
    return thetas


def random_sums(seed, num_qubits, count=2):
    rng = np.random.default_rng(seed)
    sums = []
    for _ in range(count):
        labels = ["".join(rng.choice(list("IXYZ"), num_qubits)) for _ in range(rng.integers(1, 5))]
        labels.append("I" * num_qubits)  # an identity term: a value without a readout
        sums.append(PauliSum.from_sparse_pauli_op(SparsePauliOp(labels, rng.uniform(-1, 1, len(labels)))))
    return sums


def assert_same_program(program, reference):
    words, passes = reference
    assert program.words.dtype == np.uint64
    assert program.words.tolist() == words
    assert program.passes == passes


# -------------------------------------------------------------------------------- tests

@given(qc=random_circuits(max_qubits=6, max_gates=25), sets=st.integers(0, 4), seed=st.integers(0, 2**16),
       angles=st.booleans())
def test_state_program_words_equal_the_per_set_assembler(qc, sets, seed, angles):
    circ = qfab.from_qiskit(qc)
    if angles:  # one parameter per rotation: special values land on the gates themselves
        circ = angle_circuit(circ)[0]
    lowered = FPGADevice("model", PARAMS).lowered(circ)
    thetas = parameter_sets(seed, sets, circ.num_parameters)
    assert_same_program(state_program(lowered, thetas, PARAMS), reference_state(lowered, thetas, PARAMS))


@given(qc=random_circuits(max_qubits=6, max_gates=25), sets=st.integers(0, 4), seed=st.integers(0, 2**16),
       angles=st.booleans(), width=st.sampled_from([12, 16, 18]))
def test_expectation_program_words_equal_the_per_set_assembler(qc, sets, seed, angles, width):
    circ = qfab.from_qiskit(qc)
    if angles:
        circ = angle_circuit(circ)[0]
    params = CoreParams(max_qubits=8, lanes=1, width=width)
    lowered = FPGADevice("model", params).lowered(circ)
    thetas = parameter_sets(seed, sets, circ.num_parameters)
    sums = random_sums(seed, circ.num_qubits)
    assert_same_program(expectation_program(lowered, sums, thetas, params),
                        reference_expectation(lowered, sums, thetas, params))


def _exact_at_special_angles():
    """rz(a) on qubit 0 and p(b) on qubit 1, each a pass of its own between CXs."""
    a, b = Parameter("a"), Parameter("b")
    out = QuantumCircuit(2)
    out.h(0)
    out.cx(0, 1)
    out.rz(a, 0)
    out.cx(0, 1)
    out.p(b, 1)
    out.cx(1, 0)
    return out


def test_exact_angles_drop_or_replace_passes_per_set():
    """rz(0) needs no pass and p(π/2), p(π) are S and Z (GATE_PHASE4) in the sets with those
    angles, while the other sets keep their diagonals; the model still computes the right states."""
    circ = qfab.from_qiskit(_exact_at_special_angles())
    lowered = FPGADevice("model", PARAMS).lowered(circ)
    thetas = np.array([[0.3, 0.7], [0.0, math.pi / 2], [0.3, math.pi]])
    program = state_program(lowered, thetas, PARAMS)
    assert_same_program(program, reference_state(lowered, thetas, PARAMS))
    instructions = decode_program(program.words, PARAMS.width)
    starts = [i for i, instruction in enumerate(instructions) if instruction.opcode == Opcode.INIT] + [len(instructions) - 1]
    per_set = [[x.opcode for x in instructions[a:b]] for a, b in itertools.pairwise(starts)]
    assert per_set[0].count(Opcode.GATE_DIAG) == 2  # rz(0.3), p(0.7)
    assert per_set[1].count(Opcode.GATE_DIAG) == 0 and per_set[1].count(Opcode.GATE_PHASE4) == 1  # I, S
    assert per_set[2].count(Opcode.GATE_DIAG) == 1 and per_set[2].count(Opcode.GATE_PHASE4) == 1  # rz, Z
    model = qfab.statevector(circ, thetas, device=FPGADevice("model", PARAMS))
    np.testing.assert_allclose(model, qfab.statevector(circ, thetas), atol=1e-3)


@given(re=st.lists(st.integers(-(1 << 17), (1 << 17) - 1), min_size=1, max_size=8), data=st.data())
def test_vectorised_packing_and_decoding_of_array_programs(re, data):
    im = data.draw(st.lists(st.integers(-(1 << 17), (1 << 17) - 1), min_size=len(re), max_size=len(re)))
    words = pack_complex_words(re, im)
    assert words.tolist() == [pack_complex(a, b) for a, b in zip(re, im)]
    program = Assembler(18).init(3).diagonal(complex(re[0], im[0]) / 2**16, -0.5j, 1).end()
    decoded = decode_program(np.array(program.words(), dtype=np.uint64), 18)  # negative halves stay negative
    assert decoded == program.instructions
