#!/usr/bin/env python
"""The GPU device measured on a CUDA GPU: the table of docs/gpu.md and the device's cost-model profile.

    .venv/bin/python benchmarks/gpu.py --write gpu-table.md --save-profile     # on a GPU machine
    NUMBA_ENABLE_CUDASIM=1 .venv/bin/python benchmarks/gpu.py --smoke          # the script itself, tiny n

Rows (workload: ``benchmarks/workload.py``, the 10-layer hardware-efficient ansatz, <Z_0>):

* forward (one forward pass and the expectation reduction) and full adjoint gradient at
  n = 20, 24, 26, 28, 30, one parameter set, on the GPU and on the CPU engine (this machine's
  cores), and the GPU's memory-bandwidth bound: the bytes the run's passes over state vectors
  must move (every block pass reads and writes a state once) over the GPU's copy bandwidth;
* a batch of 10,000 parameter sets at n = 10: expectations and gradients, GPU against CPU.

``--save-profile`` writes the measured rates where ``GPUDevice.profile()`` reads them
(``qfab.backends.gpu.profile_path()``), for the cost model. Without a GPU the script stops with
the reason (numba-cuda missing, no GPU, driver error); under the CUDA simulator it runs only with
``--smoke``, whose numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from qfab.backends.gpu import gpu_status, profile_path
from qfab.backends.cpu import CPUEngine
from qfab.core.frontend import from_qiskit
from qfab.core.observables import PauliSum

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, utc_now  # noqa: E402
from measure import timed  # noqa: E402
from workload import observable, qiskit_ansatz, random_params  # noqa: E402

QUBITS = (20, 24, 26, 28, 30)
BATCH, BATCH_QUBITS = 10_000, 10
# Above this the CPU column is skipped by default (minutes per cell on a typical host).
CPU_MAX_QUBITS = 28
REPEATS = 3
BUDGET_S = 60.0


cuda = None  # numba.cuda, imported by _kernels() once a GPU is known to be there


def _kernels():
    """The copy and the empty kernel. ``cuda`` is a module global (not a local import) because
    the CUDA simulator swaps a kernel's global ``cuda`` for its own while it runs."""
    global cuda
    from numba import cuda

    @cuda.jit
    def copy(src, dst):
        i = cuda.grid(1)
        if i < src.shape[0]:
            dst[i] = src[i]

    @cuda.jit
    def empty():
        pass

    return copy, empty


