"""The grader on realistic learners' work, end to end: ``python -m grader grade`` twice.

The corpus (tests/learner_corpus.py) holds over sixty submissions in three groups: wrong
answers learners really write, correct answers written differently, and sloppy but correct
notebooks.  Each is the answer key of one assignment with one realistic change and says
which tests must lose their points.  The whole corpus is graded twice in temporary
courses; the tests below read what the runs left.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from learner_corpus import CORPUS, NOTEBOOK, ROOT, read_results, submissions, summarize, write_course

pytestmark = pytest.mark.slow
#: A student id long enough that a kernel socket path built from it would pass the 107-byte limit.
LONG_ID = "a-learner-whose-id-is-long-enough-to-overflow-a-unix-socket-path-if-used"


def _grade(course: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", "--jobs", "2", "--no-export"], cwd=course,
                          capture_output=True, text=True, timeout=2400, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[tuple[Path, list[dict]]]:
    out = []
    for k in range(2):
        course = write_course(tmp_path_factory.mktemp(f"corpus{k}") / "course", CORPUS)
        if k == 0:
            key = submissions.key_answers("01_gates", "gates")
            submissions.write(submissions.submission("01_gates", "gates", key), course / "submitted", LONG_ID,
                              "01_gates", "gates")
        out.append((course, read_results(course, CORPUS, _grade(course))))
    return out


def test_the_corpus_is_large_and_covers_every_group_and_assignment():
    assert len(CORPUS) >= 60 and len({e.name for e in CORPUS}) == len(CORPUS)
    groups = {(e.group, e.assignment) for e in CORPUS}
    assert groups == {(g, a) for g in ("wrong", "different", "sloppy") for a in NOTEBOOK}


def test_every_submission_is_graded(runs):
    for _, rows in runs:
        assert summarize(rows)["ungraded"] == []


def test_no_wrong_answer_gets_the_points(runs):
    assert summarize(runs[0][1])["false_passes"] == []


def test_no_correct_answer_loses_a_point(runs):
    assert summarize(runs[0][1])["false_fails"] == []


def test_every_wrong_answer_is_named_or_located(runs):
    summary = summarize(runs[0][1])
    assert summary["no_known_mistake"] == []
    for row in runs[0][1]:
        for test in row["failing"]:
            assert row["messages"][test].strip(), f"{row['name']}: {test} failed with no message"


def test_two_runs_give_the_same_scores(runs):
    first, second = ({r["name"]: r["scores"] for r in rows} for _, rows in runs)
    assert first == second


def test_stderr_output_is_shown_labelled_and_costs_nothing(runs):
    from grader.execute import STDERR_NOTE

    course, rows = runs[0]
    shown = [r["name"] for r in rows if r["group"] == "sloppy" and STDERR_NOTE.strip() in
             (course / "autograded" / r["name"] / r["assignment"] / f"{NOTEBOOK[r['assignment']]}.ipynb").read_text()]
    assert shown  # warnings or logging on stderr, in test cells of correct answers, kept and labelled
    assert all(not r["failing"] for r in rows if r["name"] in shown)


def test_a_long_student_id_is_graded(runs):
    from nbgrader.api import Gradebook

    course, _ = runs[0]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission("01_gates", LONG_ID)
        assert sub.score == sub.max_score == 19
