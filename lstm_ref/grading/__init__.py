"""Checks behind the exercise notebooks' tests: a learner's function against the reference.

Every check calls the learner's function and the reference on the same random inputs
(several shapes, ``N = 1`` and ``D ≠ H`` among them, large-magnitude inputs, float64).
On a mismatch it raises ``AssertionError`` saying which output is wrong, its shape against
the expected one and the largest error; when the wrong answer equals one of the known
mistakes modelled below (gate order, ``[x, h]`` concatenation, missing bias, wrong
nonlinearity, ...) the message names the mistake.

While the learner's code runs, a profiler hook watches for calls into the reference
(``numpy_lstm``, ``torch_lstm``): an answer that delegates to ``lstm_ref`` fails, however
the reference was imported, because the hook compares code objects, not names.

Notebook test cells make one call each::

    grading.check_function(forget_gate, "forget_gate")
"""
from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import gradcheck, numpy_lstm as ref
from ..gradcheck import TOLERANCES
from ..params import GATES, LSTMParams

_RTOL = 1e-7  # relative part of the answer tolerance; the absolute part is TOLERANCES
_MATCH_TOL = 1e-6  # a wrong answer "is" a known mistake when it agrees with it this closely
_REF_DIR = Path(__file__).resolve().parents[1]  # lstm_ref/, where the reference lives


# --- the tripwire: calls into the reference while the learner's code runs -----------------
class _Tripwire:
    """Context manager recording the first call into a forbidden source file.

    ``sys.setprofile`` sees every Python-level call, so ``from lstm_ref.numpy_lstm import *``,
    ``import lstm_ref.numpy_lstm as x`` and ``importlib`` are all caught: they share the
    reference's code objects, whose ``co_filename`` is the reference module's file.
    """

    def __init__(self, forbidden: tuple[str, ...], codes: frozenset = frozenset()):
        self.forbidden = forbidden
        self.codes = codes
        self.hit: str | None = None

    def _profile(self, frame, event, arg):
        if event != "call" or self.hit is not None:  # C calls and returns need no look
            return
        code = frame.f_code
        if code.co_filename.endswith(self.forbidden) or code in self.codes:
            self.hit = f"{_module_name(code.co_filename)}.{code.co_qualname}"

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        return False


def _module_name(filename: str) -> str:
    """``lstm_ref.numpy_lstm`` or ``torch.nn.modules.rnn`` for a source file's path."""
    parts = Path(filename).with_suffix("").parts
    for top in ("lstm_ref", "torch"):
        if top in parts:
            return ".".join(parts[len(parts) - 1 - parts[::-1].index(top):])
    return Path(filename).stem


_REFERENCE_FILES = (str(_REF_DIR / "numpy_lstm.py"), str(_REF_DIR / "torch_lstm.py"))


def _call(fn: Callable, args: tuple, name: str, forbidden: tuple[str, ...] = _REFERENCE_FILES,
          codes: frozenset = frozenset()):
    """Call the learner's ``fn(*args)`` with the tripwire armed."""
    with _Tripwire(forbidden, codes) as trip:
        out = fn(*args)
    if trip.hit:
        raise AssertionError(
            f"{name} calls {trip.hit}, an implementation it must not use. The points are for "
            f"your own implementation: write {name} with NumPy/torch operations (and your own "
            "functions from this notebook) instead of calling lstm_ref or torch's LSTM."
        )
    return out


# --- test cases -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """Sizes and scale of one random test input."""

    N: int
    D: int
    H: int
    T: int
    scale: float = 1.0
    seed: int = 0
    initial_state: bool = True  # pass h0/c0 (dh_T/dc_T) explicitly, else None

    def __str__(self) -> str:
        big = f", inputs ×{self.scale:g}" if self.scale != 1 else ""
        return f"N={self.N}, D={self.D}, H={self.H}, T={self.T}{big}, float64"


#: Moderate cases first: a mistake is diagnosed on the first case that shows it, and
#: saturated gates (large inputs) hide most mistakes.
CASES = (
    Case(N=1, D=3, H=4, T=5, seed=1),
    Case(N=5, D=2, H=3, T=3, seed=2, initial_state=False),
    Case(N=3, D=4, H=4, T=4, seed=3),
    Case(N=2, D=3, H=2, T=3, scale=100.0, seed=4),
)
HIDDEN_CASES = (
    Case(N=7, D=1, H=5, T=6, seed=11),
    Case(N=1, D=6, H=1, T=1, seed=12),
    Case(N=4, D=5, H=3, T=7, scale=1000.0, seed=13, initial_state=False),
)


def _random_params(rng, D: int, H: int) -> LSTMParams:
    # Larger than nn.LSTM's init so that every mistake (a missing bias, say) shows clearly.
    return LSTMParams(rng.normal(0, 0.5, (4 * H, D)), rng.normal(0, 0.5, (4 * H, H)), rng.normal(0, 1.0, 4 * H))


def _states(rng, case: Case):
    N, H = case.N, case.H
    return rng.uniform(-1, 1, (N, H)), rng.normal(0, 1, (N, H))


