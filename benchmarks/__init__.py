"""qfab benchmark harness: `python benchmarks/run_all.py --help`."""
