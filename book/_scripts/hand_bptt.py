"""The backward pass that the BPTT chapter works by hand, one scalar at a time.

One unit (H = 1), one input feature (D = 1), two steps (T = 2), zero initial states. Every
quantity is a Python float and every line is one scalar formula of the chapter, so a
reader with a pocket calculator can redo each step: no arrays, no ``lstm_ref``.

``book/bptt.md`` prints the numbers of :func:`worked_example` (rounded, never typed in),
and ``tests/test_equations.py`` checks them against ``lstm_ref.numpy_lstm``'s forward and
backward passes to 1e-12 in float64. Run this file to print them all::

    python book/_scripts/hand_bptt.py
"""
from __future__ import annotations

import math

GATES = ("i", "f", "g", "o")  # the book's gate order (PyTorch's)

# The chosen numbers. The task: store x_1 = 1 in the cell and report it at step 2, where
# the input is a blank (x_2 = 0) and the loss asks for h_2 = 1.
X = (1.0, 0.0)  # x_1, x_2
TARGET = 1.0  # y in the loss ½ (h_2 - y)²
#: Input weight, recurrent weight and bias of each gate (H = D = 1, so each is a number).
W_IH = {"i": 4.0, "f": 0.0, "g": 2.0, "o": 0.0}  # a 1 opens the input gate, g = tanh(2 x)
W_HH = {"i": -1.0, "f": 1.0, "g": -1.0, "o": 2.0}  # once h > 0: write less, keep, show more
B = {"i": -2.0, "f": 1.0, "g": 0.0, "o": 0.0}  # a blank shuts i; forget bias 1 keeps ~3/4


def sig(z: float) -> float:
    """σ(z) = 1 / (1 + e^(-z)) (eq:sigmoid)."""
    return 1.0 / (1.0 + math.exp(-z))


def forward() -> list[dict[str, float]]:
    """The two forward steps; entry t - 1 holds step t's inputs, gates and states."""
    h, c = 0.0, 0.0  # h_0, c_0
    steps = []
    for x in X:
        s = {"x": x, "h_prev": h, "c_prev": c}
        for k in GATES:  # a_t = W_ih x_t + W_hh h_{t-1} + b, one gate at a time (eq:bptt-forward)
            s["a_" + k] = W_IH[k] * x + W_HH[k] * h + B[k]
        s["i"] = sig(s["a_i"])
        s["f"] = sig(s["a_f"])
        s["g"] = math.tanh(s["a_g"])
        s["o"] = sig(s["a_o"])
        s["c"] = s["f"] * c + s["i"] * s["g"]  # (eq:cell-state)
        s["tanh_c"] = math.tanh(s["c"])
        s["h"] = s["o"] * s["tanh_c"]  # (eq:hidden-state)
        h, c = s["h"], s["c"]
        steps.append(s)
    return steps


