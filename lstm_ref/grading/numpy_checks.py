"""Checks of the NumPy assignments: functions against the reference, porting weights to and
from ``torch.nn.LSTM``, and the numerical gradient."""
from __future__ import annotations

import sys
from typing import Callable

import numpy as np

from .. import gradcheck, numpy_lstm as ref
from ..params import LSTMParams
from ._state import reference_settings
from ._tripwire import _REF_DIR, LearnerError, _call, rule_for
from .cases import CASES, HIDDEN_CASES, OUTPUTS, Case, _copy, _flatten, _inputs, _random_params, _to_torch_args, _torch
from .compare import _as_numpy, _problem, _verify
from .localise import where_to_look
from .mistakes import _mistakes


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
        with reference_settings():
            expected = _flatten(name, getattr(ref, name)(*_copy(args)))
        mine = _student_outputs(student_fn, name, args, backend)
        array_type = np.ndarray if backend == "numpy" else _torch().Tensor
        _verify(name, case, OUTPUTS[name], mine, expected, lambda: _mistakes(name, args), array_type,
                localise=lambda: where_to_look(name, args, [_as_numpy(m) for m in mine], expected,
                                               lambda a: _rerun(student_fn, name, a, backend)))
    if name == "sigmoid" and backend == "numpy":
        _check_sigmoid_extremes(student_fn)


def _student_outputs(fn, name: str, args: tuple, backend: str) -> list:
    args = _copy(args)
    if backend == "torch":
        args = _to_torch_args(args)
    if name == "sigmoid" and backend == "numpy":
        # Large inputs are part of the cases; an overflow warning is checked separately.
        with np.errstate(over="ignore"):
            return _flatten(name, _call(fn, args, name, rule_for(name)))
    return _flatten(name, _call(fn, args, name, rule_for(name)))


def _rerun(fn, name: str, args: tuple, backend: str) -> list | None:
    """The learner's outputs as NumPy arrays for other arguments (None if the call fails)."""
    try:
        return [_as_numpy(m) for m in _student_outputs(fn, name, args, backend)]
    except AssertionError:
        return None


def _check_sigmoid_extremes(fn) -> None:
    z = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise"):
        try:
            out = _call(fn, (z.copy(),), "sigmoid", rule_for("sigmoid"))
        except LearnerError as err:
            if not isinstance(err.original, FloatingPointError):
                raise
            raise AssertionError(
                f"sigmoid overflows at z = ±1000 ({err.original}). e^(-z) overflows for large negative z: "
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
        out = _call(student_fn, (module,), name, rule_for(name, codes=_PORTING_CODES))
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
        _verify(name, case, ("W_ih", "W_hh", "b"), mine, expected, mistakes,
                localise=lambda: where_to_look(name, (), mine, expected, lambda a: None))


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
        module = _call(student_fn, (params.map(np.copy),), name, rule_for(name, codes=_PORTING_CODES))
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
    rule = rule_for(name)
    h = 1e-3  # large enough that a forward difference visibly differs from a centred one
    for case in HIDDEN_CASES if hidden else CASES:
        rng = np.random.default_rng(case.seed)
        x = rng.normal(0, 1, (case.N, case.H)) * min(case.scale, 3.0)
        w = rng.normal(0, 1, x.shape)
        original = x.copy()
        f = lambda: float(np.sum(np.sin(x) * w + x**3))  # noqa: E731  (reads x, which is perturbed in place)
        mine = _call(student_fn, (f, x, h), name, rule, inputs=False)
        # x[k] += h; x[k] -= 2h; x[k] += h restores x up to rounding: a few ulps of |x| + h are no change
        if not np.all(np.abs(x - original) <= 8 * np.finfo(x.dtype).eps * (np.abs(original) + h)):
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
            ("the second point is x - 2h, not x - h: evaluate f at old + h and at old - h (after x[k] += h, the "
             "step back is x[k] -= 2h)", lambda: [np.array([(f_at(k, +h) - f_at(k, -2 * h)) / (2 * h)
                                                            for k in np.ndindex(x.shape)]).reshape(x.shape)]),
            ("your gradient is zero everywhere: f reads the array x that was passed in, so perturb x[k] in place "
             "(x = x.copy() or x = x + ... makes a new array that f never sees)", lambda: [np.zeros_like(expected)]),
        ]
        _verify(name, case, ("gradient",), [mine], [expected], mistakes)
