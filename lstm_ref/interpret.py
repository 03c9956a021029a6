"""Interpretable cells of the character model (book/interpretable.md).

Karpathy, Johnson and Fei-Fei (2015) found, in character-level LSTMs, single cells that
track a property of the text: how far into the line the model is, whether it is inside
a quotation. This module finds such units in :class:`lstm_ref.apps.CharLM` by measuring,
not by eye:

1. :func:`tracked_quantities`: for every character of a text, the value of each
   property after reading it (position in the line, ...);
2. :func:`activations`: every unit's value after reading each character (the hidden
   state ``h`` and the cell state ``c``, 2H units);
3. :func:`correlations`: Pearson's r of each unit with a property (eq:cells-corr);
4. :func:`find_units`: the units with the largest |r| on one part of the text (the
   *selection* split), and their r measured again on another (the *report* split), so
   that the reported r is not inflated by the choice of the best of 2H units;
5. :func:`colour_html`: the text coloured by one unit's value, as in Karpathy's figures.

Shapes: ``L`` characters, ``H`` hidden units, ``U = 2H`` units (``h`` then ``c``).
"""
from __future__ import annotations

import html

import numpy as np
import torch
from torch import Tensor

from . import numpy_lstm
from .params import LSTMParams

__all__ = ["QUANTITIES", "tracked_quantities", "activations", "unit_names",
           "correlations", "find_units", "colour_html"]

#: What :func:`tracked_quantities` measures, with a one-line description each.
QUANTITIES = {
    "position in line": "characters since the last line break (0 on the break itself)",
    "position in word": "letters since the last character that is not a letter or '",
    "line in stanza": "line breaks since the last empty line",
    "indented line": "1 inside a line that starts with two spaces (a couplet), else 0",
    "end of line near": "1 within the last 5 characters before a line break, else 0",
}


def _position_in_line(text: str) -> np.ndarray:
    out, k = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        k = 0 if ch == "\n" else k + 1
        out[t] = k
    return out


def _position_in_word(text: str) -> np.ndarray:
    out, k = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        k = k + 1 if ch.isalpha() or ch == "'" else 0
        out[t] = k
    return out


def _line_in_stanza(text: str) -> np.ndarray:
    out, k = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        if ch == "\n":
            k = 0 if t > 0 and text[t - 1] == "\n" else k + 1
        out[t] = k
    return out


def _indented_line(text: str) -> np.ndarray:
    out, inside = np.zeros(len(text)), False
    for t, ch in enumerate(text):
        if ch == "\n":
            inside = text.startswith("  ", t + 1)  # the line after this break
        out[t] = inside and ch != "\n"
    return out


def _end_of_line_near(text: str, within: int = 5) -> np.ndarray:
    out, k = np.zeros(len(text)), 10**9
    for t in range(len(text) - 1, -1, -1):  # characters until the next line break
        k = 0 if text[t] == "\n" else k + 1
        out[t] = 1 <= k <= within
    return out


def tracked_quantities(text: str) -> dict[str, np.ndarray]:
    """text of length L -> ``{name: (L,) float array}`` for every name of QUANTITIES.

    Entry t is the property once character t has been read (the state ``h_t`` has seen
    characters 0..t): e.g. "position in line" is 0 at a line break, 1 at the first
    character after it. "end of line near" looks ahead: a unit that tracks it predicts.
    """
    if not text:
        raise ValueError("text is empty; expected at least one character")
    return {
        "position in line": _position_in_line(text),
        "position in word": _position_in_word(text),
        "line in stanza": _line_in_stanza(text),
        "indented line": _indented_line(text),
        "end of line near": _end_of_line_near(text),
    }


