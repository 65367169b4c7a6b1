"""Model of the address generator and of the state memory's bank mapping.

With ``L = 2**l`` lanes the state lives in ``2L`` banks. Amplitude ``a`` is stored in bank
``(a mod L) + L * parity(a >> l)`` at offset ``a >> (l + 1)``. In one clock the lanes touch
the pairs ``g*L + j`` (j < L); their ``2L`` amplitudes always fall in ``2L`` different banks,
whatever the target qubit: for a target below ``l`` they form an aligned block of ``2L``
consecutive addresses, for a target at or above ``l`` they differ in the low ``l`` bits and
in the target bit, which flips the parity. So every bank does one read and one write per
clock, which a simple dual-port BRAM provides.
"""

from __future__ import annotations

import numpy as np


def parity(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64).copy()
    result = np.zeros_like(values)
    while np.any(values):
        result ^= values & 1
        values >>= 1
    return result


def bank_of(address, lane_bits: int) -> np.ndarray:
    """The bank holding amplitude ``address``."""
    address = np.asarray(address, dtype=np.int64)
    lanes = 1 << lane_bits
    return (address & (lanes - 1)) | (parity(address >> lane_bits) << lane_bits)


def offset_of(address, lane_bits: int) -> np.ndarray:
    """The word inside its bank; with the bank it determines the address uniquely."""
    return np.asarray(address, dtype=np.int64) >> (lane_bits + 1)


def pair_addresses(pair_index, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Addresses (i0, i1) of pair ``pair_index``: a 0 (resp. 1) inserted at bit ``target``."""
    pair_index = np.asarray(pair_index, dtype=np.int64)
    low = pair_index & ((1 << target) - 1)
    i0 = ((pair_index >> target) << (target + 1)) | low
    return i0, i0 | (1 << target)
