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


def _forward_variant(x, params, h0, c0, acts="sstsT", blocks=(0, 1, 2, 3), carry_c=True, carry_h=True):
    """Sequence forward with the nonlinearities given by ``acts``.

    ``acts[k]`` is ``s`` (σ) or ``t`` (tanh) for gate k of i, f, g, o; ``acts[4]`` is ``T``
    when h = o ⊙ tanh(c), ``-`` when the tanh on c is missing. The reference is ``"sstsT"``.
    ``blocks[k]`` is the block of the pre-activation gate k reads (the reference: its own);
    ``carry_c=False`` starts every step from c_{t-1} = c0, ``carry_h=False`` from h_{t-1} = h0.
    """
    act = {"s": _sigma, "t": np.tanh, "T": np.tanh, "-": lambda c: c}
    H = params.hidden_size
    h, c, hs = h0, c0, []
    for x_t in x:
        h_in, c_in = (h if carry_h else h0), (c if carry_c else c0)
        a = x_t @ params.W_ih.T + h_in @ params.W_hh.T + params.b  # (N, 4H)
        i, f, g, o = (act[acts[k]](a[:, blocks[k] * H : (blocks[k] + 1) * H]) for k in range(4))
        c = f * c_in + i * g
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
    for k, j in itertools.permutations(range(4), 2):
        blocks = list(range(4))
        blocks[k] = j
        mistakes.append((
            f"the {GATES[k]} gate reads the wrong block of the pre-activation: rows {_rows(j)} (the {GATES[j]} "
            f"block) instead of rows {_rows(k)}; the stacked order is i, f, g, o",
            lambda blocks=tuple(blocks): run(blocks=blocks),
        ))
    return mistakes


def _rows(k: int) -> str:
    return ["0:H", "H:2H", "2H:3H", "3H:4H"][k]


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
            ("bias added after the nonlinearity: it belongs inside, "
             + ("tanh([h, x] W_gᵀ + b_g)" if name == "candidate" else "σ([h, x] Wᵀ + b)"), lambda: [own(pre - b) + b]),
        ]
    if name == "cell_state":
        f, c_prev, i, g = args
        return [
            ("f and i swapped: f gates the old cell c_{t-1}, i gates the candidate g", lambda: [i * c_prev + f * g]),
            ("old cell not gated: c = c_{t-1} + i ⊙ g leaves out f", lambda: [c_prev + i * g]),
            ("g squashed twice: g is already tanh of its pre-activation, so c = f ⊙ c_{t-1} + i ⊙ g with no "
             "further tanh", lambda: [f * c_prev + i * np.tanh(g)]),
        ]
    if name == "hidden_state":
        o, c = args
        return [
            ("tanh missing on c in h = o ⊙ tanh(c)", lambda: [o * c]),
            ("tanh applied to o ⊙ c instead of c alone", lambda: [np.tanh(o * c)]),
        ]
    if name == "lstm_step":
        x, h_prev, c_prev, params = args

        def run(params_fn=lambda p: p, acts="sstsT", blocks=(0, 1, 2, 3), carry_c=True, c_from_h=False):
            c_in = h_prev if c_from_h else (c_prev if carry_c else np.zeros_like(c_prev))
            _, h, c = _forward_variant(x[None], params_fn(params), h_prev, c_in, acts, blocks)
            return [h, c]

        return _step_like_mistakes(run) + [
            ("c_{t-1} left out of the new cell state: c = f ⊙ c_{t-1} + i ⊙ g needs the previous cell", lambda: run(carry_c=False)),
            ("f gates h_{t-1} instead of c_{t-1}: the forget gate scales the old cell state, c = f ⊙ c_{t-1} + i ⊙ g",
             lambda: run(carry_c=False, c_from_h=True)),
        ]
    if name == "lstm_forward":
        x, params = args[:2]
        N, H = x.shape[1], params.hidden_size
        h0, c0 = args[2:] if len(args) == 4 else (np.zeros((N, H)),) * 2

        def run(params_fn=lambda p: p, acts="sstsT", h0=h0, c0=c0, blocks=(0, 1, 2, 3), carry_c=True, carry_h=True):
            hs, h, c = _forward_variant(x, params_fn(params), h0, c0, acts, blocks, carry_c, carry_h)
            return [hs, h, c]

        zeros = np.zeros_like(h0)
        return _step_like_mistakes(run) + [
            ("the cell state is not carried from step to step: each step must start from the c_t of the step "
             "before (c = f ⊙ c_{t-1} + i ⊙ g with the c of the previous iteration)", lambda: run(carry_c=False)),
            ("the hidden state is not carried from step to step: each step must use the h_t of the step "
             "before in h_{t-1} W_hhᵀ", lambda: run(carry_h=False)),
            ("initial states ignored: start from h0 and c0 when they are given", lambda: run(h0=zeros, c0=zeros)),
            ("h0 and c0 swapped", lambda: run(h0=c0, c0=h0)),
            ("hs holds h_0 .. h_{T-1}: store h_t after the step, not before", lambda: _shifted(run(), h0)),
            ("every hs[t] is h_T: hs holds the same array T times, changed in place at every step; store a new "
             "array per step (hs[t] = h into a preallocated hs, or append h.copy())", lambda: _all_last(run())),
        ]
    if name == "lstm_step_backward":
        dh, dc, cache = args
        return [(d, lambda knobs=knobs: _flatten(name, _step_backward_variant(dh, dc, cache, **knobs)))
                for d, knobs in _STEP_BACKWARD_MISTAKES]
    if name == "lstm_backward":
        return _backward_mistakes(*args)
    return []


