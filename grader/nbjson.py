"""Notebooks read as plain JSON, tolerant of whatever a learner's file holds instead.

The report reads submitted and autograded notebooks without nbformat's validation: a
hand-edited file with a missing or misshapen field gives fewer cells, never an exception.
"""
from __future__ import annotations

import json
from pathlib import Path


def read(path: Path) -> dict:
    """The notebook at ``path`` as JSON; ``{}`` when it is missing or not JSON."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return nb if isinstance(nb, dict) else {}


def cells(nb: dict) -> list[dict]:
    """The cells that are JSON objects."""
    found = nb.get("cells") if isinstance(nb, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def nbgrader(cell: dict) -> dict:
    """The cell's ``metadata.nbgrader`` (``{}`` if absent)."""
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def source(cell: dict) -> str:
    """The cell's source as one string (nbformat stores a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(map(str, src)) if isinstance(src, list) else str(src)
