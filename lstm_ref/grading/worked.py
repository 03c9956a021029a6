"""The small cases behind the numeric questions: one unit, one input, two steps.

A learner computes a number by hand from one of these cases (H = D = 1, T = 2, the
weights given here) and types it into a graded cell; ``numeric.check_number`` compares it
with the number the reference computes, and with the numbers that typical mistakes give.

Each case is run by ``lstm_ref``'s own forward and backward functions; the quantities the
reference does not return (δc_1, or one step's term of a weight's gradient) are assembled
from its step backward and the book's equation for them, with *knobs* that leave out one
path each, so that a wrong answer can be named. The loss is L = ½ (h_1 − y_1)² + ½ (h_2 − y_2)², so ∂ℓ_t/∂h_t = h_t − y_t.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import numpy_gru as gru_ref, numpy_lstm as lstm_ref
from ..gru_params import GRUParams
from ..params import LSTMParams
from . import gru_mistakes
from .mistakes import Named, _backward_mistakes


@dataclass(frozen=True)
class WorkedCase:
    """Inputs, initial state, targets and one weight per gate (H = D = 1, T = 2)."""

    gates: str  # "ifgo" (LSTM) or "rzn" (GRU)
    W_ih: tuple[float, ...]  # one per gate, in the stacked order
    W_hh: tuple[float, ...]
    b: tuple[float, ...]  # the LSTM's b; the GRU's b_ih
    x: tuple[float, float]  # x_1, x_2
    h0: float
    y: tuple[float, float]  # targets y_1, y_2 of ℓ_t = ½ (h_t − y_t)²
    c0: float = 0.0  # LSTM only
    b_hh: tuple[float, ...] = ()  # GRU only

    def table(self) -> str:
        """The given numbers, one line per gate, then the sequence."""
        bias = "b" if self.gates == "ifgo" else "b_ih"
        head = f"gate   W_ih   W_hh   {bias:>5}" + ("   b_hh" if self.b_hh else "")
        rows = [head]
        for k, g in enumerate(self.gates):
            extra = f"  {self.b_hh[k]:5.2f}" if self.b_hh else ""
            rows.append(f"{g:4}  {self.W_ih[k]:5.2f}  {self.W_hh[k]:5.2f}  {self.b[k]:5.2f}{extra}")
        states = f"h_0 = {self.h0:g}" + (f", c_0 = {self.c0:g}" if self.gates == "ifgo" else "")
        rows.append(f"x_1 = {self.x[0]:g}, x_2 = {self.x[1]:g}; {states}; y_1 = {self.y[0]:g}, y_2 = {self.y[1]:g}")
        return "\n".join(rows)


#: The case of 03_bptt's numeric questions (not the book's worked example: other weights,
#: nonzero initial states and a loss at both steps).
LSTM_CASE = WorkedCase("ifgo", W_ih=(2.0, 1.5, 0.5, 1.5), W_hh=(1.0, 1.0, -1.0, 1.5), b=(-1.5, -0.5, -1.0, 1.5),
                       x=(1.0, 0.5), h0=-0.5, c0=1.0, y=(-0.5, 1.5))
#: The case of 05_gru's numeric questions; b_ih and b_hh differ in every gate.
GRU_CASE = WorkedCase("rzn", W_ih=(1.0, -0.5, -1.5), W_hh=(1.5, 2.0, 2.0), b=(-1.0, 1.0, 0.5),
                      b_hh=(1.5, -1.0, 1.5), x=(1.0, -0.5), h0=-0.5, y=(1.0, 2.0))


#: The slip of every sign at once: the loss's derivative taken as y_t − h_t.
_SIGN = "every sign flipped: ∂ℓ_t/∂h_t = h_t − y_t for ℓ_t = ½ (h_t − y_t)², not y_t − h_t"


def _num(a) -> float:
    """A (1, 1) array (N = H = 1) or a number as a float."""
    return float(np.asarray(a).reshape(-1)[0])


def _col(values) -> np.ndarray:
    return np.array(values, dtype=np.float64)[:, None]  # (gates · H, 1)


# --- the LSTM case ------------------------------------------------------------------------------
def lstm_run(case: WorkedCase = LSTM_CASE):
    """``(params, x, h0, c0, y, hs, cache)``: the case through ``numpy_lstm.lstm_forward``."""
    params = LSTMParams(_col(case.W_ih), _col(case.W_hh), np.array(case.b))
    x = np.array(case.x).reshape(2, 1, 1)  # (T, N, D)
    h0, c0 = np.full((1, 1), case.h0), np.full((1, 1), case.c0)
    hs, _, cache = lstm_ref.lstm_forward(x, params, h0, c0)
    return params, x, h0, c0, np.array(case.y), hs, cache


def lstm_forward_values(case: WorkedCase = LSTM_CASE) -> dict[str, float]:
    """Every forward quantity of both steps as a float: ``i1``, ``c2``, ``h1``, ``tanh_c1``, ..."""
    *_, hs, cache = lstm_run(case)
    out = {}
    for t in range(2):
        for k, gate in enumerate("ifgo"):
            out[f"{gate}{t + 1}"] = float(cache.gates[t, 0, k])
        out[f"c{t + 1}"], out[f"tanh_c{t + 1}"] = float(cache.cs[t, 0, 0]), float(cache.tanh_cs[t, 0, 0])
        out[f"h{t + 1}"] = float(hs[t, 0, 0])
    return out


def _step_cache(cache, t: int):
    i, f, g, o = np.split(cache.gates[t], 4, axis=1)
    h_prev = cache.hs[t - 1] if t else cache.h0
    c_prev = cache.cs[t - 1] if t else cache.c0
    return lstm_ref.StepCache(cache.x[t], h_prev, c_prev, i, f, g, o, cache.tanh_cs[t], cache.params)


def lstm_dc_1(case: WorkedCase = LSTM_CASE, *, h_path=True, c_lane=True, loss_1=True, message_h=True,
              forget=True, tanh_prime=True) -> float:
    """δc_1 = δh_1 o_1 (1 − tanh² c_1) + δ⁺c_1 (eq:bptt-dc), with δ⁺c_1 = f_2 δc_2 (eq:bptt-dc-prev).

    Each knob set to False leaves out one path or factor: ``h_path`` the path through h_1,
    ``c_lane`` the message δ⁺c_1, ``loss_1`` the loss's own term ∂ℓ_1/∂h_1 in δh_1,
    ``message_h`` the message δ⁺h_1 in δh_1 (eq:bptt-dh), ``forget`` the factor f_2,
    ``tanh_prime`` the factor 1 − tanh² c_1.
    """
    *_, y, hs, cache = lstm_run(case)
    dh2 = hs[1] - y[1]  # ∂ℓ_2/∂h_2; nothing arrives from a step 3
    _, dh_msg, dc_msg, _ = lstm_ref.lstm_step_backward(dh2, np.zeros_like(dh2), _step_cache(cache, 1))
    f2 = cache.gates[1, :, 1:2]
    dc_lane = dc_msg if forget else dc_msg / f2  # δ⁺c_1 = f_2 δc_2
    dh1 = (hs[0] - y[0] if loss_1 else 0.0) + (dh_msg if message_h else 0.0)
    o1, tanh_c1 = cache.gates[0, :, 3:4], cache.tanh_cs[0]
    slope = (1.0 - tanh_c1**2) if tanh_prime else 1.0
    return _num(((dh1 * o1 * slope) if h_path else 0.0) + (dc_lane if c_lane else 0.0))


#: Slips in δc_1 that leave out one path or factor, as knobs of :func:`lstm_dc_1`; a later
#: answer built on a wrong δc_1 (step 1's term of δW_hf) is named by the same slip.
_DC_1_SLIPS = [
    (Named("dc not accumulated from the future step: δc_1 also receives the message δ⁺c_1 = f_2 δc_2 "
           "along the cell lane", "dc"), dict(c_lane=False)),
    (Named("the path through h_1 left out: c_1 feeds h_1 as well as c_2, so δc_1 adds "
           "δh_1 o_1 (1 − tanh² c_1)", "dc"), dict(h_path=False)),
    (Named("dh not accumulated from the future step: ∂ℓ_1/∂h_1 is a partial; the total δh_1 = "
           "∂ℓ_1/∂h_1 + δ⁺h_1 includes the message of step 2", "dh"), dict(message_h=False)),
    (Named("the loss term of step 1 left out: δh_1 = ∂ℓ_1/∂h_1 + δ⁺h_1 with ∂ℓ_1/∂h_1 = h_1 − y_1",
           "dh"), dict(loss_1=False)),
    (Named("f_2 missing in the message along the cell lane: δ⁺c_1 = f_2 δc_2", "dc_prev"), dict(forget=False)),
    (Named("tanh' missing: h_1 = o_1 tanh c_1, so ∂h_1/∂c_1 = o_1 (1 − tanh² c_1)", "dc"),
     dict(tanh_prime=False)),
]


def lstm_dc_1_wrong(case: WorkedCase = LSTM_CASE) -> list[tuple[Named, float]]:
    """The values of δc_1 that the common mistakes give."""
    *_, cache = lstm_run(case)
    o1, tanh_c1 = float(cache.gates[0, 0, 3]), float(cache.tanh_cs[0, 0, 0])
    return [(d, lstm_dc_1(case, **knobs)) for d, knobs in _DC_1_SLIPS] + [
        (Named("the local partial ∂h_1/∂c_1 = o_1 (1 − tanh² c_1) taken for the total δc_1", "dc"),
         o1 * (1.0 - tanh_c1**2)),
        (Named(_SIGN, "worked bptt"),
         -lstm_dc_1(case)),
    ]


def _dhs(hs, y) -> np.ndarray:
    return hs - y.reshape(2, 1, 1)  # (T, N, H): ∂ℓ_t/∂h_t


def lstm_dW_hf(case: WorkedCase = LSTM_CASE) -> float:
    """δW_hf = Σ_t δa^f_t h_{t-1} (eq:bptt-dW), the forget row of ``lstm_backward``'s dW_hh."""
    *_, y, hs, cache = lstm_run(case)
    return float(lstm_ref.lstm_backward(_dhs(hs, y), cache)[3].W_hh[1, 0])