@torch.no_grad()
def activations(model, ids: Tensor) -> np.ndarray:
    """Every unit of ``model`` after each character: (L,) ids -> (L, 2H) float64.

    Columns 0..H-1 are ``h_t``, H..2H-1 are ``c_t``. The LSTM's weights are copied into
    the NumPy reference (:func:`lstm_ref.numpy_lstm.lstm_forward`, in float64), which
    reads the whole text as one sequence from a zero state and keeps ``c_t`` of every t.
    """
    if ids.ndim != 1 or len(ids) < 1:
        raise ValueError(f"ids has shape {tuple(ids.shape)}; expected (L,) with L >= 1")
    params = LSTMParams.from_torch(model.lstm).map(lambda a: a.astype(np.float64))
    x = model.embed(ids).double().numpy()[:, None]  # (L, 1, E)
    hs, _, cache = numpy_lstm.lstm_forward(x, params)  # hs, cache.cs: (L, 1, H)
    return np.concatenate([hs[:, 0], cache.cs[:, 0]], axis=1)  # (L, 2H)


def unit_names(H: int) -> list[str]:
    """``["h0", ..., "h{H-1}", "c0", ..., "c{H-1}"]``: the columns of :func:`activations`."""
    return [f"h{j}" for j in range(H)] + [f"c{j}" for j in range(H)]


def correlations(A: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Pearson's r of every unit with the quantity q (eq:cells-corr).

    Parameters
    ----------
    A : (L, U) array, unit values
    q : (L,) array, the tracked quantity

    Returns
    -------
    r : (U,) array in [-1, 1]; 0 for a unit that never changes
    """
    A, q = np.asarray(A, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if A.ndim != 2 or q.shape != (A.shape[0],) or len(q) < 2:
        raise ValueError(f"A has shape {A.shape} and q {q.shape}; "
                         "expected (L, U) and (L,), L >= 2")
    dq = q - q.mean()
    if not np.any(dq):
        raise ValueError("the quantity q is constant on this text; "
                         "nothing to correlate with")
    dA = A - A.mean(axis=0)  # (L, U)
    norms = np.sqrt((dA**2).sum(axis=0)) * np.sqrt((dq**2).sum())  # (U,)
    r = dq @ dA / np.where(norms > 0, norms, 1.0)  # (eq:cells-corr)
    dead = np.ptp(A, axis=0) == 0  # (U,): rounding would give them a tiny r
    return np.where(dead, 0.0, np.clip(r, -1.0, 1.0))


def find_units(A_select: np.ndarray, q_select: np.ndarray, A_report: np.ndarray,
               q_report: np.ndarray, k: int = 3) -> list[dict]:
    """The k units of largest |r| on the selection split; their r on the report split.

    Returns one dict per unit, best first: ``unit`` (column index), ``r_select``,
    ``r_report``. Only the selection split chooses; the report split only measures.
    """
    if A_select.shape[1] != A_report.shape[1] or not 1 <= k <= A_select.shape[1]:
        raise ValueError(f"A_select has shape {A_select.shape}, A_report "
                         f"{A_report.shape} and k={k}; expected the same number "
                         "of units U and 1 <= k <= U")
    r_select = correlations(A_select, q_select)
    best = np.argsort(-np.abs(r_select), kind="stable")[:k]
    r_report = correlations(A_report[:, best], q_report)
    return [{"unit": int(u), "r_select": float(r_select[u]), "r_report": float(r)}
            for u, r in zip(best, r_report)]


def colour_html(text: str, values, scale: float | None = None) -> str:
    """Each character on a background coloured by its value: blue < 0 < red.

    ``values`` : (L,) one unit's value after each character; ``scale`` the value shown
    at full colour (default: the largest |value|). Line breaks are shown as ``⏎`` and
    kept, so the layout of the text stays.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(text),):
        raise ValueError(f"values has shape {values.shape}; expected ({len(text)},), one per character")
    scale = scale or float(np.abs(values).max()) or 1.0
    spans = []
    for ch, v in zip(text, np.clip(values / scale, -1, 1).tolist()):
        rgb = (255, round(255 * (1 - v)), round(255 * (1 - v))) if v > 0 else \
              (round(255 * (1 + v)), round(255 * (1 + v)), 255)
        shown = "⏎\n" if ch == "\n" else html.escape(ch)
        spans.append(f'<span style="background:rgb{rgb}">{shown}</span>')
    return ('<pre class="cells-text" style="line-height:1.5;font-size:90%;'
            'white-space:pre-wrap">' + "".join(spans) + "</pre>")