def _inputs(name: str, case: Case) -> tuple:
    """Arguments of the reference function ``name`` for one case (fresh arrays)."""
    rng = np.random.default_rng(case.seed)
    N, D, H, T, s = case.N, case.D, case.H, case.T, case.scale
    params = _random_params(rng, D, H)
    x = rng.normal(0, 1, (N, D)) * s
    h_prev, c_prev = _states(rng, case)
    if name == "sigmoid":
        return (rng.normal(0, 3, (N, H)) * s,)
    if name in _GATE_OF:
        W, b = params.gate(_GATE_OF[name])
        return x, h_prev, W, b
    if name == "cell_state":
        return rng.uniform(0, 1, (N, H)), c_prev * s, rng.uniform(0, 1, (N, H)), rng.uniform(-1, 1, (N, H))
    if name == "hidden_state":
        return rng.uniform(0, 1, (N, H)), c_prev * s
    if name == "lstm_step":
        return x, h_prev, c_prev, params
    xs = rng.normal(0, 1, (T, N, D)) * s
    if name == "lstm_forward":
        return (xs, params, h_prev, c_prev) if case.initial_state else (xs, params)
    if name == "lstm_step_backward":
        cache = ref.lstm_step(x, h_prev, c_prev, params)[2]
        return rng.normal(0, 1, (N, H)), rng.normal(0, 1, (N, H)), cache
    if name == "lstm_backward":
        cache = ref.lstm_forward(xs, params, h_prev, c_prev)[2]
        dhs = rng.normal(0, 1, (T, N, H))
        if not case.initial_state:
            return dhs, cache
        return dhs, cache, rng.normal(0, 1, (N, H)), rng.normal(0, 1, (N, H))
    raise ValueError(f"no check for {name!r}; expected one of {sorted(OUTPUTS)}")


_GATE_OF = {"input_gate": "i", "forget_gate": "f", "candidate": "g", "output_gate": "o"}

#: Names of each function's outputs, in the order ``_flatten`` returns them.
_GRAD_NAMES = ("grads.W_ih", "grads.W_hh", "grads.b")
OUTPUTS = {
    "sigmoid": ("σ(z)",),
    "input_gate": ("i",),
    "forget_gate": ("f",),
    "candidate": ("g",),
    "output_gate": ("o",),
    "cell_state": ("c",),
    "hidden_state": ("h",),
    "lstm_step": ("h", "c"),
    "lstm_forward": ("hs", "h_T", "c_T"),
    "lstm_step_backward": ("dx", "dh_prev", "dc_prev", *_GRAD_NAMES),
    "lstm_backward": ("dx", "dh0", "dc0", *_GRAD_NAMES),
}
_RETURNS = {
    "lstm_step": "(h, c, cache)",
    "lstm_forward": "(hs, (h_T, c_T), cache)",
    "lstm_step_backward": "(dx, dh_prev, dc_prev, grads)",
    "lstm_backward": "(dx, dh0, dc0, grads)",
}


def _flatten(name: str, out) -> list:
    """The outputs of ``name`` as a flat list in ``OUTPUTS[name]`` order."""
    if name not in _RETURNS:
        return [out]
    shape = _RETURNS[name]
    try:
        if name == "lstm_step":
            h, c, _ = out
            return [h, c]
        if name == "lstm_forward":
            hs, (h_T, c_T), _ = out
            return [hs, h_T, c_T]
        a, b, c, grads = out
        return [a, b, c, grads.W_ih, grads.W_hh, grads.b]
    except (TypeError, ValueError, AttributeError) as err:
        raise AssertionError(
            f"{name} must return {shape}"
            + (" with grads an LSTMParams (fields W_ih, W_hh, b)" if "grads" in shape else "")
            + f"; got {type(out).__name__}: {err}"
        ) from None


# --- known mistakes: what a wrong answer computes ------------------------------------------------
def _sigma(z):
    with np.errstate(over="ignore"):
        return ref.sigmoid(z)


def _permuted(params: LSTMParams, order: str) -> LSTMParams:
    """The parameters a learner effectively uses when reading the blocks in ``order``."""
    H = params.hidden_size
    rows = np.concatenate([np.arange(H) + H * order.index(gate) for gate in GATES])
    return LSTMParams(params.W_ih[rows], params.W_hh[rows], params.b[rows])


def _no_bias(params: LSTMParams) -> LSTMParams:
    return LSTMParams(params.W_ih, params.W_hh, np.zeros_like(params.b))


def _forward_variant(x, params, h0, c0, acts="sstsT"):
    """Sequence forward with the nonlinearities given by ``acts``.

    ``acts[k]`` is ``s`` (σ) or ``t`` (tanh) for gate k of i, f, g, o; ``acts[4]`` is ``T``
    when h = o ⊙ tanh(c), ``-`` when the tanh on c is missing. The reference is ``"sstsT"``.
    """
    act = {"s": _sigma, "t": np.tanh, "T": np.tanh, "-": lambda c: c}
    H = params.hidden_size
    h, c, hs = h0, c0, []
    for x_t in x:
        a = x_t @ params.W_ih.T + h @ params.W_hh.T + params.b  # (N, 4H)
        i, f, g, o = (act[acts[k]](a[:, k * H : (k + 1) * H]) for k in range(4))
        c = f * c + i * g
        h = o * act[acts[4]](c)
        hs.append(h)
    return np.stack(hs), h, c


