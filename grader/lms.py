"""Scores as the gradebook import of Canvas and of Moodle reads them.

Canvas ("Import" in Grades): the columns ``Student, ID, SIS User ID, SIS Login ID, Section``
then one column per assignment, and a second row ``Points Possible`` with each assignment's
maximum; a column whose name is not an assignment of the course creates one.  The
nbgrader student id goes in ``SIS Login ID``, the gradebook's ``lms_user_id`` (if any) in
``ID``.

Moodle (Grade administration > Import > CSV file): any columns; at import, *Identify user
by* maps ``Username`` (the nbgrader student id) or ``Email address`` to the user field of
the same name, and each assignment column is mapped to a grade item (or a new one).

A student with no submission of an assignment gets an empty cell (no grade), not 0.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .classdata import ClassData, Student

CANVAS_ID_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas's own export writes it
MOODLE_ID_COLUMNS = ["First name", "Last name", "Username", "Email address"]


def _points(value: float) -> str:
    """A score as the LMS reads it: ``7`` rather than ``7.0``."""
    return f"{value:g}"


def _scores(data: ClassData, student: str) -> list[str]:
    """One cell per assignment: the total score, empty when nothing was submitted."""
    cells = []
    for assignment in data.assignments:
        sub = data.submissions.get((student, assignment))
        cells.append(_points(sub.score) if sub else "")
    return cells


def _canvas_name(s: Student) -> str:
    """'Last, First' as Canvas lists students; the id when the gradebook has no name."""
    return ", ".join(p for p in (s.last_name, s.first_name) if p) or s.id


def write_canvas(data: ClassData, path: Path) -> Path:
    """``canvas.csv``: identity columns, one column per assignment, a Points Possible row."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CANVAS_ID_COLUMNS + list(data.assignments))
        w.writerow([CANVAS_POINTS_ROW, "", "", "", ""] + [_points(m) for m in data.assignments.values()])
        for s in data.students.values():
            w.writerow([_canvas_name(s), s.lms_user_id, "", s.id, ""] + _scores(data, s.id))
    return path


def write_moodle(data: ClassData, path: Path) -> Path:
    """``moodle.csv``: names, username (the nbgrader id), email, one column per assignment."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MOODLE_ID_COLUMNS + list(data.assignments))
        for s in data.students.values():
            w.writerow([s.first_name, s.last_name, s.id, s.email] + _scores(data, s.id))
    return path
