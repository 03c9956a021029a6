"""Numbers computed by hand: a learner's float against the reference's, wrong values named.

A numeric question asks for one number of a small worked case (``worked``), or of a
formula of the book (the half-life of eq:bias-decay). :func:`check_number` accepts the
answer when it is within the question's relative tolerance of the reference value, so a
hand computation that rounds its intermediate values to four digits passes. Otherwise it
compares the answer with the values that common mistakes give (a missing path, a partial
taken for a total, z for 1 − z, ...) and names the one it equals. The expected value is
never printed: the message says what is wrong, not what is right.

Notebook cells::

    dc_1 = None  # your number
    ...
    grading.check_number(dc_1, "bptt_dc_1")
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..numpy_lstm import sigmoid
from . import worked
from .mistakes import Named, see


@dataclass(frozen=True)
class Question:
    """One numeric question: its variable, what it asks for, and how to grade it."""

    variable: str  # the name of the notebook variable that holds the answer
    what: str  # the quantity, in the book's notation
    topic: str  # a key of mistakes.SEE: where the book computes it
    expected: Callable[[], float]
    wrong: Callable[[], list[tuple[Named, float]]]
    rtol: float = 5e-3  # relative tolerance: four significant digits per step stay within 0.1 %

    def accepts(self, value: float, target: float) -> bool:
        """``value`` within ``rtol`` of ``target`` (relative to the larger of the two)."""
        return abs(value - target) <= self.rtol * max(abs(value), abs(target))


# --- the half-life of eq:bias-decay ------------------------------------------------------------
def half_life(keep: float) -> float:
    """k_{1/2} = ln 2 / ln(1 / keep), the steps until a product of ``keep`` halves (eq:bias-decay)."""
    return math.log(2.0) / math.log(1.0 / keep)


def _sigma(b: float) -> float:
    return float(sigmoid(np.array(b)))


def _half_life_wrong(b: float, gate: str) -> list[tuple[Named, float]]:
    f = _sigma(b)
    return [
        (Named(f"the share forgotten taken for the share kept: the product is {gate}^k with {gate} = σ(b), "
               "not (1 − σ(b))^k", "half-life"), half_life(1.0 - f)),
        (Named("the e-folding time 1 / ln(1/f), not the half-life ln 2 / ln(1/f)", "half-life"),
         1.0 / math.log(1.0 / f)),
        (Named("the mean memory length 1 / (1 − f), not the half-life ln 2 / ln(1/f)", "half-life"), 1.0 / (1.0 - f)),
        (Named("the bias taken for the gate: the gate is σ(b), between 0 and 1", "half-life"),
         math.log(2.0) / math.log(1.0 / b) if b > 0 and b != 1 else float("nan")),
        (Named("log base 10 in the numerator only: ln 2 / ln(1/f) needs the same logarithm twice", "half-life"),
         math.log10(2.0) / math.log(1.0 / f)),
    ]


def _update_bias_for(k: float) -> float:
    """The update-gate bias b_z with σ(b_z)^k = ½ (eq:bias-decay for z): z = 2^(−1/k), b_z = ln(z / (1 − z))."""
    z = 2.0 ** (-1.0 / k)
    return math.log(z / (1.0 - z))


def _update_bias_wrong(k: float) -> list[tuple[Named, float]]:
    z = 2.0 ** (-1.0 / k)
    e_fold = math.exp(-1.0 / k)
    return [
        (Named("z and 1 − z swapped: the direct path keeps z_t ⊙ δh_t, so z (not 1 − z) must be close to 1",
               "gru-dh-prev"), -_update_bias_for(k)),
        (Named("the gate's value given, not its bias: b_z is the pre-activation, z = σ(b_z)", "half-life"), z),
        (Named("the e-folding time used: z^k = 1/e gives another bias; the half-life asks for z^k = 1/2",
               "half-life"), math.log(e_fold / (1.0 - e_fold))),
        (Named("z = 1 − 1/k (the mean memory length) used instead of z^k = 1/2", "half-life"),
         math.log((1.0 - 1.0 / k) / (1.0 / k))),
    ]


# --- assignment 1: a gate's bias, and where a cell with constant gates settles ---------------------
def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _keep_bias_wrong(keep: float) -> list[tuple[Named, float]]:
    return [
        (Named("the gate's value given, not its bias: f = σ(b_f), so b_f = ln(f / (1 − f))", "f"), keep),
        (Named("the share forgotten taken for the share kept: f_t multiplies c_{t-1}, so σ(b_f) is the share "
               "kept", "c"), _logit(1.0 - keep)),
        (Named("tanh where σ belongs: the forget gate is σ(b_f), whose inverse is ln(f / (1 − f))", "f"),
         math.atanh(keep)),
        (Named("the logarithm of the share, not its logit: σ(b_f) = f gives b_f = ln(f / (1 − f))", "f"),
         math.log(keep)),
    ]


#: The unit of questions (b) and (c): constant gate values, c_0 = 0.
_GATES = {"f": 0.75, "i": 0.6, "g": 0.7, "o": 0.5}


def _c_limit(f: float, i: float, g: float) -> float:
    """The fixed point of c = f c + i g (eq:cell-state), which c_t approaches from any c_0 when f < 1."""
    return i * g / (1.0 - f)


def _c_limit_wrong() -> list[tuple[Named, float]]:
    f, i, g = _GATES["f"], _GATES["i"], _GATES["g"]
    return [
        (Named("one step only: c_1 = i g; c_t keeps adding i g while f shrinks what it holds, so it "
               "settles where c = f c + i g", "c"), i * g),
        (Named("c is not bounded by 1: only h = o ⊙ tanh(c) is; c_t = f c_{t-1} + i g has no squashing", "c"), 1.0),
        (Named("tanh applied to c: c_t = f c_{t-1} + i g has no squashing (h is o ⊙ tanh(c))", "c"),
         math.tanh(_c_limit(f, i, g))),
        (Named("divided by f, not by 1 − f: at the limit c = f c + i g, so c = i g / (1 − f)", "c"), i * g / f),
        (Named("f and i swapped: c_t = f ⊙ c_{t-1} + i ⊙ g", "c"), _c_limit(i, f, g)),
    ]


def _h_limit_wrong() -> list[tuple[Named, float]]:
    f, i, g, o = (_GATES[k] for k in "figo")
    c = _c_limit(f, i, g)
    return [
        (Named("tanh missing on c: h = o ⊙ tanh(c)", "h"), o * c),
        (Named("o missing: h = o ⊙ tanh(c)", "h"), math.tanh(c)),
        (Named("c taken as capped at 1: only h is bounded; c settles at i g / (1 − f)", "c"), o * math.tanh(1.0)),
        (Named("one step's c_1 = i g used: h approaches o tanh of the value c approaches", "c"), o * math.tanh(i * g)),
    ]


QUESTIONS = {
    "gates_b_f": Question("b_f", "the forget-gate bias that keeps 95 % of the cell per step", "f",
                          lambda: _logit(0.95), lambda: _keep_bias_wrong(0.95)),
    "gates_c_limit": Question("c_limit", "the value c_t approaches with f = {f}, i = {i}, g = {g}".format(**_GATES), "c",
                              lambda: _c_limit(_GATES["f"], _GATES["i"], _GATES["g"]), _c_limit_wrong),
    "gates_h_limit": Question("h_limit", "the value h_t approaches with o = {o} at that limit".format(**_GATES), "h",
                              lambda: _GATES["o"] * math.tanh(_c_limit(_GATES["f"], _GATES["i"], _GATES["g"])),
                              _h_limit_wrong),
    "bptt_dc_1": Question("dc_1", "δc_1, the total derivative of L with respect to c_1", "dc",
                          worked.lstm_dc_1, worked.lstm_dc_1_wrong),
    "bptt_dW_hf_1": Question("dW_hf_1", "step 1's term δa^f_1 h_0 of δW_hf", "dW",
                             worked.lstm_dW_hf_step, worked.lstm_dW_hf_1_wrong),
    "bptt_dW_hf": Question("dW_hf", "δW_hf = dL/dW_hf, the total derivative for the forget gate's recurrent weight, "
                           "summed over both steps", "dW", worked.lstm_dW_hf, worked.lstm_dW_hf_wrong),
    "bptt_half_life": Question("half_life", "the half-life in steps of a cell path with b_f = 3", "half-life",
                               lambda: half_life(_sigma(3.0)), lambda: _half_life_wrong(3.0, "f")),
    "gru_dh_1": Question("dh_1", "δh_1, the total derivative of L with respect to h_1", "gru-dh",
                         worked.gru_dh_1, worked.gru_dh_1_wrong),
    "gru_db_hn_1": Question("db_hn_1", "step 1's term r_1 δa^n_1 of δb_hn", "gru-dW", worked.gru_db_hn_step,
                            worked.gru_db_hn_1_wrong),
    "gru_db_hn": Question("db_hn", "δb_hn = dL/db_hn, the total derivative for the candidate's recurrent bias, "
                          "summed over both steps", "gru-dW", worked.gru_db_hn, worked.gru_db_hn_wrong),
    "gru_b_z": Question("b_z", "the update-gate bias whose direct path halves in 50 steps", "gru-dh-prev",
                        lambda: _update_bias_for(50.0), lambda: _update_bias_wrong(50.0)),
}


# --- the check -------------------------------------------------------------------------------
def _as_float(answer, variable: str) -> float:
    """The answer as a float, or an AssertionError saying what was given and what is expected."""
    if answer is None:
        raise AssertionError(f"{variable} is not answered yet: replace None by your number, e.g. {variable} = 0.25")
    if isinstance(answer, (bool, np.bool_)) or isinstance(answer, (str, bytes)):
        raise AssertionError(f"{variable} is a {type(answer).__name__} ({answer!r}); expected a number, "
                             f"e.g. {variable} = 0.25")
    if isinstance(answer, np.ndarray) and answer.size == 1:
        answer = answer.reshape(())[()]
    if hasattr(answer, "item") and getattr(answer, "shape", None) in ((), (1,), [1]):  # a torch scalar
        answer = answer.item()
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise AssertionError(f"{variable} is a {type(answer).__name__}; expected one number (a float), "
                             f"e.g. {variable} = 0.25") from None
    if isinstance(answer, complex) or not math.isfinite(value):
        raise AssertionError(f"{variable} = {answer!r}; expected a finite real number")
    return value


def check_number(answer, question: str) -> None:
    """Check a hand-computed number against the reference value of ``question``.

    Parameters
    ----------
    answer : float (an int, NumPy scalar or size-1 array is accepted too)
    question : a key of :data:`QUESTIONS`

    Raises
    ------
    AssertionError
        saying that the number is wrong (never what it should be) and, when it equals the
        value of a known mistake, which mistake, with the place in the book.
    ValueError
        for a question that does not exist.
    """
    if question not in QUESTIONS:
        raise ValueError(f"no numeric question {question!r}; expected one of {sorted(QUESTIONS)}")
    q = QUESTIONS[question]
    value = _as_float(answer, q.variable)
    expected = q.expected()
    if q.accepts(value, expected):
        return
    head = f"{q.variable} = {value:.6g} is not {q.what} (answers within {q.rtol:.1%} are accepted)."
    # two slips can give the same number in a small case: name every one that does
    matches = list(dict.fromkeys(d for d, wrong in q.wrong() if math.isfinite(wrong)
                                 and not q.accepts(wrong, expected) and q.accepts(value, wrong)))
    if matches:
        lines = [f"{'Likely mistake' if k == 0 else 'Or'}: {d}.{see(d, indent='  ')}" for k, d in enumerate(matches)]
        raise AssertionError(head + "".join(f"\n  {line}" for line in lines))
    where = see(Named("", q.topic), indent="  ")
    raise AssertionError(f"{head}\n  No known mistake gives this value: redo the computation one equation at a "
                         f"time, and keep four significant digits in each intermediate value.{where}")


def known_wrong(q: Question, expected: float) -> list[tuple[Named, float]]:
    """The named wrong values that differ from the right one (finite, first name for each value)."""
    kept: list[tuple[Named, float]] = []
    for description, value in q.wrong():
        if not math.isfinite(value) or q.accepts(value, expected):
            continue
        if any(q.accepts(value, other) for _, other in kept):
            continue
        kept.append((description, value))
    return kept
