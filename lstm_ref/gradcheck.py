"""Gradient checks shared by the pytest suite and the notebooks' tests.

Three ways to trust a gradient: centred finite differences (here), torch autograd, and
agreement with ``torch.nn.LSTM``. One ``rel_error`` and one table of tolerances serve all.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

#: Settings of ``numerical_gradient`` that reach ``grad_rel_float64`` on float64 LSTMs.
FD_ACCURATE = {"h": 1e-3, "order": 4}

#: Error targets, each stated once and used by the tests and the notebooks alike.
TOLERANCES = {
    "grad_rel_float64": 1e-7,  # centred differences vs analytic gradient, float64
    "torch_abs_float64": 1e-10,  # outputs vs torch.nn.LSTM, float64, max abs error
    "backends_abs_float64": 1e-12,  # NumPy vs torch implementation, float64
    "answer_abs_float64": 1e-8,  # a learner's answer vs the reference, float64
}


def to_numpy(a):
    """A torch tensor as a NumPy array (detached, copied to the CPU); anything else unchanged."""
    return a.detach().cpu().numpy() if hasattr(a, "detach") else a


def rel_error(a, b) -> float:
    """Largest elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``.

    a, b : same-shape arrays or tensors -> float (0 for identical inputs)
    """
    a, b = np.asarray(to_numpy(a)), np.asarray(to_numpy(b))
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def max_abs_error(a, b) -> float:
    """Largest elementwise ``|a - b|``; a, b : same-shape arrays or tensors."""
    a, b = np.asarray(to_numpy(a)), np.asarray(to_numpy(b))
    if a.shape != b.shape:
        raise ValueError(f"max_abs_error needs equal shapes, got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5, order: int = 2) -> np.ndarray:
    """Centred-difference gradient of the scalar ``f()`` with respect to ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored.

    - ``order=2``: ``(f(x + h e_k) - f(x - h e_k)) / 2h``, truncation error O(h²); the
      textbook formula, good to about 1e-8 relative error with ``h = 1e-5`` in float64.
    - ``order=4``: the five-point centred stencil
      ``(-f(x + 2h) + 8 f(x + h) - 8 f(x - h) + f(x - 2h)) / 12h``, error O(h⁴); with
      ``h = 1e-3`` both truncation and round-off are near 1e-12, which is what a 1e-7
      relative-error target on small gradient entries needs.

    f : callable of no arguments that reads ``x`` -> float
    x : float64 ndarray, any shape -> gradient of the same shape
    """
    stencils = {2: ((1, 1.0), (-1, -1.0)), 4: ((2, -1.0), (1, 8.0), (-1, -8.0), (-2, 1.0))}
    if order not in stencils:
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    denominator = {2: 2 * h, 4: 12 * h}[order]
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        k = it.multi_index
        old = x[k]
        total = 0.0
        for steps, weight in stencils[order]:
            x[k] = old + steps * h
            total += weight * f()
        x[k] = old
        grad[k] = total / denominator
    return grad


def numerical_gradient_array(
    f: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5, order: int = 2
) -> np.ndarray:
    """Centred-difference gradient of ``sum(f() * dout)`` with respect to ``x``.

    This is the vector-Jacobian product a backward function computes for upstream
    gradient ``dout``, so it checks ``d<x>`` directly.
    """
    return numerical_gradient(lambda: float(np.sum(f() * dout)), x, h, order)
