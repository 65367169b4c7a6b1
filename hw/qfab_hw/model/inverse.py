"""Per-block model of the inverse-coefficient stage (:mod:`qfab_hw.inverse`).

RUN_ADJOINT un-applies every gate with the lane's conjugate transpose of the same coefficients
(``CoreModel._adjoint_set``): U^dagger = (u00*, u10*; u01*, u11*) with the negation of each imaginary
part saturating (:func:`qfab_hw.model.rotation.dagger`, which this model calls), GATE_X unchanged
(its own inverse), GATE_PHASE4 k -> -k mod 4. Overflow (a saturated negation) counts for the
MATRIX operation only, as in the core model.
"""

from __future__ import annotations

from qfab_hw.model.gate_lane import LaneOp
from qfab_hw.model.rotation import dagger

#: Clocks from the inputs to the registered outputs.
LATENCY = 1


def lane_inverse(op: int, coefficients, quarter_turns: int, width: int, inverse: bool = True):
    """(coefficients, quarter_turns, overflow) the lane gets: the inputs unchanged without
    ``inverse``; else the dagger of all four coefficients and -k mod 4 (whatever ``op``; the lane
    uses only what its operation needs)."""
    coefficients = [tuple(int(v) for v in c) for c in coefficients]
    if not inverse:
        return coefficients, int(quarter_turns) % 4, False
    conjugated, overflow = dagger(coefficients, width)
    return conjugated, (-int(quarter_turns)) % 4, bool(overflow and op == LaneOp.MATRIX)
