"""Checks of the GRU assignment (05_gru): the learner's GRU against ``lstm_ref.numpy_gru``.

Each check runs the learner's function and the reference on the same random inputs (the
sizes and seeds of ``cases.CASES`` or ``HIDDEN_CASES``, float64, both biases nonzero and
different), and every backward pass is also compared with centred differences of the
reference's *forward* pass, so a backward answer is graded by two independent standards.
A mismatch raises ``AssertionError`` naming the wrong output and, where the answer equals a
modelled mistake (``gru_mistakes``), the mistake and the equation of ``book/gru.md``.

While the learner's code runs, the tripwire blocks calls into ``lstm_ref``'s GRU
(``numpy_gru``, ``torch_gru``), and for the backward passes into ``lstm_ref.gradcheck``
and torch's autograd: the points are for deriving the gradients.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

from .. import gradcheck, numpy_gru as ref
from ..gru_params import GRUParams
from ._state import reference_settings
from ._tripwire import _REF_DIR, Rule, _call
from .cases import CASES, HIDDEN_CASES, Case
from .compare import _close, _verify
from .gru_mistakes import cho_backward_variant, gru_mistakes
from .localise import _general

_GRADS = ("grads.W_ih", "grads.W_hh", "grads.b_ih", "grads.b_hh")
#: Names of each function's outputs, in the order :func:`_flatten` returns them.
OUTPUTS = {
    "gru_step": ("h",),
    "gru_forward": ("hs", "h_T"),
    "gru_step_backward": ("dx", "dh_prev", *_GRADS),
    "gru_backward": ("dx", "dh0", *_GRADS),
    "candidate_cho_backward": ("dx", "dh_prev", "dr", "dW_in", "db_in", "dW_hn", "db_hn"),
}
_RETURNS = {
    "gru_step": "(h, cache)",
    "gru_forward": "(hs, h_T, cache)",
    "gru_step_backward": "(dx, dh_prev, grads) with grads a GRUParams",
    "gru_backward": "(dx, dh0, grads) with grads a GRUParams",
    "candidate_cho_backward": "(dx, dh_prev, dr, dW_in, db_in, dW_hn, db_hn)",
}
_BACKWARD = ("gru_step_backward", "gru_backward", "candidate_cho_backward")
#: The small cases on which backward answers are also compared with centred differences.
FD_CASES = {False: Case(N=2, D=3, H=2, T=3, seed=21), True: Case(N=3, D=2, H=3, T=2, seed=22, initial_state=False)}


# --- inputs and outputs ----------------------------------------------------------------------
def random_params(rng, D: int, H: int) -> GRUParams:
    """Larger than nn.GRU's init, with two different biases, so that every mistake shows."""
    return GRUParams(rng.normal(0, 0.5, (3 * H, D)), rng.normal(0, 0.5, (3 * H, H)),
                     rng.normal(0, 1.0, 3 * H), rng.normal(0, 1.0, 3 * H))


def gru_inputs(name: str, case: Case) -> tuple:
    """Arguments of the function ``name`` for one case (fresh arrays)."""
    if name not in OUTPUTS:
        raise ValueError(f"no GRU check for {name!r}; expected one of {sorted(OUTPUTS)}")
    rng = np.random.default_rng(case.seed)
    N, D, H, T, s = case.N, case.D, case.H, case.T, case.scale
    params = random_params(rng, D, H)
    x, h_prev = rng.normal(0, 1, (N, D)) * s, rng.uniform(-1, 1, (N, H))
    if name == "gru_step":
        return x, h_prev, params
    if name == "gru_step_backward":
        return rng.normal(0, 1, (N, H)), ref.gru_step(x, h_prev, params)[1]
    if name == "candidate_cho_backward":
        r = rng.uniform(0, 1, (N, H))
        return (rng.normal(0, 1, (N, H)), x, h_prev, r, *params.gate("n"))
    xs = rng.normal(0, 1, (T, N, D)) * s
    if name == "gru_forward":
        return (xs, params, h_prev) if case.initial_state else (xs, params)
    cache = ref.gru_forward(xs, params, h_prev)[2]
    dhs = rng.normal(0, 1, (T, N, H))
    return (dhs, cache, rng.normal(0, 1, (N, H))) if case.initial_state else (dhs, cache)


def cho_backward(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn) -> list:
    """The gradients of Cho's candidate (eq:gru-candidate-cho), the book's form's counterpart.

    Shapes as in :func:`gru_mistakes.cho_backward_variant`, of which this is the default.
    """
    return cho_backward_variant(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn)


def _reference(name: str, args: tuple) -> list:
    with reference_settings():
        if name == "candidate_cho_backward":
            return cho_backward(*args)
        return _flatten(name, getattr(ref, name)(*copy_args(args)))


