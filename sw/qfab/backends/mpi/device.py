"""The distributed engine as a qfab device, ``device="mpi"``, run inside ``mpiexec -n R python ...``.

Every rank runs the same script and makes the same public calls (``qfab.expectation(...,
device="mpi")``); every call is collective. Rank 0 returns the results, the other ranks None.
Two ways to use the ranks, chosen per job (``spread``):

- ``"state"``: one state vector over all ranks (:class:`~.state.DistributedEngine`), for states
  one process cannot hold;
- ``"batch"``: a batch of parameter sets dealt out over the ranks, each running the CPU engine
  on whole states, when each state fits a rank (``"auto"`` picks this when there are at least
  as many sets as ranks, and the state of one set fits a rank's memory).

Refused before any work: a launch whose size is not a power of two (ConfigurationError), a
launch missing a rank (the handshake, an ``Ibarrier`` with a timeout, raises DeviceError on the
ranks that came, instead of hanging in the first collective), and a state too large for the
ranks' memory (InsufficientMemoryError, with the number of ranks that would hold it).
"""
from __future__ import annotations

import os
import time

import numba
import numpy as np
import psutil

from qfab.backends.base import Capabilities, Device, DeviceProfile, DeviceUnavailable, Job, JobResult
from qfab.backends.job import MEMORY_SHARE, InsufficientMemoryError
from qfab.backends.mpi.costmodel import MPICostModel, state_bytes_per_rank
from qfab.backends.mpi.state import DEFAULT_CHUNK_AMPLITUDES, DistributedEngine
from qfab.errors import ConfigurationError, DeviceError, InputError

__all__ = ["MPIDevice", "launched_device", "connect", "EXPECTED_RANKS_VARIABLE", "LAUNCH_VARIABLES"]

#: Set by the launcher (``qfab.backends.mpi.launch``) to the ranks it started, so that a launch
#: that came up smaller is refused rather than run on fewer ranks.
EXPECTED_RANKS_VARIABLE = "QFAB_MPI_RANKS"
SPREADS = ("auto", "state", "batch")


