"""Run by tests/backends/mpi/test_distributed.py under ``mpiexec -n R``: random circuits on the
distributed engine against the single-process CPU engine (on rank 0), and every run's traffic
against the swap schedule's prediction. Any failed check raises; ``python -m mpi4py`` then ends
every rank and the launch exits non-zero. Rank 0 prints one ``checked ...`` line at the end.

Usage: ``mpi_checks.py SEED CIRCUITS``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout: tests.support

import qfab  # noqa: E402
from qfab.backends import Job  # noqa: E402
from qfab.backends.cpu import CPUEngine  # noqa: E402
from qfab.backends.mpi import MPIDevice  # noqa: E402
from qfab.backends.mpi.costmodel import predicted_traffic  # noqa: E402
from qfab.core.frontend import from_qiskit  # noqa: E402
from qfab.core.observables import as_pauli_sums  # noqa: E402
from tests.support.circuits import STANDARD_GATES  # noqa: E402

TOLERANCE = 1e-10
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
num_global = size.bit_length() - 1


def random_circuit(rng: np.random.Generator, num_qubits: int, num_gates: int) -> QuantumCircuit:
    """Standard gates on random qubits, about half the angles affine in one of three parameters
    (the same circuit on every rank: the same seed)."""
    params = [Parameter(f"p{i}") for i in range(3)]
    names = [n for n, g in STANDARD_GATES.items() if g.num_qubits <= min(num_qubits - num_global, num_qubits)]
    qc = QuantumCircuit(num_qubits)
    for p in params:  # every parameter used at least once
        qc.ry(p, int(rng.integers(num_qubits)))
    for _ in range(num_gates):
        gate = STANDARD_GATES[names[rng.integers(len(names))]]
        qubits = [int(q) for q in rng.permutation(num_qubits)[: gate.num_qubits]]
        values = [float(rng.uniform(-2, 2)) * params[rng.integers(3)] + float(rng.uniform(-np.pi, np.pi))
                  if rng.random() < 0.5 else float(rng.uniform(-np.pi, np.pi)) for _ in gate.params]
        qc.append(gate.base_class(*values) if values else gate, qubits)
    return qc


def random_observables(rng: np.random.Generator, num_qubits: int, count: int) -> list[SparsePauliOp]:
    return [SparsePauliOp(["".join(rng.choice(list("IXYZ"), num_qubits)) for _ in range(3)],
                          rng.uniform(-1, 1, 3)) for _ in range(count)]


def check_traffic(device: MPIDevice, job: Job, what: str) -> None:
    measured = device.engine.traffic
    predicted = predicted_traffic(job, num_global, device.chunk_amplitudes)
    got = (measured.exchanges, measured.messages, measured.exchange_bytes, measured.fetches, measured.fetch_bytes)
    want = (predicted.exchanges, predicted.messages, predicted.exchange_bytes, predicted.fetches, predicted.fetch_bytes)
    assert got == want, f"rank {rank}, {what}: traffic {got} != predicted {want}"


def close(a, b, what: str) -> None:
    error = float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
    assert error < TOLERANCE, f"{what}: max deviation {error:.3g} from the CPU engine"


def main(seed: int, circuits: int) -> None:
    rng = np.random.default_rng(seed)
    state_device = MPIDevice(spread="state", chunk_amplitudes=8)  # small messages: chunking runs
    batch_device = MPIDevice(spread="batch")
    cpu = CPUEngine()
    totals = {"exchanges": 0, "fetches": 0}
    for index in range(circuits):
        n = int(rng.integers(max(4, num_global + 3), 8))
        qc = random_circuit(rng, n, int(rng.integers(10, 30)))
        circuit = from_qiskit(qc)
        sums, _ = as_pauli_sums(random_observables(rng, n, 2), n)
        thetas = rng.uniform(-np.pi, np.pi, (3, circuit.num_parameters))
        where = f"circuit {index} (seed {seed}, {n} qubits, {len(circuit.operations)} gates, {size} ranks)"

        state_job = Job(circuit, thetas, want_state=True)
        states = state_device.run([state_job])[0].states
        check_traffic(state_device, state_job, where + ", statevector")
        totals["exchanges"] += state_device.engine.traffic.exchanges
        gradient_job = Job(circuit, thetas, tuple(sums), gradient="adjoint")
        result = state_device.run([gradient_job])[0]
        check_traffic(state_device, gradient_job, where + ", gradient")
        totals["fetches"] += state_device.engine.traffic.fetches
        value_job = Job(circuit, thetas, tuple(sums))
        values = state_device.run([value_job])[0].expectations
        check_traffic(state_device, value_job, where + ", expectation")
        spread = batch_device.run([gradient_job])[0]
        public = qfab.gradient(qc, random_observables(rng, n, 1)[0], thetas[0], device=state_device)
        if rank == 0:
            close(states, cpu.statevector(circuit, thetas), where + ": states")
            close(result.expectations, cpu.expectation(circuit, sums, thetas), where + ": expectations (gradient job)")
            close(values, cpu.expectation(circuit, sums, thetas), where + ": expectations")
            close(result.gradients, cpu.adjoint_gradient(circuit, sums, thetas), where + ": gradients")
            close(spread.gradients, result.gradients, where + ": gradients over the batch")
            assert public.shape == (circuit.num_parameters,), where
        else:
            assert states is None and values is None and public is None, f"rank {rank} returned a result"

    # sampling with measurements on some qubits: the marginal against the exact probabilities
    qc = random_circuit(np.random.default_rng(seed + 1), 6, 20)
    qc.measure_all()
    marked = QuantumCircuit(6, 2)
    marked.compose(qc.remove_final_measurements(inplace=False), inplace=True)
    marked.measure([0, 4], [1, 0])
    theta = np.random.default_rng(seed).uniform(-np.pi, np.pi, 3)
    shots = 40000
    counts = qfab.sample(marked, theta, shots=shots, seed=seed, device=state_device)
    if rank == 0:
        probs = np.abs(cpu.statevector(from_qiskit(marked), theta[None])[0]) ** 2
        index = np.arange(64)
        exact = np.zeros(4)
        np.add.at(exact, ((index >> 0) & 1) << 1 | ((index >> 4) & 1), probs)
        drawn = np.array([counts.get(format(k, "02b"), 0) for k in range(4)]) / shots
        assert sum(counts.values()) == shots and all(len(key) == 2 for key in counts), counts
        distance = 0.5 * np.abs(drawn - exact).sum()
        assert distance < 0.02, f"sampled marginal {drawn} is {distance:.3f} from the exact {exact}"
        assert totals["exchanges"] > 0 and totals["fetches"] > 0, f"paths not exercised: {totals}"
        print(f"checked {circuits} circuits on {size} ranks: {totals['exchanges']} exchanges, "
              f"{totals['fetches']} fetches; sampled marginal within {distance:.4f}", flush=True)
    else:
        assert counts is None


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