_NONLINEARITY = {"s": "σ", "t": "tanh"}


def _step_like_mistakes(run: Callable[..., list]) -> list[tuple[str, Callable[[], list]]]:
    """Mistakes of the fused cell, for ``run(params=..., acts=...) -> outputs``."""
    mistakes = []
    for order in ("".join(p) for p in itertools.permutations(GATES)):
        if order != "".join(GATES):
            mistakes.append((
                f"gate order swapped: you read the stacked blocks of W_ih, W_hh and b as "
                f"({', '.join(order)}); the order is PyTorch's (i, f, g, o)",
                lambda order=order: run(params_fn=lambda p: _permuted(p, order)),
            ))
    mistakes.append(("bias left out: b is added to every gate's pre-activation", lambda: run(params_fn=_no_bias)))
    for k, gate in enumerate(GATES):
        acts = list("sstsT")
        wrong = "s" if acts[k] == "t" else "t"
        right = acts[k]
        acts[k] = wrong
        mistakes.append((
            f"{_NONLINEARITY[wrong]} where {_NONLINEARITY[right]} belongs, in the {gate} gate",
            lambda acts="".join(acts): run(acts=acts),
        ))
    mistakes.append(("tanh missing on c in h = o ⊙ tanh(c)", lambda: run(acts="sstsT"[:4] + "-")))
    return mistakes


def _mistakes(name: str, args: tuple) -> list[tuple[str, Callable[[], list]]]:
    """``(description, outputs)`` of the known mistakes for ``name`` on ``args``."""
    if name == "sigmoid":
        (z,) = args
        return [
            ("sign error: σ(z) = 1 / (1 + e^(-z)), not 1 / (1 + e^z)", lambda: [_sigma(-z)]),
            ("tanh where σ belongs", lambda: [np.tanh(z)]),
        ]
    if name in _GATE_OF:
        x, h_prev, W, b = args
        pre = np.concatenate([h_prev, x], axis=1) @ W.T + b
        own, other = (np.tanh, _sigma) if name == "candidate" else (_sigma, np.tanh)
        swapped = "σ where tanh belongs" if name == "candidate" else "tanh where σ belongs"
        return [
            ("[x, h] concatenated instead of [h, x]: W's first H columns multiply h_{t-1}", lambda: [own(np.concatenate([x, h_prev], 1) @ W.T + b)]),
            ("bias left out", lambda: [own(pre - b)]),
            (swapped, lambda: [other(pre)]),
        ]
    if name == "cell_state":
        f, c_prev, i, g = args
        return [
            ("f and i swapped: f gates the old cell c_{t-1}, i gates the candidate g", lambda: [i * c_prev + f * g]),
            ("old cell not gated: c = c_{t-1} + i ⊙ g leaves out f", lambda: [c_prev + i * g]),
        ]
    if name == "hidden_state":
        o, c = args
        return [
            ("tanh missing on c in h = o ⊙ tanh(c)", lambda: [o * c]),
            ("tanh applied to o ⊙ c instead of c alone", lambda: [np.tanh(o * c)]),
        ]
    if name == "lstm_step":
        x, h_prev, c_prev, params = args

        def run(params_fn=lambda p: p, acts="sstsT"):
            _, h, c = _forward_variant(x[None], params_fn(params), h_prev, c_prev, acts)
            return [h, c]

        return _step_like_mistakes(run)
    if name == "lstm_forward":
        x, params = args[:2]
        N, H = x.shape[1], params.hidden_size
        h0, c0 = args[2:] if len(args) == 4 else (np.zeros((N, H)),) * 2

        def run(params_fn=lambda p: p, acts="sstsT", h0=h0, c0=c0):
            hs, h, c = _forward_variant(x, params_fn(params), h0, c0, acts)
            return [hs, h, c]

        zeros = np.zeros_like(h0)
        return _step_like_mistakes(run) + [
            ("initial states ignored: start from h0 and c0 when they are given", lambda: run(h0=zeros, c0=zeros)),
            ("h0 and c0 swapped", lambda: run(h0=c0, c0=h0)),
            ("hs holds h_0 .. h_{T-1}: store h_t after the step, not before", lambda: _shifted(run(), h0)),
        ]
    if name == "lstm_step_backward":
        dh, dc, cache = args
        path = dh * cache.o * (1.0 - cache.tanh_c**2)  # dh's way into c_t, through tanh
        return [
            ("dc not accumulated from the future step: add the incoming dc to dL/dc_t", lambda: _flatten(name, ref.lstm_step_backward(dh, np.zeros_like(dc), cache))),
            ("dh's path through tanh(c_t) left out of dL/dc_t", lambda: _flatten(name, ref.lstm_step_backward(dh, dc - path, cache))),
        ]
    if name == "lstm_backward":
        return _backward_mistakes(*args)
    return []


def _shifted(outs: list, h0) -> list:
    hs, h, c = outs
    return [np.concatenate([h0[None], hs[:-1]]), h, c]


