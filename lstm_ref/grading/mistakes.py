"""Known mistakes: what a wrong answer computes, so that a mismatch can be named, and where
the book explains the right computation (:data:`SEE`, shown under the mistake's name)."""
from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Callable

import numpy as np

from .. import numpy_lstm as ref
from ..params import GATES, LSTMParams
from ._facing import WIDTH as _WIDTH
from .cases import _GATE_OF, _flatten

# --- where the book explains the right computation -----------------------------------------
#: Chapter titles, by the chapter's file in ``_toc.yml``.
CHAPTERS = {
    "book/cell": "The LSTM cell",
    "book/sequence": "Running an LSTM over a sequence",
    "book/bptt": "Backpropagation through time",
    "book/gradient_flow": "Why the LSTM keeps gradients alive",
    "book/experiments": "Long-range dependencies, reproduced",
    "book/gru": "The GRU: an LSTM with coupled gates and no cell",
}
#: For each quantity a mistake gets wrong: the chapter and the label of the equation that
#: computes it right, ``$$ ... $$ (eq:...)`` in the source; a section's heading where the
#: book has no equation for it.
SEE = {
    "sigmoid": ("book/cell", "eq:sigmoid"),
    "i": ("book/cell", "eq:input-gate"),
    "f": ("book/cell", "eq:forget-gate"),
    "g": ("book/cell", "eq:candidate"),
    "o": ("book/cell", "eq:output-gate"),
    "c": ("book/cell", "eq:cell-state"),
    "h": ("book/cell", "eq:hidden-state"),
    "a": ("book/sequence", "eq:fused-preactivation"),  # stacked blocks i, f, g, o; b; h_{t-1} W_hh
    "h0, c0": ("book/sequence", "Initial states"),
    "hs": ("book/sequence", "Shapes"),
    "nn.LSTM": ("book/sequence", "Exactly `torch.nn.LSTM`"),  # two biases, b = b_ih + b_hh
    "layers": ("book/sequence", "eq:stacked-layers"),
    "directions": ("book/sequence", "Both directions"),
    "dh": ("book/bptt", "eq:bptt-dh"),
    "do": ("book/bptt", "eq:bptt-do"),
    "dc": ("book/bptt", "eq:bptt-dc"),
    "dc_prev": ("book/bptt", "eq:bptt-dc-prev"),
    "da": ("book/bptt", "eq:bptt-preactivation"),
    "dW": ("book/bptt", "eq:bptt-dW"),
    "autograd": ("book/bptt", "The graph of one step"),  # what autograd walks back; .detach() cuts it
    "numerical gradient": ("book/bptt", "Three ways to trust it"),
    "grad norms": ("book/gradient_flow", "eq:grad-by-lag"),
    "training": ("book/experiments", "How the experiments were run"),
    # hand-computed numbers (numeric.py)
    "worked bptt": ("book/bptt", "A backward pass by hand"),
    "half-life": ("book/gradient_flow", "eq:bias-decay"),
    # the GRU (gru_mistakes.py), PyTorch's form
    "gru-r": ("book/gru", "eq:gru-reset-gate"),
    "gru-z": ("book/gru", "eq:gru-update-gate"),
    "gru-n": ("book/gru", "eq:gru-candidate"),
    "gru-h": ("book/gru", "eq:gru-hidden-state"),
    "gru-a": ("book/gru", "eq:gru-fused-preactivation"),  # stacked blocks r, z, n; b_ih and b_hh
    "gru-cho": ("book/gru", "eq:gru-candidate-cho"),
    "gru-dh": ("book/gru", "eq:gru-bptt-dh"),
    "gru-gates": ("book/gru", "eq:gru-bptt-gates"),
    "gru-reset": ("book/gru", "eq:gru-bptt-reset"),
    "gru-da": ("book/gru", "eq:gru-bptt-preactivation"),
    "gru-dh-prev": ("book/gru", "eq:gru-bptt-dh-prev"),
    "gru-dW": ("book/gru", "eq:gru-bptt-dW"),
}
#: The topic of the checks whose mistakes are plain strings (``numpy_checks``).
TOPIC_OF_CHECK = {"params_from_torch": "a", "params_to_torch": "a", "numerical_gradient": "numerical gradient"}


class Named(str):
    """A mistake's description that knows its topic, a key of :data:`SEE`."""

    topic: str

    def __new__(cls, description: str, topic: str) -> "Named":
        if topic not in SEE:
            raise KeyError(f"no entry for {topic!r} in SEE")
        named = super().__new__(cls, description)
        named.topic = topic
        return named

    def __reduce__(self):
        return Named, (str(self), self.topic)


