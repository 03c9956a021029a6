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


#: Question (d): one unit (H = D = 1), W_f = [w_h, w_x] on [h_{t-1}, x_t], and the gate value wanted.
_CLOSE = {"w_h": 2.0, "w_x": 4.0, "b_f": 0.5, "h_prev": 0.5, "f": 0.1}


def _closing_input(w_h: float, w_x: float, b_f: float, h_prev: float, a_f: float) -> float:
    """The x_t that gives the forget gate the pre-activation a_f: w_h h_{t-1} + w_x x_t + b_f = a_f."""
    return (a_f - w_h * h_prev - b_f) / w_x


def _closing_input_wrong() -> list[tuple[Named, float]]:
    w_h, w_x, b_f, h, f = (_CLOSE[k] for k in ("w_h", "w_x", "b_f", "h_prev", "f"))
    a_f = _logit(f)
    return [
        (Named("[x, h] concatenated instead of [h, x]: W_f = [W_hf | W_if] multiplies [h_{t-1}, x_t]", "f"),
         _closing_input(w_x, w_h, b_f, h, a_f)),
        (Named("bias left out: a^f_t = W_f · [h_{t-1}, x_t] + b_f", "f"), _closing_input(w_h, w_x, 0.0, h, a_f)),
        (Named("h_{t-1} left out: the gate reads [h_{t-1}, x_t], both", "f"), _closing_input(w_h, w_x, b_f, 0.0, a_f)),
        (Named("the gate's value taken for its pre-activation: f_t = σ(a^f_t), so a^f_t = ln(f / (1 − f))", "f"),
         _closing_input(w_h, w_x, b_f, h, f)),
        (Named("the share forgotten taken for the share kept: f_t = 0.1 keeps 10 % of c_{t-1}", "c"),
         _closing_input(w_h, w_x, b_f, h, _logit(1.0 - f))),
    ]


#: Question (e): a closed input gate (i_t = 0), f_t = 0.9 for ten steps, from c_0 = 2.
_DECAY = {"c0": 2.0, "f": 0.9, "steps": 10}


def _decay_wrong() -> list[tuple[Named, float]]:
    c0, f, k = _DECAY["c0"], _DECAY["f"], _DECAY["steps"]
    return [
        (Named("one step too few: c_1 = f c_0 already has one factor f, so c_10 has ten", "c"), c0 * f ** (k - 1)),
        (Named("one step too many: c_1 = f c_0, so c_10 = f^10 c_0", "c"), c0 * f ** (k + 1)),
        (Named("one step only: each step multiplies c_{t-1} by f_t again", "c"), c0 * f),
        (Named("c_0 left out: c_t = f_t ⊙ c_{t-1} starts from c_0", "c"), f**k),
        (Named("the share forgotten taken for the share kept: f_t multiplies c_{t-1}", "c"), c0 * (1.0 - f) ** k),
    ]


# --- assignment 2: parameter counts of nn.LSTM, and one step of a sequence by hand ------------------
def lstm_parameter_count(D: int, H: int, layers: int = 1, directions: int = 1, biases: int = 2, gates: int = 4,
                         input_of_upper: int | None = None, P: int = 0) -> int:
    """Trainable numbers of ``nn.LSTM(D, H, num_layers, bidirectional, proj_size=P)``: per layer and
    direction W_ih (4H, D_l), W_hh (4H, H or P), two biases (4H,), and W_hr (P, H) when P > 0.
    D_l is D for the first layer and ``directions`` × (P or H) above it (``input_of_upper`` overrides it)."""
    out = P or H
    upper = directions * out if input_of_upper is None else input_of_upper
    total = 0
    for layer in range(layers):
        d = D if layer == 0 else upper
        total += directions * (gates * H * (d + out) + biases * gates * H + P * H)
    return total


#: Questions (a), (b) of assignment 2 and (a) of assignment 4: the sizes of the module.
_SIZES = {"D": 3, "H": 4, "P": 2}


def _count_one_layer_wrong() -> list[tuple[Named, float]]:
    D, H = _SIZES["D"], _SIZES["H"]
    return [
        (Named("one bias counted: nn.LSTM keeps two, bias_ih and bias_hh, each (4H,)", "nn.LSTM"),
         lstm_parameter_count(D, H, biases=1)),
        (Named("the biases left out: nn.LSTM trains bias_ih and bias_hh, each (4H,)", "nn.LSTM"),
         lstm_parameter_count(D, H, biases=0)),
        (Named("one gate's weights only: W_ih (4H, D) and W_hh (4H, H) stack the four gates i, f, g, o", "a"),
         lstm_parameter_count(D, H, gates=1)),
        (Named("three gates counted: the LSTM has four, i, f, g, o (the GRU has three)", "a"),
         lstm_parameter_count(D, H, gates=3)),
    ]