def lstm_dW_hf_step(case: WorkedCase = LSTM_CASE, t: int = 0) -> float:
    """Step t's term δa^f_t h_{t-1} of δW_hf (eq:bptt-dW); t = 0 is step 1, δa^f_1 h_0.

    No function of ``lstm_ref`` returns it on its own: it is that step's share of dW_hh.
    """
    *_, cache = lstm_run(case)
    return float(lstm_ref.lstm_step_backward(*_messages(case, t), _step_cache(cache, t))[3].W_hh[1, 0])


def lstm_dW_hf_1_wrong(case: WorkedCase = LSTM_CASE) -> list[tuple[Named, float]]:
    """Step 1's term of δW_hf as the slips compute it: a wrong δc_1, a factor left out, the wrong step."""
    *_, cache = lstm_run(case)
    f1 = float(cache.gates[0, 0, 1])
    to_term = case.c0 * f1 * (1.0 - f1) * case.h0  # δa^f_1 h_0 = δc_1 c_0 f_1 (1 − f_1) h_0
    dc_1 = lstm_dc_1(case)
    return [(d, lstm_dc_1(case, **knobs) * to_term) for d, knobs in _DC_1_SLIPS] + [
        (Named("step 2's term δa^f_2 h_1 given, not step 1's δa^f_1 h_0", "dW"), lstm_dW_hf_step(case, 1)),
        (Named("the whole sum δW_hf given: the question asks for step 1's term δa^f_1 h_0 alone", "dW"),
         lstm_dW_hf(case)),
        (Named("σ' missing: δa^f_1 = δf_1 f_1 (1 − f_1), with δf_1 = δc_1 c_0", "da"), dc_1 * case.c0 * case.h0),
        (Named("δa^f_1 given without the factor h_0: the weight W_hf multiplies h_0 at step 1", "dW"),
         dc_1 * case.c0 * f1 * (1.0 - f1)),
        (Named("the local partial ∂a^f_1/∂W_hf = h_0 taken for the total: multiply it by δa^f_1", "dW"), case.h0),
        (Named(_SIGN, "worked bptt"),
         -lstm_dW_hf_step(case, 0)),
    ]