def anchor(target: str) -> str:
    """The HTML id Sphinx gives an equation label or a heading (docutils' make_id: letters
    decomposed and non-ASCII dropped, so "encoder–decoder" gives "encoderdecoder")."""
    ascii_ = unicodedata.normalize("NFKD", target.lower().replace("$", "")).encode("ascii", "ignore").decode()
    slug = re.sub(r"^[-0-9]+|-+$", "", re.sub(r"[^a-z0-9]+", "-", ascii_))
    return f"equation-{slug}" if target.startswith("eq:") else slug


def see(description: str, check: str = "", indent: str = "") -> str:
    """Lines pointing to the book for a named mistake, each starting with a newline; "" if
    neither the description (a :class:`Named`) nor the ``check`` has a topic."""
    topic = getattr(description, "topic", None) or TOPIC_OF_CHECK.get(check)
    if topic is None:
        return ""
    doc, target = SEE[topic]
    what = f"equation ({target})" if target.startswith("eq:") else f'"{target}"'
    line = f'{indent}See {what} in "{CHAPTERS[doc]}":'
    if len(line) > _WIDTH:  # a long title ("The GRU: an LSTM with ...") keeps the part before its colon
        line = f'{indent}See {what} in "{CHAPTERS[doc].split(":")[0]}":'
    return f'\n{line}\n{indent}  {doc}.html#{anchor(target)}'


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
                Named(f"gate order swapped: you read the stacked blocks of W_ih, W_hh and b as "
                      f"({', '.join(order)}); the order is PyTorch's (i, f, g, o)", "a"),
                lambda order=order: run(params_fn=lambda p: _permuted(p, order)),
            ))
    mistakes.append((Named("bias left out: b is added to every gate's pre-activation", "a"),
                     lambda: run(params_fn=_no_bias)))
    for k, gate in enumerate(GATES):
        acts = list("sstsT")
        wrong = "s" if acts[k] == "t" else "t"
        right = acts[k]
        acts[k] = wrong
        mistakes.append((
            Named(f"{_NONLINEARITY[wrong]} where {_NONLINEARITY[right]} belongs, in the {gate} gate", gate),
            lambda acts="".join(acts): run(acts=acts),
        ))
    mistakes.append((Named("tanh missing on c in h = o ⊙ tanh(c)", "h"), lambda: run(acts="sstsT"[:4] + "-")))
    for k, j in itertools.permutations(range(4), 2):
        blocks = list(range(4))
        blocks[k] = j
        mistakes.append((
            Named(f"the {GATES[k]} gate reads the wrong block of the pre-activation: rows {_rows(j)} (the "
                  f"{GATES[j]} block) instead of rows {_rows(k)}; the stacked order is i, f, g, o", "a"),
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
            (Named("sign error: σ(z) = 1 / (1 + e^(-z)), not 1 / (1 + e^z)", "sigmoid"), lambda: [_sigma(-z)]),
            (Named("tanh where σ belongs", "sigmoid"), lambda: [np.tanh(z)]),
        ]
    if name in _GATE_OF:
        x, h_prev, W, b = args
        pre = np.concatenate([h_prev, x], axis=1) @ W.T + b
        own, other = (np.tanh, _sigma) if name == "candidate" else (_sigma, np.tanh)
        swapped = "σ where tanh belongs" if name == "candidate" else "tanh where σ belongs"
        gate = _GATE_OF[name]
        return [
            (Named("[x, h] concatenated instead of [h, x]: W's first H columns multiply h_{t-1}", gate),
             lambda: [own(np.concatenate([x, h_prev], 1) @ W.T + b)]),
            (Named("bias left out", gate), lambda: [own(pre - b)]),
            (Named(swapped, gate), lambda: [other(pre)]),
            (Named("bias added after the nonlinearity: it belongs inside, "
                   + ("tanh([h, x] W_gᵀ + b_g)" if name == "candidate" else "σ([h, x] Wᵀ + b)"), gate),
             lambda: [own(pre - b) + b]),
        ]
    if name == "cell_state":
        f, c_prev, i, g = args
        return [
            (Named("f and i swapped: f gates the old cell c_{t-1}, i gates the candidate g", "c"),
             lambda: [i * c_prev + f * g]),
            (Named("old cell not gated: c = c_{t-1} + i ⊙ g leaves out f", "c"), lambda: [c_prev + i * g]),
            (Named("g squashed twice: g is already tanh of its pre-activation, so c = f ⊙ c_{t-1} + i ⊙ g with no "
                   "further tanh", "c"), lambda: [f * c_prev + i * np.tanh(g)]),
        ]
    if name == "hidden_state":
        o, c = args
        return [
            (Named("tanh missing on c in h = o ⊙ tanh(c)", "h"), lambda: [o * c]),
            (Named("tanh applied to o ⊙ c instead of c alone", "h"), lambda: [np.tanh(o * c)]),
        ]
    if name == "lstm_step":
        x, h_prev, c_prev, params = args

        def run(params_fn=lambda p: p, acts="sstsT", blocks=(0, 1, 2, 3), carry_c=True, c_from_h=False):
            c_in = h_prev if c_from_h else (c_prev if carry_c else np.zeros_like(c_prev))
            _, h, c = _forward_variant(x[None], params_fn(params), h_prev, c_in, acts, blocks)
            return [h, c]

        return _step_like_mistakes(run) + [
            (Named("c_{t-1} left out of the new cell state: c = f ⊙ c_{t-1} + i ⊙ g needs the previous cell", "c"),
             lambda: run(carry_c=False)),
            (Named("f gates h_{t-1} instead of c_{t-1}: the forget gate scales the old cell state, "
                   "c = f ⊙ c_{t-1} + i ⊙ g", "c"), lambda: run(carry_c=False, c_from_h=True)),
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
            (Named("the cell state is not carried from step to step: each step must start from the c_t of the step "
                   "before (c = f ⊙ c_{t-1} + i ⊙ g with the c of the previous iteration)", "c"),
             lambda: run(carry_c=False)),
            (Named("the hidden state is not carried from step to step: each step must use the h_t of the step "
                   "before in h_{t-1} W_hhᵀ", "a"), lambda: run(carry_h=False)),
            (Named("initial states ignored: start from h0 and c0 when they are given", "h0, c0"),
             lambda: run(h0=zeros, c0=zeros)),
            (Named("h0 and c0 swapped", "h0, c0"), lambda: run(h0=c0, c0=h0)),
            (Named("hs holds h_0 .. h_{T-1}: store h_t after the step, not before", "hs"), lambda: _shifted(run(), h0)),
            (Named("every hs[t] is h_T: hs holds the same array T times, changed in place at every step; store a "
                   "new array per step (hs[t] = h into a preallocated hs, or append h.copy())", "hs"),
             lambda: _all_last(run())),
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
        (Named("dc not accumulated from the future step: dL/dc_t also gets dc_prev of step t+1", "dc"),
         lambda: run(carry_dc=False)),
        (Named("dh not accumulated from the future step: dL/dh_t = dhs[t] + dh_prev of step t+1", "dh"),
         lambda: run(carry_dh=False)),
        *[(d, lambda knobs=knobs: run(**knobs)) for d, knobs in _STEP_BACKWARD_MISTAKES[1:]],
        (Named("parameter gradients not summed over time: you kept only the last step's (t = T)", "dW"),
         lambda: run(keep_grads=T - 1)),
        (Named("parameter gradients not summed over time: you kept only the first step's (t = 1); add each step's "
               "with +=", "dW"), lambda: run(keep_grads=0)),
    ]


#: Mistakes of one backward step, as knobs of :func:`_step_backward_variant`.
_STEP_BACKWARD_MISTAKES = [
    (Named("dc not accumulated from the future step: add the incoming dc to dL/dc_t", "dc"), dict(use_dc=False)),
    (Named("dh's path through tanh(c_t) left out of dL/dc_t", "dc"), dict(tanh_path=False)),
    (Named("tanh' missing on the candidate: dg must be multiplied by 1 − g² before it enters da", "da"),
     dict(tanh_prime=False)),
    (Named("σ' taken of the pre-activation: the derivative of σ at a is σ(a)(1 − σ(a)), written with the gate's "
           "value (i ⊙ (1 − i)), not a ⊙ (1 − a)", "da"), dict(sigma_prime_of_a=True)),
    (Named("σ' and tanh' evaluated at the pre-activation a: write them with the gates' values, i(1 − i), "
           "f(1 − f), 1 − g², o(1 − o)", "da"), dict(sigma_prime_of_a=True, tanh_prime_of_a=True)),
    (Named("f missing in dc_prev: the cell path back is dc_prev = dc_t ⊙ f_t", "dc_prev"), dict(forget=False)),
    (Named("dW_hh built from h_t instead of h_{t-1}: the weight multiplied h_{t-1} in this step", "dW"),
     dict(h_for_dW="h")),
    (Named("do uses c_t instead of tanh(c_t): h = o ⊙ tanh(c), so do = dh ⊙ tanh(c_t)", "do"), dict(do_of_c=True)),
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
