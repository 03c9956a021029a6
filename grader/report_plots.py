"""The report's plots: matplotlib figures written as SVG to inline in the page.

Text stays text (``svg.fonttype = none``, the page's fonts), ids are salted per plot so
that several SVGs on one page never share a clip path, and the XML prologue, metadata and
namespace URLs are dropped: the page loads nothing from anywhere.
"""
from __future__ import annotations

import html
import io
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .classdata import ClassData

# Okabe-Ito colours: told apart with any colour vision
FULL, PARTIAL, ZERO, MANUAL = "#009E73", "#E69F00", "#D55E00", "#56B4E9"
BAR = "#0072B2"
STYLE = {"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False}


def to_svg(fig: Figure, label: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page, titled ``label`` for screen readers."""
    buf = io.StringIO()
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": label}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    head, body = text.split(">", 1)
    head = re.sub(r'\s(?:width|height)="[^"]*"', "", head)
    head = re.sub(r'\sxmlns(?::xlink)?="[^"]*"', "", head)
    return f'{head} role="img" aria-label="{html.escape(label)}">{body}'


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def score_histogram(scores: list[float], max_score: float, title: str) -> str:
    """Students per total score of one assignment."""
    fig = _figure(4.8, 2.8)
    with matplotlib.rc_context(STYLE):
        ax = fig.add_subplot()
        step = 1.0 if max_score <= 30 else max_score / 20
        edges = np.arange(-step / 2, max_score + step, step)
        ax.hist(scores, bins=edges, color=BAR, edgecolor="white")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(f"points (of {max_score:g})")
        ax.set_ylabel("students")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if scores:
            median = float(np.median(scores))
            ax.axvline(median, color="black", linestyle="--", linewidth=1)
            ax.set_title(f"{title}: median {median:g} of {max_score:g}, {len(scores)} graded", fontsize=10)
    return to_svg(fig, f"{title}: distribution of total scores")


def test_outcomes(data: ClassData, assignment: str) -> str:
    """Per test of one assignment: students with full, partial, zero points, or waiting for a person."""
    tests = [t for t in data.tests if t.assignment == assignment]
    subs = [s for (_, a), s in data.submissions.items() if a == assignment and s.in_gradebook]
    counts = np.zeros((len(tests), 4))
    for k, t in enumerate(tests):
        for s in subs:
            if (t.notebook, t.name) not in s.tests:
                continue
            got = s.tests[t.notebook, t.name]
            col = 3 if got is None else 0 if got >= t.max_score else 2 if got <= 0 else 1
            counts[k, col] += 1
    fig = _figure(4.8, 0.9 + 0.3 * len(tests))
    with matplotlib.rc_context(STYLE):
        ax = fig.add_subplot()
        y = np.arange(len(tests))[::-1]
        left = np.zeros(len(tests))
        for col, (name, colour) in enumerate(zip(("full points", "partial", "0 points", "needs manual grading"),
                                                 (FULL, PARTIAL, ZERO, MANUAL))):
            if counts[:, col].any():
                ax.barh(y, counts[:, col], left=left, color=colour, label=name, height=0.7)
            left += counts[:, col]
        ax.set_yticks(y, [f"{t.name} ({t.max_score:g})" for t in tests])
        ax.set_xlabel("students")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.legend(loc="outside upper center", ncols=2, frameon=False, fontsize=9)  # space kept by the layout
    return to_svg(fig, f"{assignment}: points per test")


def grading_times(seconds: dict[str, list[float]]) -> str:
    """Submissions per grading time, stacked by assignment."""
    fig = _figure(4.8, 2.8)
    with matplotlib.rc_context(STYLE):
        ax = fig.add_subplot()
        everything = [x for xs in seconds.values() for x in xs]
        edges = np.linspace(0, max(everything) * 1.05 or 1.0, 21)
        ax.hist(list(seconds.values()), bins=edges, stacked=True, label=list(seconds), edgecolor="white")
        ax.set_xlabel("seconds to grade one submission")
        ax.set_ylabel("submissions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.legend(loc="outside upper center", ncols=3, frameon=False, fontsize=9)  # never over the bars
    return to_svg(fig, "grading time per submission")
