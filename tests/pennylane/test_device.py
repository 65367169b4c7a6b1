"""The PennyLane devices qfab.cpu / qfab.auto / qfab.fpga against default.qubit."""
import numpy as np
import pytest

qml = pytest.importorskip("pennylane")
pnp = pytest.importorskip("pennylane.numpy")

from qfab.pennylane import QfabCPU  # noqa: E402

ROTATIONS_1 = [qml.RX, qml.RY, qml.RZ, qml.PhaseShift]
ROTATIONS_2 = [qml.CRX, qml.CRY, qml.CRZ, qml.ControlledPhaseShift, qml.IsingXX, qml.IsingYY, qml.IsingZZ]
FIXED_1 = [qml.Hadamard, qml.S, qml.T, qml.SX, qml.PauliX, qml.PauliY]
FIXED_2 = [qml.CNOT, qml.CZ, qml.CY, qml.SWAP]


def random_circuit(n, depth, seed, wires=None):
    """A random circuit's gate list: (op class, parameter index or None, wires)."""
    rng = np.random.default_rng(seed)
    wires = list(range(n)) if wires is None else list(wires)
    gates, num_params = [], 0
    for _ in range(depth):
        kind = rng.integers(5)
        if kind == 0:
            gates.append((FIXED_1[rng.integers(len(FIXED_1))], None, [wires[rng.integers(n)]]))
        elif kind == 1 and n > 1:
            pair = rng.choice(n, 2, replace=False)
            gates.append((FIXED_2[rng.integers(len(FIXED_2))], None, [wires[i] for i in pair]))
        elif kind == 2 and n > 1:
            pair = rng.choice(n, 2, replace=False)
            gates.append((ROTATIONS_2[rng.integers(len(ROTATIONS_2))], num_params, [wires[i] for i in pair]))
            num_params += 1
        elif kind == 3:
            gates.append((qml.Rot, (num_params, num_params + 1, num_params + 2), [wires[rng.integers(n)]]))
            num_params += 3
        else:
            gates.append((ROTATIONS_1[rng.integers(len(ROTATIONS_1))], num_params, [wires[rng.integers(n)]]))
            num_params += 1
    return gates, num_params


def apply(gates, x):
    for op, index, wires in gates:
        if index is None:
            op(wires=wires)
        elif isinstance(index, tuple):
            op(*(x[i] for i in index), wires=wires)
        else:
            op(x[index], wires=wires)


def hamiltonian(wires, seed):
    rng = np.random.default_rng(seed)
    paulis = [qml.PauliX, qml.PauliY, qml.PauliZ]
    terms = []
    for _ in range(3):
        chosen = rng.choice(len(wires), min(2, len(wires)), replace=False)
        term = paulis[rng.integers(3)](wires[chosen[0]])
        for c in chosen[1:]:
            term = term @ paulis[rng.integers(3)](wires[c])
        terms.append(term)
    return qml.Hamiltonian(list(rng.normal(size=3)), terms)


@pytest.fixture(scope="module")
def qfab_cpu():
    return lambda wires, **kw: qml.device("qfab.cpu", wires=wires, **kw)


def test_entry_points_register_the_devices():
    dev = qml.device("qfab.cpu", wires=2)
    assert isinstance(dev, QfabCPU) and dev.name == "qfab.cpu"
    assert qml.device("qfab.auto", wires=2).name == "qfab.auto"
    assert qml.device("qfab.fpga", wires=2).name == "qfab.fpga"


