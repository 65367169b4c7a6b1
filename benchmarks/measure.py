"""Timing one table cell: repeats under a time budget, medians, and (for peers only) linear
extrapolation when a full run would not fit the budget.

A *cell* is one simulator on one row at one ``n``. Its result is a plain dict::

    {"time": median seconds | None, "times": [...], "runs": k, "error": str | None,
     "extrapolated": str | None, "check": max |peer - reference| | None, "check_ref": name}
"""
from __future__ import annotations

import statistics
import time
import traceback

import numpy as np

TOLERANCE = 1e-8


def repeats_for(n: int) -> int:
    """Fewer repeats at large n; the time budget may cut them further (never below one)."""
    if n <= 16:
        return 7
    if n <= 20:
        return 5
    return 3


def timed(fn, repeats: int, budget_s: float):
    """Run ``fn`` up to ``repeats`` times, stopping once ``budget_s`` has been spent; at least once."""
    times, out, spent = [], None, 0.0
    while len(times) < repeats and (not times or spent < budget_s):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return times, out


def median_time(fn, repeats: int) -> float:
    """Median of ``repeats`` runs after one untimed warm-up (numba compiles on first use)."""
    fn()
    return statistics.median(timed(fn, repeats, budget_s=float("inf"))[0])


def error_cell(exc: BaseException) -> dict:
    msg = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, NotImplementedError) and str(exc):
        msg = str(exc)
    return {"time": None, "times": [], "runs": 0, "error": msg.splitlines()[0][:160] if msg else "failed",
            "trace": traceback.format_exc(limit=3), "extrapolated": None, "check": None, "check_ref": None}


def ok_cell(times, extrapolated_time=None, note=None) -> dict:
    return {"time": extrapolated_time if extrapolated_time is not None else statistics.median(times),
            "times": [float(t) for t in times], "runs": len(times), "error": None,
            "extrapolated": note, "check": None, "check_ref": None}


def run_cell(fn, n: int, budget_s: float, warmup: bool) -> tuple[dict, object]:
    """Time ``fn()`` (median of repeats) after an optional untimed warm-up call."""
    try:
        if warmup:
            fn()
        times, out = timed(fn, repeats_for(n), budget_s)
        return ok_cell(times), out
    except Exception as exc:  # noqa: BLE001 - a failing peer becomes an "n/a" cell
        return error_cell(exc), None


def run_scalable(fn_units, total: int, n: int, budget_s: float, unit: str) -> tuple[dict, object, int]:
    """Time work that grows linearly in ``units`` (parameters shifted, parameter sets looped).

    A pilot with a few units (also the warm-up) predicts the full cost. If the full run fits the
    budget it is measured as usual; otherwise a larger subset is measured and the time for
    ``total`` units is extrapolated from the two sizes (``t(u) = a + b u``). Returns the cell,
    the output of the last run, and the number of units that output covers.
    """
    try:
        pilot = min(total, 4)
        t0 = time.perf_counter()
        fn_units(pilot)
        t_pilot = time.perf_counter() - t0
        per_unit = max(t_pilot / pilot, 1e-9)
        if per_unit * total <= budget_s / 2:
            times, out = timed(lambda: fn_units(total), repeats_for(n), budget_s)
            return ok_cell(times), out, total
        units = int(min(total - 1, max(2 * pilot, (budget_s / 3) / per_unit)))
        times, out = timed(lambda: fn_units(units), max(1, min(3, repeats_for(n))), budget_s / 1.5)
        t_units = statistics.median(times)
        if units > pilot:
            slope = max((t_units - t_pilot) / (units - pilot), t_units / units / 4)
            estimate = t_units + slope * (total - units)
        else:
            estimate = t_units * total / units
        note = f"extrapolated from {units} of {total} {unit} (median of {len(times)}, linear in {unit})"
        return ok_cell(times, estimate, note), out, units
    except Exception as exc:  # noqa: BLE001
        return error_cell(exc), None, 0


def compare(cell: dict, value, reference, ref_name: str) -> None:
    """Record max |value - reference| (over the entries both have) in the cell."""
    if value is None or reference is None or cell.get("error"):
        return
    a = np.asarray(value)
    b = np.asarray(reference)
    if a.shape != b.shape:
        if a.ndim == b.ndim and all(x <= y for x, y in zip(a.shape, b.shape)):
            b = b[tuple(slice(0, x) for x in a.shape)]
        else:
            cell["check"] = float("inf")
            cell["check_ref"] = f"{ref_name} (shape {a.shape} vs {b.shape})"
            return
    cell["check"] = float(np.max(np.abs(a - b))) if a.size else 0.0
    cell["check_ref"] = ref_name