def _backward_mistakes(dhs, cache, dh_T=None, dc_T=None):
    """Sequence BPTT mistakes, built from the reference step backward."""
    T = cache.x.shape[0]
    zeros = np.zeros_like(cache.h0)
    dh_T = zeros if dh_T is None else dh_T
    dc_T = zeros if dc_T is None else dc_T

    def step_cache(t):
        i, f, g, o = np.split(cache.gates[t], 4, axis=1)
        h_prev = cache.hs[t - 1] if t else cache.h0
        c_prev = cache.cs[t - 1] if t else cache.c0
        return ref.StepCache(cache.x[t], h_prev, c_prev, i, f, g, o, cache.tanh_cs[t], cache.params)

    def run(carry_dc=True, carry_dh=True, keep_grads="sum", tanh_path=True):
        dh_next, dc_next, dxs, steps = dh_T, dc_T, [None] * T, [None] * T
        for t in reversed(range(T)):
            dh = dhs[t] + dh_next if carry_dh else dhs[t] + (dh_T if t == T - 1 else 0)
            dc = dc_next if carry_dc else zeros  # zeros: neither dc_T nor step t+1's dc_prev
            step = step_cache(t)
            if not tanh_path:  # cancel dh's way into c_t (the backward is linear in dh, dc)
                dc = dc - dh * step.o * (1.0 - step.tanh_c**2)
            dxs[t], dh_next, dc_next, steps[t] = ref.lstm_step_backward(dh, dc, step)
        if keep_grads == "sum":
            grads = [sum(getattr(s, k) for s in steps) for k in ("W_ih", "W_hh", "b")]
        else:
            grads = list(steps[keep_grads])
        return [np.stack(dxs), dh_next, dc_next, *grads]

    return [
        ("dc not accumulated from the future step: dL/dc_t also gets dc_prev of step t+1", lambda: run(carry_dc=False)),
        ("dh not accumulated from the future step: dL/dh_t = dhs[t] + dh_prev of step t+1", lambda: run(carry_dh=False)),
        ("dh's path through tanh(c_t) left out of dL/dc_t", lambda: run(tanh_path=False)),
        ("parameter gradients not summed over time: you kept only the last step's (t = T)", lambda: run(keep_grads=T - 1)),
        ("parameter gradients not summed over time: you kept only the first step's (t = 1); add each step's with +=", lambda: run(keep_grads=0)),
    ]


# --- comparing outputs and explaining a mismatch ----------------------------------------------
def _as_numpy(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else a


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
        f"{label} is wrong: shape {mine_np.shape} (expected {expected.shape}), largest error "
        f"{err[k]:.3g} at index {tuple(int(j) for j in k)} (yours {mine_np[k]:.6g}, expected {expected[k]:.6g})"
    )


def _diagnose(mistakes: list[tuple[str, Callable[[], list]]], mine: list) -> str:
    """Name the known mistake whose outputs equal ``mine``, if any."""
    for description, outputs in mistakes:
        try:
            with np.errstate(all="ignore"):
                wrong = outputs()
        except ValueError:  # a mistake that cannot happen at these shapes
            continue
        # None marks an output the mistake says nothing about.
        if all(w is None or _close(m, w, rtol=_MATCH_TOL, atol=_MATCH_TOL) for m, w in zip(mine, wrong)):
            return f"Likely mistake: {description}."
    return "No known mistake matches this answer: compare your code with the equations line by line."


def _verify(name: str, case, labels, mine: list, expected: list, mistakes: Callable[[], list],
            array_type: type = np.ndarray) -> None:
    """Raise an AssertionError listing every wrong output of ``name``, with a diagnosis."""
    problems = [p for p in (_problem(f"output {label}", m, e, array_type)
                            for label, m, e in zip(labels, mine, expected)) if p]
    if problems:
        _fail(name, case, problems, _diagnose(mistakes(), mine))


def _copy(args: tuple) -> tuple:
    """Deep-enough copies, so an in-place edit by one call cannot leak into the other."""
    def one(a):
        if isinstance(a, np.ndarray):
            return a.copy()
        if isinstance(a, LSTMParams):
            return a.map(np.copy)
        if isinstance(a, tuple) and hasattr(a, "_fields"):  # the forward caches
            return type(a)(*(one(v) for v in a))
        return a
    return tuple(one(a) for a in args)


def _fail(name: str, case: Case, problems: list[str], diagnosis: str = "") -> None:
    lines = [f"{name} does not match the reference on inputs with {case}:"]
    lines += [f"  - {p}" for p in problems]
    if diagnosis:
        lines.append(f"  {diagnosis}")
    raise AssertionError("\n".join(lines))


