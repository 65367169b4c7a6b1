"""The GPU kernels under numba's CUDA simulator.

``NUMBA_ENABLE_CUDASIM=1`` has to be set before numba is first imported, and the rest of the
suite imports numba without it, so these tests run in a process of their own:
``tests/backends/gpu/test_device.py`` starts ``python -m pytest tests/backends/gpu/cudasim`` with the variable set. In any
other process this folder collects nothing.
"""
import os

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    collect_ignore_glob = ["test_*.py"]