def connect(handshake_timeout_s: float):
    """``MPI.COMM_WORLD`` once every rank has reached it: a power-of-two size, the size the
    launcher asked for, and every rank in the handshake within ``handshake_timeout_s``."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise DeviceUnavailable(f"device 'mpi' needs mpi4py and an MPI library: pip install 'qfab[mpi]' ({err})") from err
    comm = MPI.COMM_WORLD
    size, rank = comm.Get_size(), comm.Get_rank()
    if size & (size - 1):
        raise ConfigurationError(f"device 'mpi' runs on a power-of-two number of ranks (each holds 2^(n-g) amplitudes "
                                 f"of 2^g); this launch has {size}: use mpiexec -n {1 << (size.bit_length() - 1)} "
                                 f"or -n {1 << size.bit_length()}")
    expected = os.environ.get(EXPECTED_RANKS_VARIABLE)
    if expected and int(expected) != size:
        raise DeviceError(f"rank {rank}: the launcher started {expected} ranks ({EXPECTED_RANKS_VARIABLE}) but "
                          f"{size} joined MPI_COMM_WORLD: a rank is missing")
    request = comm.Ibarrier()
    deadline = time.monotonic() + handshake_timeout_s
    while not request.Test():
        if time.monotonic() > deadline:
            request.Free()  # the barrier completes on its own should the missing rank come late
            raise DeviceError(f"rank {rank}: not every one of the {size} ranks reached device 'mpi' within "
                              f"{handshake_timeout_s:g} s (the handshake, an MPI Ibarrier): a rank is missing "
                              f"(it did not start, died, or took another path through the script)")
        time.sleep(1e-3)
    return comm


#: What the MPI launchers set in every rank's environment (MPICH's hydra and PMIx, Open MPI).
LAUNCH_VARIABLES = ("PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", EXPECTED_RANKS_VARIABLE)


def launched_device() -> "MPIDevice":
    """What ``device="mpi"`` builds: the device of this launch, or DeviceUnavailable outside one
    (so that the planner's ``device="auto"`` and ``available_devices()`` leave it out of a plain
    process; an ``MPIDevice()`` made by hand runs there as a launch of one rank)."""
    if not any(os.environ.get(name) for name in LAUNCH_VARIABLES):
        raise DeviceUnavailable("device 'mpi' runs inside an MPI launch: python -m qfab.backends.mpi -n RANKS "
                                "script.py (or mpiexec -n RANKS python script.py)")
    return MPIDevice()


class MPIDevice(Device):
    """``ranks`` given: a device on paper (for :func:`~.plan.plan_cluster`), which prices runs
    and runs nothing; otherwise the launch this process belongs to (a plain ``python`` run is a
    launch of one rank)."""

    name = "mpi"

    def __init__(self, spread: str = "auto", handshake_timeout_s: float = 30.0,
                 chunk_amplitudes: int = DEFAULT_CHUNK_AMPLITUDES, ranks: int | None = None):
        if spread not in SPREADS:
            raise InputError(f"spread must be one of {SPREADS}, got {spread!r}")
        if chunk_amplitudes < 1:
            raise InputError(f"chunk_amplitudes must be positive, got {chunk_amplitudes}")
        self.spread = spread
        self.handshake_timeout_s = handshake_timeout_s
        self.chunk_amplitudes = int(chunk_amplitudes)
        self.paper_ranks = ranks
        self._engine: DistributedEngine | None = None
        self._rank_budget: float | None = None

    @property
    def engine(self) -> DistributedEngine:
        if self.paper_ranks is not None:
            raise DeviceError(f"this 'mpi' device is a plan of {self.paper_ranks} ranks on paper; it runs nothing")
        if self._engine is None:
            self._engine = DistributedEngine(connect(self.handshake_timeout_s), self.chunk_amplitudes)
        return self._engine

    @property
    def ranks(self) -> int:
        return self.paper_ranks if self.paper_ranks is not None else self.engine.size

    @property
    def rank_budget(self) -> float:
        """Bytes each rank may fill: its share of its node's free memory, the smallest over all
        ranks (one number everywhere, so every rank refuses or runs the same job)."""
        if self._rank_budget is None:
            from mpi4py import MPI

            comm = self.engine.comm
            node_ranks = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
            mine = MEMORY_SHARE * psutil.virtual_memory().available / node_ranks
            self._rank_budget = comm.allreduce(mine, op=MPI.MIN)
        return self._rank_budget

    @property
    def capabilities(self) -> Capabilities:
        if self.paper_ranks is not None:
            return Capabilities(max_qubits=64, gradient_methods=("adjoint",))
        budget_qubits = int(np.log2(max(self.rank_budget / 16 / 4, 1)))  # psi, two scratch slices, buffers
        return Capabilities(max_qubits=budget_qubits + self.engine.num_global, gradient_methods=("adjoint",))

    def profile(self) -> DeviceProfile:
        return DeviceProfile(self.name, {"ranks": self.ranks, "threads": numba.get_num_threads(),
                                         "chunk_amplitudes": self.chunk_amplitudes, "shares_host": True})

    def _spreads_batch(self, job: Job) -> bool:
        if self.spread != "auto":
            return self.spread == "batch"
        size = self.engine.size
        return size > 1 and job.batch >= size and not job.shots and state_bytes_per_rank(job, 0) <= self.rank_budget

    def check(self, job: Job) -> None:
        """Refuse (on every rank alike) what the launch cannot run, before any work."""
        engine = self.engine
        if self._spreads_batch(job):
            super().check(job)
            return
        engine.program(job.circuit)  # the schedule: refuses too many ranks for the qubits
        need = state_bytes_per_rank(job, engine.num_global, self.chunk_amplitudes)
        if need > self.rank_budget:
            ranks = engine.size
            while state_bytes_per_rank(job, ranks.bit_length() - 1, self.chunk_amplitudes) > self.rank_budget:
                ranks *= 2
            raise InsufficientMemoryError(
                f"device 'mpi': {job.circuit.num_qubits} qubits over {engine.size} rank(s) need "
                f"{need / 2**30:.2f} GiB per rank (a slice of 2^{job.circuit.num_qubits - engine.num_global} "
                f"amplitudes per vector), but each rank has {self.rank_budget / 2**30:.2f} GiB: launch at least "
                f"{ranks} ranks of this size")
        if job.want_state and engine.rank == 0:
            from qfab.backends.job import check_free_memory

            check_free_memory(2 * job.batch * 16 * 2**job.circuit.num_qubits, "device 'mpi' statevector on rank 0",
                              f"{job.batch} gathered state(s) and one reordering copy")
        super().check(job)

    def execute(self, job: Job) -> JobResult:
        engine = self.engine
        engine.traffic.reset()
        if self._spreads_batch(job):
            return self._execute_batch(job)
        result = JobResult(device=self.name, seconds=0.0)
        circuit, params, sums = job.circuit, job.params, list(job.observables)
        if job.shots:
            result.counts = engine.sample(circuit, params, job.shots, job.seed)
        elif job.want_state:
            result.states = engine.statevector(circuit, params)
        if sums:
            result.expectations, result.gradients = engine.evaluate(circuit, sums, params, job.gradient == "adjoint")
        return result

    def _execute_batch(self, job: Job) -> JobResult:
        """Each rank runs a contiguous share of the sets on the CPU engine; rank 0 joins them."""
        engine, cpu = self.engine, self.engine.cpu
        rows = np.array_split(np.arange(job.batch), engine.size)[engine.rank]
        params, sums = job.params[rows], list(job.observables)
        part = {}
        if len(rows):
            if job.want_state:
                part["states"] = cpu.statevector(job.circuit, params)
            if sums:
                part["expectations"] = cpu.expectation(job.circuit, sums, params)
                if job.gradient == "adjoint":
                    part["gradients"] = cpu.adjoint_gradient(job.circuit, sums, params)
        parts = engine.comm.gather(part, root=0)
        result = JobResult(device=self.name, seconds=0.0)
        if engine.rank == 0:
            for key in ("states", "expectations", "gradients"):
                pieces = [p[key] for p in parts if key in p]
                if pieces:
                    setattr(result, key, np.concatenate(pieces))
        return result

    def cost_model(self, parameters: dict | None = None) -> MPICostModel:
        return MPICostModel(self, parameters)

    def calibrate(self, repeats: int = 3) -> dict:
        """The model's rates, timed here on every rank of the launch (collective)."""
        from qfab.backends.mpi.calibration import calibrate_mpi

        return calibrate_mpi(self.cost_model(), repeats)
