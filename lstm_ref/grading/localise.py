"""Pointing at the wrong part of an answer that matches no known mistake.

The learner's function is treated as a black box and asked more questions:

* **forward** (``lstm_step``, ``lstm_forward``): each gate is isolated by forcing the other
  three through their biases (weights of their rows zero, bias ±30, so σ = 0 or 1) and
  the outputs are compared with the reference's on the same forced parameters; for a
  sequence, the first wrong step and whether ``h``, ``c`` or both are wrong;
* **backward** (``lstm_step_backward``, ``lstm_backward``): which gate blocks of ``db``
  (that is, of ``δa`` summed over the batch) are wrong; which of ``dx``, ``dh_prev``,
  ``dc_prev`` and the weight gradients are wrong while ``δa`` is right; each incoming
  gradient alone (``dh`` only, ``dc`` only); for a sequence, from which step back the
  error starts and whether it grows with the length ``T``.

:func:`where_to_look` returns lines for the failure message, in the book's notation.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import numpy_lstm as ref
from ..params import GATES, LSTMParams
from ._state import reference_settings
from .cases import _flatten
from .compare import _close

_BIG = 30.0  # σ(±30) is 1 or 0 to 1e-13
_GATE = {
    "i": "the input gate i (rows 0:H of the pre-activation, σ; eq:input-gate)",
    "f": "the forget gate f (rows H:2H, σ; eq:forget-gate)",
    "g": "the candidate g (rows 2H:3H, tanh; eq:candidate)",
    "o": "the output gate o (rows 3H:4H, σ; eq:output-gate)",
}
#: For each gate, biases that force the three others: c and h then depend on that gate alone.
_PROBES = {
    "g": {"i": _BIG, "f": -_BIG, "o": _BIG},   # c = g, h = tanh(g)
    "i": {"f": -_BIG, "g": 0.5, "o": _BIG},    # c = i ⊙ tanh(0.5)
    "f": {"i": -_BIG, "o": _BIG},              # c = f ⊙ c_{t-1}
    "o": {"i": -_BIG, "f": _BIG},              # c = c_{t-1}, h = o ⊙ tanh(c_{t-1})
}
_DA_HINT = {
    "i": "di = δc_t ⊙ g_t and σ' = i(1 − i)",
    "f": "df = δc_t ⊙ c_{t−1} and σ' = f(1 − f)",
    "g": "dg = δc_t ⊙ i_t and tanh' = 1 − g²",
    "o": "do = δh_t ⊙ tanh(c_t) and σ' = o(1 − o)",
}

Rerun = Callable[[tuple], "list | None"]  # the learner's outputs (NumPy) for other arguments, None if it raised


def where_to_look(name: str, args: tuple, mine: list, expected: list, rerun: Rerun) -> list[str]:
    """Lines saying which part of the answer is wrong (empty when nothing more can be said)."""
    try:
        with np.errstate(all="ignore"):
            general = _general(mine, expected)
            if general:
                return general
            if name in _ELEMENTWISE:
                return _elementwise(name, args, mine, expected)
            if name == "params_from_torch":
                return _port_blocks(mine, expected)
            if name in ("lstm_step", "lstm_forward"):
                return _forward(name, args, mine, expected, rerun)
            if name == "lstm_step_backward":
                return _step_backward(args, mine, expected, rerun)
            if name == "lstm_backward":
                return _sequence_backward(args, mine, expected, rerun)
    except Exception:  # noqa: BLE001 -- a localisation that fails must not hide the real message
        return []
    return []


_ELEMENTWISE = ("sigmoid", "forget_gate", "input_gate", "candidate", "output_gate")


def _general(mine: list, expected: list) -> list[str]:
    """Shapes and non-finite values: said before anything finer."""
    for m, e in zip(mine, expected):
        if not isinstance(m, np.ndarray):
            continue  # its type is reported already
        if m.shape != e.shape:
            if m.shape == e.shape[::-1]:
                return [f"The output is transposed ({m.shape} for {e.shape}): the batch is the first axis, so x_t is "
                        "(N, D), h_{t−1} is (N, H) and a gate is (N, H) = [h, x] Wᵀ + b."]
            return [f"Shape {m.shape} where {e.shape} is expected: rows are the N sequences of the batch; multiply "
                    "[h_{t−1}, x_t] (N, H + D) by Wᵀ (H + D, H), not W by a column vector."]
        if m.dtype.kind == "f" and not np.all(np.isfinite(m)):
            return ["NaN or inf in the output: something overflows for large inputs (the tests use inputs ×100 and "
                    "×1000). np.exp of a large number is inf, and inf/inf is NaN: use np.tanh, and the stable σ of §1."]
    return []


def _elementwise(name: str, args: tuple, mine: list, expected: list) -> list[str]:
    """Right for one sign of the argument of σ or tanh and wrong for the other?"""
    if name == "sigmoid":
        z = args[0]
    else:
        x, h_prev, W, b = args
        z = np.concatenate([h_prev, x], axis=1) @ W.T + b
    wrong = ~np.isclose(np.asarray(mine[0]), expected[0], rtol=1e-7, atol=1e-9)
    where = "z" if name == "sigmoid" else "the pre-activation [h, x] Wᵀ + b"
    if wrong.any() and not wrong[z >= 0].any():
        return [f"Right where {where} is ≥ 0 and wrong where it is negative: look at σ (your sigmoid) for negative "
                "arguments, σ(z) = e^z / (1 + e^z) there, which is below 1/2."]
    if wrong.any() and not wrong[z < 0].any():
        return [f"Right where {where} is negative and wrong where it is ≥ 0: look at σ (your sigmoid) for z ≥ 0, "
                "σ(z) = 1 / (1 + e^(−z))."]
    return []


def _port_blocks(mine: list, expected: list) -> list[str]:
    """Which gate blocks of the ported weights are wrong."""
    H = expected[2].shape[0] // 4
    bad = sorted({g for m, e in zip(mine, expected) for k, g in enumerate(GATES)
                  if not _close(np.asarray(m)[k * H:(k + 1) * H], e[k * H:(k + 1) * H])})
    if bad and len(bad) < 4:
        return [f"Only the rows of the {', '.join(bad)} block(s) are wrong: nn.LSTM stacks its gates in the same order "
                "i, f, g, o as LSTMParams, so copy the blocks as they are, without reordering."]
    return []


def _reference(name: str, args: tuple) -> list:
    with reference_settings():
        return _flatten(name, getattr(ref, name)(*args))


def _wrong(mine: list | None, expected: list) -> list[int]:
    """Indices of the outputs that differ (all of them when the call failed)."""
    if mine is None:
        return list(range(len(expected)))
    return [k for k, (m, e) in enumerate(zip(mine, expected)) if not _close(m, e)]


# --- forward ---------------------------------------------------------------------------------
def _forced(params: LSTMParams, force: dict[str, float]) -> LSTMParams:
    W_ih, W_hh, b = (np.array(p, copy=True) for p in params)
    H = params.hidden_size
    for k, gate in enumerate(GATES):
        if gate in force:
            rows = slice(k * H, (k + 1) * H)
            W_ih[rows], W_hh[rows], b[rows] = 0.0, 0.0, force[gate]
    return LSTMParams(W_ih, W_hh, b)


def _with_params(name: str, args: tuple, params: LSTMParams) -> tuple:
    return args[:3] + (params,) if name == "lstm_step" else (args[0], params) + args[2:]


def _forward(name: str, args: tuple, mine: list, expected: list, rerun: Rerun) -> list[str]:
    params = args[3] if name == "lstm_step" else args[1]
    lines = []
    if name == "lstm_forward":
        lines += _first_wrong_step(mine, expected)
        first_step_ok = np.asarray(mine[0]).shape == expected[0].shape and _close(np.asarray(mine[0])[0], expected[0][0])
        if first_step_ok or _close(mine[2], expected[2]):
            return lines  # one step (or every cell state) is right: the gates are not the problem
    else:
        h_ok, c_ok = (k not in _wrong(mine, expected) for k in (0, 1))
        if c_ok and not h_ok:
            lines.append("c_t is right and h_t is not: look at h_t = o_t ⊙ tanh(c_t) (eq:hidden-state) and at o_t.")
    bad = []
    for gate, force in _PROBES.items():
        probe = _with_params(name, args, _forced(params, force))
        if _wrong(rerun(probe), _reference(name, probe)):
            bad.append(gate)
    if len(bad) == len(_PROBES):
        lines.append("Every gate is wrong even when the other three are held fixed: look at what they share, "
                     "the pre-activation a_t = x_t W_ihᵀ + h_{t−1} W_hhᵀ + b (eq:fused-preactivation), and at σ "
                     "(your sigmoid, if the step uses it: a wrong σ also breaks the gates' forcing).")
    elif bad:
        names = " and ".join(_GATE[g] for g in bad)
        lines.append(f"With the other gates held fixed (their biases at ±30), the outputs are wrong only through "
                     f"{names}: check which block of the pre-activation it reads, its nonlinearity and where it enters "
                     "c_t = f ⊙ c_{t−1} + i ⊙ g (eq:cell-state).")
    else:
        lines.append("Each gate is right when the other three are held fixed, so look at how they combine: "
                     "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t (eq:cell-state) and h_t = o_t ⊙ tanh(c_t) (eq:hidden-state).")
    return lines


def _first_wrong_step(mine: list, expected: list) -> list[str]:
    hs, hs_ref = np.asarray(mine[0]), expected[0]
    if hs.shape != hs_ref.shape:
        return []
    wrong = [t for t in range(hs.shape[0]) if not _close(hs[t], hs_ref[t])]
    c_ok = _close(mine[2], expected[2])
    lines = []
    if wrong and wrong[0] > 0:
        lines.append(f"hs is right at t = 1{'' if wrong[0] == 1 else f' .. {wrong[0]}'} and wrong from t = {wrong[0] + 1} on: "
                     "what one step passes to the next (h_{t−1} and c_{t−1}) is the problem, not the step itself.")
    elif wrong:
        lines.append("hs is already wrong at t = 1: look at the step itself (or at the initial states h0, c0).")
    if wrong and c_ok:
        lines.append("c_T is right while hs is not: look at h_t = o_t ⊙ tanh(c_t) and at what you store in hs.")
    return lines


# --- backward --------------------------------------------------------------------------------
def _blocks(db_mine, db_ref) -> list[str]:
    db_mine = np.asarray(db_mine)
    if db_mine.shape != db_ref.shape:
        return []
    H = db_ref.shape[0] // 4
    return [g for k, g in enumerate(GATES) if not _close(db_mine[k * H:(k + 1) * H], db_ref[k * H:(k + 1) * H])]


def _gradient_lines(mine: list, expected: list, first: tuple[str, str, str]) -> list[str]:
    """Blocks of δa (read from db) and which outputs are wrong although δa is right."""
    wrong = set(_wrong(mine, expected))
    bad = _blocks(mine[5], expected[5])
    if bad and len(bad) < 4:
        hints = "; ".join(f"{g}: {_DA_HINT[g]}" for g in bad)
        return [f"db = Σ_n δa is wrong only in the {', '.join(bad)} block(s) of the gate order i, f, g, o, so look at "
                f"those gates' parts of δa ({hints}; eq:bptt-gates, eq:bptt-preactivation)."]
    if len(bad) == 4:
        return ["db is wrong in all four gate blocks: look at what they share, δc_t = δ⁺c_t + δh_t ⊙ o ⊙ (1 − tanh² c_t) "
                "(eq:bptt-dc), and the derivatives of σ and tanh, written with the gates' values (eq:bptt-preactivation)."]
    if not bad:
        how = {0: f"{first[0]} = δa W_ih (eq:bptt-dx)", 1: f"{first[1]} = δa W_hh (eq:bptt-dh-prev)",
               2: f"{first[2]} = δc_t ⊙ f_t (eq:bptt-dc-prev)", 3: "dW_ih = δaᵀ x_t (eq:bptt-dW)",
               4: "dW_hh = δaᵀ h_{t−1} (eq:bptt-dW)"}
        named = [how[k] for k in sorted(wrong) if k in how]
        if named:
            return ["δa is right (db matches), so the error is after it: " + "; ".join(named) + "."]
    return []


def _step_backward(args: tuple, mine: list, expected: list, rerun: Rerun) -> list[str]:
    dh, dc, cache = args
    lines = _gradient_lines(mine, expected, ("dx", "dh_prev", "dc_prev"))
    zero = np.zeros_like(dh)
    only_dh = (dh, zero, cache)
    only_dc = (zero, dc, cache)
    dh_ok = not _wrong(rerun(only_dh), _reference("lstm_step_backward", only_dh))
    dc_ok = not _wrong(rerun(only_dc), _reference("lstm_step_backward", only_dc))
    if dh_ok and not dc_ok:
        lines.append("With dc = 0 your gradients are right, with dh = 0 they are not: the error is on the path of dc, "
                     "the gradient arriving on c_t (δc_t = dc + dh ⊙ o ⊙ (1 − tanh² c_t), eq:bptt-dc).")
    elif dc_ok and not dh_ok:
        lines.append("With dh = 0 your gradients are right, with dc = 0 they are not: the error is on the path of dh: "
                     "do = dh ⊙ tanh(c_t) (eq:bptt-do) and dh's way into c_t through tanh (eq:bptt-dc).")
    return lines


def _sequence_backward(args: tuple, mine: list, expected: list, rerun: Rerun) -> list[str]:
    dhs, cache = args[:2]
    growth, one_step_ok = _growth_with_T(args, rerun)
    # when a one-step sequence is right, the local derivatives are right: the blocks say nothing
    lines = [] if one_step_ok else _gradient_lines(mine, expected, ("dx", "dh0", "dc0"))
    dx, dx_ref = np.asarray(mine[0]), expected[0]
    T = dx_ref.shape[0]
    if dx.shape == dx_ref.shape:
        wrong = [t for t in range(T) if not _close(dx[t], dx_ref[t])]
        if wrong and wrong[-1] < T - 1:
            lines.append(f"dx is right at the last step t = T and wrong from t = {wrong[-1] + 1} back: each step is "
                         "right on its own, so look at what one step sends to the step before (δ⁺h, δ⁺c: eq:bptt-dh, "
                         "eq:bptt-dc).")
        elif wrong and one_step_ok:
            lines.append("dx is wrong already at the last step t = T, although a one-step sequence is right: check the "
                         "order of the walk (t = T down to 1) and what the last step starts from (dhs[T] + dh_T, dc_T).")
        elif wrong:
            lines.append("dx is wrong already at the last step t = T: look at the step backward itself.")
    return lines + growth


def _growth_with_T(args: tuple, rerun: Rerun) -> tuple[list[str], bool]:
    """Which parameter gradients are wrong on the first T' steps only, for T' = 1, 2, ..; and
    whether the one-step sequence is right."""
    dhs, cache = args[:2]
    T = cache.x.shape[0]
    labels = ("grads.W_ih", "grads.W_hh", "grads.b")
    first_wrong: dict[str, int] = {}
    for t in range(1, T + 1):
        with reference_settings():
            prefix = ref.lstm_forward(cache.x[:t], cache.params, cache.h0, cache.c0)[2]
        sub = (dhs[:t], prefix) + args[2:]
        wrong = _wrong(rerun(sub), _reference("lstm_backward", sub))
        for k in wrong:
            if k >= 3:
                first_wrong.setdefault(labels[k - 3], t)
    if not first_wrong:
        return [], True
    t0 = min(first_wrong.values())
    names = ", ".join(sorted(first_wrong))
    if t0 == 1:
        return [f"{names} are wrong already for a sequence of one step (T = 1): look at one step's gradient "
                "(eq:bptt-dW)."], False
    return [f"{names} are right for sequences of up to T = {t0 - 1} step(s) and wrong from T = {t0} on: the error "
            "comes from what is carried back between steps or from how the steps' gradients are summed (eq:bptt-dW)."], True