def check_function(student_fn: Callable, name: str, *, hidden: bool = False, backend: str = "numpy") -> None:
    """Compare ``student_fn`` with the reference function ``name`` on several random inputs.

    Parameters
    ----------
    student_fn : the learner's function, same signature as ``lstm_ref.<backend>_lstm.<name>``
    name : one of ``OUTPUTS`` (``"forget_gate"``, ``"lstm_step"``, ``"lstm_backward"``, ...)
    hidden : use the hidden test cases (other sizes and seeds) instead of the visible ones
    backend : ``"numpy"``, or ``"torch"`` to pass float64 CPU tensors

    Raises
    ------
    AssertionError
        naming the wrong output, its shape and error, and the likely mistake.
    """
    if name not in OUTPUTS:
        raise ValueError(f"no check for {name!r}; expected one of {sorted(OUTPUTS)}")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    if not callable(student_fn):
        raise AssertionError(f"{name} should be a function; got {type(student_fn).__name__}")
    for case in HIDDEN_CASES if hidden else CASES:
        args = _inputs(name, case)
        with np.errstate(over="ignore"):
            expected = _flatten(name, getattr(ref, name)(*_copy(args)))
        mine = _student_outputs(student_fn, name, args, backend)
        array_type = np.ndarray if backend == "numpy" else _torch().Tensor
        _verify(name, case, OUTPUTS[name], mine, expected, lambda: _mistakes(name, args), array_type)
    if name == "sigmoid" and backend == "numpy":
        _check_sigmoid_extremes(student_fn)


def _torch():
    import torch

    return torch


def _student_outputs(fn, name: str, args: tuple, backend: str) -> list:
    args = _copy(args)
    if backend == "torch":
        args = _to_torch_args(args)
    if name == "sigmoid" and backend == "numpy":
        # Large inputs are part of the cases; an overflow warning is checked separately.
        with np.errstate(over="ignore"):
            return _flatten(name, _call(fn, args, name))
    return _flatten(name, _call(fn, args, name))


def _to_torch_args(args: tuple) -> tuple:
    torch = _torch()

    def one(a):
        if isinstance(a, np.ndarray):
            return torch.from_numpy(a)
        if isinstance(a, LSTMParams):
            return a.to_tensors()
        return a
    return tuple(one(a) for a in args)


def _check_sigmoid_extremes(fn) -> None:
    z = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise"):
        try:
            out = _call(fn, (z.copy(),), "sigmoid")
        except FloatingPointError as err:
            raise AssertionError(
                f"sigmoid overflows at z = ±1000 ({err}). e^(-z) overflows for large negative z: "
                "compute e^(-|z|), which never exceeds 1, and use 1/(1+e) for z ≥ 0, e/(1+e) for z < 0."
            ) from None
    problem = _problem("output σ(z)", out, ref.sigmoid(z), np.ndarray)
    if problem:
        raise AssertionError(f"sigmoid at z = {z.ravel().tolist()}: {problem}")


# --- porting weights to and from torch.nn.LSTM ---------------------------------------------------
#: The conversions a porting answer must not delegate to.
_PORTING_CODES = frozenset(
    f.__code__ for f in (
        LSTMParams.from_torch.__func__, LSTMParams.to_torch, LSTMParams.copy_into,
        LSTMParams.to_tensors, LSTMParams.from_gates.__func__,
    )
) | frozenset(
    f.__code__ for f in vars(sys.modules[LSTMParams.__module__]).values()
    if callable(f) and getattr(f, "__module__", None) == LSTMParams.__module__ and hasattr(f, "__code__")
)


def _torch_lstm(case: Case):
    """A float64 ``nn.LSTM`` whose two biases are both nonzero and different."""
    torch = _torch()
    torch.manual_seed(case.seed)
    module = torch.nn.LSTM(case.D, case.H, dtype=torch.float64)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    return module


