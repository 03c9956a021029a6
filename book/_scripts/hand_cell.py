"""One LSTM step small enough to do by hand: the worked example that opens ``cell.md``.

One unit (``H = 1``) and one input (``D = 1``). Each of the four layers has two weights,
``w_h`` on the previous hidden state and ``w_x`` on the input, and a bias ``b``, chosen so
that every pre-activation is a whole number. The step is computed here with scalar
formulas and the ``math`` module only, so it is independent of ``lstm_ref``;
``tests/test_equations.py`` checks it against ``lstm_ref.numpy_lstm.lstm_step`` to 1e-12.

Run it to print the step::

    python book/_scripts/hand_cell.py
"""
from __future__ import annotations

import math

#: The previous state and the input of the step.
H_PREV = 0.5  # h_{t-1}: what the cell showed at the previous step
C_PREV = 1.0  # c_{t-1}: what it remembers
X = 1.0  # x_t: the new input

#: (w_h, w_x, b) of each layer, in the gate order i, f, g, o. The seed texts' per-gate
#: weights are W = [w_h | w_x], of shape (H, H + D) = (1, 2), acting on [h_{t-1}, x_t].
WEIGHTS = {
    "i": (0.0, 2.0, -1.0),  # opens when an input arrives
    "f": (2.0, 0.0, 1.0),  # keeps most of the memory
    "g": (0.0, 1.0, 0.0),  # proposes the (squashed) input itself
    "o": (2.0, 1.0, -2.0),  # half open here
}


def sigma(z: float) -> float:
    """The logistic sigmoid 1 / (1 + e^(-z)) (eq:sigmoid), for one number."""
    return 1.0 / (1.0 + math.exp(-z))


def step(h_prev: float = H_PREV, c_prev: float = C_PREV, x: float = X) -> dict[str, float]:
    """Every intermediate number of the step, by name.

    ``a_i, a_f, a_g, a_o`` are the pre-activations ``w_h h_{t-1} + w_x x_t + b``; then the
    gates (eq:input-gate, eq:forget-gate, eq:candidate, eq:output-gate), the cell state
    (eq:cell-state) and the hidden state (eq:hidden-state).
    """
    a = {name: w_h * h_prev + w_x * x + b for name, (w_h, w_x, b) in WEIGHTS.items()}
    i, f, g, o = sigma(a["i"]), sigma(a["f"]), math.tanh(a["g"]), sigma(a["o"])
    c = f * c_prev + i * g
    tanh_c = math.tanh(c)
    h = o * tanh_c
    out = {f"a_{name}": value for name, value in a.items()}
    out.update(i=i, f=f, g=g, o=o, kept=f * c_prev, written=i * g, c=c, tanh_c=tanh_c, h=h)
    return out


def per_gate_weights() -> dict[str, tuple[list[list[float]], list[float]]]:
    """``{gate: (W (1, 2), b (1,))}`` as nested lists, for ``LSTMParams.from_gates``."""
    return {name: ([[w_h, w_x]], [b]) for name, (w_h, w_x, b) in WEIGHTS.items()}


if __name__ == "__main__":
    for name, value in step().items():
        print(f"{name:7s} = {value:.4f}")
