"""Model of the parameter memory: B sets of P angles, written by LOAD_PARAMS, read by GATE_ROT.

``param_depth`` 32-bit angle words (two per 64-bit memory word: the low half holds the even
address). Angle ``s*P + i`` is parameter i of set s; a read returns it as a signed 32-bit integer
(the half-angle word, theta = 4*pi*t / 2**32, so theta in [-2 pi, 2 pi)).
"""

from __future__ import annotations

import numpy as np

from qfab_hw.fixed import sign_extend
from qfab_hw.params import CoreParams


class ParamMemory:
    def __init__(self, params: CoreParams):
        self.depth = params.param_depth
        self.words = np.zeros(self.depth, dtype=np.int64)
        self.count = 0  #: P: angles per set (0: nothing loaded)
        self.sets = 0  #: B

    def clear(self) -> None:
        """RESET: no parameters loaded."""
        self.count = self.sets = 0

    def load(self, count: int, sets: int, payload) -> None:
        """LOAD_PARAMS with P = ``count``, B = ``sets`` and its ceil(B*P/2) payload words (the
        header's checks have passed: 1 <= P <= max_params, B >= 1, B*P <= param_depth)."""
        angles = []
        for word in payload:
            angles += [int(word) & 0xFFFF_FFFF, (int(word) >> 32) & 0xFFFF_FFFF]
        total = count * sets
        self.words[:total] = [sign_extend(w, 32) for w in angles[:total]]
        self.count, self.sets = count, sets

    def read(self, set_index: int, param: int) -> int:
        return int(self.words[set_index * self.count + param])
