"""The mistakes behind failing tests, read from the error outputs of autograded notebooks.

A failing test cell of ``autograded/<student>/<assignment>/<notebook>.ipynb`` carries an
error output whose ``evalue`` is the checker's message (lstm_ref/grading/compare.py),
wrapped at 83 characters.  Its diagnosis is one of

- ``Likely mistake: <description>.``: the known mistake whose outputs the answer matches;
- ``No known mistake matches exactly. Where to look:`` then bulleted lines: grouped by the
  first line;
- ``No known mistake matches this answer: ...``: not diagnosed;

and errors without a diagnosis are grouped too: an answer still raising its stub
(``NotImplementedError``, "is not written yet") as not answered; an exception the learner's
code raised by its name and message (the line number left out); a check's own message by
its first sentence, decimal numbers left out.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .nbjson import cells, nbgrader, read

LIKELY = re.compile(r"Likely mistake:\s*(.+?\.)(?=\s|$)")
WHERE = "Where to look:"
NOT_DIAGNOSED = "No known mistake matches this answer"
DECIMAL = re.compile(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?|\d+e[-+]?\d+")  # values that differ between answers
RAISED = re.compile(r"\braised (\w+): (.+?)(?: \(line \d+ of [\w.]+\))?$")  # the learner's code raised
NOT_WRITTEN = "is not written yet"
MAX_ERROR = 200  # characters kept of an error's message


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong in one failing test: ``kind`` is mistake, where to look, not diagnosed,
    not answered or error; ``text`` is what the instructor reads (the group's key)."""

    kind: str
    text: str


@dataclass(frozen=True)
class Failure:
    """One failing test of one student."""

    student: str
    assignment: str
    notebook: str
    test: str
    diagnosis: Diagnosis


def unwrap(text: str) -> str:
    """The message on one line: the checker's wrapping (newlines and indents) undone."""
    return " ".join(text.split())


def _where_first_line(evalue: str) -> str:
    """The first bullet after 'Where to look:', its continuation lines joined."""
    after = evalue.split(WHERE, 1)[1]
    bullets = re.split(r"\n\s*\*\s+", "\n" + after.strip("\n"))
    first = next((b for b in bullets if b.strip()), "")
    return unwrap(first)


def diagnose(ename: str, evalue: str) -> Diagnosis:
    """The diagnosis in one error output (exception name ``ename``, message ``evalue``)."""
    flat = unwrap(evalue)
    likely = LIKELY.search(flat)
    if likely:
        return Diagnosis("mistake", likely.group(1))
    if WHERE in evalue:
        first = _where_first_line(evalue)
        return Diagnosis("where to look", first) if first else Diagnosis("not diagnosed", "not diagnosed")
    if NOT_DIAGNOSED in flat:
        return Diagnosis("not diagnosed", "not diagnosed")
    if ename == "NotImplementedError" or NOT_WRITTEN in flat:
        return Diagnosis("not answered", "not answered (the stub still raises NotImplementedError)")
    return Diagnosis("error", _error_summary(ename, flat)[:MAX_ERROR])


def _error_summary(ename: str, flat: str) -> str:
    """'NameError: name 'sigmoid' is not defined' for an error the learner's code raised
    (the line number left out); else the first sentence of the checker's message."""
    raised = RAISED.search(flat)
    if raised:
        ename, flat = raised.groups()
    elif ename in ("AssertionError", "LearnerError"):  # a check's own message: it names the problem
        ename = ""
    sentence = re.match(r"(.+?)[.;:](?:\s|$)", flat)
    summary = DECIMAL.sub("…", sentence.group(1) if sentence else flat)
    return ": ".join(p for p in (ename, summary) if p) or "error"


def _is_test(cell: dict) -> bool:
    meta = nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def _errors(cell: dict) -> list[dict]:
    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return []
    return [o for o in outputs if isinstance(o, dict) and o.get("output_type") == "error"]


def notebook_failures(path: Path, student: str, assignment: str) -> list[Failure]:
    """Failures of the test cells of one autograded notebook (an unreadable one has none)."""
    nb = read(path)
    out = []
    for cell in filter(_is_test, cells(nb)):
        errors = _errors(cell)
        if errors:
            test = str(nbgrader(cell).get("grade_id", "?"))
            d = diagnose(str(errors[0].get("ename", "")), str(errors[0].get("evalue", "")))
            out.append(Failure(student, assignment, path.stem, test, d))
    return out


def autograded_notebooks(autograded: Path) -> list[tuple[str, str, Path]]:
    """``(student, assignment, path)`` of every notebook under ``autograded/<student>/<assignment>/``."""
    if not autograded.is_dir():
        return []
    return [(p.parent.parent.name, p.parent.name, p) for p in sorted(autograded.glob("*/*/*.ipynb"))]


def read_failures(autograded: Path, assignments: set[str] | None = None) -> list[Failure]:
    """Every failing test under ``autograded/`` (of ``assignments`` only, when given)."""
    return [f for student, assignment, path in autograded_notebooks(autograded)
            if assignments is None or assignment in assignments
            for f in notebook_failures(path, student, assignment)]


@dataclass
class Mistake:
    """One diagnosis of one test, with the students who got it."""

    assignment: str
    notebook: str
    test: str
    diagnosis: Diagnosis
    students: list[str]


def rank_mistakes(failures: list[Failure]) -> list[Mistake]:
    """Group failures by (test, diagnosis); most students first, then by test."""
    groups: dict[tuple, set[str]] = defaultdict(set)
    for f in failures:
        groups[f.assignment, f.notebook, f.test, f.diagnosis].add(f.student)
    mistakes = [Mistake(a, nb, t, d, sorted(s)) for (a, nb, t, d), s in groups.items()]
    return sorted(mistakes, key=lambda m: (-len(m.students), m.assignment, m.notebook, m.test, m.diagnosis.text))