def _flatten(name: str, out) -> list:
    """The outputs of ``name`` as a flat list in ``OUTPUTS[name]`` order."""
    try:
        if name == "gru_step":
            h, _ = out
            return [h]
        if name == "gru_forward":
            hs, h_T, _ = out
            return [hs, h_T]
        if name == "candidate_cho_backward":
            out = list(out)
            if len(out) != 7:
                raise ValueError(f"{len(out)} values")
            return out
        a, b, grads = out
        return [a, b, grads.W_ih, grads.W_hh, grads.b_ih, grads.b_hh]
    except (TypeError, ValueError, AttributeError) as err:
        raise AssertionError(f"{name} must return {_RETURNS[name]}; got {type(out).__name__}: {err}") from None


# --- what an answer may not call -------------------------------------------------------------
_GRU_FILES = tuple(str(_REF_DIR / f) for f in ("numpy_gru.py", "torch_gru.py"))


def _autograd_codes() -> frozenset:
    """torch's automatic differentiation, when the learner's notebook has imported torch."""
    torch = sys.modules.get("torch")
    if torch is None:
        return frozenset()
    fns = [torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward]
    return frozenset(f.__code__ for f in fns if hasattr(f, "__code__"))


def gru_rule(name: str) -> Rule:
    """The reference GRU is off limits everywhere; gradients must be derived, not computed."""
    if name in _BACKWARD:
        torch = sys.modules.get("torch")
        functional = (str(Path(torch.autograd.__file__).parent / "functional.py"),) if torch else ()
        return Rule(files=_GRU_FILES + (str(_REF_DIR / "gradcheck.py"),) + functional, codes=_autograd_codes(),
                    why="lstm_ref's GRU, lstm_ref.gradcheck or torch's autograd",
                    allowed="NumPy, the StepCache and SequenceCache classes and your own functions",
                    exempt_callers=_GRU_FILES)
    return Rule(files=_GRU_FILES, why="lstm_ref's GRU (numpy_gru, torch_gru)",
                allowed="NumPy, sigmoid and your own functions", exempt_callers=_GRU_FILES)


def copy_args(args: tuple) -> tuple:
    """Copies deep enough that an in-place edit by one call cannot reach another."""
    def one(a):
        if isinstance(a, np.ndarray):
            return a.copy()
        if isinstance(a, GRUParams):
            return a.map(np.copy)
        if isinstance(a, tuple) and hasattr(a, "_fields"):  # the forward caches
            return type(a)(*(one(v) for v in a))
        return a
    return tuple(one(a) for a in args)


def _params_in(args: tuple) -> list[tuple[str, GRUParams]]:
    """``(where, params)`` for the GRUParams among the arguments and inside the caches."""
    found = [(f"argument {k + 1}", a) for k, a in enumerate(args) if isinstance(a, GRUParams)]
    return found + [(f"argument {k + 1}.params", a.params) for k, a in enumerate(args)
                    if hasattr(a, "_fields") and isinstance(getattr(a, "params", None), GRUParams)]


def _student_call(fn: Callable, name: str, args: tuple):
    """The learner's ``fn`` on copies of ``args`` under the tripwire; its params must stay as they were."""
    args = copy_args(args)
    saved = [(where, p.map(np.copy)) for where, p in _params_in(args)]
    out = _call(fn, args, name, gru_rule(name))
    for (where, before), (_, after) in zip(saved, _params_in(args)):
        for field, a, b in zip(("W_ih", "W_hh", "b_ih", "b_hh"), after, before):
            if not np.array_equal(a, b, equal_nan=True):
                raise AssertionError(f"{name} changed {where}'s {field} in place: the caller's weights must stay "
                                     "as they were. Compute new arrays or work on a copy.")
    return out


# --- the check -------------------------------------------------------------------------------
def check_gru(student_fn: Callable, name: str, *, hidden: bool = False) -> None:
    """Compare ``student_fn`` with the reference GRU function ``name`` on several random inputs.

    Parameters
    ----------
    student_fn : the learner's function, the signature of ``lstm_ref.numpy_gru.<name>``
        (``candidate_cho_backward(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn)`` returns the
        seven gradients ``(dx, dh_prev, dr, dW_in, db_in, dW_hn, db_hn)``)
    name : one of ``OUTPUTS``
    hidden : the hidden cases (other sizes and seeds) instead of the visible ones

    Raises
    ------
    AssertionError
        naming the wrong output, its shape and error, and the likely mistake.
    """
    if name not in OUTPUTS:
        raise ValueError(f"no GRU check for {name!r}; expected one of {sorted(OUTPUTS)}")
    if not callable(student_fn):
        raise AssertionError(f"{name} should be a function; got {type(student_fn).__name__}")
    for case in HIDDEN_CASES if hidden else CASES:
        args = gru_inputs(name, case)
        expected = _reference(name, args)
        mine = _flatten(name, _student_call(student_fn, name, args))
        _verify(name, case, OUTPUTS[name], mine, expected, lambda: gru_mistakes(name, args),
                localise=lambda: where_to_look(name, args, mine, expected))
    if name in _BACKWARD:
        _check_by_finite_differences(student_fn, name, FD_CASES[hidden])


