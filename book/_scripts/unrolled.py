"""The LSTM unrolled over time with its two lanes, and BPTT's messages running back along them.

Drawn with matplotlib in the style (and the colours) of ``diagrams.py``; the BPTT chapter
calls :func:`draw_unrolled_lstm` in a hidden cell, so every build redraws it. Nothing here
is random: the figure is the same on every run. Run this file to write an SVG copy::

    python book/_scripts/unrolled.py
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from diagrams import COLORS

STATIC = Path(__file__).resolve().parents[1] / "_static"
RED = "#c0392b"  # the backward pass, as in diagrams.draw_cell_backward


def _arrow(ax, start, end, color, lw=1.6):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, color=color, lw=lw, shrinkA=0, shrinkB=0)
    )


def _op(ax, x, y, symbol):
    """An elementwise operation on the cell lane (× with the forget gate, + the new content)."""
    ax.add_patch(Circle((x, y), 0.17, fc=COLORS["op"], ec="k", lw=1.1, zorder=4))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=11, zorder=5)


def draw_unrolled_lstm(T: int = 3, ax=None):
    """Steps 1..T of an LSTM side by side, joined by the cell lane c and the hidden lane h.

    Forward (dark): c_{t-1} and h_{t-1} enter step t from the left, c_t and h_t leave on the
    right, x_t enters from below and h_t also goes up to the loss term ℓ_t. Backward (red):
    between steps t and t+1 the two messages δ⁺c_t and δ⁺h_t run right to left, each loss
    term sends ∂ℓ_t/∂h_t down into its step, δ⁺c_T and δ⁺h_T enter at the right end (from a
    loss on the final states, else zero), and δc_0, δh_0 leave at the left end.
    Returns the figure.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8.4, 3.9))
    step, width = 3.0, 1.8  # distance between the steps' centres; width of a step's box
    y_c, y_h, top = 1.55, 0.3, 1.9  # the two lanes; the top of the boxes (bottom at 0)
    x_left, x_right = -0.9, step * (T - 1) + 2.3
    ax.set_xlim(x_left - 0.3, x_right + 0.3)
    ax.set_ylim(-1.3, 3.25)
    ax.set_aspect("equal")
    ax.axis("off")
    cc, hc = COLORS["c"], COLORS["h"]

    # forward: the two lanes run through the whole picture; the boxes sit on them
    ax.plot([x_left, x_right - 0.15], [y_c, y_c], color=cc, lw=3.2, zorder=1)
    _arrow(ax, (x_right - 0.2, y_c), (x_right, y_c), cc, lw=3.2)
    ax.plot([x_left, x_right - 0.15], [y_h, y_h], color=hc, lw=1.6, zorder=1)
    _arrow(ax, (x_right - 0.2, y_h), (x_right, y_h), hc)
    ax.text(x_left, y_c + 0.15, r"$c_0$", fontsize=12)
    ax.text(x_left, y_h + 0.15, r"$h_0$", fontsize=12)
    ax.text(x_right - 0.35, y_c + 0.15, rf"$c_{T}$", fontsize=12)
    ax.text(x_right - 0.35, y_h + 0.15, rf"$h_{T}$", fontsize=12)

    for t in range(1, T + 1):
        x = step * (t - 1) + 0.7  # centre of step t
        ax.add_patch(
            FancyBboxPatch((x - width / 2, 0.0), width, top, boxstyle="round,pad=0.05",
                           fc=COLORS["box"], ec="#999", lw=1, zorder=2)
        )
        ax.plot([x - width / 2 - 0.05, x + width / 2 + 0.05], [y_c, y_c], color=cc, lw=3.2, zorder=3)
        _op(ax, x - 0.4, y_c, "×")
        _op(ax, x + 0.4, y_c, "+")
        ax.text(x - 0.4, y_c - 0.3, rf"$f_{t}$", ha="center", va="center", fontsize=10, zorder=5)
        ax.text(x, 0.78, f"step {t}\ngates, $W$, $b$", ha="center", va="center", fontsize=9, zorder=5)
        _arrow(ax, (x, -0.75), (x, -0.02), hc)  # x_t in
        ax.text(x, -1.05, rf"$x_{t}$", ha="center", fontsize=12)
        _arrow(ax, (x + 0.2, top + 0.08), (x + 0.2, 2.6), hc)  # h_t up to the loss
        ax.text(x + 0.3, 2.2, rf"$h_{t}$", fontsize=11, color=hc)
        ax.text(x, 2.8, rf"$\ell_{t}$", ha="center", fontsize=13)
        # backward: the loss term's own gradient comes down into the step
        _arrow(ax, (x - 0.2, 2.6), (x - 0.2, top + 0.08), RED, lw=1.4)
        ax.text(x - 0.3, 2.2, rf"$\partial \ell_{t} / \partial h_{t}$", color=RED, fontsize=10, ha="right")

    # backward: the two messages between steps, and where the chain starts and ends
    y_mc, y_mh = y_c - 0.32, y_h - 0.28  # red arrows just under their lanes
    for t in range(0, T + 1):
        x_from = step * t + 0.7 - width / 2 - 0.07 if t < T else x_right  # left edge of step t+1
        x_to = step * (t - 1) + 0.7 + width / 2 + 0.07 if t > 0 else x_left  # right edge of step t
        _arrow(ax, (x_from, y_mc), (x_to, y_mc), RED, lw=1.4)
        _arrow(ax, (x_from, y_mh), (x_to, y_mh), RED, lw=1.4)
        x_mid = (x_from + x_to) / 2
        c_label = r"$\delta c_0$" if t == 0 else rf"$\delta^{{+}} c_{t}$"
        h_label = r"$\delta h_0$" if t == 0 else rf"$\delta^{{+}} h_{t}$"
        ax.text(x_mid, y_mc - 0.22, c_label, color=RED, fontsize=11, ha="center", va="center")
        ax.text(x_mid, y_mh - 0.24, h_label, color=RED, fontsize=11, ha="center", va="center")
    ax.text(x_right, -0.75, r"from $\ell_{\mathrm{final}}$" + "\n(or zero)", color=RED, fontsize=8,
            ha="right", va="center")
    return ax.figure


def main() -> None:
    """Write an SVG copy of the diagram to ``book/_static``."""
    plt.switch_backend("Agg")
    STATIC.mkdir(exist_ok=True)
    fig = draw_unrolled_lstm()
    fig.savefig(STATIC / "lstm_unrolled_bptt.svg", bbox_inches="tight", metadata={"Date": None})
    print(f"wrote {STATIC / 'lstm_unrolled_bptt.svg'}")


if __name__ == "__main__":
    main()
