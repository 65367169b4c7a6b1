"""What the fuzzers share: how many examples each runs (a modest count of its own, so that ``make
test`` takes seconds; ``QFAB_FUZZ_EXAMPLES=N`` runs every fuzzer N examples instead, a long run:
``QFAB_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/fuzz``), and an argument drawn with
what it means."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings


def fuzz_settings(examples: int) -> settings:
    """``examples`` examples (or ``QFAB_FUZZ_EXAMPLES``), no per-example deadline (the first
    example pays imports and compilation), no example database (every run draws afresh)."""
    return settings(max_examples=int(os.environ.get("QFAB_FUZZ_EXAMPLES", examples)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@dataclass
class Drawn:
    """An argument as handed to qfab, and what the documented rules make of it: ``meaning`` is
    ``None`` when the call must refuse it."""

    value: Any
    meaning: Any
