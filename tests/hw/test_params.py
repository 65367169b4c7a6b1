"""Build parameters are checked at construction, with messages that say what to change."""

from __future__ import annotations

import pytest

from qfab_hw import CORE_VERSION, CoreParams
from qfab_hw.core import QfabCore


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lanes": 3}, ValueError, "lanes must be a power of two, not 3"),
        ({"lanes": 0}, ValueError, "lanes must be a power of two, not 0"),
        ({"lanes": 128, "max_qubits": 12}, ValueError, "lanes must be at most 64, not 128"),
        ({"width": 26}, ValueError, r"width must be between 8 and 25 bits .* not 26"),
        ({"width": 7}, ValueError, r"width must be between 8 and 25 bits .* not 7"),
        ({"lanes": 8, "max_qubits": 3}, ValueError,
         r"max_qubits must be at least 4 for 8 lanes .* not 3"),
        ({"max_qubits": 33}, ValueError, r"max_qubits must be at most 32 .* not 33"),
        ({"max_qubits": 28}, ValueError,
         r"max_qubits=28 with width=18 needs a 65-bit .* use at most 27 qubits"),
        ({"lanes": 2.0}, TypeError, "lanes must be an integer, not 2.0"),
        ({"width": True}, TypeError, "width must be an integer, not True"),
    ],
)
def test_invalid_parameters_are_rejected(kwargs, error, message):
    with pytest.raises(error, match=message):
        CoreParams(**kwargs)


def test_derived_geometry():
    params = CoreParams(max_qubits=14, lanes=4, width=18)
    assert params.frac_bits == 16
    assert params.banks == 8
    assert params.bank_depth * params.banks == 1 << 14
    assert params.min_qubits == 3
    assert params.build_word == (CORE_VERSION << 24) | (18 << 16) | (4 << 8) | 14


def test_core_requires_core_params():
    with pytest.raises(TypeError, match="params must be a CoreParams"):
        QfabCore({"max_qubits": 8})
