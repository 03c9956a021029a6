"""Random inputs shared by the reference tests (float64 unless asked otherwise)."""
from __future__ import annotations

import numpy as np

from lstm_ref import LSTMParams

#: (T, N, D, H): T = 1, N = 1, D != H, D > H, long T.
SHAPES = [
    (1, 1, 1, 1),
    (1, 3, 4, 5),
    (5, 1, 3, 2),
    (7, 2, 6, 3),
    (4, 3, 2, 8),
    (60, 2, 3, 4),
    (200, 4, 5, 6),
]

#: Small shapes for O(#params) finite-difference checks.
SMALL_SHAPES = [(1, 1, 1, 1), (3, 1, 2, 3), (4, 2, 3, 2), (6, 3, 2, 4)]


def random_problem(T: int, N: int, D: int, H: int, seed: int = 0, scale: float = 1.0, dtype=np.float64):
    """``params, x (T, N, D), h0 (N, H), c0 (N, H)`` with non-zero initial states."""
    rng = np.random.default_rng(seed)
    params = LSTMParams.init(D, H, seed=seed + 1, forget_bias=0.5, dtype=dtype)
    x = (scale * rng.normal(size=(T, N, D))).astype(dtype)
    h0 = rng.uniform(-0.9, 0.9, size=(N, H)).astype(dtype)
    c0 = rng.normal(size=(N, H)).astype(dtype)
    return params, x, h0, c0
