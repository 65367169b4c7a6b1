"""The GPU device: its kernels under numba's CUDA simulator, and how it says it is unavailable.

The kernel tests live in tests/backends/gpu/cudasim and need ``NUMBA_ENABLE_CUDASIM=1`` set before numba is
imported, which this process (like the rest of the suite) has already done without it; so they
run here in a pytest subprocess of their own, and this test passes when that run passes.
"""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from qiskit import QuantumCircuit

import qfab
from qfab.backends import DeviceUnavailable, get_device
from qfab.backends.gpu import gpu_status

SIM_TESTS = Path(__file__).parent / "cudasim"


@pytest.mark.slow
def test_kernels_under_the_cuda_simulator():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install -e '.[dev]' or '.[gpu]')")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(SIM_TESTS)],
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"},
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"CUDA-simulator tests failed:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]


def _without_numba_cuda(monkeypatch):
    import numba

    monkeypatch.delattr(numba, "cuda", raising=False)
    monkeypatch.setitem(sys.modules, "numba.cuda", None)  # makes `from numba import cuda` raise ImportError


def test_unavailable_without_numba_cuda(monkeypatch):
    _without_numba_cuda(monkeypatch)
    usable, reason = gpu_status()
    assert not usable and reason.startswith("numba-cuda is not installed")
    with pytest.raises(DeviceUnavailable, match="device 'gpu' is not available: numba-cuda is not installed"):
        qfab.statevector(QuantumCircuit(1), device="gpu")


def test_unavailable_without_a_gpu(monkeypatch):
    cuda = pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    if cuda.config.ENABLE_CUDASIM:
        pytest.skip("this process runs the CUDA simulator")
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    usable, reason = gpu_status()
    assert not usable
    assert reason.startswith(("no CUDA GPU found", "no usable CUDA GPU: ")), reason
    with pytest.raises(DeviceUnavailable, match="device 'gpu' is not available: no "):
        get_device("gpu")


def test_benchmark_stops_with_the_reason_without_a_gpu():
    usable, reason = gpu_status()
    if usable:
        pytest.skip(f"a GPU is here ({reason}); the benchmark would run")
    script = Path(__file__).resolve().parents[3] / "benchmarks" / "gpu.py"
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "needs a CUDA GPU, and there is none here: " in run.stderr and reason in run.stderr


def test_kernels_compile_to_ptx_for_a_real_gpu(monkeypatch):
    """The simulator runs kernels as Python and type-checks nothing; compiling them for sm_90 does.

    Needs the CUDA toolkit's NVVM and NVRTC (``pip install "numba-cuda[cu13]"``), not a GPU;
    skips without them.
    """
    cuda = pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    if cuda.config.ENABLE_CUDASIM:
        pytest.skip("this process runs the CUDA simulator")
    import numpy as np
    from numba import types
    from numba.cuda import dispatcher

    from qfab.backends.gpu import kernels

    # Device functions ask the current GPU for its compute capability; without a GPU, say sm_90.
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=(9, 0)))
    try:
        cuda.compile_ptx(lambda: None, (), cc=(9, 0))
    except Exception as err:  # the toolkit's libraries are missing: numba raises several kinds
        pytest.skip(f"no NVVM/NVRTC here (pip install 'numba-cuda[cu13]'): {' '.join(str(err).split())[:200]}")
    i64, c128 = types.int64, types.complex128
    for dtype, amplitude in ((np.complex128, types.complex128), (np.complex64, types.complex64)):
        per_dtype = kernels.for_dtype(dtype)
        signatures = [
            (per_dtype.zero_state, (amplitude[:, ::1],)),
            (per_dtype.apply_block, (amplitude[:, ::1], amplitude[:, :, :, ::1], i64[::1], i64[:, ::1], i64[:, ::1],
                                     i64[:, ::1], i64, i64, i64, types.boolean)),
            (per_dtype.apply_pauli_sums, (amplitude[:, ::1], i64[::1], i64[::1], c128[::1], i64[::1], amplitude[:, :, ::1])),
            (kernels.pauli_expectations, (amplitude[:, ::1], i64[::1], i64[::1], c128[::1], i64[::1], types.float64[:, ::1])),
            (kernels.transition_partials, (amplitude[:, ::1], amplitude[:, :, ::1], i64[:, ::1], i64[:, ::1], i64, i64,
                                           c128[:, :, :, :, ::1])),
        ]
        for kernel, signature in signatures:
            ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))
            assert ".entry" in ptx
