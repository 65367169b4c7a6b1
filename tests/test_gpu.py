"""The GPU device: its kernels under numba's CUDA simulator, and how it says it is unavailable.

The kernel tests live in tests/gpu_sim and need ``NUMBA_ENABLE_CUDASIM=1`` set before numba is
imported, which this process (like the rest of the suite) has already done without it; so they
run here in a pytest subprocess of their own, and this test passes when that run passes.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

import qfab
from qfab.devices import DeviceUnavailable, get_device
from qfab.devices.gpu import gpu_status

SIM_TESTS = Path(__file__).parent / "gpu_sim"


@pytest.mark.slow
def test_kernels_under_the_cuda_simulator():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install -e '.[dev]' or '.[gpu]')")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(SIM_TESTS)],
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"},
        cwd=Path(__file__).parent.parent,
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
    script = Path(__file__).parent.parent / "benchmarks" / "gpu.py"
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "needs a CUDA GPU, and there is none here: " in run.stderr and reason in run.stderr
