"""Comparing outputs with the reference and explaining a mismatch."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..gradcheck import TOLERANCES
from ..gradcheck import to_numpy as _as_numpy  # non-arrays stay as they are, to be reported
from ._state import reference_settings
from .cases import Case
from .mistakes import see

_RTOL = 1e-7  # relative part of the answer tolerance; the absolute part is TOLERANCES
_MATCH_TOL = 1e-6  # a wrong answer "is" a known mistake when it agrees with it this closely


def _close(a, b, rtol=_RTOL, atol=TOLERANCES["answer_abs_float64"]) -> bool:
    a = _as_numpy(a)
    return isinstance(a, np.ndarray) and a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _problem(label: str, mine, expected: np.ndarray, array_type: type) -> str | None:
    """What is wrong with one output, or None when it matches."""
    if not isinstance(mine, array_type):
        return f"{label} is a {type(mine).__name__}; expected a {array_type.__module__}.{array_type.__name__}"
    mine_np = _as_numpy(mine)
    if mine_np.shape != expected.shape:
        return f"{label} has shape {mine_np.shape}; expected {expected.shape}"
    if mine_np.dtype != expected.dtype:
        return f"{label} has dtype {mine_np.dtype} for float64 inputs; keep float64 (expected {expected.dtype})"
    if not np.all(np.isfinite(mine_np)):
        return f"{label} contains NaN or inf (expected finite values): an overflow? (shape {mine_np.shape})"
    if _close(mine_np, expected):
        return None
    err = np.abs(mine_np - expected)
    k = np.unravel_index(np.argmax(err), err.shape)
    return (
        f"{label} is wrong: largest error {err[k]:.3g} at index {tuple(int(j) for j in k)} "
        f"(yours {mine_np[k]:.6g}, expected {expected[k]:.6g}); shape {mine_np.shape} is right"
    )


def _known(mistakes: list[tuple[str, Callable[[], list]]], mine: list) -> str | None:
    """The known mistake whose outputs equal ``mine``, if any."""
    for description, outputs in mistakes:
        try:
            with reference_settings():
                wrong = outputs()
        except ValueError:  # a mistake that cannot happen at these shapes
            continue
        # None marks an output the mistake says nothing about.
        if all(w is None or _close(m, w, rtol=_MATCH_TOL, atol=_MATCH_TOL) for m, w in zip(mine, wrong)):
            return description
    return None


def _diagnose(mistakes: list[tuple[str, Callable[[], list]]], mine: list,
              localise: Callable[[], list[str]] | None = None, check: str = "") -> str:
    """Name the known mistake whose outputs equal ``mine`` and where the book explains it;
    else say where to look."""
    description = _known(mistakes, mine)
    if description:
        return f"Likely mistake: {description}.{see(description, check, indent='  ')}"
    lines = localise() if localise else []
    if lines:
        return "No known mistake matches exactly. Where to look:\n" + "\n".join(f"  * {line}" for line in lines)
    return "No known mistake matches this answer: compare your code with the equations line by line."


def _verify(name: str, case, labels, mine: list, expected: list, mistakes: Callable[[], list],
            array_type: type = np.ndarray, localise: Callable[[], list[str]] | None = None) -> None:
    """Raise an AssertionError listing every wrong output of ``name``, with a diagnosis."""
    problems = [p for p in (_problem(f"output {label}", m, e, array_type)
                            for label, m, e in zip(labels, mine, expected)) if p]
    if problems:
        _fail(name, case, problems, _diagnose(mistakes(), mine, localise, check=name))


def _fail(name: str, case: Case, problems: list[str], diagnosis: str = "") -> None:
    lines = [f"{name} does not match the reference on inputs with {case}:"]
    lines += [f"  - {p}" for p in problems]
    if diagnosis:
        lines.append(f"  {diagnosis}")
    raise AssertionError("\n".join(lines))