def _count_deep_wrong() -> list[tuple[Named, float]]:
    D, H = _SIZES["D"], _SIZES["H"]
    return [
        (Named("layer 2's input taken as D: it reads layer 1's output, [h→_t, h←_t] of size 2H", "layers"),
         lstm_parameter_count(D, H, 2, 2, input_of_upper=D)),
        (Named("layer 2's input taken as H: a bidirectional layer outputs [h→_t, h←_t], 2H numbers", "directions"),
         lstm_parameter_count(D, H, 2, 2, input_of_upper=H)),
        (Named("one bias counted: nn.LSTM keeps two per layer and direction, bias_ih and bias_hh", "nn.LSTM"),
         lstm_parameter_count(D, H, 2, 2, biases=1)),
        (Named("one direction counted: the reverse direction has weights of its own", "directions"),
         lstm_parameter_count(D, H, 2, 1, input_of_upper=2 * H)),
        (Named("one direction counted, and layer 2's input taken as H", "directions"),
         lstm_parameter_count(D, H, 2, 1)),
        (Named("one layer counted: each of the two layers has weights of its own", "layers"),
         lstm_parameter_count(D, H, 1, 2)),
    ]


#: Question (c) of assignment 2: H = D = 1, W_hh = 0, b = 0, x_t = 1, so a_t = W_ih; blocks i, f, g, o.
_SEQ = {"W_ih": (0.0, math.log(3.0), -math.log(3.0), math.log(4.0)), "c0": 3.0, "T": 3, "index": 1}


def _seq_h(t: int, order: str = "ifgo", c0: float | None = None, tanh_c: bool = True) -> float:
    """h_t of the case of question (c), the blocks of W_ih read in ``order``."""
    a = dict(zip(order, _SEQ["W_ih"]))
    i, f, g, o = _sigma(a["i"]), _sigma(a["f"]), math.tanh(a["g"]), _sigma(a["o"])
    c = _SEQ["c0"] if c0 is None else c0
    for _ in range(t):
        c = f * c + i * g
    return o * (math.tanh(c) if tanh_c else c)


def _seq_h_wrong() -> list[tuple[Named, float]]:
    t = _SEQ["index"] + 1  # hs[k] holds h_{k+1}
    return [
        (Named("hs[1] taken for h_1: hs stacks h_1, ..., h_T (not h_0), so hs[1] is h_2", "hs"), _seq_h(t - 1)),
        (Named("c_0 ignored: the cell starts from the c0 given, not from zeros", "h0, c0"), _seq_h(t, c0=0.0)),
        (Named("the blocks read as i, f, o, g: the stacked order is i, f, g, o", "a"), _seq_h(t, order="ifog")),
        (Named("f and i swapped: the stacked order is i, f, g, o", "a"), _seq_h(t, order="figo")),
        (Named("tanh missing on c: h = o ⊙ tanh(c)", "h"), _seq_h(t, tanh_c=False)),
    ]


# --- assignment 4: projection, the reverse direction, the cell path over the memory task -----------
def _count_projection_wrong() -> list[tuple[Named, float]]:
    D, H, P = _SIZES["D"], _SIZES["H"], _SIZES["P"]
    right = lstm_parameter_count(D, H, P=P)
    return [
        (Named("W_hh taken as (4H, H): with proj_size = P it multiplies the projected h_{t-1}, which has P "
               "entries, so it is (4H, P)", "a"), right - 4 * H * P + 4 * H * H),
        (Named("W_hr left out: the projection h_t = W_hr (o_t ⊙ tanh c_t) has a (P, H) matrix", "a"), right - P * H),
        (Named("the projection ignored: that is nn.LSTM(D, H) without proj_size", "a"), lstm_parameter_count(D, H)),
        (Named("one bias counted: nn.LSTM keeps two, bias_ih and bias_hh, each (4H,)", "nn.LSTM"),
         lstm_parameter_count(D, H, P=P, biases=1)),
    ]


#: Question (b) of assignment 4: T steps, the reverse half of out at position t (0-based).
_REVERSE = {"T": 100, "t": 20}


def _reverse_wrong() -> list[tuple[Named, float]]:
    T, t = _REVERSE["T"], _REVERSE["t"]
    return [
        (Named("the forward half's count: the reverse direction reads x[T-1] first and x[t] last", "directions"),
         t + 1),
        (Named("the reverse direction's final state h_n[1] described: only output[0, :, H:] has read every step",
               "directions"), T),
        (Named("the inputs before t counted: the reverse direction reads x[T-1], ..., x[t]", "directions"), t),
    ]


