"""Result tables for the book: plain HTML, which every output renderer shows as a table."""
from __future__ import annotations

from html import escape

__all__ = ["html_table"]


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