def device_bandwidth_GBps(log2_size: int, repeats: int = 10) -> float:
    """Copy ``b[i] = a[i]`` over ``2**log2_size`` complex128 on the GPU, best of ``repeats``;
    bytes counted as one read and one write per element (as benchmarks/bandwidth.py does)."""
    copy, _ = _kernels()
    size = 1 << log2_size
    src = cuda.to_device(np.ones(size, np.complex128))
    dst = cuda.device_array(size, np.complex128)
    blocks, threads = -(-size // 256), min(256, size)
    copy[blocks, threads](src, dst)
    cuda.synchronize()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        copy[blocks, threads](src, dst)
        cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size * 16 / best / 1e9


def launch_overhead_s(launches: int) -> float:
    """Seconds per launch of an empty kernel, ``launches`` in a row then one synchronise."""
    _, empty = _kernels()
    empty[1, 1]()
    cuda.synchronize()
    start = time.perf_counter()
    for _ in range(launches):
        empty[1, 1]()
    cuda.synchronize()
    return (time.perf_counter() - start) / launches


def state_passes(program, gradient: bool) -> int:
    """State-vector reads plus writes of one run with one observable (Z_0: no flipped reads).

    Forward: write |0>, read+write per block, read for the reduction. The adjoint gradient
    (as ``GPUEngine.adjoint_gradient`` runs it, without the expectation): the forward's blocks,
    read phi and write lambda, then per block un-apply phi and lambda (read+write each) and, for
    blocks with parameters, read both for the transition matrix.
    """
    blocks = program.num_blocks
    if not gradient:
        return 1 + 2 * blocks + 1
    parametric = int(np.sum(program.arrays[7]))
    return 1 + 2 * blocks + 2 + 4 * blocks + 2 * parametric


def measure_one(fn, repeats: int) -> float:
    fn()  # compile, fill caches
    times, _ = timed(fn, repeats, BUDGET_S)
    return statistics.median(times)


def run(args) -> dict:
    from qfab.backends.gpu.simulator import GPUEngine

    gpu, cpu = GPUEngine(), CPUEngine()
    bandwidth = device_bandwidth_GBps(args.bandwidth_log2)
    overhead = launch_overhead_s(args.launches)
    rows = []
    for n in args.qubits:
        circuit = from_qiskit(qiskit_ansatz(n, args.layers))
        sums = [PauliSum.from_sparse_pauli_op(observable(n))]
        thetas = random_params(n, layers=args.layers)[None, :]
        program = gpu.program(circuit)
        for kind, gradient in (("forward", False), ("gradient", True)):
            call = "adjoint_gradient" if gradient else "expectation"
            gpu_s = measure_one(lambda: getattr(gpu, call)(circuit, sums, thetas), args.repeats)
            cpu_s = measure_one(lambda: getattr(cpu, call)(circuit, sums, thetas), args.repeats) if n <= args.cpu_max_qubits else None
            bound_s = state_passes(program, gradient) * 2**n * 16 / (bandwidth * 1e9)
            rows.append({"row": kind, "n": n, "blocks": program.num_blocks, "gpu_s": gpu_s, "cpu_s": cpu_s, "bound_s": bound_s})
            print(f"{kind:8s} n={n:2d}: GPU {gpu_s:.4g} s, CPU {cpu_s if cpu_s is None else f'{cpu_s:.4g} s'}, bound {bound_s:.3g} s", flush=True)
    circuit = from_qiskit(qiskit_ansatz(args.batch_qubits, args.layers))
    sums = [PauliSum.from_sparse_pauli_op(observable(args.batch_qubits))]
    thetas = random_params(args.batch_qubits, batch=args.batch, layers=args.layers)
    for kind, call in (("batch forward", "expectation"), ("batch gradient", "adjoint_gradient")):
        gpu_s = measure_one(lambda: getattr(gpu, call)(circuit, sums, thetas), args.repeats)
        cpu_s = measure_one(lambda: getattr(cpu, call)(circuit, sums, thetas), args.repeats)
        rows.append({"row": f"{kind} x{args.batch}", "n": args.batch_qubits, "blocks": gpu.program(circuit).num_blocks,
                     "gpu_s": gpu_s, "cpu_s": cpu_s, "bound_s": None})
        print(f"{kind} x{args.batch} n={args.batch_qubits}: GPU {gpu_s:.4g} s, CPU {cpu_s:.4g} s", flush=True)
    largest = max((r for r in rows if r["row"] == "forward"), key=lambda r: r["n"])
    profile = {
        "gpu_name": gpu_status()[1],
        "bandwidth_GBps": bandwidth,
        "launch_overhead_s": overhead,
        "pass_seconds_per_amplitude": largest["gpu_s"] / (largest["blocks"] * 2 ** largest["n"]),
        "measured_utc": utc_now(),
    }
    return {"profile": profile, "rows": rows, "host": describe()}


def markdown(result: dict) -> str:
    def seconds(value):
        return "skipped" if value is None else f"{value:.4g}"

    profile = result["profile"]
    lines = [
        f"GPU: {profile['gpu_name']}; copy bandwidth {profile['bandwidth_GBps']:.0f} GB/s; "
        f"empty-kernel launch {profile['launch_overhead_s'] * 1e6:.1f} us; measured {profile['measured_utc']}.",
        "",
        "| row | n | GPU (s) | CPU engine (s) | GPU speed-up | GPU bandwidth bound (s) | bound / GPU |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        speedup = "" if r["cpu_s"] is None else f"{r['cpu_s'] / r['gpu_s']:.1f}x"
        share = "" if r["bound_s"] is None else f"{r['bound_s'] / r['gpu_s']:.0%}"
        bound = "" if r["bound_s"] is None else f"{r['bound_s']:.3g}"
        lines.append(f"| {r['row']} | {r['n']} | {seconds(r['gpu_s'])} | {seconds(r['cpu_s'])} | {speedup} | {bound} | {share} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--batch-qubits", type=int, default=BATCH_QUBITS)
    parser.add_argument("--cpu-max-qubits", type=int, default=CPU_MAX_QUBITS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--bandwidth-log2", type=int, default=27, help="copy-kernel size: 2^k complex128")
    parser.add_argument("--launches", type=int, default=1000)
    parser.add_argument("--write", type=Path, help="write the markdown table here")
    parser.add_argument("--save-profile", action="store_true", help=f"write the rates to {profile_path()}")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, CUDA simulator allowed: checks the script, measures nothing")
    args = parser.parse_args(argv)
    usable, reason = gpu_status()
    if not usable:
        print(f"benchmarks/gpu.py needs a CUDA GPU, and there is none here: {reason}", file=sys.stderr)
        return 2
    from numba import config

    if config.ENABLE_CUDASIM and not args.smoke:
        print("benchmarks/gpu.py: the CUDA simulator is on (NUMBA_ENABLE_CUDASIM=1), whose timings mean "
              "nothing; unset it on a GPU machine, or pass --smoke to check the script", file=sys.stderr)
        return 2
    if args.smoke:
        args.qubits, args.layers, args.batch, args.batch_qubits = [3], 1, 4, 2
        args.repeats, args.bandwidth_log2, args.launches, args.save_profile = 1, 6, 2, False
    result = run(args)
    table = markdown(result)
    print(table)
    if args.write:
        args.write.write_text(table)
    if args.save_profile:
        profile_path().parent.mkdir(parents=True, exist_ok=True)
        profile_path().write_text(json.dumps(result["profile"], indent=2))
        print(f"profile written to {profile_path()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
