"""A class report instructors can act on: ``python -m grader report``.

Reads the course's gradebook, the autograded notebooks, the submitted answers and the
grading run's ``report/grading-run.json``, and writes into ``<course>/report/`` (or
``--out``), fully offline:

- ``index.html``: score distributions, the mistakes to re-teach, the students who need
  attention, near-identical answers for a person to look at, grading times;
- ``scores.csv``, ``mistakes.csv``, ``similar_pairs.csv``;
- ``canvas.csv`` and ``moodle.csv`` for the LMS gradebook import (:mod:`grader.lms`).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .classdata import ClassData, ReportError, Submission, load_class
from .diagnoses import Mistake, autograded_notebooks, rank_mistakes, read_failures
from .lms import write_canvas, write_moodle
from .similarity import Pair, load_assignment, similar_pairs

__all__ = ["ReportError", "build_report"]

LOW_SHARE = 0.5  # a student below this share of the points of all assignments needs attention
STATUS_TEXT = {
    "broken": "broken submission, a notebook could not be read",
    "timeout": "grading timed out",
    "error": "grading failed",
    "not graded": "submitted but not graded yet",
}


@dataclass
class Attention:
    """A student who needs a person, and why: ``problems`` (low score, missing work, failed
    grading) and ``pending`` (answers waiting for manual grading)."""

    student: str
    share: float                     # share of all assignments' points earned so far
    problems: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return self.problems + self.pending


def _status_problems(sub: Submission) -> list[str]:
    problems = []
    if sub.status in STATUS_TEXT:
        detail = next(iter(sub.notes), "")
        problems.append(f"{sub.assignment}: {STATUS_TEXT[sub.status]}" + (f" ({detail[:200]})" if detail else ""))
    elif sub.status != "ok":
        problems.append(f"{sub.assignment}: grading status {sub.status}")
    return problems + [f"{sub.assignment}: {nb}.ipynb missing from the submission" for nb in sub.missing_notebooks]


def share_of_points(data: ClassData, student: str) -> float:
    """Points earned over the points of every assignment (one not submitted counts 0)."""
    total = sum(data.assignments.values())
    earned = sum(s.score for (who, _), s in data.submissions.items() if who == student)
    return earned / total if total else 0.0


def attention(data: ClassData) -> list[Attention]:
    """Students with a low score, a missing submission or notebook, a failed grading or
    points pending; lowest share of points first."""
    out = []
    for student in data.students:
        share = share_of_points(data, student)
        problems = [f"low score: {share:.0%} of all points so far"] if share < LOW_SHARE else []
        subs = [data.submissions.get((student, a)) for a in data.assignments]
        if any(subs):
            problems += [f"{a}: no submission" for a, s in zip(data.assignments, subs) if s is None]
        else:
            problems.append("no submission at all")
        problems += [p for sub in filter(None, subs) for p in _status_problems(sub)]
        pending = [f"{sub.assignment}: needs manual grading ({sub.pending:g} points pending)"
                   for sub in filter(None, subs) if sub.pending]
        if problems or pending:
            out.append(Attention(student, share, problems, pending))
    return sorted(out, key=lambda a: (not a.problems, a.share, a.student))


def compare_answers(data: ClassData) -> list[Pair]:
    """Near-identical pairs of every assignment, from the answers in ``submitted/``."""
    pairs = []
    for assignment in data.assignments:
        students = sorted(s for (s, a) in data.submissions if a == assignment)
        loaded = load_assignment(assignment, data.course.submitted, data.release, data.course.source, students)
        pairs += similar_pairs(loaded)
    return pairs


# --- CSV files ----------------------------------------------------------------------------------------
def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_scores(data: ClassData, path: Path) -> Path:
    """One row per student and assignment, 'missing' where nothing was submitted."""
    rows = []
    for student in data.students:
        for assignment, max_score in data.assignments.items():
            s = data.submissions.get((student, assignment))
            if s is None:
                rows.append([student, assignment, "", f"{max_score:g}", "missing", "", "", "", ""])
                continue
            seconds = "" if s.seconds is None else f"{s.seconds:.1f}"
            rows.append([student, assignment, f"{s.score:g}", f"{s.max_score:g}", s.status, f"{s.pending:g}",
                         seconds, " ".join(f"{nb}.ipynb" for nb in s.missing_notebooks), " | ".join(s.notes)])
    return _write_csv(path, ["student", "assignment", "score", "max_score", "status", "pending_manual_points",
                             "grading_seconds", "missing_notebooks", "notes"], rows)


def write_mistakes(mistakes: list[Mistake], path: Path) -> Path:
    rows = [[m.assignment, m.notebook, m.test, m.diagnosis.kind, m.diagnosis.text, len(m.students),
             " ".join(m.students)] for m in mistakes]
    return _write_csv(path, ["assignment", "notebook", "test", "kind", "mistake", "students", "student_ids"], rows)


def write_pairs(pairs: list[Pair], path: Path) -> Path:
    rows = [[p.assignment, p.a, p.b, f"{p.score:.2f}", p.shared,
             "; ".join(f"{c.notebook}/{c.name} {j:.2f}" for c, j in p.cells)] for p in pairs]
    return _write_csv(path, ["assignment", "student_a", "student_b", "similarity", "shared_shingles", "cells"], rows)


# --- the whole report ---------------------------------------------------------------------------------
def _check_autograded(data: ClassData) -> None:
    if not autograded_notebooks(data.course.autograded):
        raise ReportError(f"no autograded notebooks under {data.course.autograded}/<student>/<assignment>/*.ipynb: "
                          "expected the executed notebooks that `python -m grader grade` (make grade) writes; "
                          "grade first")


def build_report(course_dir: Path, out: Path | None = None, db_url: str | None = None) -> Path:
    """Write the report of the course at ``course_dir`` into ``out`` (default
    ``<course>/report``); ``db_url`` overrides the gradebook.  Returns the path of index.html."""
    from .report_html import render

    data = load_class(course_dir, db_url)
    _check_autograded(data)
    out = Path(out) if out else data.course.root / "report"
    out.mkdir(parents=True, exist_ok=True)
    mistakes = rank_mistakes(read_failures(data.course.autograded, set(data.assignments)))
    pairs = compare_answers(data)
    write_scores(data, out / "scores.csv")
    write_mistakes(mistakes, out / "mistakes.csv")
    write_pairs(pairs, out / "similar_pairs.csv")
    write_canvas(data, out / "canvas.csv")
    write_moodle(data, out / "moodle.csv")
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = out / "index.html"
    page.write_text(render(data, mistakes, attention(data), pairs, generated), encoding="utf-8")
    return page
