"""The MPI backend: one state vector over ``2**g`` ranks (``mpiexec -n R python ...``), the CPU
engine's programs on each rank's slice and global–local qubit swaps between rank pairs, chosen by
a swap schedule; its device (``device="mpi"``), cost model, calibration, launcher and the plan
of a run on a cluster on paper. See docs/mpi.md.

Importing this package does not import mpi4py (the optional ``mpi`` extra): the device connects
to MPI on its first job.
"""
from qfab.backends.mpi.device import MPIDevice
from qfab.backends.mpi.launch import launch
from qfab.backends.mpi.plan import ClusterPlan, plan_cluster
from qfab.backends.mpi.schedule import SwapSchedule, plan_swaps

__all__ = ["MPIDevice", "launch", "plan_cluster", "ClusterPlan", "plan_swaps", "SwapSchedule"]
