"""The client's side of a result: the one place that writes the course.

A worker's result (from :func:`grader.task.grade_task`, wherever it ran) becomes the
student's autograded notebooks and feedback pages in the course, one committed gradebook
transaction, and a :class:`Row` of the score table.  A result that says the student was
not graded (the task was lost with its worker, or the cluster went away) changes nothing
in the course: the student keeps what an earlier run gave them, and a rerun grades them.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course
from .feedback import generate_in_course
from .gradebook import record
from .task import OUTPUTS
from .transfer import write_tree

NOT_GRADED = "not graded"


@dataclass
class Row:
    """One line of the score table."""

    student: str
    assignment: str
    score: float
    max_score: float
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    pending: float = 0.0  # points of cells that still need a person (manual grading)
    seconds: float = 0.0  # wall-clock time of this student's grading (worker start to result)


def lost(reason: str) -> dict:
    """The result of a task that never returned one: the student is not graded."""
    return {"ok": False, "status": NOT_GRADED, "seconds": 0.0,
            "error": f"not graded: {reason}; run the grader again to grade this student (the others are kept)"}


def _timestamp(submission: Path):
    from nbgrader.utils import parse_utc

    stamp = submission / "timestamp.txt"
    try:
        return parse_utc(stamp.read_text().strip()) if stamp.exists() else None
    except Exception:  # an unreadable timestamp is not a reason to lose the grade
        return None


def _replace_files(files: dict[str, bytes] | None, dst: Path) -> None:
    """Put ``files`` at ``dst`` (old content removed); ``None`` just removes ``dst``."""
    new, old = dst.with_name(dst.name + ".new"), dst.with_name(dst.name + ".old")
    for stale in (new, old):
        shutil.rmtree(stale, ignore_errors=True)
    if files:
        write_tree(files, new)
    if dst.exists():
        dst.rename(old)
    if files:
        new.rename(dst)
    shutil.rmtree(old, ignore_errors=True)


def _notes(result: dict) -> list[str]:
    notes = [f"{nb}: {n}" for nb, items in (result.get("notes") or {}).items() for n in items]
    if not result.get("ok"):
        notes.append(result.get("error", "grading failed"))
    elif result.get("feedback_ok") is False:
        notes.append(f"graded, but no feedback: {result.get('feedback_error', '')[-300:]}")
    return notes


def commit(course: Course, assignment: str, student: str, result: dict, max_score: float) -> Row:
    """Write ``result`` into the course (files, then one gradebook transaction); its row.

    ``max_score`` is the assignment's, for the row of a student who was not graded.
    """
    if result.get("status") == NOT_GRADED:
        return Row(student, assignment, 0.0, max_score, NOT_GRADED, _notes(result), 0.0, result.get("seconds", 0.0))
    graded = bool(result.get("ok")) and result.get("scores") is not None
    files = result.get("files") or {}
    for kind in OUTPUTS:
        _replace_files(files.get(kind) if graded else None, getattr(course, kind) / student / assignment)
    score, max_points, manual, pending = record(course.db_url, course.course_id, assignment, student,
                                                result.get("scores") if result.get("ok") else None,
                                                _timestamp(course.submitted / student / assignment))
    if manual and graded:
        generate_in_course(course, assignment, student)
    status = "ok" if result.get("ok") else result.get("status", "error")
    if result.get("ok") and result.get("broken"):
        status = "broken"
    return Row(student, assignment, score, max_points, status, _notes(result), pending, result.get("seconds", 0.0))
