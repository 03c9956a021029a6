"""Diagrams of the book, drawn with matplotlib so that they are code like every other figure.

The chapters call these functions in hidden cells, so each build redraws them. Run this
file to also write SVG copies to ``book/_static/`` (for slides or the README)::

    python book/_scripts/diagrams.py

Nothing here is random; the diagrams are the same on every run.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

STATIC = Path(__file__).resolve().parents[1] / "_static"

# One colour per role, used in every diagram and in the chapters' plots.
COLORS = {
    "c": "#1f3a5f",  # the cell state, the "conveyor belt"
    "h": "#555555",  # hidden state and input wires
    "sigma": "#f2c14e",  # sigmoid gates
    "tanh": "#8fc0a9",  # tanh layers
    "op": "#ffffff",  # pointwise operations
    "box": "#f4f6f8",  # the cell's outline
}


def _arrow(ax, xy_from, xy_to, color, lw=1.6, head=True, alpha=1.0):
    """A straight wire; ``head`` draws the arrow tip at ``xy_to``."""
    style = "-|>" if head else "-"
    ax.add_patch(
        FancyArrowPatch(
            xy_from, xy_to, arrowstyle=style, mutation_scale=11, color=color, lw=lw, shrinkA=0, shrinkB=0, alpha=alpha
        )
    )


def _wire(ax, points, color, lw=1.6, alpha=1.0):
    """A polyline through ``points`` with an arrow tip on the last segment."""
    for a, b in zip(points[:-2], points[1:-1]):
        ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=lw, solid_capstyle="butt", alpha=alpha)
    _arrow(ax, points[-2], points[-1], color, lw, alpha=alpha)


def _layer(ax, x, y, text, kind, label, alpha=1.0):
    """A learned layer (yellow sigmoid or green tanh box) with the quantity it makes."""
    ax.add_patch(
        FancyBboxPatch(
            (x - 0.38, y - 0.28), 0.76, 0.56, boxstyle="round,pad=0.02", fc=COLORS[kind], ec="k", lw=1, alpha=alpha
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=12, alpha=alpha)
    ax.text(x - 0.45, y + 0.45, label, ha="right", va="center", fontsize=12, alpha=alpha)


def _op(ax, x, y, symbol, r=0.22, alpha=1.0):
    """A pointwise operation (circle): ``×`` is the Hadamard product ⊙, ``+`` addition."""
    ax.add_patch(Circle((x, y), r, fc=COLORS["op"], ec="k", lw=1.2, zorder=3, alpha=alpha))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=13, zorder=4, alpha=alpha)


#: How faint the parts of the cell outside a highlight are drawn.
FADE = 0.18

#: The parts :func:`draw_cell` can highlight, and what each one lights up.
HIGHLIGHTS = {
    "f": "the forget gate f_t and the product that scales c_{t-1}",
    "ig": "the input gate i_t, the candidate g_t and the sum that writes i_t ⊙ g_t",
    "c": "the cell update: the product with f_t and the sum with i_t ⊙ g_t",
    "o": "the output gate o_t and the read-out h_t = o_t ⊙ tanh(c_t)",
}


def draw_cell(ax=None, highlight: str | None = None):
    """The LSTM cell of eq:forget-gate .. eq:hidden-state, in the book's notation.

    Returns the figure. Yellow boxes are sigmoid layers (the gates i, f, o), the green box
    the tanh layer that proposes g; circles are elementwise operations; the thick line on
    top is the cell state c, which only meets one × and one + per step.

    ``highlight`` (a key of :data:`HIGHLIGHTS`) draws that part at full strength and the
    other layers and operations faint; the cell-state line and the inputs always stay.
    """
    if highlight is not None and highlight not in HIGHLIGHTS:
        raise ValueError(f"highlight must be one of {sorted(HIGHLIGHTS)} or None, got {highlight!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8.4, 4.6))

    def alpha(*parts: str) -> float:
        """Full strength when no highlight is asked for or one of ``parts`` is the highlight."""
        return 1.0 if highlight is None or highlight in parts else FADE

    ax.set_xlim(-0.4, 10.4)
    ax.set_ylim(-0.2, 5.9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.add_patch(FancyBboxPatch((1.0, 0.5), 8.0, 5.0, boxstyle="round,pad=0.1", fc=COLORS["box"], ec="#999", lw=1))

    y_c, y_bus, y_gate = 4.8, 1.2, 2.6
    x_f, x_i, x_g, x_o, x_out = 3.0, 4.2, 5.2, 6.6, 7.7
    cc, hc = COLORS["c"], COLORS["h"]

    # cell state: c_{t-1} -> (× f) -> (+ i⊙g) -> c_t
    _op(ax, x_f, y_c, "×", alpha=alpha("f", "c"))
    _op(ax, 4.7, y_c, "+", alpha=alpha("ig", "c"))
    ax.plot([-0.2, x_f - 0.22], [y_c, y_c], color=cc, lw=3.2)
    ax.plot([x_f + 0.22, 4.7 - 0.22], [y_c, y_c], color=cc, lw=3.2)
    _arrow(ax, (4.7 + 0.22, y_c), (10.2, y_c), cc, lw=3.2)
    ax.text(-0.2, y_c + 0.3, r"$c_{t-1}$", fontsize=13)
    ax.text(9.6, y_c + 0.3, r"$c_t$", fontsize=13)

    # inputs: h_{t-1} from the left, x_t from below, joined into [h_{t-1}, x_t]
    ax.plot([-0.2, x_o], [y_bus, y_bus], color=hc, lw=1.6)
    ax.plot([1.6, 1.6], [-0.1, y_bus], color=hc, lw=1.6)
    ax.text(-0.2, y_bus + 0.2, r"$h_{t-1}$", fontsize=13)
    ax.text(1.75, -0.05, r"$x_t$", fontsize=13)
    ax.text(2.1, y_bus - 0.35, r"$[h_{t-1}, x_t]$", fontsize=10, color=hc)

    # the four learned layers, each fed by the bus
    for x, text, kind, label, part in (
        (x_f, r"$\sigma$", "sigma", r"$f_t$", "f"),
        (x_i, r"$\sigma$", "sigma", r"$i_t$", "ig"),
        (x_g, r"$\tanh$", "tanh", r"$g_t$", "ig"),
        (x_o, r"$\sigma$", "sigma", r"$o_t$", "o"),
    ):
        _arrow(ax, (x, y_bus), (x, y_gate - 0.28), hc, alpha=alpha(part))
        _layer(ax, x, y_gate, text, kind, label, alpha=alpha(part))

    # forget: f_t scales c_{t-1}
    _arrow(ax, (x_f, y_gate + 0.28), (x_f, y_c - 0.22), hc, alpha=alpha("f", "c"))
    # input: i_t ⊙ g_t is written to the cell
    _op(ax, 4.7, 3.7, "×", alpha=alpha("ig"))
    _wire(ax, [(x_i, y_gate + 0.28), (x_i, 3.7), (4.7 - 0.22, 3.7)], hc, alpha=alpha("ig"))
    _wire(ax, [(x_g, y_gate + 0.28), (x_g, 3.7), (4.7 + 0.22, 3.7)], hc, alpha=alpha("ig"))
    _arrow(ax, (4.7, 3.7 + 0.22), (4.7, y_c - 0.22), hc, alpha=alpha("ig", "c"))
    # output: h_t = o_t ⊙ tanh(c_t)
    a_o = alpha("o")
    ax.add_patch(
        FancyBboxPatch((x_out - 0.4, 3.5), 0.8, 0.44, boxstyle="round,pad=0.02", fc="white", ec="k", lw=1, alpha=a_o)
    )
    ax.text(x_out, 3.72, r"$\tanh$", ha="center", va="center", fontsize=11, alpha=a_o)
    _arrow(ax, (x_out, y_c), (x_out, 3.94), cc, lw=1.6, alpha=a_o)
    _op(ax, x_out, y_gate, "×", alpha=a_o)
    _arrow(ax, (x_out, 3.5), (x_out, y_gate + 0.22), hc, alpha=a_o)
    _arrow(ax, (x_o + 0.38, y_gate), (x_out - 0.22, y_gate), hc, alpha=a_o)
    _wire(ax, [(x_out, y_gate - 0.22), (x_out, 0.85), (10.2, 0.85)], hc, alpha=a_o)
    ax.text(9.6, 1.05, r"$h_t$", fontsize=13, alpha=a_o)
    _wire(ax, [(8.6, 0.85), (8.6, 2.2), (10.2, 2.2)], hc, alpha=a_o)
    ax.text(9.25, 2.4, "to loss", fontsize=9, alpha=a_o)
    return ax.figure


def draw_cell_backward(ax=None):
    """The cell of :func:`draw_cell` with the backward pass of eq:bptt-dh .. eq:bptt-dW drawn on it.

    Red arrows run against the forward wires: the two messages from step t+1 enter on the
    right (δ⁺h_t along the hidden state, δ⁺c_t along the cell state). ∂ℓ_t/∂h_t comes
    back along the wire to the loss and joins δ⁺h_t to make the total δh_t (eq:bptt-dh).
    The paths meet in δc_t and leave on the left as δ⁺c_{t-1} (through the forget gate
    only) and δ⁺h_{t-1} (through W_hh).
    """
    fig = draw_cell(ax)
    ax = fig.axes[0] if ax is None else ax
    red = "#c0392b"
    ax.set_ylim(-0.2, 6.1)
    back = [  # (from, to, label, label position, font size)
        ((10.2, 5.4), (4.95, 5.4), r"$\delta^{+} c_t$ (from step $t+1$)", (7.3, 5.55), 10),
        ((4.45, 5.4), (-0.2, 5.4), r"$\delta^{+} c_{t-1} = f_t \odot \delta c_t$", (-0.2, 5.55), 10),
        ((10.2, 0.62), (8.75, 0.62), r"$\delta^{+} h_t$", (9.35, 0.22), 11),
        ((10.2, 1.98), (8.75, 1.98), r"$\partial \ell_t / \partial h_t$", (8.88, 1.4), 11),
        ((8.75, 1.98), (8.75, 0.62), "", None, 0),
        ((8.75, 0.62), (8.05, 0.62), r"$\delta h_t$", (8.05, 0.22), 11),
        ((8.05, 0.62), (8.05, 4.62), "", None, 0),
        ((2.6, 1.78), (-0.2, 1.78), r"$\delta^{+} h_{t-1} = W_{hh}^{\top} \delta a_t$", (1.1, 1.9), 9),
        ((1.35, 1.05), (1.35, -0.1), r"$\delta x_t$", (0.55, -0.05), 11),
    ]
    for start, end, label, where, size in back:
        _arrow(ax, start, end, red, lw=1.4)
        if where:
            ax.text(*where, label, color=red, fontsize=size)
    ax.text(8.15, 3.1, r"$\delta h_t \odot o_t$" + "\n" + r"$\odot \tanh'(c_t)$", color=red, fontsize=9)
    ax.text(4.95, 4.3, r"$\delta c_t$", color=red, fontsize=11)
    ax.text(1.9, 2.45, r"$\delta a_t$", color=red, fontsize=11)
    return fig


GATE_COLORS = {"i": "#f2c14e", "f": "#e07a5f", "g": "#8fc0a9", "o": "#81b2d9"}


def _grid(ax, x0, y0, rows, cols, colors, label, cell):
    """A matrix drawn as ``rows x cols`` squares; ``colors[r]`` fills row ``r``; ``label`` above it."""
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(plt.Rectangle((x0 + c * cell, y0 - (r + 1) * cell), cell, cell, fc=colors[r], ec="white", lw=1))
    ax.text(x0 + cols * cell / 2, y0 + 0.1, label, ha="center", va="bottom", fontsize=10)


def draw_layout(D: int = 3, H: int = 2, ax=None):
    """The stacked layout of ``LSTMParams`` and how ``gate("f")`` slices it.

    ``W_hh (4H, H)`` and ``W_ih (4H, D)`` hold blocks of H rows in the order i, f, g, o; the
    seed texts' ``W_f`` is the f rows of both, side by side, h columns first: ``(H, H + D)``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8.4, 3.6))
    cell, gap = 0.42, 0.9
    rows = [GATE_COLORS[g] for g in "ifgo" for _ in range(H)]
    top = 4 * H * cell
    x_ih = H * cell + gap
    x_b = x_ih + D * cell + gap
    _grid(ax, 0.0, top, 4 * H, H, rows, "$W_{hh}$\n$(4H \\times H)$", cell)
    _grid(ax, x_ih, top, 4 * H, D, rows, "$W_{ih}$\n$(4H \\times D)$", cell)
    _grid(ax, x_b, top, 4 * H, 1, rows, "$b$\n$(4H)$", cell)
    for k, g in enumerate("ifgo"):  # gate names beside the row blocks
        ax.text(-0.15, top - (k * H + H / 2) * cell, g, ha="right", va="center", fontsize=12)
    f_top = top - H * cell  # the forget gate's rows, where W_f is drawn too
    x_wf = x_b + cell + 2.0
    f_rows = [GATE_COLORS["f"]] * H
    _grid(ax, x_wf, f_top, H, H, f_rows, "", cell)
    _grid(ax, x_wf + H * cell, f_top, H, D, f_rows, "", cell)
    _grid(ax, x_wf + (H + D) * cell + 0.5, f_top, H, 1, f_rows, "$b_f$", cell)
    ax.plot([x_wf + H * cell] * 2, [f_top, f_top - H * cell], color="k", lw=2)
    ax.text(x_wf + (H + D) * cell / 2, f_top + 0.1, "$W_f = [\\,W_{hh}[f] \\mid W_{ih}[f]\\,]$\n$(H \\times (H+D))$",
            ha="center", va="bottom", fontsize=10)
    ax.text(x_wf + H * cell / 2, f_top - H * cell - 0.1, "$h_{t-1}$\ncolumns", ha="center", va="top", fontsize=8)
    ax.text(x_wf + H * cell + D * cell / 2, f_top - H * cell - 0.1, "$x_t$\ncolumns", ha="center", va="top", fontsize=8)
    y_mid = f_top - H * cell / 2
    _arrow(ax, (x_b + cell + 0.25, y_mid), (x_wf - 0.2, y_mid), "#555")
    ax.text((x_b + cell + x_wf) / 2, y_mid + 0.12, 'gate("f")', ha="center", fontsize=9, family="monospace")
    ax.set_xlim(-0.6, x_wf + (H + D + 1) * cell + 0.8)
    ax.set_ylim(-0.3, top + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax.figure


def draw_unrolled(T: int = 4, ax=None):
    """A recurrent network unrolled over ``T`` steps: one cell, copied, sharing its weights."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8.4, 2.6))
    ax.set_xlim(-0.6, 2.2 * T + 0.2)
    ax.set_ylim(-0.9, 2.4)
    ax.set_aspect("equal")
    ax.axis("off")
    hc = COLORS["h"]
    for t in range(T):
        x = 2.2 * t + 0.6
        ax.add_patch(FancyBboxPatch((x - 0.5, 0.4), 1.0, 0.7, boxstyle="round,pad=0.05", fc=COLORS["tanh"], ec="k"))
        ax.text(x, 0.75, r"$W, b$", ha="center", va="center", fontsize=11)
        _arrow(ax, (x, -0.45), (x, 0.35), hc)
        ax.text(x, -0.75, rf"$x_{t + 1}$", ha="center", fontsize=12)
        _arrow(ax, (x, 1.15), (x, 1.85), hc)
        ax.text(x, 2.0, rf"$h_{t + 1}$", ha="center", fontsize=12)
        _arrow(ax, (x - 1.7 + 0.05, 0.75), (x - 0.55, 0.75), hc)
    ax.text(-0.55, 0.95, r"$h_0$", fontsize=12)
    return ax.figure


def main() -> None:
    """Write SVG copies of every diagram to ``book/_static``."""
    plt.switch_backend("Agg")  # files only; the notebooks keep their inline backend
    STATIC.mkdir(exist_ok=True)
    for name, draw in (("lstm_cell", draw_cell), ("lstm_cell_backward", draw_cell_backward), ("unrolled_rnn", draw_unrolled), ("lstm_layout", draw_layout)):
        fig = draw()
        fig.savefig(STATIC / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
        print(f"wrote {STATIC / (name + '.svg')}")


if __name__ == "__main__":
    main()
