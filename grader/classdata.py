"""What the class report reads: the gradebook, the grading run's statuses, the submitted folders.

:func:`load_class` gathers, for every student and assignment, the score, the points waiting
for a person, the status and wall-clock seconds of the last grading run (from
``report/grading-run.json``, which ``python -m grader grade`` writes) and the notebooks
that are missing from ``submitted/``.  Nothing here runs a kernel or writes a file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from .course import Course

RUN_FILE = Path("report") / "grading-run.json"  # relative to the course directory


class ReportError(ValueError):
    """Something the report needs is missing; the message says what was expected where."""


@dataclass
class Student:
    """A student as the gradebook knows them (names and email may be empty)."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""

    @property
    def name(self) -> str:
        """'First Last', or the id when the gradebook has no name."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.id


@dataclass(frozen=True)
class Test:
    """One grade cell (an autograded test or a manually graded answer)."""

    assignment: str
    notebook: str
    name: str
    max_score: float


@dataclass
class Submission:
    """One student's work on one assignment."""

    student: str
    assignment: str
    score: float
    max_score: float
    pending: float = 0.0                    # points of cells waiting for manual grading
    status: str = "ok"                      # ok, broken, timeout, error (from the grading run)
    seconds: float | None = None            # wall-clock grading time, when the run recorded it
    notes: list[str] = field(default_factory=list)
    missing_notebooks: list[str] = field(default_factory=list)
    in_gradebook: bool = True               # False: submitted/ has it but it was never graded
    tests: dict[tuple[str, str], float | None] = field(default_factory=dict)  # (notebook, test) -> score
                                                                              # (None: waits for a person)


@dataclass
class ClassData:
    """Everything the report shows, read from one course directory."""

    course: Course
    release: Path                                   # release notebooks (the template learners got)
    students: dict[str, Student]
    assignments: dict[str, float]                   # assignment -> max score
    tests: list[Test]
    submissions: dict[tuple[str, str], Submission]  # (student, assignment) -> submission
    run_known: bool                                 # grading-run.json was found


def release_dir(course: Course) -> Path:
    """``CourseDirectory.release_directory`` of the course's nbgrader_config.py (default ``release``)."""
    cfg = PyFileConfigLoader(course.config_file.name, path=str(course.root)).load_config() if course.config_file else {}
    return course.root / (cfg.get("CourseDirectory", {}) if cfg else {}).get("release_directory", "release")


def load_run(course_root: Path) -> list[dict]:
    """Rows of ``report/grading-run.json`` (empty when no grading run wrote it)."""
    path = course_root / RUN_FILE
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text()).get("rows", []))
    except (ValueError, AttributeError) as err:
        raise ReportError(f"{path} is not the grading run's JSON ({err}); delete it or grade again") from None


def _check_gradebook(course: Course) -> None:
    """A SQLite gradebook must exist before it is opened (nbgrader would create an empty one)."""
    prefix = "sqlite:///"
    if course.db_url.startswith(prefix) and not Path(course.db_url[len(prefix):]).exists():
        raise ReportError(f"no gradebook at {course.db_url[len(prefix):]}: expected the course's nbgrader "
                          f"gradebook, written by `python -m grader grade` (make grade); grade first")


def _read_gradebook(course: Course) -> tuple[dict, dict, list[Test], dict]:
    """(students, assignment max scores, tests, submissions) from the course's gradebook."""
    from nbgrader.api import Gradebook

    students, assignments, tests, subs = {}, {}, [], {}
    with Gradebook(course.db_url, course.course_id) as gb:
        for s in gb.students:
            first, last = s.first_name or "", s.last_name or ""
            if not first and last == s.id:  # record()'s stand-in for a student without a roster entry
                last = ""
            students[s.id] = Student(s.id, first, last, s.email or "", s.lms_user_id or "")
        for a in gb.assignments:
            assignments[a.name] = a.max_score
            tests += [Test(a.name, nb.name, c.name, c.max_score) for nb in a.notebooks for c in nb.grade_cells]
            for sub in a.submissions:
                grades = [g for nb in sub.notebooks for g in nb.grades]
                subs[sub.student_id, a.name] = Submission(
                    sub.student_id, a.name, sub.score, sub.max_score,
                    pending=sum(g.max_score for g in grades if g.needs_manual_grade),
                    tests={(g.notebook.name, g.name): (None if g.needs_manual_grade else g.score) for g in grades})
    return students, assignments, tests, subs


