"""Device "mpi" in-process (a plain ``python`` run is a launch of one rank), its refusals, its cost
model and the plan of a run on a cluster on paper."""
from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp

import qfab
from qfab.backends import DeviceUnavailable, available_devices, device_kinds, get_device
from qfab.backends.calibration import benchmark_circuit, benchmark_job
from qfab.backends.job import InsufficientMemoryError, Job
from qfab.backends.mpi import MPIDevice, plan_cluster, plan_swaps
from qfab.backends.mpi.device import LAUNCH_VARIABLES, launched_device
from qfab.backends.mpi.costmodel import predicted_traffic, state_bytes_per_rank
from qfab.core.observables import as_pauli_sums
from qfab.errors import DeviceError, InputError
from tests.support.circuits import hardware_efficient

pytest.importorskip("mpi4py", reason="device 'mpi' needs the mpi extra (mpi4py, mpich)")

GIB = 2**30


def test_the_device_on_one_rank_gives_the_cpu_engines_results():
    qc = hardware_efficient(5, 2)
    obs = [SparsePauliOp.from_list([("XXIYZ", 0.4), ("ZIIIZ", -1.0)]), SparsePauliOp("IYIXI")]
    theta = np.random.default_rng(3).uniform(-np.pi, np.pi, (2, qc.num_parameters))
    device = MPIDevice()  # a plain process is a launch of one rank
    np.testing.assert_allclose(qfab.statevector(qc, theta, device=device), qfab.statevector(qc, theta), atol=1e-12)
    np.testing.assert_allclose(qfab.expectation(qc, obs, theta, device=device), qfab.expectation(qc, obs, theta),
                               atol=1e-12)
    np.testing.assert_allclose(qfab.gradient(qc, obs, theta, device=device), qfab.gradient(qc, obs, theta), atol=1e-12)


def test_the_registered_name_is_unavailable_outside_a_launch(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DeviceUnavailable, match="runs inside an MPI launch: python -m qfab.backends.mpi -n RANKS"):
        get_device("mpi")
    assert "mpi" not in available_devices() and "mpi" in device_kinds()
    monkeypatch.setenv("PMI_SIZE", "1")
    assert isinstance(launched_device(), MPIDevice)


def test_a_state_too_large_for_the_ranks_is_refused_with_the_ranks_that_would_hold_it():
    device = MPIDevice()
    job = benchmark_job(36, 1)
    with pytest.raises(InsufficientMemoryError, match=r"36 qubits over 1 rank\(s\) need .* launch at least (\d+)") as err:
        device.check(job)
    ranks = int(str(err.value).rsplit("at least ", 1)[1].split()[0])
    assert state_bytes_per_rank(job, ranks.bit_length() - 1) <= device.rank_budget
    assert state_bytes_per_rank(job, ranks.bit_length() - 2) > device.rank_budget


def test_options_are_checked_and_a_device_on_paper_runs_nothing():
    with pytest.raises(InputError, match="spread must be one of"):
        MPIDevice(spread="everywhere")
    with pytest.raises(DeviceError, match="a plan of 8 ranks on paper"):
        MPIDevice(ranks=8).run([benchmark_job(4, 1)])


def test_predicted_traffic_counts_the_schedules_exchanges_per_vector_and_set():
    circuit = benchmark_circuit(12, 2)
    sums, _ = as_pauli_sums(["X" * 12, "Z" + "I" * 11], 12)
    params = np.zeros((3, circuit.num_parameters))
    schedule = plan_swaps(circuit, 2)
    assert schedule.exchanges > 0
    forward = predicted_traffic(Job(circuit, params, want_state=True), 2)
    assert forward.exchanges == 3 * schedule.exchanges and forward.exchange_bytes == 3 * schedule.bytes_per_rank()
    adjoint = predicted_traffic(Job(circuit, params, tuple(sums), gradient="adjoint"), 2)
    assert adjoint.exchanges == 3 * schedule.exchanges * (1 + 3)  # psi forward, then psi and two lambdas back
    assert adjoint.fetches == 3  # X on every qubit flips both global bits: one pattern, one fetch per set
    assert adjoint.fetch_bytes == 3 * 16 * 2**10
    chunked = predicted_traffic(Job(circuit, params, want_state=True), 2, chunk_amplitudes=2**6)
    assert chunked.messages == 3 * sum((2**s.pairs - 1) * 2 ** (10 - s.pairs - 6) for s in schedule.swaps)


@pytest.mark.parametrize("n", [36, 40])
def test_a_plan_takes_the_fewest_ranks_whose_memory_holds_the_state(n):
    job = benchmark_job(n, 1, gradient="adjoint")
    memory, per_node = 256 * GIB, 4
    plan = plan_cluster(job, memory, per_node, 12.5e9, 2e-6)
    budget = 0.9 * memory / per_node
    assert plan.bytes_per_rank <= budget < state_bytes_per_rank(job, plan.ranks.bit_length() - 2)
    assert plan.nodes == max(1, plan.ranks // per_node)
    assert plan.exchanges == predicted_traffic(job, plan.ranks.bit_length() - 1).exchanges
    slower = plan_cluster(job, memory, per_node, 1.25e9, 2e-6)
    assert slower.breakdown["network_s"] > 9 * plan.breakdown["network_s"]  # bytes over a tenth of the bandwidth
    assert slower.breakdown["local_s"] == pytest.approx(plan.breakdown["local_s"])
    assert plan.seconds == pytest.approx(sum(plan.breakdown.values()))
    with pytest.raises(InputError, match="more than the 2 given"):
        plan_cluster(job, memory, per_node, 12.5e9, 2e-6, max_nodes=2)
