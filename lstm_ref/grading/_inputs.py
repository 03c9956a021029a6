"""Arguments a learner's function must leave as they were: copies before, comparison after."""
from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from ..params import LSTMParams


def _arrays(value, path: str) -> list[tuple[str, object]]:
    """``(path, array)`` for every array or tensor inside ``value`` (params, caches, tuples)."""
    if isinstance(value, np.ndarray) or type(value).__name__ in ("Tensor", "Parameter"):
        return [(path, value)]
    if isinstance(value, LSTMParams):
        return [(f"{path}.{k}", v) for k, v in zip(("W_ih", "W_hh", "b"), value)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # the forward caches
        return [p for k, v in zip(value._fields, value) for p in _arrays(v, f"{path}.{k}")]
    if isinstance(value, (tuple, list)):
        return [p for k, v in enumerate(value) for p in _arrays(v, f"{path}[{k}]")]
    return []


def _copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a.detach().clone()


def parameter_names(fn: Callable) -> list[str]:
    """The names of ``fn``'s parameters, or none when it has no signature to read."""
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _names(fn: Callable, n: int) -> list[str]:
    names = parameter_names(fn)
    return [names[k] if k < len(names) else f"argument {k + 1}" for k in range(n)]


def snapshot(args: tuple) -> list[tuple[str | int, int, object, object]]:
    """Copies of every array in ``args``: (position, path, the array, its copy)."""
    return [(k, path, a, _copy(a)) for k, arg in enumerate(args) for path, a in _arrays(arg, "")]


def changed_inputs(fn: Callable, args: tuple, saved) -> str | None:
    """The first argument whose arrays differ from their copies, as ``h0`` or ``params.b``."""
    names = _names(fn, len(args))
    for k, path, a, copy in saved:
        same = np.array_equal(a, copy, equal_nan=True) if isinstance(a, np.ndarray) else _torch_equal(a, copy)
        if not same:
            return f"{names[k]}{path}"
    return None


def _torch_equal(a, b) -> bool:
    import torch

    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.device.type == "meta":
        return True
    return bool(torch.equal(a.detach(), b) or (torch.isnan(a) & torch.isnan(b) | (a == b)).all())