@pytest.mark.parametrize("seed", range(6))
def test_random_circuits_match_default_qubit(seed, qfab_cpu):
    n = 2 + seed % 3
    gates, num_params = random_circuit(n, 14, seed)
    x = np.random.default_rng(100 + seed).uniform(-np.pi, np.pi, num_params)
    H = hamiltonian(list(range(n)), seed)

    def circuit(x):
        apply(gates, x)
        return (qml.expval(qml.PauliZ(0)), qml.expval(H), qml.var(qml.PauliX(n - 1) @ qml.PauliY(0)),
                qml.probs(wires=[n - 1, 0]), qml.probs(), qml.expval(qml.Hermitian(np.diag([1.0, 2.0]), 1)))

    got = qml.QNode(circuit, qfab_cpu(n))(x)
    want = qml.QNode(circuit, qml.device("default.qubit", wires=n))(x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-10)

    def state(x):
        apply(gates, x)
        return qml.state()

    np.testing.assert_allclose(qml.QNode(state, qfab_cpu(n))(x),
                               qml.QNode(state, qml.device("default.qubit", wires=n))(x), atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("diff_method", ["adjoint", "best"])
def test_adjoint_gradients_match_default_qubit(seed, diff_method, qfab_cpu):
    n = 3
    gates, num_params = random_circuit(n, 12, 10 + seed)
    H = hamiltonian(list(range(n)), seed)

    def circuit(x):
        apply(gates, x)
        return qml.expval(H)

    x = pnp.array(np.random.default_rng(seed).uniform(-np.pi, np.pi, num_params), requires_grad=True)
    got_f = qml.QNode(circuit, qfab_cpu(n), diff_method=diff_method)
    want_f = qml.QNode(circuit, qml.device("default.qubit", wires=n), diff_method="backprop")
    np.testing.assert_allclose(got_f(x), want_f(x), atol=1e-10)
    np.testing.assert_allclose(qml.grad(got_f)(x), qml.grad(want_f)(x), atol=1e-9)


def test_jacobian_of_several_expectations_and_non_trainable_parameters(qfab_cpu):
    def circuit(x, y):
        qml.RX(x[0], 0)
        qml.RY(y, 1)  # not trainable
        qml.CRZ(x[1], wires=[0, 1])
        qml.IsingXX(x[2], wires=[1, 0])
        qml.U3(x[0], x[1], x[2], wires=1)
        return qml.expval(qml.PauliZ(0)), qml.expval(qml.PauliX(1) @ qml.PauliZ(0)), qml.expval(qml.PauliY(1))

    x = pnp.array([0.3, -1.1, 0.7], requires_grad=True)
    y = pnp.array(0.4, requires_grad=False)
    f = qml.QNode(circuit, qfab_cpu(2), diff_method="adjoint")
    ref = qml.QNode(circuit, qml.device("default.qubit", wires=2), diff_method="backprop")
    jac = qml.jacobian(lambda x: pnp.stack(f(x, y)))(x)
    want = qml.jacobian(lambda x: pnp.stack(ref(x, y)))(x)
    np.testing.assert_allclose(jac, want, atol=1e-9)


def test_string_wire_labels(qfab_cpu):
    wires = ["anc", "q1", "z"]
    gates, num_params = random_circuit(3, 12, 7, wires=wires)
    x = pnp.array(np.linspace(-1, 1, num_params), requires_grad=True)

    def circuit(x):
        apply(gates, x)
        return qml.expval(qml.PauliZ("anc") @ qml.PauliX("z") + 0.5 * qml.PauliY("q1"))

    def probs(x):
        apply(gates, x)
        return qml.probs(wires=["z", "anc"]), qml.state()

    got = qml.QNode(circuit, qfab_cpu(wires), diff_method="adjoint")
    want = qml.QNode(circuit, qml.device("default.qubit", wires=wires), diff_method="backprop")
    np.testing.assert_allclose(got(x), want(x), atol=1e-10)
    np.testing.assert_allclose(qml.grad(got)(x), qml.grad(want)(x), atol=1e-9)
    for g, w in zip(qml.QNode(probs, qfab_cpu(wires))(x), qml.QNode(probs, qml.device("default.qubit", wires=wires))(x)):
        np.testing.assert_allclose(g, w, atol=1e-10)


def test_samples_statistics(qfab_cpu):
    def circuit(x):
        qml.RX(x, 0)
        qml.CNOT([0, 1])
        qml.Hadamard(2)
        return qml.sample(wires=[0, 1, 2]), qml.expval(qml.PauliZ(0)), qml.counts(wires=[2])

    shots = 20000
    dev = qfab_cpu(3, seed=1234)
    samples, ev, counts = qml.set_shots(qml.QNode(circuit, dev), shots=shots)(0.9)
    assert samples.shape == (shots, 3)
    assert np.all(samples[:, 0] == samples[:, 1])  # the CNOT correlates wires 0 and 1
    p1 = np.sin(0.45) ** 2
    tol = 5 * np.sqrt(p1 * (1 - p1) / shots)
    assert abs(samples[:, 0].mean() - p1) < tol
    assert abs(ev - np.cos(0.9)) < 2 * tol + 0.02
    assert abs(counts["0"] / shots - 0.5) < 0.02
    # wire 0 is PennyLane's most significant bit: a sample's first column is wire 0
    only_x = qml.set_shots(qml.QNode(lambda: (qml.PauliX(0), qml.sample(wires=[0, 1]))[1], qfab_cpu(2)), shots=5)
    np.testing.assert_array_equal(only_x(), np.tile([1, 0], (5, 1)))


def test_batch_of_tapes_runs_as_one_qfab_job(qfab_cpu, monkeypatch):
    dev = qfab_cpu(3)
    rng = np.random.default_rng(3)
    tapes = []
    for b in range(8):
        ops = [qml.RX(rng.normal(), 0), qml.RY(rng.normal(), 1), qml.CNOT([0, 1]), qml.CRZ(rng.normal(), [1, 2]),
               qml.Hadamard(2)]
        tapes.append(qml.tape.QuantumScript(ops, [qml.expval(qml.PauliZ(0) @ qml.PauliZ(2))]))
    tapes.append(qml.tape.QuantumScript([qml.RX(0.2, 0)], [qml.probs(wires=[0, 1])]))
    submitted = []
    original = dev._submit
    monkeypatch.setattr(dev, "_submit", lambda jobs: (submitted.append([job.batch for job in jobs]), original(jobs))[1])
    got = dev.execute(tapes)
    want = qml.device("default.qubit", wires=3).execute(tapes)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-10)
    assert submitted == [[8, 1]]  # the 8 same-shape tapes as one batch of 8, the other alone
    grads = qml.execute(tapes[:8], dev, diff_method="adjoint")
    np.testing.assert_allclose(grads, want[:8], atol=1e-10)


