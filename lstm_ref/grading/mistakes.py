"""Known mistakes: what a wrong answer computes, so that a mismatch can be named."""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from .. import numpy_lstm as ref
from ..params import GATES, LSTMParams
from .cases import _GATE_OF, _flatten


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
