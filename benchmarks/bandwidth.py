"""This machine's memory bandwidth, STREAM-style, with numba on complex128 arrays.

Three kernels over ``2**log2_size`` complex128 amplitudes (2^24 x 16 B = 256 MiB per array),
``prange`` over all numba threads, best of ``repeats``:

* ``copy``    ``b[i] = a[i]``                 counted bytes: 2 x 16 B per element;
* ``triad``   ``a[i] = b[i] + s * c[i]``     counted bytes: 3 x 16 B per element;
* ``update``  ``a[i] = s * a[i]`` in place    counted bytes: 2 x 16 B per element (read + write),
  the access pattern of one gate pass over a state vector.

Bytes are what the program asks for (no write-allocate traffic counted), as STREAM does.
The roofline bound for one gate pass over an ``n``-qubit state is ``2 * 2**n * 16 B / bandwidth``
(every amplitude read once and written once), with the in-place ``update`` bandwidth.
"""
from __future__ import annotations

import time

import numpy as np
from numba import get_num_threads, njit, prange


@njit(parallel=True, cache=True)
def _copy(a, b):
    for i in prange(a.size):
        b[i] = a[i]


@njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


@njit(parallel=True, cache=True)
def _update(a, s):
    for i in prange(a.size):
        a[i] = s * a[i]


def measure(log2_size: int = 24, repeats: int = 10) -> dict:
    """GB/s (1e9 bytes per second) for copy, triad and in-place update; best of ``repeats``."""
    size = 1 << log2_size
    a = np.full(size, 1.0 + 0.5j)
    b = np.full(size, 0.5 - 1.0j)
    c = np.full(size, 0.25 + 0.25j)
    s = np.complex128(0.999 + 0.001j)
    item = a.itemsize
    kernels = {
        "copy": (lambda: _copy(a, b), 2 * size * item),
        "triad": (lambda: _triad(a, b, c, s), 3 * size * item),
        "update": (lambda: _update(a, s), 2 * size * item),
    }
    out: dict = {"log2_size": log2_size, "array_MiB": size * item / 2**20, "threads": get_num_threads(), "repeats": repeats}
    for name, (run, nbytes) in kernels.items():
        run()  # compile / fault pages in
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - t0)
        out[f"{name}_GBps"] = nbytes / best / 1e9
    return out


def gate_pass_bound_s(num_qubits: int, gbps: float) -> float:
    """Roofline time of one pass (read + write every complex128 amplitude once)."""
    return 2 * (2**num_qubits) * 16 / (gbps * 1e9)


if __name__ == "__main__":
    result = measure()
    print(result)
    print(f"one gate pass at n=24: >= {gate_pass_bound_s(24, result['update_GBps']) * 1e3:.1f} ms")
