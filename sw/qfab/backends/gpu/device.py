"""The GPU engine (``qfab.backends.gpu``, numba-cuda) as a qfab device.

numba-cuda is an optional extra (``pip install "qfab[gpu]"``), so nothing here imports it at
module level: :func:`gpu_status` says whether a GPU can be used and, if not, why (the package
is missing, no GPU is found, the driver fails); ``qfab info`` prints that, and constructing
:class:`GPUDevice` raises :class:`DeviceUnavailable` with the same reason.

The device's profile carries the rates ``benchmarks/gpu.py`` measured on this machine's GPU
(:func:`profile_path`); where none was measured they are ``None`` ("not measured").
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import platformdirs

from qfab.backends.base import Capabilities, DeviceCapabilityError, DeviceProfile, DeviceUnavailable, EngineDevice, Job
from qfab.backends.calibration import fit_rates
from qfab.backends.gpu.costmodel import GPUCostModel

__all__ = ["GPUDevice", "gpu_status", "profile_path", "load_profile_parameters", "PROFILE_PARAMETERS"]

# What benchmarks/gpu.py measures for the cost model; None until measured on this machine.
PROFILE_PARAMETERS = (
    "gpu_name",
    "bandwidth_GBps",  # device-memory copy bandwidth (read + write bytes per second)
    "launch_overhead_s",  # one empty kernel launch, synchronised
    "pass_seconds_per_amplitude",  # one fused-block pass over a state, per amplitude, complex128
)


def profile_path() -> Path:
    """Where ``benchmarks/gpu.py --save-profile`` writes the measured rates
    (``QFAB_GPU_PROFILE`` overrides it)."""
    override = os.environ.get("QFAB_GPU_PROFILE")
    return Path(override) if override else Path(platformdirs.user_data_dir("qfab")) / "gpu-profile.json"


def gpu_status() -> tuple[bool, str]:
    """(usable, reason): whether the GPU device can run here, and the GPU's name or why not."""
    try:
        from numba import cuda
    except ImportError as err:
        return False, f"numba-cuda is not installed (pip install \"qfab[gpu]\"): {err}"
    if cuda.config.ENABLE_CUDASIM:
        return True, "numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1): exact but slow, for tests"
    try:
        if not cuda.is_available():
            cuda.gpus.current  # raises the driver's own error text where there is one
            return False, "no CUDA GPU found (the CUDA driver loads but reports no device)"
        name = cuda.get_current_device().name
        return True, name.decode() if isinstance(name, bytes) else str(name)
    except Exception as err:  # numba raises CudaSupportError, CudaDriverError or others by driver state
        return False, f"no usable CUDA GPU: {' '.join(str(err).split())}"


class GPUDevice(EngineDevice):
    name = "gpu"

    def __init__(self):
        usable, reason = gpu_status()
        if not usable:
            raise DeviceUnavailable(f"device 'gpu' is not available: {reason}")
        from qfab.backends.gpu.simulator import GPUEngine
        from qfab.backends.gpu.kernels import MAX_BLOCK_QUBITS

        self.engine = GPUEngine()
        self.gpu_name = reason
        self.max_block_qubits = MAX_BLOCK_QUBITS

    @property
    def capabilities(self) -> Capabilities:
        from qfab.backends.gpu.simulator import gpu_memory

        free, _ = gpu_memory()
        return Capabilities(
            max_qubits=int(np.log2(0.9 * free / 16)),  # one complex128 state vector in free GPU memory
            precisions=("complex128", "complex64"),
            gradient_methods=("adjoint",),
        )

    def check(self, job: Job) -> None:
        """Refuse, with the numbers, a job whose vectors for one parameter set do not fit in free
        GPU memory (larger batches run in chunks that fit), or whose fused blocks are wider than
        the kernels take."""
        from qfab.backends.gpu.simulator import check_gpu_memory

        vectors = 1 + (len(job.observables) if job.gradient == "adjoint" else 0)
        what = "adjoint gradient" if job.gradient == "adjoint" else "statevector" if job.want_state else "simulation"
        check_gpu_memory(job.circuit.num_qubits, vectors, job.dtype, what)
        super().check(job)
        widest = self.engine.widest_block(job.circuit)
        if widest > self.max_block_qubits:
            raise DeviceCapabilityError(
                f"device 'gpu' applies gates on at most {self.max_block_qubits} qubits; the circuit has one "
                f"on {widest}"
            )

    def profile(self) -> DeviceProfile:
        from numba import cuda

        # the CUDA simulator runs the kernels on this host's cores, a real GPU beside them
        return DeviceProfile(self.name, {**load_profile_parameters(), "shares_host": bool(cuda.config.ENABLE_CUDASIM)})

    def cost_model(self, parameters: dict | None = None) -> GPUCostModel:
        """The measured rates (:func:`load_profile_parameters`) over the fused blocks it runs."""
        return GPUCostModel(self, parameters)

    def calibrate(self, repeats: int = 3) -> dict:
        """Call overhead and time per amplitude pass, fitted on the GPU's own blocks."""
        return fit_rates(self.cost_model(), repeats)


def load_profile_parameters() -> dict:
    """The measured rates from :func:`profile_path`, each ``None`` where nothing was measured."""
    parameters = dict.fromkeys(PROFILE_PARAMETERS)
    path = profile_path()
    if path.exists():
        measured = json.loads(path.read_text())
        parameters.update({key: measured[key] for key in PROFILE_PARAMETERS if key in measured})
    return parameters
