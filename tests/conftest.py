import os

from hypothesis import HealthCheck, settings

# Random-circuit property tests: enough examples to cover every gate kind, no per-example
# deadline (the first example of a run pays numba's compile time).
settings.register_profile(
    "qfab",
    max_examples=int(os.environ.get("QFAB_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("qfab")