def _all_last(outs: list) -> list:
    hs, h, c = outs
    return [np.broadcast_to(h, hs.shape), h, c]


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

    def run(carry_dc=True, carry_dh=True, keep_grads="sum", **knobs):
        dh_next, dc_next, dxs, steps = dh_T, dc_T, [None] * T, [None] * T
        for t in reversed(range(T)):
            dh = dhs[t] + dh_next if carry_dh else dhs[t] + (dh_T if t == T - 1 else 0)
            dc = dc_next if carry_dc else zeros  # zeros: neither dc_T nor step t+1's dc_prev
            dxs[t], dh_next, dc_next, steps[t] = _step_backward_variant(dh, dc, step_cache(t), **knobs)
        if keep_grads == "sum":
            grads = [sum(getattr(s, k) for s in steps) for k in ("W_ih", "W_hh", "b")]
        else:
            grads = list(steps[keep_grads])
        return [np.stack(dxs), dh_next, dc_next, *grads]

    return [
        ("dc not accumulated from the future step: dL/dc_t also gets dc_prev of step t+1", lambda: run(carry_dc=False)),
        ("dh not accumulated from the future step: dL/dh_t = dhs[t] + dh_prev of step t+1", lambda: run(carry_dh=False)),
        *[(d, lambda knobs=knobs: run(**knobs)) for d, knobs in _STEP_BACKWARD_MISTAKES[1:]],
        ("parameter gradients not summed over time: you kept only the last step's (t = T)", lambda: run(keep_grads=T - 1)),
        ("parameter gradients not summed over time: you kept only the first step's (t = 1); add each step's with +=", lambda: run(keep_grads=0)),
    ]


#: Mistakes of one backward step, as knobs of :func:`_step_backward_variant`.
_STEP_BACKWARD_MISTAKES = [
    ("dc not accumulated from the future step: add the incoming dc to dL/dc_t", dict(use_dc=False)),
    ("dh's path through tanh(c_t) left out of dL/dc_t", dict(tanh_path=False)),
    ("tanh' missing on the candidate: dg must be multiplied by 1 − g² before it enters da (eq:bptt-preactivation)",
     dict(tanh_prime=False)),
    ("σ' taken of the pre-activation: the derivative of σ at a is σ(a)(1 − σ(a)), written with the gate's value "
     "(i ⊙ (1 − i)), not a ⊙ (1 − a)", dict(sigma_prime_of_a=True)),
    ("σ' and tanh' evaluated at the pre-activation a: write them with the gates' values, i(1 − i), f(1 − f), "
     "1 − g², o(1 − o) (eq:bptt-preactivation)", dict(sigma_prime_of_a=True, tanh_prime_of_a=True)),
    ("f missing in dc_prev: the cell path back is dc_prev = dc_t ⊙ f_t (eq:bptt-dc-prev)", dict(forget=False)),
    ("dW_hh built from h_t instead of h_{t-1}: the weight multiplied h_{t-1} in this step", dict(h_for_dW="h")),
    ("do uses c_t instead of tanh(c_t): h = o ⊙ tanh(c), so do = dh ⊙ tanh(c_t)", dict(do_of_c=True)),
]


def _step_backward_variant(dh, dc, cache, *, use_dc=True, tanh_path=True, tanh_prime=True, sigma_prime_of_a=False,
                           tanh_prime_of_a=False, forget=True, h_for_dW="h_prev", do_of_c=False):
    """One step backward, equal to ``ref.lstm_step_backward`` with the default knobs."""
    x, h_prev, c_prev, i, f, g, o, tanh_c, params = cache
    do = dh * ((f * c_prev + i * g) if do_of_c else tanh_c)
    dct = (dc if use_dc else 0.0) + (dh * o * (1.0 - tanh_c**2) if tanh_path else 0.0)
    df, di, dg = dct * c_prev, dct * g, dct * i
    dc_prev = dct * f if forget else dct
    a = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b
    ai, af, ag, ao = np.split(a, 4, axis=1)
    if sigma_prime_of_a:
        si, sf, so = ai * (1 - ai), af * (1 - af), ao * (1 - ao)
    else:
        si, sf, so = i * (1 - i), f * (1 - f), o * (1 - o)
    tg = (1 - ag**2) if tanh_prime_of_a else (1 - g**2) if tanh_prime else 1.0
    da = np.concatenate([di * si, df * sf, dg * tg, do * so], axis=1)
    h_used = o * tanh_c if h_for_dW == "h" else h_prev
    grads = LSTMParams(da.T @ x, da.T @ h_used, da.sum(axis=0))
    return da @ params.W_ih, da @ params.W_hh, dc_prev, grads
