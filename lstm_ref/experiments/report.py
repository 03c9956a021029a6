"""Result files and tables for the book.

Every experiment writes its result file with :func:`write_result`, stamped with
:func:`utc_now` and the machine's :func:`load_average`, so that all files have one format
(JSON, one-space indent, a final newline) that the chapters read; :func:`html_table` prints
their numbers as plain HTML, which every output renderer shows as a table.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from html import escape
from pathlib import Path

__all__ = ["html_table", "load_average", "utc_now", "write_result"]


def utc_now() -> str:
    """The time now in UTC, to the second (``2026-11-29T17:42:05+00:00``): a file's ``created``."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages, rounded to 0.01: how busy a shared machine was."""
    return [round(v, 2) for v in os.getloadavg()]


def write_result(out: str | Path, result: dict, *, ensure_ascii: bool = True) -> None:
    """Write ``result`` to ``out`` (its folder created) as JSON with indent 1 and a final newline.

    ``ensure_ascii=False`` writes non-ASCII text (a vocabulary) as itself instead of escapes.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=ensure_ascii) + "\n")


def html_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """An HTML ``<table>``; ``align`` is one letter per column, ``l``, ``c`` or ``r`` (default all ``l``).

    Cells are escaped, so model labels such as ``b_i=-5`` come out as written.
    """
    align = align or "l" * len(header)
    if len(align) != len(header) or any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row and align={align!r} must have {len(header)} entries, one per column of {header}")
    side = {"l": "left", "c": "center", "r": "right"}

    def cells(values, tag):
        return "".join(f'<{tag} style="text-align:{side[a]}">{escape(str(v))}</{tag}>' for v, a in zip(values, align))

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f'<table class="table"><thead><tr>{cells(header, "th")}</tr></thead><tbody>{body}</tbody></table>'