def _check_by_finite_differences(student_fn: Callable, name: str, case: Case) -> None:
    """The backward answer against centred differences of the reference's forward pass."""
    args = gru_inputs(name, case)
    with reference_settings():
        expected = _numerical(name, args)
    mine = _flatten(name, _student_call(student_fn, name, args))
    label = f"{name} (against centred differences of lstm_ref.numpy_gru's forward pass)"
    _verify(label, case, OUTPUTS[name], mine, expected, lambda: gru_mistakes(name, args),
            localise=lambda: where_to_look(name, args, mine, expected))


def _numerical(name: str, args: tuple) -> list:
    """Every gradient ``name`` returns, by :func:`gradcheck.numerical_gradient` (5-point stencil)."""
    if name == "candidate_cho_backward":
        dn, *inputs = (np.array(a, copy=True) for a in args)
        return [_fd(lambda: float(np.sum(dn * ref.candidate_cho(*inputs))), a) for a in inputs]
    if name == "gru_step_backward":
        dh, cache = args
        x, h_prev, params = cache.x.copy(), cache.h_prev.copy(), cache.params.map(np.copy)
        loss = lambda: float(np.sum(dh * ref.gru_step(x, h_prev, params)[0]))  # noqa: E731
        return [_fd(loss, x), _fd(loss, h_prev), *(_fd(loss, p) for p in params)]
    dhs, cache, *dh_T = args
    x, h0, params = cache.x.copy(), cache.h0.copy(), cache.params.map(np.copy)
    dh_T = dh_T[0] if dh_T else np.zeros_like(h0)

    def loss():
        hs, h_T, _ = ref.gru_forward(x, params, h0)
        return float(np.sum(dhs * hs) + np.sum(dh_T * h_T))

    return [_fd(loss, x), _fd(loss, h0), *(_fd(loss, p) for p in params)]


def _fd(f: Callable[[], float], a: np.ndarray) -> np.ndarray:
    return gradcheck.numerical_gradient(f, a, **gradcheck.FD_ACCURATE)


# --- where to look -------------------------------------------------------------------------
def where_to_look(name: str, args: tuple, mine: list, expected: list) -> list[str]:
    """Lines saying which part of a GRU answer is wrong (empty when nothing more can be said)."""
    try:
        with np.errstate(all="ignore"):
            lines = _general(mine, expected)
            if lines:
                return lines
            if name in ("gru_step_backward", "gru_backward"):
                return _backward_blocks(mine, expected)
            if name == "gru_forward":
                return _first_wrong_step(mine[0], expected[0])
    except Exception:  # noqa: BLE001 -- a localisation that fails must not hide the real message
        return []
    return []


def _backward_blocks(mine: list, expected: list) -> list[str]:
    """Which slices of δa (db_ih) and δu (db_hh) are wrong, and what follows from it."""
    H = expected[4].shape[0] // 3
    wrong = {f"{part}^{g}": not _close(np.asarray(m)[k * H:(k + 1) * H], e[k * H:(k + 1) * H])
             for part, m, e in (("δa", mine[4], expected[4]), ("δu", mine[5], expected[5]))
             for k, g in enumerate("rzn")}
    bad = [k for k, v in wrong.items() if v]
    if bad:
        return [f"Summed over the batch, these slices are wrong: {', '.join(bad)} (db_ih is Σ δa, db_hh is Σ δu; "
                "eq:gru-bptt-preactivation). Start with the first of them."]
    if not _close(mine[1], expected[1]):
        return ["δa and δu are right but dh_prev is not: it is z ⊙ δh (the direct path) plus W_hhᵀ δu "
                "(eq:gru-bptt-dh-prev)."]
    return []


def _first_wrong_step(hs, expected_hs) -> list[str]:
    steps = [t for t in range(expected_hs.shape[0]) if not _close(hs[t], expected_hs[t])]
    if steps and steps[0] > 0:
        return [f"hs[0] .. hs[{steps[0] - 1}] are right and hs[{steps[0]}] is the first wrong one: look at what "
                "carries over from one step to the next (h_{t-1})."]
    return []
