"""Input validation shared by the NumPy and torch backends.

Every public function checks its arrays before computing, so a wrong shape, dtype or
device raises a ``ValueError`` that names the argument, what it has and what was
expected, instead of broadcasting silently into a wrong answer.

Shapes are written with the book's size symbols (``N``, ``T``, ``D``, ``H``), e.g.
``("N", "D")`` or ``("4H", "H")`` or ``("H", "H+D")``. A plain symbol is bound by the
first array that has it; an expression is checked against the sizes bound so far.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Backend:
    """What the checks need to know about an array library."""

    name: str
    array_type: Callable[[], type]
    is_float: Callable[[Any], bool]
    device: Callable[[Any], Any]


NUMPY = Backend(
    name="numpy.ndarray",
    array_type=lambda: np.ndarray,
    is_float=lambda a: np.issubdtype(a.dtype, np.floating),
    device=lambda a: None,
)


def _torch_tensor_type() -> type:
    import torch

    return torch.Tensor


TORCH = Backend(
    name="torch.Tensor",
    array_type=_torch_tensor_type,
    is_float=lambda a: a.is_floating_point(),
    device=lambda a: a.device,
)

_SYMBOL = re.compile(r"^[A-Z]$")


def _evaluate(expr: str, sizes: dict[str, int]) -> int | None:
    """Value of a size expression such as ``4H`` or ``H+D``; None if a symbol is unbound."""
    python_expr = re.sub(r"(\d)([A-Z])", r"\1*\2", expr)
    if any(symbol not in sizes for symbol in re.findall(r"[A-Z]", expr)):
        return None
    return int(eval(python_expr, {"__builtins__": {}}, dict(sizes)))  # internal constants only


def _describe(dims: tuple[str, ...], sizes: dict[str, int]) -> str:
    values = [_evaluate(d, sizes) for d in dims]
    symbolic = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
    if any(v is None for v in values):
        return symbolic
    return f"{symbolic} = {tuple(values)}"


def check_arrays(backend: Backend, sizes: dict[str, int] | None = None, **specs) -> dict[str, int]:
    """Check named arrays against symbolic shapes; return the bound sizes.

    Parameters
    ----------
    backend : NUMPY or TORCH
    sizes : sizes already known, e.g. ``{"H": 8}``; not modified.
    **specs : ``name=(array, dims)`` with ``dims`` a tuple of size symbols or
        expressions. The first array sets the dtype (and device) the others must share.

    Raises
    ------
    ValueError
        naming the argument, the shape (dtype, device) it has and the one expected.
    """
    sizes = dict(sizes or {})
    first_name, first = None, None
    array_type = backend.array_type()
    for name, (value, dims) in specs.items():
        if not isinstance(value, array_type):
            raise ValueError(f"{name} must be a {backend.name}, got {type(value).__name__}")
        if not backend.is_float(value):
            raise ValueError(f"{name} has dtype {value.dtype}; expected a floating-point dtype")
        if value.ndim != len(dims):
            raise ValueError(
                f"{name} has shape {tuple(value.shape)} ({value.ndim}-D); "
                f"expected {_describe(dims, sizes)} ({len(dims)}-D)"
            )
        for dim, n in zip(dims, value.shape):
            if _SYMBOL.match(dim) and dim not in sizes:
                sizes[dim] = int(n)
        if any(_evaluate(d, sizes) != n for d, n in zip(dims, value.shape)):
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}; expected {_describe(dims, sizes)}"
            )
        if first is None:
            first_name, first = name, value
            continue
        if value.dtype != first.dtype:
            raise ValueError(
                f"{name} has dtype {value.dtype}; expected {first.dtype} "
                f"(the dtype of {first_name}): convert the inputs to one dtype"
            )
        if backend.device(value) != backend.device(first):
            raise ValueError(
                f"{name} is on device {backend.device(value)}; expected {backend.device(first)} "
                f"(the device of {first_name}): move all inputs to one device"
            )
    return sizes


def param_specs(params, prefix: str = "params.") -> dict:
    """``check_arrays`` specs of an ``LSTMParams``: ``W_hh (4H, H)``, ``W_ih (4H, D)``, ``b (4H,)``.

    ``W_hh`` comes first so that ``H`` is bound before ``4H`` is checked.
    """
    return {
        prefix + "W_hh": (params.W_hh, ("4H", "H")),
        prefix + "W_ih": (params.W_ih, ("4H", "D")),
        prefix + "b": (params.b, ("4H",)),
    }


def check_step(backend: Backend, x, h_prev, c_prev, params) -> dict[str, int]:
    """The checks of one LSTM step, ``lstm_step(x (N, D), h_prev (N, H), c_prev (N, H), params)``."""
    return check_arrays(
        backend,
        **param_specs(params),
        x=(x, ("N", "D")),
        h_prev=(h_prev, ("N", "H")),
        c_prev=(c_prev, ("N", "H")),
    )