def lstm_dW_hf_wrong(case: WorkedCase = LSTM_CASE) -> list[tuple[Named, float]]:
    """δW_hf as the catalogued BPTT mistakes compute it, and the step-wise slips."""
    *_, y, hs, cache = lstm_run(case)
    found = [(d, float(outputs()[4][1, 0])) for d, outputs in _backward_mistakes(_dhs(hs, y), cache)]
    steps = [lstm_ref.lstm_step_backward(*_messages(case, t), _step_cache(cache, t))[3] for t in (0, 1)]
    da_f = [float(g.b[1]) for g in steps]  # δa^f_1, δa^f_2
    f = [float(cache.gates[t, 0, 1]) for t in (0, 1)]
    h_prev = [case.h0, float(hs[0, 0, 0])]
    found += [
        (Named("σ' missing: δa^f_t = δf_t f_t (1 − f_t) before it multiplies h_{t-1}", "da"),
         sum(d / (ft * (1 - ft)) * h for d, ft, h in zip(da_f, f, h_prev))),
        (Named("the local partial ∂a^f_2/∂W_hf = h_1 taken for the total: multiply it by δa^f_2 and add "
               "step 1's term", "dW"), h_prev[1]),
        (Named(_SIGN, "worked bptt"),
         -lstm_dW_hf(case)),
    ]
    return found


