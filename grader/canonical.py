"""Rebuild a submitted notebook from the trusted template before anything runs it.

nbgrader's ``OverwriteCells`` restores the source of locked cells it can *find* by
``grade_id``; a test cell that was deleted, stripped of its metadata or turned into a
duplicate slips past it, and its ``add_missing_cells`` option crashes when two neighbouring
cells are missing.  Here the notebook that gets executed is built the other way round:
from the released notebook of the template course, cell by cell, taking only the
*answers* (solution cells) and the student's own extra cells from the submission.  The
release's ordinary code cells (no nbgrader metadata, the learner may edit them) come from
the submission alone, so each runs once.  Every
locked cell, every test and every point value comes from the gradebook of the template,
so editing, deleting, splitting or re-typing a test, or changing its points, cannot
change what is executed or what it is worth.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell


class BrokenNotebook(ValueError):
    """The submission cannot be read as an nbgrader notebook; the message is for the student."""


@dataclass
class TemplateCell:
    """One cell of the released notebook, with the trusted source of locked cells."""

    cell: dict
    grade_id: str | None
    locked: bool
    solution: bool
    released: str = ""  # the source students were given (no hidden tests)


@dataclass
class Canonical:
    """The notebook to execute and what was repaired on the way."""

    nb: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)


def load_submission(path: Path) -> dict:
    """Parse ``path`` as an nbformat-4 notebook or raise BrokenNotebook saying why not."""
    raw = path.read_bytes()
    if not raw.strip():
        raise BrokenNotebook(f"{path.name} is empty (0 bytes of notebook JSON)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BrokenNotebook(f"{path.name} is not valid notebook JSON ({err})") from None
    if not isinstance(data, dict):
        raise BrokenNotebook(f"{path.name} is JSON but not a notebook (not an object)")
    version = data.get("nbformat")
    if version != 4:
        raise BrokenNotebook(f"{path.name} has nbformat version {version!r}; expected 4 (save it with Jupyter 4+)")
    if not isinstance(data.get("cells"), list):
        raise BrokenNotebook(f"{path.name} is JSON but not a notebook (no list of cells)")
    return data


def _nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def template_cells(release_nb: dict, locked_sources: dict[str, tuple[str, str]]) -> list[TemplateCell]:
    """Cells of the released notebook, locked ones carrying the gradebook source.

    ``locked_sources`` maps grade_id -> (cell_type, source) for every locked cell in the
    template gradebook (tests with their hidden part).
    """
    out = []
    for cell in release_nb["cells"]:
        meta = _nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        locked = bool(meta.get("locked"))
        cell = json.loads(json.dumps(cell))  # a private copy we may edit
        released = _source(cell)
        if locked and grade_id in locked_sources:
            cell["cell_type"], cell["source"] = locked_sources[grade_id]
        out.append(TemplateCell(cell, grade_id, locked, bool(meta.get("solution")), released))
    return out


def _extra_cell(cell: dict) -> dict | None:
    """A student's own cell, stripped of any nbgrader metadata (it grades nothing)."""
    if cell.get("cell_type") != "code":
        return None  # markdown and raw cells do not run; they are dropped
    return new_code_cell(_source(cell))


def canonicalize(submission: dict, template: list[TemplateCell]) -> Canonical:
    """Build the notebook to execute from ``template`` and the answers in ``submission``.

    The student's cells are split into segments by the first occurrence of each known
    grade_id; a segment of extra code cells is re-attached after the template cell it
    followed, so helper functions a student wrote in their own cells still run before
    the tests, in the order the student wrote them.
    """
    known = {t.grade_id: t for t in template if t.grade_id}
    answers: dict[str, str] = {}
    extras: dict[str | None, list[dict]] = {None: []}
    notes: list[str] = []
    anchor: str | None = None
    seen_ids: set[str] = set()
    duplicates = 0
    for cell in submission["cells"]:
        if not isinstance(cell, dict):
            raise BrokenNotebook("a cell of the notebook is not a JSON object")
        grade_id = _nbgrader_meta(cell).get("grade_id")
        cell_id = cell.get("id")
        duplicates += cell_id is not None and cell_id in seen_ids
        seen_ids.add(cell_id)
        if grade_id in known and grade_id not in answers and grade_id not in extras:
            tmpl = known[grade_id]
            if tmpl.solution and not tmpl.locked:
                if cell.get("cell_type") != tmpl.cell["cell_type"]:
                    notes.append(f"answer cell {grade_id!r} had its type changed; taken as {tmpl.cell['cell_type']}")
                answers[grade_id] = _source(cell)
            elif _source(cell).strip() != tmpl.released.strip() or cell.get("cell_type") != tmpl.cell["cell_type"]:
                notes.append(f"locked cell {grade_id!r} was modified; the original was restored")
            extras[grade_id] = []
            anchor = grade_id
            continue
        if grade_id in known:
            notes.append(f"a second copy of cell {grade_id!r} was run as an ordinary cell")
        extra = _extra_cell(cell)
        if extra is not None:
            extras[anchor].append(extra)
    if len(extras) == 1:  # only the segment before any known cell: no grade_id was found
        raise BrokenNotebook(
            "no cell carries nbgrader metadata (it was stripped, or this is not the assignment's "
            "notebook); fetch the notebook again and copy your answers into it"
        )
    if duplicates:
        notes.append(f"{duplicates} duplicate cell id(s) replaced by fresh ones")
    cells = list(extras[None])
    for tmpl in template:
        cell = json.loads(json.dumps(tmpl.cell))
        gid = tmpl.grade_id
        if gid is None and cell.get("cell_type") == "code":
            continue  # an ordinary code cell of the release: the learner's copy runs, as an extra cell
        if gid and tmpl.solution and not tmpl.locked:
            if gid in answers:
                cell["source"] = answers[gid]
            else:
                notes.append(f"answer cell {gid!r} is missing; graded as empty")
                cell["source"] = ""
        elif gid and tmpl.locked and gid not in extras:
            notes.append(f"locked cell {gid!r} was missing; the original was restored")
        cells.append(cell)
        cells.extend(extras.get(gid, []) if gid else [])
    nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(c) for c in cells],
                                  metadata=submission.get("metadata") or {})
    for i, cell in enumerate(nb.cells):  # fresh, unique ids: duplicates cannot reach nbformat
        cell["id"] = f"cell-{i}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return Canonical(nb, notes)
