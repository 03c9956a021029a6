"""Test cases and their inputs: sizes, seeds, fresh random arguments, output names."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import numpy_lstm as ref
from ..params import LSTMParams


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


def _torch():
    import torch

    return torch


def _to_torch_args(args: tuple) -> tuple:
    torch = _torch()

    def one(a):
        if isinstance(a, np.ndarray):
            return torch.from_numpy(a)
        if isinstance(a, LSTMParams):
            return a.to_tensors()
        return a
    return tuple(one(a) for a in args)
