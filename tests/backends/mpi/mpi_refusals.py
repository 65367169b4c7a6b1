"""Run by tests/backends/mpi/test_distributed.py: the launches device "mpi" must refuse.

``mpi_refusals.py size``: under a launch of 3 ranks, every rank prints the ConfigurationError.
``mpi_refusals.py missing``: under 2 ranks, rank 1 never reaches the device; rank 0 prints the
DeviceError its handshake raises after a 1 s timeout, and rank 1 then completes the handshake
late, so that both ranks end cleanly.
``mpi_refusals.py expected``: the launcher's rank count (QFAB_MPI_RANKS) disagrees with the
launch: every rank prints the DeviceError.
"""
from __future__ import annotations

import os
import sys
import time

from mpi4py import MPI
from qiskit import QuantumCircuit

import qfab
from qfab.backends.mpi import MPIDevice
from qfab.errors import ConfigurationError, DeviceError

HANDSHAKE_S = 1.0
comm = MPI.COMM_WORLD
mode = sys.argv[1]
if mode == "expected":
    os.environ["QFAB_MPI_RANKS"] = str(2 * comm.Get_size())
if mode == "missing" and comm.Get_rank() == 1:
    time.sleep(3 * HANDSHAKE_S)
    comm.Ibarrier().Wait()  # the handshake rank 0 gave up on
else:
    try:
        circuit = QuantumCircuit(3)
        circuit.h(0)
        qfab.statevector(circuit, device=MPIDevice(handshake_timeout_s=HANDSHAKE_S))
    except (ConfigurationError, DeviceError) as err:
        print(f"refused on rank {comm.Get_rank()}: {type(err).__name__}: {err}", flush=True)
comm.Barrier()