def test_batched_qnode_gradient_through_broadcasting(qfab_cpu):
    def circuit(x):
        qml.RX(x, 0)
        qml.CNOT([0, 1])
        return qml.expval(qml.PauliZ(1))

    x = pnp.array([0.1, 0.5, 1.3], requires_grad=True)
    f = qml.QNode(circuit, qfab_cpu(2), diff_method="adjoint")
    np.testing.assert_allclose(f(x), np.cos(x), atol=1e-12)
    np.testing.assert_allclose(qml.jacobian(f)(x), np.diag(-np.sin(x)), atol=1e-10)


def test_state_preparation_and_global_phase(qfab_cpu):
    state = np.random.default_rng(5).normal(size=8) + 1j * np.random.default_rng(6).normal(size=8)
    state /= np.linalg.norm(state)

    def circuit(phi):
        qml.StatePrep(state, wires=[0, 1, 2])
        qml.GlobalPhase(phi)
        qml.RX(0.3, 1)
        return qml.state()

    np.testing.assert_allclose(qml.QNode(circuit, qfab_cpu(3))(0.7),
                               qml.QNode(circuit, qml.device("default.qubit", wires=3))(0.7), atol=1e-10)


def test_unsupported_operation_is_a_clear_error(qfab_cpu):
    class Opaque(qml.operation.Operation):
        num_wires = 1
        num_params = 0

    @qml.qnode(qfab_cpu(1))
    def circuit():
        Opaque(wires=0)
        return qml.expval(qml.PauliZ(0))

    with pytest.raises(qml.exceptions.DeviceError, match="Opaque.*not supported with qfab.cpu"):
        circuit()


def test_adjoint_refuses_shots_and_non_expectations(qfab_cpu):
    def circuit(x):
        qml.RX(x, 0)
        return qml.probs(wires=0)

    f = qml.QNode(circuit, qfab_cpu(1), diff_method="adjoint")
    with pytest.raises(qml.exceptions.QuantumFunctionError):
        qml.jacobian(f)(pnp.array(0.3, requires_grad=True))


@pytest.mark.parametrize("name", ["qfab.auto", "qfab.fpga"])
def test_auto_and_fpga_devices(name):
    def circuit(x):
        qml.RX(x[0], 0)
        qml.RY(x[1], 1)
        qml.CNOT([0, 1])
        qml.CRX(x[2], [1, 0])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    x = pnp.array([0.3, -0.6, 1.1], requires_grad=True)
    got = qml.QNode(circuit, qml.device(name, wires=2), diff_method="adjoint")
    want = qml.QNode(circuit, qml.device("default.qubit", wires=2), diff_method="backprop")
    tol = 1e-10 if name == "qfab.auto" else 2e-3  # the FPGA's model is fixed point
    np.testing.assert_allclose(got(x), want(x), atol=tol)
    np.testing.assert_allclose(qml.grad(got)(x), qml.grad(want)(x), atol=tol)
