"""How long ``import qfab`` takes against ``import qiskit`` (which it needs), in fresh interpreters."""
import statistics
import subprocess
import sys

SNIPPET = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"


def seconds(module: str) -> float:
    out = subprocess.run([sys.executable, "-c", SNIPPET.format(module)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main(repeats: int = 7) -> None:
    pairs = [(seconds("qiskit"), seconds("qfab")) for _ in range(repeats)]
    qiskit = statistics.median(p[0] for p in pairs)
    qfab = statistics.median(p[1] for p in pairs)
    print(f"import qiskit {qiskit:.3f} s, import qfab {qfab:.3f} s (median of {repeats}): qfab adds {qfab - qiskit:.3f} s")


if __name__ == "__main__":
    main()