def _cell_order(release: Path, assignment: str, notebook: str) -> dict[str, int]:
    """Position of each graded cell in the release notebook (empty when there is none)."""
    try:
        cells = json.loads((release / assignment / f"{notebook}.ipynb").read_text()).get("cells", [])
    except (OSError, ValueError):
        return {}
    ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells]
    return {name: k for k, name in enumerate(ids) if name}


def _in_notebook_order(tests: list[Test], release: Path) -> list[Test]:
    """Tests ordered as a learner meets them: by assignment, notebook, place in the notebook."""
    order = {(t.assignment, t.notebook): _cell_order(release, t.assignment, t.notebook) for t in tests}
    def place(t: Test) -> tuple:
        return t.assignment, t.notebook, order[t.assignment, t.notebook].get(t.name, 1 << 30), t.name
    return sorted(tests, key=place)


def _apply_run(subs: dict, assignments: dict, rows: list[dict]) -> None:
    """Statuses, times and notes of the grading run onto the submissions it graded."""
    for row in rows:
        key = row["student"], row["assignment"]
        if key not in subs:  # graded, then removed from the gradebook: keep what the run said
            subs[key] = Submission(row["student"], row["assignment"], row.get("score", 0.0), row.get("max_score", 0.0))
            assignments.setdefault(row["assignment"], row.get("max_score", 0.0))
        sub = subs[key]
        sub.status, sub.seconds = row.get("status", "ok"), row.get("seconds")
        sub.notes = list(row.get("notes", []))


def _scan_submitted(course: Course, subs: dict, assignments: dict, tests: list[Test]) -> None:
    """Missing notebooks of graded submissions; submissions in submitted/ that were never graded."""
    notebooks = {a: sorted({t.notebook for t in tests if t.assignment == a}) for a in assignments}
    if not course.submitted.is_dir():
        return
    for student_dir in sorted(p for p in course.submitted.iterdir() if p.is_dir()):
        for a in assignments:
            folder = student_dir / a
            if not folder.is_dir():
                continue
            key = student_dir.name, a
            if key not in subs:
                subs[key] = Submission(student_dir.name, a, 0.0, assignments[a], status="not graded",
                                       in_gradebook=False)
            subs[key].missing_notebooks = [nb for nb in notebooks[a] if not (folder / f"{nb}.ipynb").exists()]


def load_class(course_dir: Path, db_url: str | None = None) -> ClassData:
    """Read the course at ``course_dir`` (its nbgrader_config.py, gradebook, submitted/ and
    ``report/grading-run.json``); ``db_url`` overrides the gradebook's location."""
    if not Path(course_dir).is_dir():
        raise ReportError(f"no course directory at {course_dir}")
    course = Course.load(Path(course_dir), db_url)
    _check_gradebook(course)
    students, assignments, tests, subs = _read_gradebook(course)
    rows = load_run(course.root)
    _apply_run(subs, assignments, rows)
    if not assignments:
        raise ReportError(f"the gradebook {course.db_url} has no assignments: grade the submissions in "
                          f"{course.submitted}/<student>/<assignment>/ first (python -m grader grade)")
    _scan_submitted(course, subs, assignments, tests)
    for student, _ in subs:
        students.setdefault(student, Student(student))
    release = release_dir(course)
    return ClassData(course, release, dict(sorted(students.items())), dict(sorted(assignments.items())),
                     _in_notebook_order(tests, release), subs, bool(rows))