#: Question (c) of assignment 4: section 4's LSTM (T = 50, forget-gate bias 1), from c_T back to c_t.
_CELL_PATH = {"T": 50, "t": 40, "b_f": 1.0}


def _cell_path_wrong() -> list[tuple[Named, float]]:
    k, f = _CELL_PATH["T"] - _CELL_PATH["t"], _sigma(_CELL_PATH["b_f"])
    return [
        (Named("one factor too many: from c_50 back to c_40 the message passes f_50, ..., f_41, ten gates",
               "dc_prev"), f ** (k + 1)),
        (Named("one factor too few: from c_50 back to c_40 the message passes f_50, ..., f_41, ten gates",
               "dc_prev"), f ** (k - 1)),
        (Named("the share forgotten taken for the share kept: δ⁺c_{t-1} = f_t ⊙ δc_t", "dc_prev"), (1.0 - f) ** k),
        (Named("the forget-gate bias left out: σ(0) = 0.5; the cell's gates start at σ(1)", "half-life"), 0.5**k),
        (Named("one step only: every step back multiplies by another f_t", "dc_prev"), f),
    ]


QUESTIONS = {
    "gates_b_f": Question("b_f", "the forget-gate bias that keeps 95 % of the cell per step", "f",
                          lambda: _logit(0.95), lambda: _keep_bias_wrong(0.95)),
    "gates_c_limit": Question("c_limit", "the value c_t approaches with f = {f}, i = {i}, g = {g}".format(**_GATES), "c",
                              lambda: _c_limit(_GATES["f"], _GATES["i"], _GATES["g"]), _c_limit_wrong),
    "gates_h_limit": Question("h_limit", "the value h_t approaches with o = {o} at that limit".format(**_GATES), "h",
                              lambda: _GATES["o"] * math.tanh(_c_limit(_GATES["f"], _GATES["i"], _GATES["g"])),
                              _h_limit_wrong),
    "gates_x_close": Question("x_close", "the input x_t that gives f_t = {f} with W_f = [{w_h:g}, {w_x:g}], "
                              "b_f = {b_f}, h_(t-1) = {h_prev}".format(**_CLOSE), "f",
                              lambda: _closing_input(*(_CLOSE[k] for k in ("w_h", "w_x", "b_f", "h_prev")),
                                                     _logit(_CLOSE["f"])), _closing_input_wrong),
    "gates_c_10": Question("c_10", "c_10 with i_t = 0, f_t = {f}, c_0 = {c0:g}".format(**_DECAY), "c",
                           lambda: _DECAY["c0"] * _DECAY["f"] ** _DECAY["steps"], _decay_wrong),
    "sequences_count_1": Question("count_1", "the number of trainable parameters of nn.LSTM({D}, {H})".format(**_SIZES),
                                 "nn.LSTM", lambda: lstm_parameter_count(_SIZES["D"], _SIZES["H"]),
                                 _count_one_layer_wrong),
    "sequences_count_2": Question("count_2", "the number of trainable parameters of nn.LSTM({D}, {H}, num_layers=2, "
                                  "bidirectional=True)".format(**_SIZES), "layers",
                                  lambda: lstm_parameter_count(_SIZES["D"], _SIZES["H"], 2, 2), _count_deep_wrong),
    "sequences_hs_1": Question("hs_1", "hs[1, 0, 0] of the sequence given", "hs",
                              lambda: _seq_h(_SEQ["index"] + 1), _seq_h_wrong),
    "pytorch_count_proj": Question("count_proj", "the number of trainable parameters of nn.LSTM({D}, {H}, "
                                   "proj_size={P})".format(**_SIZES), "a",
                                   lambda: lstm_parameter_count(_SIZES["D"], _SIZES["H"], P=_SIZES["P"]),
                                   _count_projection_wrong),
    "pytorch_reverse_reads": Question("reverse_reads", "the number of input steps output[{t}, 0, H:] depends on, "
                                      "T = {T}".format(**_REVERSE), "directions",
                                      lambda: _REVERSE["T"] - _REVERSE["t"], _reverse_wrong),
    "pytorch_cell_path": Question("cell_path", "the share of δc_{T} that reaches c_{t} along the cell path with "
                                  "f = σ({b_f:g})".format(**_CELL_PATH), "dc_prev",
                                  lambda: _sigma(_CELL_PATH["b_f"]) ** (_CELL_PATH["T"] - _CELL_PATH["t"]),
                                  _cell_path_wrong),
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
