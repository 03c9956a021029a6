"""Write results into the course's gradebook: one writer, one student per transaction.

Workers grade in private SQLite gradebooks; only the parent process opens the course's
gradebook (SQLite file or PostgreSQL via ``--db-url``), and it commits each student as
soon as that student's result arrives.  A run that is interrupted keeps every student
committed before the interruption; running again rewrites the same values (idempotent).
Manual scores entered in formgrader are never overwritten, as in nbgrader's
``SaveAutoGrades``.
"""
from __future__ import annotations

import warnings

from nbgrader.api import Gradebook

from .course import Template


def ensure_assignment(db_url: str, course_id: str, template: Template) -> None:
    """Create or update the assignment, its notebooks and cells from the template gradebook."""
    with Gradebook(template.db_url) as src, Gradebook(db_url, course_id) as dst:
        assignment = src.find_assignment(template.assignment)
        dst.update_or_create_assignment(assignment.name, duedate=assignment.duedate)
        for nb in assignment.notebooks:
            dst.update_or_create_notebook(nb.name, assignment.name, kernelspec=nb.kernelspec)
            for c in nb.grade_cells:
                dst.update_or_create_grade_cell(c.name, nb.name, assignment.name, max_score=c.max_score, cell_type=c.cell_type)
            for c in nb.solution_cells:
                dst.update_or_create_solution_cell(c.name, nb.name, assignment.name)
            for c in nb.task_cells:
                dst.update_or_create_task_cell(c.name, nb.name, assignment.name, max_score=c.max_score, cell_type=c.cell_type)
            for c in nb.source_cells:
                dst.update_or_create_source_cell(c.name, nb.name, assignment.name, cell_type=c.cell_type,
                                                 locked=c.locked, source=c.source, checksum=c.checksum)


def record(db_url: str, course_id: str, assignment: str, student: str, scores: dict | None,
           timestamp=None) -> tuple[float, float, bool, float]:
    """Store one student's auto scores (``None``: nothing gradable, all zero) and commit.

    Returns (score, max score, whether a person has graded or commented any cell, points
    waiting for a person: cells that need manual grading, as Formgrader shows them).
    """
    with Gradebook(db_url, course_id) as gb, warnings.catch_warnings():
        # nbgrader's own update_or_create_submission trips SQLAlchemy's autoflush warning
        warnings.simplefilter("ignore")
        known = gb.update_or_create_student(student)
        if known.first_name is None and known.last_name is None:
            # Formgrader lists "last, first" and shows "None, None" without names; the id
            # stands in until a roster is imported (`nbgrader db student import students.csv`)
            known.last_name, known.first_name = student, ""
        kwargs = {"timestamp": timestamp} if timestamp else {}
        sub = gb.update_or_create_submission(assignment, student, **kwargs)
        for nb in sub.notebooks:
            nb_scores = (scores or {}).get(nb.name, {"grades": {}, "comments": {}})
            nb.late_submission_penalty = nb_scores.get("late_penalty")
            for grade in nb.grades:
                got = nb_scores["grades"].get(grade.name, {"auto_score": 0.0})
                grade.auto_score = got["auto_score"]
                grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            for comment in nb.comments:
                comment.auto_comment = nb_scores["comments"].get(comment.name)
        gb.db.commit()
        sub = gb.find_submission(assignment, student)
        manual = any(g.manual_score is not None for nb in sub.notebooks for g in nb.grades) or \
            any(c.manual_comment for nb in sub.notebooks for c in nb.comments)
        pending = sum(g.max_score for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade)
        return sub.score, sub.max_score, manual, pending