def _messages(case: WorkedCase, t: int):
    """``(δh_t, δ⁺c_t)`` that step t (0-based) receives in the worked case."""
    *_, y, hs, cache = lstm_run(case)
    dh2 = hs[1] - y[1]
    if t == 1:
        return dh2, np.zeros_like(dh2)
    _, dh_msg, dc_msg, _ = lstm_ref.lstm_step_backward(dh2, np.zeros_like(dh2), _step_cache(cache, 1))
    return hs[0] - y[0] + dh_msg, dc_msg


# --- the GRU case -------------------------------------------------------------------------------
def gru_run(case: WorkedCase = GRU_CASE):
    """``(params, x, h0, y, hs, cache)``: the case through ``numpy_gru.gru_forward``."""
    params = GRUParams(_col(case.W_ih), _col(case.W_hh), np.array(case.b), np.array(case.b_hh))
    x = np.array(case.x).reshape(2, 1, 1)
    h0 = np.full((1, 1), case.h0)
    hs, _, cache = gru_ref.gru_forward(x, params, h0)
    return params, x, h0, np.array(case.y), hs, cache


def gru_forward_values(case: WorkedCase = GRU_CASE) -> dict[str, float]:
    """Every forward quantity of both steps: ``r1``, ``z2``, ``n1``, ``u_n1`` (W_hn h_0 + b_hn), ``h2``."""
    *_, hs, cache = gru_run(case)
    out = {}
    for t in range(2):
        for k, gate in enumerate("rzn"):
            out[f"{gate}{t + 1}"] = float(cache.gates[t, 0, k])
        out[f"u_n{t + 1}"], out[f"h{t + 1}"] = float(cache.u_ns[t, 0, 0]), float(hs[t, 0, 0])
    return out


def _gru_step_cache(cache, t: int):
    r, z, n = np.split(cache.gates[t], 3, axis=1)
    h_prev = cache.hs[t - 1] if t else cache.h0
    return gru_ref.StepCache(cache.x[t], h_prev, r, z, n, cache.u_ns[t], cache.params)


def gru_dh_1(case: WorkedCase = GRU_CASE, *, loss_1=True, message=True, **knobs) -> float:
    """δh_1 = ∂ℓ_1/∂h_1 + δ⁺h_1 (eq:gru-bptt-dh), δ⁺h_1 from step 2 by (eq:gru-bptt-dh-prev).

    ``knobs`` go to ``gru_mistakes.step_backward_variant`` for step 2 (``direct=False``
    leaves out the direct path, ...); ``loss_1`` and ``message`` drop one term of δh_1.
    """
    *_, y, hs, cache = gru_run(case)
    _, dh_msg, _ = gru_mistakes.step_backward_variant(hs[1] - y[1], _gru_step_cache(cache, 1), **knobs)
    return _num((hs[0] - y[0] if loss_1 else 0.0) + (dh_msg if message else 0.0))


def gru_dh_1_wrong(case: WorkedCase = GRU_CASE) -> list[tuple[Named, float]]:
    *_, y, hs, cache = gru_run(case)
    z2 = float(cache.gates[1, 0, 1])
    dh2 = float(hs[1, 0, 0] - y[1])
    found = [(d, gru_dh_1(case, **k)) for d, k in gru_mistakes.STEP_BACKWARD_MISTAKES]
    return found + [
        (Named("only the direct path: h_1 also reaches step 2 through the layers, W_hhᵀ δu_2", "gru-dh-prev"),
         float(hs[0, 0, 0] - y[0]) + z2 * dh2),
        (Named("the loss term of step 1 left out: δh_1 = ∂ℓ_1/∂h_1 + δ⁺h_1", "gru-dh"),
         gru_dh_1(case, loss_1=False)),
        (Named("dh not accumulated from the future step: ∂ℓ_1/∂h_1 = h_1 − y_1 is a partial; the total δh_1 "
               "adds the message δ⁺h_1 from step 2", "gru-dh"),
         gru_dh_1(case, message=False)),
        (Named(_SIGN, "gru-dh"),
         -gru_dh_1(case)),
    ]


