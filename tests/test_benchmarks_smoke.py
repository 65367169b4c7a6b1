"""The benchmark adapters compute the right thing (benchmarks/peers.py); nothing here is timed.

Each installed simulator's forward state, gradient and batch gradient on the 4-qubit benchmark
ansatz must agree with Qiskit's ``Statevector`` (gradients: exact parameter shift on it), so that
``make bench`` compares equal answers. Peers that are not installed are skipped.
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import peers, workload

N = 4
MODULES = {"qfab": "qfab", "aer": "qiskit_aer", "qulacs": "qulacs", "lightning": "pennylane_lightning"}


@pytest.fixture(scope="module")
def reference():
    x = workload.random_params(N)
    X = workload.random_params(N, 3)
    return {
        "x": x,
        "state": workload.reference_statevector(N, x),
        "grad": workload.reference_gradient(N, x),
        "X": X,
        "grads": np.stack([workload.reference_gradient(N, row) for row in X]),
    }


def test_workload_shape():
    qc = workload.qiskit_ansatz(N)
    assert qc.num_parameters == workload.num_parameters(N) == 20 * N
    counts = qc.count_ops()
    assert counts["ry"] == counts["rz"] == N * workload.LAYERS
    assert counts["cx"] == (N - 1) * workload.LAYERS
    assert str(workload.observable(N).paulis[0]) == "IIIZ"


@pytest.mark.parametrize("cls", peers.ALL_ADAPTERS, ids=lambda c: c.name)
def test_adapter_agrees_with_qiskit_statevector(cls, reference):
    pytest.importorskip(MODULES[cls.name])
    adapter = cls()
    if not adapter.available:
        pytest.skip(adapter.reason)
    state = adapter.state(adapter.forward(N, reference["x"]))
    np.testing.assert_allclose(state, reference["state"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(adapter.gradient(N, reference["x"]), reference["grad"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(adapter.batch_gradient(N, reference["X"]), reference["grads"], rtol=0, atol=1e-10)
    if adapter.partial_gradient:
        part = adapter.gradient(N, reference["x"], np.arange(5))
        np.testing.assert_allclose(part, reference["grad"][:5], rtol=0, atol=1e-10)


def test_lightning_loop_batch_matches(reference):
    pytest.importorskip("pennylane_lightning")
    adapter = peers.LightningAdapter()
    adapter.batch_mode = "loop"
    np.testing.assert_allclose(adapter.batch_gradient(N, reference["X"]), reference["grads"], rtol=0, atol=1e-10)


def test_qulacs_fused_forward_matches(reference):
    pytest.importorskip("qulacs")
    adapter = peers.QulacsAdapter()
    adapter.forward_mode = "fused"
    state = adapter.state(adapter.forward(N, reference["x"]))
    np.testing.assert_allclose(state, reference["state"], rtol=0, atol=1e-10)


def test_missing_peer_is_reported_not_raised(monkeypatch):
    class Broken(peers.Adapter):
        name = "broken"

        def _import(self):
            import qfab_no_such_simulator  # noqa: F401

    adapter = Broken()
    assert not adapter.available and "import failed" in adapter.reason


def _cell(t, check=None, error=None, extrapolated=None):
    return {"time": t, "times": [t] if t else [], "runs": 1 if t else 0, "error": error,
            "extrapolated": extrapolated, "check": check, "check_ref": "qfab" if check is not None else None}


def test_report_renders_ratios_na_and_mismatches():
    """The markdown writer on made-up numbers (no simulator runs, nothing timed)."""
    from benchmarks import report

    sims = {name: {"label": name, "available": name != "qulacs", "reason": "import failed: x" if name == "qulacs" else "",
                   "versions": {}, "methods": {"forward": "f", "gradient": "g", "batch": "b"}}
            for name in ("qfab", "aer", "qulacs", "lightning")}
    results = {
        "config": {"batch_size": 10, "memory_n": 24, "roofline_n": 24, "budget_s": 40, "warmup_max_n": 20,
                   "reference_max_n": 16},
        "quick": False, "command": "python benchmarks/run_all.py", "started_utc": "now", "wall_s": 60,
        "load_before": (0, 0, 0), "load_after": (0, 0, 0), "sims": sims,
        "machine": {"cpu": "cpu", "logical_cores": 2, "platform": "p", "python": "3", "OMP_NUM_THREADS": "unset",
                    "NUMBA_NUM_THREADS": "unset", "versions": {"qfab": "0"}},
        "forward": {"24": {"qfab": _cell(2.0), "aer": _cell(1.0, check=1e-15), "lightning": _cell(8.0, check=1e-3)}},
        "batch": {"6": {"qfab": _cell(1.0), "aer": _cell(20.0, check=0.0, extrapolated="extrapolated from 4 of 10"),
                        "lightning": _cell(None, error="boom")}},
        "memory": {"qfab": {"delta_MiB": 256.0, "baseline_MiB": 200.0},
                   "aer": {"delta_MiB": 512.0, "baseline_MiB": 100.0}, "qulacs": {"error": "import failed: x"}},
        "bandwidth": {"threads": 2, "log2_size": 24, "array_MiB": 256, "repeats": 3,
                      "copy_GBps": 20.0, "triad_GBps": 20.0, "update_GBps": 20.0},
        "fusion_plan": {"num_blocks": 80, "source": "test"},
    }
    text = report.render(results)
    assert "**×0.50**" in text and "**×4.00**" in text  # peer time / qfab time
    assert "qfab is behind at n=24 (aer 2.00x faster)" in text
    assert "n/a: boom" in text and "n/a: import failed: x" in text
    assert "≈" in text and "†" in text
    assert "MISMATCH" in text
    assert report.mismatches(results) == ["forward n=24 lightning: max |diff| 1.00e-03 vs qfab"]
    assert "per fused pass" in text and "26.8 ms" in text  # 2 * 2^24 * 16 B / 20 GB/s