def check_params_from_torch(student_fn: Callable, *, hidden: bool = False) -> None:
    """Check ``params_from_torch(lstm) -> LSTMParams`` against ``LSTMParams.from_torch``.

    The answer must return NumPy arrays ``W_ih (4H, D)``, ``W_hh (4H, H)`` and the one bias
    ``b = bias_ih + bias_hh (4H,)``.
    """
    name = "params_from_torch"
    for case in HIDDEN_CASES if hidden else CASES:
        module = _torch_lstm(case)
        expected = list(LSTMParams.from_torch(module))
        out = _call(student_fn, (module,), name, codes=_PORTING_CODES)
        try:
            mine = [_as_numpy(out.W_ih), _as_numpy(out.W_hh), _as_numpy(out.b)]
        except AttributeError:
            raise AssertionError(f"{name} must return an LSTMParams(W_ih, W_hh, b); got {type(out).__name__}") from None
        for label, value in zip(("W_ih", "W_hh", "b"), (out.W_ih, out.W_hh, out.b)):
            if not isinstance(value, np.ndarray):
                raise AssertionError(f"{name}: {label} is a {type(value).__name__}; expected a numpy.ndarray "
                                     "(convert a tensor with .detach().numpy())")
        sd = {k: v.detach().numpy() for k, v in module.state_dict().items()}
        W_ih, W_hh, b_ih, b_hh = (sd[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
        mistakes = lambda: [  # noqa: E731
            ("dropped bias_hh when porting: nn.LSTM adds bias_ih and bias_hh, so b = bias_ih + bias_hh", lambda: [W_ih, W_hh, b_ih]),
            ("dropped bias_ih when porting: b = bias_ih + bias_hh", lambda: [W_ih, W_hh, b_hh]),
            ("W_ih and W_hh swapped: weight_ih_l0 multiplies x_t, weight_hh_l0 multiplies h_{t-1}", lambda: [W_hh, W_ih, b_ih + b_hh]),
        ]
        _verify(name, case, ("W_ih", "W_hh", "b"), mine, expected, mistakes)


def check_params_to_torch(student_fn: Callable, *, hidden: bool = False) -> None:
    """Check ``params_to_torch(params) -> torch.nn.LSTM``: same weights, same outputs.

    ``nn.LSTM`` adds ``bias_ih`` and ``bias_hh``; their sum must be ``params.b``. The module
    must then give the reference's ``hs`` on a random sequence.
    """
    torch = _torch()
    name = "params_to_torch"
    for case in HIDDEN_CASES if hidden else CASES:
        rng = np.random.default_rng(case.seed)
        params = _random_params(rng, case.D, case.H)
        module = _call(student_fn, (params.map(np.copy),), name, codes=_PORTING_CODES)
        if not isinstance(module, torch.nn.LSTM):
            raise AssertionError(f"{name} must return a torch.nn.LSTM; got {type(module).__name__}")
        sd = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
        missing = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"} - set(sd)
        if missing or module.num_layers != 1:
            raise AssertionError(f"{name} must return a one-layer nn.LSTM with biases; missing {sorted(missing)}")
        b_ih, b_hh = sd["bias_ih_l0"], sd["bias_hh_l0"]
        mine = [sd["weight_ih_l0"], sd["weight_hh_l0"], b_ih + b_hh]
        mistakes = lambda: [  # noqa: E731
            ("b counted twice: put b in bias_ih and zeros in bias_hh (or split it)", lambda: [params.W_ih, params.W_hh, 2 * params.b]),
            ("dropped bias_hh when porting: nn.LSTM adds bias_ih and bias_hh, so after putting b in bias_ih, "
             "set bias_hh to zero", lambda: [params.W_ih, params.W_hh, params.b + b_hh]),
        ]
        labels = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0 + bias_hh_l0")
        _verify(name, case, labels, mine, list(params), mistakes)
        x = rng.normal(0, 1, (case.T, case.N, case.D))
        with torch.no_grad():
            hs = module(torch.from_numpy(x))[0].numpy()
        _verify(name, case, ("hs of the returned nn.LSTM",), [hs], [ref.lstm_forward(x, params)[0]], list)


# --- the numerical gradient -----------------------------------------------------------------
def check_numerical_gradient(student_fn: Callable, *, hidden: bool = False) -> None:
    """Check ``numerical_gradient(f, x, h)`` against ``lstm_ref.gradcheck.numerical_gradient``.

    ``f`` reads ``x``; the answer must perturb one entry at a time by ±h (centred
    differences), restore ``x`` afterwards and return an array shaped like ``x``.
    """
    name = "numerical_gradient"
    forbidden = _REFERENCE_FILES + (str(_REF_DIR / "gradcheck.py"),)
    h = 1e-3  # large enough that a forward difference visibly differs from a centred one
    for case in HIDDEN_CASES if hidden else CASES:
        rng = np.random.default_rng(case.seed)
        x = rng.normal(0, 1, (case.N, case.H)) * min(case.scale, 3.0)
        w = rng.normal(0, 1, x.shape)
        original = x.copy()
        f = lambda: float(np.sum(np.sin(x) * w + x**3))  # noqa: E731  (reads x, which is perturbed in place)
        mine = _call(student_fn, (f, x, h), name, forbidden)
        if not np.array_equal(x, original):
            raise AssertionError(f"{name} changed x (largest change {np.max(np.abs(x - original)):.3g}): "
                                 "restore each entry after perturbing it")
        expected = gradcheck.numerical_gradient(f, x, h)
        f0 = f()

        def forward():
            return [np.array([(f_at(k, +h) - f0) / h for k in np.ndindex(x.shape)]).reshape(x.shape)]

        def f_at(k, step):
            old = x[k]
            x[k] = old + step
            value = f()
            x[k] = old
            return value

        mistakes = lambda: [  # noqa: E731
            ("forward difference (f(x+h) - f(x)) / h: use the centred (f(x+h) - f(x-h)) / 2h, error O(h²)", forward),
            ("divided by h instead of 2h: the two evaluations are 2h apart", lambda: [2 * expected]),
            ("sign flipped: (f(x+h) - f(x-h)) / 2h, not (f(x-h) - f(x+h)) / 2h", lambda: [-expected]),
        ]
        _verify(name, case, ("gradient",), [mine], [expected], mistakes)


# --- PyTorch: autograd, devices, the cell as an nn.Module -------------------------------------
def _torch_step_case(case: Case, dtype=None, device=None):
    """``x, h_prev, c_prev`` and ``LSTMParams`` of tensors for one case (fresh tensors)."""
    args = _to_torch_args(_inputs("lstm_step", case))
    x, h, c, params = args
    move = lambda t: t.to(device=device, dtype=dtype or t.dtype)  # noqa: E731
    return move(x), move(h), move(c), params.map(move)


def _autograd(fn: Callable, args: tuple, name: str, student: bool) -> list:
    """Gradients of a fixed random projection of ``(h, c)`` for every input, by autograd."""
    torch = _torch()
    x, h_prev, c_prev, params = args
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, h_prev, c_prev, *params)]
    call_args = (*leaves[:3], LSTMParams(*leaves[3:]))
    h, c, _ = _call(fn, call_args, name) if student else fn(*call_args)
    gen = torch.Generator().manual_seed(0)
    w_h, w_c = (torch.randn(h.shape, generator=gen, dtype=h.dtype) for _ in range(2))
    loss = (h * w_h).sum() + (c * w_c).sum()
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return [None if g is None else g.numpy() for g in grads]


