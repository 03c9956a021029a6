"""The book's alt-text extension (``book/_ext/alt_text.py``), without a build: captions become
alt text with their maths said in words, an image without either is reported, the author's
own alt text is kept. ``test_browser.py`` checks the built pages' images."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from docutils import nodes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
import alt_text  # noqa: E402


@pytest.mark.parametrize("tex, spoken", [
    (r"i_t \odot g_t", "i_t ⊙ g_t"),
    (r"c_{t-1}", "c_(t-1)"),
    (r"\lVert \delta W_{hh}^{(k)} \rVert", "‖ δ W_hh^(k) ‖"),
    (r"\lvert \hat y - y \rvert \ge 0.04", "| ŷ - y | ≥ 0.04"),
    (r"f^{\,t}", "f^t"),
    (r"\delta h_t = \mathrm{d}L/\mathrm{d}h_t", "δ h_t = dL/dh_t"),
    (r"\tanh(c_t)", "tanh(c_t)"),
])
def test_inline_maths_is_said_in_words(tex, spoken):
    assert alt_text._spoken_math(tex) == spoken


def test_alt_text_is_the_captions_opening_sentences():
    short, long = "One LSTM step.", "The thick line along the top is the cell state. " * 3
    assert alt_text._alt_from(short + " " + long).startswith(short + " The thick line")
    assert len(alt_text._alt_from(short + " " + long)) <= alt_text.ALT_MOST
    first = "x" * 400 + ". Second."
    assert alt_text._alt_from(first) == "x" * 400 + "."  # the first sentence is always kept


def _doctree(*children):
    doc = nodes.document(None, None)
    doc += children
    return doc


def test_figure_images_get_their_caption_and_others_are_reported(monkeypatch):
    warned = []
    monkeypatch.setattr(alt_text.logger, "warning", lambda message, **kw: warned.append(message))
    caption = nodes.caption("", "", nodes.Text("The cell update: "), nodes.math("", r"c_t = f_t \odot c_{t-1}"),
                            nodes.Text(" plus the input ((12)). More text."))
    in_figure = nodes.image(uri="_images/abc.png")
    own = nodes.image(uri="_images/own.png", alt="a hand-written description")
    bare = nodes.image(uri="_images/bare.png")
    alt_text._alt_texts(None, _doctree(nodes.figure("", in_figure, caption), own, bare), "book/cell")
    assert in_figure["alt"] == "The cell update: c_t = f_t ⊙ c_(t-1) plus the input (equation 12). More text."
    assert own["alt"] == "a hand-written description"
    assert "alt" not in bare and len(warned) == 1 and "book/cell" in warned[0] and "mystnb: image: alt" in warned[0]
