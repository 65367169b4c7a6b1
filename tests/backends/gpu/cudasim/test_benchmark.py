"""benchmarks/gpu.py end to end at tiny sizes under the simulator (the numbers mean nothing)."""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "gpu.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_benchmark_refuses_to_time_the_simulator(capsys):
    assert load_script().main([]) == 2
    assert "the CUDA simulator is on" in capsys.readouterr().err


def test_benchmark_smoke_run_writes_every_row(tmp_path):
    table = tmp_path / "table.md"
    assert load_script().main(["--smoke", "--write", str(table)]) == 0
    text = table.read_text()
    for row in ("| forward | 3 |", "| gradient | 3 |", "| batch forward x4 | 2 |", "| batch gradient x4 | 2 |"):
        assert row in text