def check_torch_autograd(student_fn: Callable, *, hidden: bool = False) -> None:
    """Check that autograd through the learner's torch ``lstm_step`` gives the reference's gradients.

    Catches answers that detach, convert to NumPy or modify tensors in place.
    """
    from .. import torch_lstm

    name = "lstm_step"
    check_function(student_fn, name, backend="torch", hidden=hidden)  # gradients of wrong values are moot
    labels = ("dL/dx", "dL/dh_prev", "dL/dc_prev", "dL/dW_ih", "dL/dW_hh", "dL/db")
    for case in HIDDEN_CASES if hidden else CASES:
        args = _torch_step_case(case)
        expected = _autograd(torch_lstm.lstm_step, args, name, student=False)
        try:
            mine = _autograd(student_fn, args, name, student=True)
        except RuntimeError as err:
            raise AssertionError(f"autograd cannot differentiate your {name}: {err}. Use torch operations "
                                 "only (no .numpy(), no .detach(), no in-place edits of inputs).") from None
        for label, g in zip(labels, mine):
            if g is None:
                raise AssertionError(f"{name}: no gradient reaches {label[5:]}: is it used, and not detached?")
        # The values were checked first, so wrong gradients mean autograd lost part of the graph.
        _verify(f"{name} (autograd)", case, labels, mine, expected, lambda: [(_DETACHED, lambda: [None] * 6)])


def check_device_agnostic(student_fn: Callable) -> None:
    """Check that torch ``lstm_step`` keeps its inputs' device and dtype.

    Runs on the ``meta`` device (shapes only, no data) and on CUDA when there is one: a
    tensor created without ``device=``/``dtype=`` taken from the inputs makes it fail.
    """
    torch = _torch()
    devices = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])
    for device, dtype in itertools.product(devices, (torch.float32, torch.float64)):
        case = CASES[0]
        args = _torch_step_case(case, dtype=dtype, device=device)
        try:
            h, c, _ = _call(student_fn, args, "lstm_step")
        except (RuntimeError, NotImplementedError) as err:
            if isinstance(err, NotImplementedError) and not str(err):
                raise
            raise AssertionError(
                f"lstm_step fails on {device} tensors ({dtype}): {err}\nCreate new tensors on the inputs' "
                "device and dtype, e.g. torch.zeros_like(h_prev) or x.new_zeros(...); never a fixed device."
            ) from None
        for label, out in (("h", h), ("c", c)):
            if out.device.type != device or out.dtype != dtype:
                raise AssertionError(
                    f"lstm_step returned {label} on {out.device} with {out.dtype} for inputs on "
                    f"{device} with {dtype}: keep the inputs' device and dtype"
                )


_DETACHED = ("h and c are right but their gradients are not: part of the computation is hidden from "
             "autograd (.detach(), .numpy(), .data or an in-place edit)")
_CELL_PARAMS = {"weight_ih": ("4H", "D"), "weight_hh": ("4H", "H"), "bias_ih": ("4H",), "bias_hh": ("4H",)}


def check_lstm_cell(student_cls, *, hidden: bool = False) -> None:
    """Check an ``nn.Module`` cell against ``torch.nn.LSTMCell``.

    ``student_cls(input_size, hidden_size)`` must register ``weight_ih (4H, D)``,
    ``weight_hh (4H, H)``, ``bias_ih`` and ``bias_hh (4H,)`` as parameters (so that
    ``load_state_dict`` and optimisers see them) and ``forward(x, state=None) -> (h, c)``,
    with zeros for a missing state. Outputs and parameter gradients are compared.
    """
    torch = _torch()
    name = "LSTMCell"
    forbidden = _REFERENCE_FILES + (str(Path(torch.nn.modules.rnn.__file__)),)
    for case in HIDDEN_CASES if hidden else CASES:
        torch.manual_seed(case.seed)
        reference = torch.nn.LSTMCell(case.D, case.H, dtype=torch.float64)
        with torch.no_grad():
            for p in reference.parameters():
                p.normal_(0, 0.5)
        module = _call(student_cls, (case.D, case.H), name, forbidden)
        if not isinstance(module, torch.nn.Module):
            raise AssertionError(f"{name}(D, H) must build a torch.nn.Module; got {type(module).__name__}")
        shapes = {k: tuple(v.shape) for k, v in module.named_parameters()}
        sizes = {"4H": 4 * case.H, "D": case.D, "H": case.H}
        wanted = {k: tuple(sizes[d] for d in dims) for k, dims in _CELL_PARAMS.items()}
        if shapes != wanted:
            raise AssertionError(
                f"{name}({case.D}, {case.H}) has parameters {shapes}; expected {wanted} "
                "(nn.Parameter attributes with nn.LSTMCell's names, in the gate order i, f, g, o)"
            )
        module.to(torch.float64)
        module.load_state_dict(reference.state_dict())
        x, h, c, _ = _torch_step_case(case)
        mine = _cell_outputs(module, x, h, c, name, forbidden)
        expected = _cell_outputs(reference, x, h, c, name, ())
        params = LSTMParams.from_torch(reference)
        sd = {k: v.numpy() for k, v in reference.state_dict().items()}

        def mistakes():
            no_hh = LSTMParams(params.W_ih, params.W_hh, sd["bias_ih"])
            step = _mistakes("lstm_step", (x.numpy(), h.numpy(), c.numpy(), params))
            wrong_bias = _forward_variant(x.numpy()[None], no_hh, h.numpy(), c.numpy())[1:]
            return [
                (_DETACHED, lambda: [expected[0], expected[1], None, None, None, None, expected[6]]),
                ("dropped bias_hh: add both biases, bias_ih + bias_hh", lambda: [*wrong_bias, None, None, None, None, None]),
            ] + [
                (d, lambda run=run: [*run(), None, None, None, None, None]) for d, run in step
            ]

        labels = ("h", "c", "d/dweight_ih", "d/dweight_hh", "d/dbias_ih", "d/dbias_hh", "h with state=None")
        _verify(name, case, labels, mine, expected, mistakes)


