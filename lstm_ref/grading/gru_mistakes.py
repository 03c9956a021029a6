"""Known mistakes of the GRU assignment: what each wrong answer computes, and its name.

Every function here is the reference computation with *knobs*; with the default knobs it
equals ``lstm_ref.numpy_gru`` (tests/test_gru_assignment.py checks that), and each knob
is one misreading of the chapter's equations (``book/gru.md``):

- :func:`forward_variant`: a sequence forward pass (eq:gru-reset-gate to
  eq:gru-hidden-state, eq:gru-fused-preactivation);
- :func:`step_backward_variant`: one step backward (eq:gru-bptt-gates to eq:gru-bptt-dW);
- :func:`cho_backward_variant`: the backward pass of Cho's candidate
  (eq:gru-candidate-cho), which the book does not derive.

The catalogues (``*_MISTAKES``) pair each knob setting with a :class:`Named` description
whose topic is a key of ``mistakes.SEE``.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from .. import numpy_gru as ref
from ..gru_params import GRU_GATES, GRUParams
from .mistakes import Named


def _sigma(z):
    with np.errstate(over="ignore"):
        return ref.sigmoid(z)


_ACT = {"s": _sigma, "t": np.tanh}
_NAME = {"s": "σ", "t": "tanh"}


# --- forward -----------------------------------------------------------------------------
def _read_as(params: GRUParams, order: str) -> GRUParams:
    """The parameters a learner effectively uses when reading the stacked blocks in ``order``."""
    H = params.hidden_size
    rows = np.concatenate([np.arange(H) + H * order.index(gate) for gate in GRU_GATES])  # (3H,)
    return GRUParams(params.W_ih[rows], params.W_hh[rows], params.b_ih[rows], params.b_hh[rows])


def _candidate(reset: str, act, a_n, r, u_n, h_prev, W_hn, b_hn):
    """n_t with the reset gate applied as ``reset`` says; "inside" is (eq:gru-candidate)."""
    if reset == "inside":
        return act(a_n + r * u_n)
    if reset == "cho":  # (eq:gru-candidate-cho)
        return act(a_n + (r * h_prev) @ W_hn.T + b_hn)
    if reset == "outside":
        return r * act(a_n + u_n)
    if reset == "whole":
        return act(r * (a_n + u_n))
    if reset == "b_hn outside":
        return act(a_n + r * (u_n - b_hn) + b_hn)
    if reset == "none":
        return act(a_n + u_n)
    raise ValueError(f"unknown reset {reset!r}")


def forward_variant(x, params: GRUParams, h0, *, order="rzn", acts="sst", reset="inside", z_keeps=True,
                    keep_old=True, drop=None, carry_h=True):
    """``(hs, h_T)`` of a GRU computed with the knobs' mistakes (eq:gru-fused-preactivation).

    Parameters
    ----------
    x : (T, N, D) ndarray; h0 : (N, H) ndarray; params : GRUParams
    order : the order in which the stacked blocks are read (the reference: ``"rzn"``)
    acts : nonlinearity of r, z, n, each ``"s"`` (σ) or ``"t"`` (tanh); the reference ``"sst"``
    reset : where r acts in the candidate, see :func:`_candidate`
    z_keeps : False when h_t = z ⊙ n_t + (1 - z) ⊙ h_{t-1} (z and 1 - z swapped)
    keep_old : False when the z ⊙ h_{t-1} term is left out of h_t
    drop : ``"b_ih"`` or ``"b_hh"`` to leave that bias out
    carry_h : False when every step starts from h0 instead of h_{t-1}

    Returns
    -------
    hs : (T, N, H) ndarray; h_T : (N, H) ndarray
    """
    p = _read_as(params, order)
    if drop is not None:
        p = GRUParams(**{**dict(p.items()), drop: np.zeros_like(getattr(p, drop))})
    H = p.hidden_size
    W_hn, b_hn = p.W_hh[2 * H:], p.b_hh[2 * H:]
    h, hs = h0, []
    for x_t in x:
        h_in = h if carry_h else h0
        a = x_t @ p.W_ih.T + p.b_ih  # (N, 3H)
        u = h_in @ p.W_hh.T + p.b_hh  # (N, 3H)
        r = _ACT[acts[0]](a[:, :H] + u[:, :H])
        z = _ACT[acts[1]](a[:, H:2 * H] + u[:, H:2 * H])
        n = _candidate(reset, _ACT[acts[2]], a[:, 2 * H:], r, u[:, 2 * H:], h_in, W_hn, b_hn)
        keep = z if z_keeps else 1.0 - z
        h = (1.0 - keep) * n + (keep * h_in if keep_old else 0.0)
        hs.append(h)
    return np.stack(hs), h


def _forward_knobs() -> list[tuple[Named, dict]]:
    """The forward mistakes, as knobs of :func:`forward_variant`."""
    found = []
    for order in ("".join(p) for p in itertools.permutations(GRU_GATES)):
        if order != "rzn":
            onnx = " (ONNX's order is z, r, h)" if order == "zrn" else ""
            found.append((Named(f"gate order swapped: you read the stacked blocks of W_ih, W_hh, b_ih and b_hh "
                                f"as ({', '.join(order)}); PyTorch's order is (r, z, n){onnx}", "gru-a"),
                          dict(order=order)))
    for k, gate in enumerate(GRU_GATES):
        acts = list("sst")
        right, acts[k] = acts[k], "t" if acts[k] == "s" else "s"
        found.append((Named(f"{_NAME[acts[k]]} where {_NAME[right]} belongs, in the {gate} gate",
                            "gru-n" if gate == "n" else f"gru-{gate}"), dict(acts="".join(acts))))
    found += [
        (Named("z and 1 − z swapped: z_t keeps the old state, h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1} "
               "(PyTorch's and Cho's convention)", "gru-h"), dict(z_keeps=False)),
        (Named("old state not kept: h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1} needs the z_t ⊙ h_{t-1} term", "gru-h"),
         dict(keep_old=False)),
        (Named("Cho's form for PyTorch's: you reset h_{t-1} before the product, W_hn (r ⊙ h_{t-1}); "
               "PyTorch's form applies r after it, r ⊙ (W_hn h_{t-1} + b_hn)", "gru-n"), dict(reset="cho")),
        (Named("r applied outside the tanh: r scales only W_hn h_{t-1} + b_hn, inside "
               "n = tanh(W_in x + b_in + r ⊙ (W_hn h_{t-1} + b_hn))", "gru-n"), dict(reset="outside")),
        (Named("r applied to the whole pre-activation: it scales W_hn h_{t-1} + b_hn only, not "
               "W_in x + b_in", "gru-n"), dict(reset="whole")),
        (Named("b_hn outside r: the reset gate scales W_hn h_{t-1} + b_hn, bias included", "gru-n"),
         dict(reset="b_hn outside")),
        (Named("reset gate left out of the candidate: n = tanh(W_in x + b_in + r ⊙ (W_hn h_{t-1} + b_hn))",
               "gru-n"), dict(reset="none")),
        (Named("b_hh left out: the GRU keeps two biases, b_ih and b_hh, and adds both", "gru-a"),
         dict(drop="b_hh")),
        (Named("b_ih left out: the GRU keeps two biases, b_ih and b_hh, and adds both", "gru-a"),
         dict(drop="b_ih")),
    ]
    return found


FORWARD_MISTAKES = _forward_knobs()
_NOT_CARRIED = Named("the hidden state is not carried from step to step: each step must read the h_t of the "
                     "step before", "gru-a")
_H0_IGNORED = Named("initial state ignored: start from h0 when it is given", "gru-a")
_HS_SHIFTED = Named("hs holds h_0 .. h_{T-1}: store h_t after the step, not before", "gru-a")
_ALL_LAST = Named("every hs[t] is h_T: hs holds one array changed in place at every step; store a new "
                  "array per step", "gru-a")


def forward_mistakes(name: str, args: tuple) -> list[tuple[str, Callable[[], list]]]:
    """``(description, outputs)`` of the forward mistakes of ``gru_step`` or ``gru_forward``."""
    if name == "gru_step":
        x, h_prev, params = args
        return [(d, lambda k=k: [forward_variant(x[None], params, h_prev, **k)[1]]) for d, k in FORWARD_MISTAKES]
    x, params = args[:2]
    zeros = np.zeros((x.shape[1], params.hidden_size))
    h0 = args[2] if len(args) > 2 else zeros

    def run(h0=h0, **knobs):
        hs, h_T = forward_variant(x, params, h0, **knobs)
        return [hs, h_T]

    def shifted():
        hs, h_T = run()
        return [np.concatenate([h0[None], hs[:-1]]), h_T]

    def all_last():
        hs, h_T = run()
        return [np.broadcast_to(h_T, hs.shape), h_T]

    return [(d, lambda k=k: run(**k)) for d, k in FORWARD_MISTAKES] + [
        (_NOT_CARRIED, lambda: run(carry_h=False)),
        (_H0_IGNORED, lambda: run(h0=zeros)),
        (_HS_SHIFTED, shifted),
        (_ALL_LAST, all_last),
    ]


# --- backward, one step ----------------------------------------------------------------------
def step_backward_variant(dh, cache, *, direct=True, z_keeps=True, dz_sign=1.0, r_in_du=True, dr_bias=True,
                          tanh_prime=True, sigma_prime_of_a=False, h_for_dW="h_prev", cho=False):
    """``(dx, dh_prev, grads)`` of one step, each knob one mistake (eq:gru-bptt-gates to eq:gru-bptt-dW).

    Parameters
    ----------
    dh : (N, H) ndarray, δh_t
    cache : ``numpy_gru.StepCache`` (x, h_prev, r, z, n, u_n, params)
    direct : False leaves the direct path z ⊙ δh_t out of δ⁺h_{t-1}
    z_keeps : False differentiates h_t = z ⊙ n_t + (1 - z) ⊙ h_{t-1}
    dz_sign : -1.0 takes δz = δh ⊙ (n_t - h_{t-1})
    r_in_du : False leaves r_t out of the n-slice of δu_t
    dr_bias : False leaves b_hn out of δr_t = δa^n ⊙ (W_hn h_{t-1} + b_hn)
    tanh_prime, sigma_prime_of_a : the slopes left out, or taken of the pre-activations
    h_for_dW : ``"h"`` builds δW_hh from h_t instead of h_{t-1}
    cho : differentiates Cho's candidate (eq:gru-candidate-cho) instead of PyTorch's

    Returns
    -------
    dx : (N, D); dh_prev : (N, H); grads : GRUParams
    """
    x, h_prev, r, z, n, u_n, params = cache
    H = h_prev.shape[1]
    W_hn, b_hn = params.W_hh[2 * H:], params.b_hh[2 * H:]
    keep = z if z_keeps else 1.0 - z
    dn = dh * (1.0 - keep)
    dz = dz_sign * dh * (h_prev - n) * (1.0 if z_keeps else -1.0)
    da_n = dn * (1.0 - n**2) if tanh_prime else dn
    dr = (da_n @ W_hn) * h_prev if cho else da_n * (u_n if dr_bias else u_n - b_hn)
    s_r, s_z = r * (1.0 - r), z * (1.0 - z)
    if sigma_prime_of_a:
        a = x @ params.W_ih.T + params.b_ih + h_prev @ params.W_hh.T + params.b_hh  # (N, 3H)
        s_r, s_z = a[:, :H] * (1.0 - a[:, :H]), a[:, H:2 * H] * (1.0 - a[:, H:2 * H])
    da_r, da_z = dr * s_r, dz * s_z
    da = np.concatenate([da_r, da_z, da_n], axis=1)  # (N, 3H)
    du = np.concatenate([da_r, da_z, r * da_n if (r_in_du and not cho) else da_n], axis=1)  # (N, 3H)
    h_used = (1.0 - z) * n + z * h_prev if h_for_dW == "h" else h_prev
    dh_prev = (keep * dh if direct else 0.0) + du @ params.W_hh
    dW_hh = du.T @ h_used  # (3H, H)
    if cho:  # W_hn multiplies r ⊙ h_{t-1}: the n-rows see it, and h_{t-1} gets r ⊙ (W_hnᵀ δa^n)
        dh_prev = dh_prev - da_n @ W_hn + r * (da_n @ W_hn)
        dW_hh = np.concatenate([dW_hh[:2 * H], da_n.T @ (r * h_used)])
    grads = GRUParams(da.T @ x, dW_hh, da.sum(axis=0), du.sum(axis=0))
    return da @ params.W_ih, dh_prev, grads


STEP_BACKWARD_MISTAKES = [
    (Named("the direct path left out: h_{t-1} also reaches h_t through z_t ⊙ h_{t-1}, so "
           "dh_prev = z ⊙ dh + W_hhᵀ δu", "gru-dh-prev"), dict(direct=False)),
    (Named("z and 1 − z swapped: h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}, so δn = δh ⊙ (1 − z) and the direct "
           "path is z ⊙ δh", "gru-gates"), dict(z_keeps=False)),
    (Named("δz has the wrong sign: δz = δh ⊙ (h_{t-1} − n_t), not δh ⊙ (n_t − h_{t-1})", "gru-gates"),
     dict(dz_sign=-1.0)),
    (Named("r missing in δu: u^n enters the candidate as r ⊙ u^n, so the n-slice of δu is r ⊙ δa^n "
           "(it reaches db_hh, dW_hh and dh_prev)", "gru-da"), dict(r_in_du=False)),
    (Named("b_hn left out of δr: r multiplies W_hn h_{t-1} + b_hn, so δr = δa^n ⊙ (W_hn h_{t-1} + b_hn)",
           "gru-reset"), dict(dr_bias=False)),
    (Named("tanh' missing on the candidate: δa^n = δn ⊙ (1 − n²)", "gru-da"), dict(tanh_prime=False)),
    (Named("σ' taken of the pre-activation: write it with the gate's value, r(1 − r) and z(1 − z)", "gru-da"),
     dict(sigma_prime_of_a=True)),
    (Named("dW_hh built from h_t instead of h_{t-1}: W_hh multiplied h_{t-1} in this step", "gru-dW"),
     dict(h_for_dW="h")),
    (Named("Cho's form differentiated: in PyTorch's form r scales W_hn h_{t-1} + b_hn, so δr = δa^n ⊙ u^n "
           "and the n-slice of δu is r ⊙ δa^n", "gru-reset"), dict(cho=True)),
]


def step_backward_mistakes(dh, cache) -> list[tuple[str, Callable[[], list]]]:
    """``(description, outputs)`` of the step-backward mistakes, outputs flattened."""
    return [(d, lambda k=k: _flat(step_backward_variant(dh, cache, **k))) for d, k in STEP_BACKWARD_MISTAKES]


def _flat(out) -> list:
    a, b, grads = out
    return [a, b, *grads]


# --- backward, a sequence -----------------------------------------------------------------
def backward_variant(dhs, cache, dh_T=None, *, carry_dh=True, use_dh_T=True, keep_grads="sum", **knobs):
    """``[dx, dh0, dW_ih, dW_hh, db_ih, db_hh]`` of BPTT with the knobs' mistakes (eq:gru-bptt-dh).

    ``carry_dh=False`` drops the message δ⁺h_t from step t + 1, ``use_dh_T=False`` the
    gradient on the final state, ``keep_grads`` an index keeps one step's weight gradients
    instead of their sum; other knobs go to :func:`step_backward_variant`.
    """
    x, h0, gates, u_ns, hs, params = cache
    T, H = x.shape[0], h0.shape[1]
    zero = np.zeros_like(h0)
    dh_next = dh_T if (dh_T is not None and use_dh_T) else zero
    dxs, steps = [None] * T, [None] * T
    for t in reversed(range(T)):
        h_prev = hs[t - 1] if t else h0
        r, z, n = gates[t, :, :H], gates[t, :, H:2 * H], gates[t, :, 2 * H:]
        step = ref.StepCache(x[t], h_prev, r, z, n, u_ns[t], params)
        message = dh_next if (carry_dh or t == T - 1) else zero
        dxs[t], dh_next, steps[t] = step_backward_variant(dhs[t] + message, step, **knobs)
    if keep_grads == "sum":
        grads = [sum(getattr(s, k) for s in steps) for k in ("W_ih", "W_hh", "b_ih", "b_hh")]
    else:
        grads = list(steps[keep_grads])
    return [np.stack(dxs), dh_next, *grads]


def backward_mistakes(dhs, cache, dh_T=None) -> list[tuple[str, Callable[[], list]]]:
    """``(description, outputs)`` of the sequence-backward mistakes (gru_backward)."""
    T = cache.x.shape[0]

    def run(**knobs):
        return backward_variant(dhs, cache, dh_T, **knobs)

    found = [
        (Named("dh not accumulated from the future step: δh_t = dhs[t] + δ⁺h_t, the message of step t+1",
               "gru-dh"), lambda: run(carry_dh=False)),
        *[(d, lambda k=k: run(**k)) for d, k in STEP_BACKWARD_MISTAKES],
        (Named("parameter gradients not summed over time: you kept only the last step's (t = T)", "gru-dW"),
         lambda: run(keep_grads=T - 1)),
        (Named("parameter gradients not summed over time: you kept only the first step's (t = 1); add each "
               "step's with +=", "gru-dW"), lambda: run(keep_grads=0)),
    ]
    if dh_T is not None:
        found.append((Named("dh_T ignored: the gradient on the final state is the message δ⁺h_T that "
                            "starts the walk back", "gru-dh"), lambda: run(use_dh_T=False)))
    return found


# --- Cho's candidate, backward --------------------------------------------------------------
def cho_backward_variant(dn, x, h_prev, r, W_in, b_in, W_hn, b_hn, *, pytorch_rule=False, r_in_dh=True,
                         dW_from_h=False, tanh_prime=True, W_in_dr=True, r_in_db=False):
    """Gradients of ñ = tanh(W_in x + b_in + W_hn (r ⊙ h_{t-1}) + b_hn) (eq:gru-candidate-cho).

    Parameters
    ----------
    dn : (N, H) ndarray, δñ_t; x : (N, D); h_prev, r : (N, H)
    W_in : (H, D), b_in : (H,), W_hn : (H, H), b_hn : (H,) ndarrays
    pytorch_rule : True uses PyTorch's form's rules (r ⊙ δa inside, δr = δa ⊙ u^n)
    r_in_dh : False leaves r out of δh_{t-1} = r ⊙ (W_hnᵀ δa)
    dW_from_h : True builds δW_hn from h_{t-1} instead of r ⊙ h_{t-1}
    tanh_prime : False leaves out 1 - ñ²
    W_in_dr : False leaves W_hnᵀ out of δr = h_{t-1} ⊙ (W_hnᵀ δa)
    r_in_db : True scales δb_hn by r

    Returns
    -------
    [dx (N, D), dh_prev (N, H), dr (N, H), dW_in (H, D), db_in (H,), dW_hn (H, H), db_hn (H,)]
    """
    s = r * h_prev  # (N, H), what W_hn multiplies
    n = np.tanh(x @ W_in.T + b_in + s @ W_hn.T + b_hn)
    da = dn * (1.0 - n**2) if tanh_prime else dn  # δ of the pre-activation
    if pytorch_rule:
        du = r * da
        return [da @ W_in, du @ W_hn, da * (h_prev @ W_hn.T + b_hn), da.T @ x, da.sum(axis=0), du.T @ h_prev,
                du.sum(axis=0)]
    ds = da @ W_hn if W_in_dr else da  # δ(r ⊙ h_{t-1})
    return [
        da @ W_in,
        ds * r if r_in_dh else da @ W_hn,
        ds * h_prev,
        da.T @ x,
        da.sum(axis=0),
        da.T @ (h_prev if dW_from_h else s),
        (r * da).sum(axis=0) if r_in_db else da.sum(axis=0),
    ]


CHO_MISTAKES = [
    (Named("PyTorch's rules applied to Cho's form: here r scales h_{t-1} before W_hn, so δr = h_{t-1} ⊙ "
           "(W_hnᵀ δa), δh_{t-1} = r ⊙ (W_hnᵀ δa), δW_hn = δaᵀ (r ⊙ h_{t-1})", "gru-cho"),
     dict(pytorch_rule=True)),
    (Named("r missing in dh_prev: h_{t-1} enters as r ⊙ h_{t-1}, so δh_{t-1} = r ⊙ (W_hnᵀ δa)", "gru-cho"),
     dict(r_in_dh=False)),
    (Named("dW_hn built from h_{t-1}: W_hn multiplies r ⊙ h_{t-1}, so δW_hn = δaᵀ (r ⊙ h_{t-1})", "gru-cho"),
     dict(dW_from_h=True)),
    (Named("tanh' missing: δa = δñ ⊙ (1 − ñ²) before any product", "gru-cho"), dict(tanh_prime=False)),
    (Named("W_hnᵀ missing in dr: r ⊙ h_{t-1} reaches ñ through W_hn, so δr = h_{t-1} ⊙ (W_hnᵀ δa)", "gru-cho"),
     dict(W_in_dr=False)),
    (Named("b_hn scaled by r: in Cho's form b_hn is added after the product, so δb_hn = Σ δa", "gru-cho"),
     dict(r_in_db=True)),
]


def cho_mistakes(args: tuple) -> list[tuple[str, Callable[[], list]]]:
    return [(d, lambda k=k: cho_backward_variant(*args, **k)) for d, k in CHO_MISTAKES]


def gru_mistakes(name: str, args: tuple) -> list[tuple[str, Callable[[], list]]]:
    """``(description, outputs)`` of the known mistakes for the GRU function ``name`` on ``args``."""
    if name in ("gru_step", "gru_forward"):
        return forward_mistakes(name, args)
    if name == "gru_step_backward":
        return step_backward_mistakes(*args)
    if name == "gru_backward":
        return backward_mistakes(*args)
    if name == "candidate_cho_backward":
        return cho_mistakes(args)
    return []