def gru_db_hn(case: WorkedCase = GRU_CASE) -> float:
    """δb_hn = Σ_t r_t δa^n_t (eq:gru-bptt-dW), the n-slice of ``gru_backward``'s db_hh."""
    *_, y, hs, cache = gru_run(case)
    return float(gru_ref.gru_backward(_dhs(hs, y), cache)[2].b_hh[2])


def gru_db_hn_step(case: WorkedCase = GRU_CASE, t: int = 0, **knobs) -> float:
    """Step t's term r_t δa^n_t of δb_hn (eq:gru-bptt-dW); t = 0 is step 1, r_1 δa^n_1.

    ``knobs`` go to :func:`gru_dh_1` (a wrong δh_1 carried into step 1's term).
    """
    *_, y, hs, cache = gru_run(case)
    r, z, n = (float(cache.gates[t, 0, k]) for k in range(3))
    dh = gru_dh_1(case, **knobs) if t == 0 else float(hs[1, 0, 0] - y[1])
    return r * dh * (1.0 - z) * (1.0 - n**2)


def gru_db_hn_1_wrong(case: WorkedCase = GRU_CASE) -> list[tuple[Named, float]]:
    """Step 1's term of δb_hn as the slips compute it."""
    *_, cache = gru_run(case)
    r1, z1, n1 = (float(cache.gates[0, 0, k]) for k in range(3))
    dh_1 = gru_dh_1(case)
    # a slip in step 2's backward pass reaches step 1's term through δ⁺h_1 (h_for_dW does not)
    found = [(d, gru_db_hn_step(case, 0, **k)) for d, k in gru_mistakes.STEP_BACKWARD_MISTAKES
             if "h_for_dW" not in k]
    return found + [
        (Named("the loss term of step 1 left out: δh_1 = ∂ℓ_1/∂h_1 + δ⁺h_1", "gru-dh"),
         gru_db_hn_step(case, 0, loss_1=False)),
        (Named("dh not accumulated from the future step: ∂ℓ_1/∂h_1 = h_1 − y_1 is a partial; the total δh_1 "
               "adds the message δ⁺h_1 from step 2", "gru-dh"), gru_db_hn_step(case, 0, message=False)),
        (Named("step 2's term r_2 δa^n_2 given, not step 1's r_1 δa^n_1", "gru-dW"), gru_db_hn_step(case, 1)),
        (Named("the whole sum δb_hn given: the question asks for step 1's term r_1 δa^n_1 alone", "gru-dW"),
         gru_db_hn(case)),
        (Named("b_hn taken for b_in: b_hn sits inside r ⊙ (W_hn h + b_hn), so its term is r_1 δa^n_1, "
               "while b_in's is δa^n_1", "gru-da"), dh_1 * (1.0 - z1) * (1.0 - n1**2)),
        (Named("z and 1 − z swapped: δn_1 = δh_1 ⊙ (1 − z_1)", "gru-gates"), r1 * dh_1 * z1 * (1.0 - n1**2)),
        (Named("tanh' missing on the candidate: δa^n_1 = δn_1 ⊙ (1 − n_1²)", "gru-da"), r1 * dh_1 * (1.0 - z1)),
        (Named(_SIGN, "gru-dh"),
         -gru_db_hn_step(case, 0)),
    ]


def gru_db_hn_wrong(case: WorkedCase = GRU_CASE) -> list[tuple[Named, float]]:
    *_, y, hs, cache = gru_run(case)
    found = [(d, float(out()[5][2])) for d, out in gru_mistakes.backward_mistakes(_dhs(hs, y), cache)]
    b_in = float(gru_ref.gru_backward(_dhs(hs, y), cache)[2].b_ih[2])
    return found + [
        (Named("b_hn taken for b_in: b_hn sits inside r ⊙ (W_hn h + b_hn), so δb_hn = Σ_t r_t δa^n_t, "
               "while δb_in = Σ_t δa^n_t", "gru-da"), b_in),
        (Named(_SIGN, "gru-dh"),
         -gru_db_hn(case)),
    ]