def _cell_outputs(module, x, h, c, name: str, forbidden) -> list:
    """``h, c``, the parameter gradients of a fixed projection, and ``h`` from a zero state."""
    torch = _torch()
    module.zero_grad()
    out = _call(module, (x, (h, c)), name, forbidden) if forbidden else module(x, (h, c))
    try:
        h_new, c_new = out
    except (TypeError, ValueError):
        raise AssertionError(f"{name}.forward(x, (h, c)) must return (h, c); got {type(out).__name__}") from None
    gen = torch.Generator().manual_seed(1)
    loss = (h_new * torch.randn(h_new.shape, generator=gen, dtype=h_new.dtype)).sum() + (c_new**2).sum()
    loss.backward()
    grads = [None if p.grad is None else p.grad.numpy().copy() for p in
             (getattr(module, k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))]
    with torch.no_grad():
        fresh = _call(module, (x,), name, forbidden) if forbidden else module(x)
    return [h_new.detach().numpy(), c_new.detach().numpy(), *grads, fresh[0].numpy()]


def check_hidden_grad_norms(student_fn: Callable) -> None:
    """Check ``hidden_grad_norms(loss, hs) -> (T,) tensor`` of ``‖∂loss/∂h_t‖`` (all entries).

    ``hs`` is the list of hidden states h_1 .. h_T of an unrolled ``nn.LSTMCell``.
    """
    torch = _torch()
    name = "hidden_grad_norms"
    for case in CASES[:3]:
        torch.manual_seed(case.seed)
        cell = torch.nn.LSTMCell(case.D, case.H, dtype=torch.float64)
        x = torch.randn(case.T, case.N, case.D, dtype=torch.float64)
        h = c = torch.zeros(case.N, case.H, dtype=torch.float64)
        hs = []
        for x_t in x:
            h, c = cell(x_t, (h, c))
            hs.append(h)
        loss = (h**2).sum()
        expected = torch.stack([g.norm() for g in torch.autograd.grad(loss, hs, retain_graph=True)])
        mine = _call(student_fn, (loss, hs), name)
        if not isinstance(mine, torch.Tensor):
            raise AssertionError(f"{name} must return a torch.Tensor of shape (T,); got {type(mine).__name__}")
        mistakes = lambda: [  # noqa: E731
            ("norms of the hidden states themselves, not of their gradients", lambda: [torch.stack([h.norm() for h in hs]).detach().numpy()]),
        ]
        _verify(name, case, ("norms",), [mine.detach()], [expected.numpy()], mistakes, torch.Tensor)


# --- the long-range task of the PyTorch assignment -------------------------------------------
def memory_task(T: int, N: int, seed: int, device=None):
    """Remember a bit across ``T`` steps: ``x (T, N, 2)``, labels ``y (N,)`` in {0, 1}.

    Channel 0 holds the bit as ±1 at t = 0 and zeros after it; channel 1 is noise in
    [-1, 1] at every step. The label is the bit, so a model must carry it through the
    T - 1 later steps while ignoring the noise.
    """
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (N,), generator=gen)
    x = torch.zeros(T, N, 2, dtype=torch.float32)
    x[0, :, 0] = y * 2.0 - 1.0
    x[:, :, 1] = torch.rand(T, N, generator=gen) * 2 - 1
    return x.to(device), y.to(device)


def check_memory_task(model, *, T: int = 20, at_least: float = 0.9) -> None:
    """Check that a trained ``model`` (``x (T, N, 2) -> logits (N, 2)``) solves :func:`memory_task`."""
    torch = _torch()
    x, y = memory_task(T, 512, seed=12345)
    with torch.no_grad():
        logits = model(x)
    if tuple(logits.shape) != (512, 2):
        raise AssertionError(f"the model returned logits of shape {tuple(logits.shape)}; expected (N, 2) = (512, 2)")
    accuracy = float((logits.argmax(dim=1) == y).float().mean())
    if accuracy < at_least:
        raise AssertionError(
            f"accuracy on fresh sequences of length {T} is {accuracy:.3f}; expected at least {at_least}. "
            "Train longer or with a larger learning rate, and check that the loss goes down."
        )
