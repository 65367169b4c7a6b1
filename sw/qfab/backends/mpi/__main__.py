"""``python -m qfab.backends.mpi -n RANKS script.py [args...]``: :func:`~.launch.launch` on this machine."""
from __future__ import annotations

import argparse
import sys

from qfab.backends.mpi.launch import launch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qfab.backends.mpi", description=__doc__)
    parser.add_argument("-n", "--ranks", type=int, required=True, help="MPI ranks (a power of two)")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    return launch(options.script, options.ranks, tuple(options.args)).returncode


if __name__ == "__main__":
    sys.exit(main())
