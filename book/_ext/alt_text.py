"""Sphinx extension: every image of the book has alt text a screen reader can say.

MyST-NB gives the images that code cells draw their file name as alt text
(``../_images/<hash>.png``), which a screen reader reads out. An image in a captioned figure
(``mystnb: figure: caption:``) gets the caption's opening sentences, its maths written as
plain text (``i_t \\odot g_t`` -> ``i_t ⊙ g_t``); any other image must be given alt text in
its cell (``mystnb: image: alt:``), or the build warns, and the strict build fails. The
browser tests (``tests/test_browser.py``) check every image of the built book.
"""
from __future__ import annotations

import re
import unicodedata

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
ALT_ENOUGH, ALT_MOST = 80, 300  # characters: an alt text is a caption's opening sentences


SPOKEN = {r"\mathrm": "", r"\lVert": "‖", r"\rVert": "‖", r"\lvert": "|", r"\rvert": "|", r"\odot": "⊙",
          r"\delta": "δ", r"\alpha": "α", r"\sigma": "σ", r"\ell": "ℓ", r"\ge": "≥", r"\le": "≤",
          r"\times": "×", r"\approx": "≈", r"\partial": "∂", r"\,": "", r"\;": " ", r"\ ": " "}


def _spoken_math(tex: str) -> str:
    """Inline LaTeX as plain text a screen reader can say: ``i_t \\odot g_t`` -> ``i_t ⊙ g_t``,
    ``\\hat y`` -> ``ŷ``, ``c_{t-1}`` -> ``c_(t-1)``; other commands lose their backslash."""
    tex = re.sub(r"\\hat\s*\{?(\w)\}?", "\\1\u0302", tex)
    for command in sorted(SPOKEN, key=len, reverse=True):  # a letter after \\ge would make another command
        tex = re.sub(re.escape(command) + ("(?![A-Za-z])" if command[-1].isalpha() else ""), SPOKEN[command], tex)
    tex = re.sub(r"([_^])\{([^{}]*)\}", lambda m: m.group(1) + _group(m.group(2).strip()), tex)
    tex = re.sub(r"\\([A-Za-z]+)", r"\1", tex)
    return unicodedata.normalize("NFC", " ".join(tex.replace("{", "").replace("}", "").split()))


def _group(script: str) -> str:
    """A sub- or superscript as text: ``hh`` and ``(k)`` as they are, ``t-1`` in brackets."""
    return script if script.isalnum() or (script.startswith("(") and script.endswith(")")) else f"({script})"


def _spoken(node) -> str:
    """A caption's text with its maths spoken (:func:`_spoken_math`)."""
    if isinstance(node, nodes.math):
        return _spoken_math(node.astext())
    if isinstance(node, nodes.Text):
        return str(node)
    return "".join(_spoken(child) for child in node.children)


def _alt_texts(app: Sphinx, doctree, docname: str) -> None:
    """``doctree-resolved``: alt text for the images of ``docname`` that have none of their own."""
    for image in doctree.findall(nodes.image):
        if image.get("alt") and image["alt"] != image.get("uri"):
            continue  # the author's own
        figure = image.parent
        while figure is not None and not isinstance(figure, nodes.figure):
            figure = figure.parent
        captions = list(figure.findall(nodes.caption)) if figure is not None else []
        if captions and captions[0].astext().strip():
            text = re.sub(r"\(\((\d+)\)\)", r"(equation \1)", _spoken(captions[0]))  # "({eq}`...`)"
            image["alt"] = _alt_from(text)
        else:
            logger.warning(f"an image of {docname} has no alt text (its file name would be read out): "
                           "give its code cell `mystnb: image: alt: ...` or a figure caption",
                           location=image)


def _alt_from(caption: str) -> str:
    """A caption's opening sentences: added while shorter than ``ALT_ENOUGH`` characters, never
    beyond ``ALT_MOST`` (the first sentence is always kept)."""
    sentences = [t.strip().removesuffix(".") + "." for t in " ".join(caption.split()).split(". ") if t.strip()]
    alt = sentences[0]
    for sentence in sentences[1:]:
        if len(alt) >= ALT_ENOUGH or len(alt) + len(sentence) >= ALT_MOST:
            break
        alt += " " + sentence
    return alt


def setup(app: Sphinx) -> dict:
    app.connect("doctree-resolved", _alt_texts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