def backward(steps: list[dict[str, float]]) -> dict[str, float]:
    """BPTT from t = 2 down to t = 1, one scalar formula per line.

    Keys: ``dh2`` is δh_2, ``dhp1`` is δ⁺h_1, ``dcp1`` is δ⁺c_1, ``dc1_h`` the share of δc_1
    that comes through h_1, ``da_f1`` is δa^f_1, ``dW_ih_f`` the forget row of δW_ih, and so on.
    """
    d = {}
    T = len(steps)
    dh_next, dc_next = 0.0, 0.0  # δ⁺h_T = δ⁺c_T = 0: no loss term on the final states
    for t in range(T, 0, -1):
        s = steps[t - 1]
        dl = s["h"] - TARGET if t == T else 0.0  # ∂ℓ_t/∂h_t: the loss reads h_2 only
        d[f"dl{t}"] = dl
        d[f"dhp{t}"], d[f"dcp{t}"] = dh_next, dc_next  # what step t + 1 sent back
        dh = dl + dh_next  # (eq:bptt-dh)
        d[f"dh{t}"] = dh
        d[f"do{t}"] = dh * s["tanh_c"]  # (eq:bptt-do)
        d[f"dc{t}_h"] = dh * s["o"] * (1.0 - s["tanh_c"] ** 2)  # the path through h_t
        dc = d[f"dc{t}_h"] + dc_next  # both paths meet (eq:bptt-dc)
        d[f"dc{t}"] = dc
        d[f"df{t}"] = dc * s["c_prev"]  # (eq:bptt-gates)
        d[f"di{t}"] = dc * s["g"]
        d[f"dg{t}"] = dc * s["i"]
        d[f"da_i{t}"] = d[f"di{t}"] * s["i"] * (1.0 - s["i"])  # (eq:bptt-preactivation)
        d[f"da_f{t}"] = d[f"df{t}"] * s["f"] * (1.0 - s["f"])
        d[f"da_g{t}"] = d[f"dg{t}"] * (1.0 - s["g"] ** 2)
        d[f"da_o{t}"] = d[f"do{t}"] * s["o"] * (1.0 - s["o"])
        d[f"dx{t}"] = sum(W_IH[k] * d[f"da_{k}{t}"] for k in GATES)  # (eq:bptt-dx)
        dh_next = sum(W_HH[k] * d[f"da_{k}{t}"] for k in GATES)  # δ⁺h_{t-1} (eq:bptt-dh-prev)
        dc_next = s["f"] * dc  # δ⁺c_{t-1} (eq:bptt-dc-prev)
    d["dh0"], d["dc0"] = dh_next, dc_next  # total: h_0 and c_0 have no other children
    for k in GATES:  # one weight, T uses: sum over the steps (eq:bptt-dW)
        d["dW_ih_" + k] = sum(d[f"da_{k}{t}"] * steps[t - 1]["x"] for t in range(1, T + 1))
        d["dW_hh_" + k] = sum(d[f"da_{k}{t}"] * steps[t - 1]["h_prev"] for t in range(1, T + 1))
        d["db_" + k] = sum(d[f"da_{k}{t}"] for t in range(1, T + 1))
    return d


def stacked() -> tuple[list[list[float]], list[list[float]], list[float]]:
    """The weights in the stacked layout of ``LSTMParams``: W_ih (4H, D), W_hh (4H, H), b (4H,)."""
    return [[W_IH[k]] for k in GATES], [[W_HH[k]] for k in GATES], [B[k] for k in GATES]


def worked_example() -> dict[str, float]:
    """Every number of the example by name: the parameters, the forward pass, the loss, BPTT.

    Forward quantities carry their step, ``a_f2`` is a^f_2 and ``c1`` is c_1; parameters are
    ``w_ih_f``, ``w_hh_f``, ``b_f``; backward names are those of :func:`backward`.
    """
    steps = forward()
    out = {"x1": X[0], "x2": X[1], "y": TARGET}
    for k in GATES:
        out["w_ih_" + k], out["w_hh_" + k], out["b_" + k] = W_IH[k], W_HH[k], B[k]
    for t, s in enumerate(steps, start=1):
        for name in ("a_i", "a_f", "a_g", "a_o", "i", "f", "g", "o", "c", "tanh_c", "h"):
            out[f"{name}{t}"] = s[name]
    out["L"] = 0.5 * (steps[-1]["h"] - TARGET) ** 2
    out.update(backward(steps))
    return out


#: Keys of :func:`worked_example` that are chosen, not computed: printed as they were typed.
CHOSEN = {"x1", "x2", "y"} | {f"{p}_{k}" for p in ("w_ih", "w_hh", "b") for k in GATES}


def formatted() -> dict[str, str]:
    """:func:`worked_example` as the chapter prints it: computed numbers to four decimals,
    chosen ones as typed, a true minus sign, and no "−0.0000" (c_0 = 0 makes δf_1 = −0.0)."""
    out = {}
    for key, value in worked_example().items():
        value = value + 0.0  # -0.0 + 0.0 is 0.0
        text = f"{value:g}" if key in CHOSEN else f"{value:.4f}"
        out[key] = "0.0000" if text == "-0.0000" else text.replace("-", "\u2212")
    return out


if __name__ == "__main__":
    for key, value in worked_example().items():
        print(f"{key:8s} {value: .6f}")
