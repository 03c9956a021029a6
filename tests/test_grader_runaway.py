"""A runaway answer costs only the tests that call it: end to end through ``python -m grader grade``.

* In 04_pytorch, an ``lstm_step`` that loops forever: the first test that calls it waits out
  the cell's time limit, every later test that reaches it fails at once saying why, and the
  points of ``hidden_grad_norms`` and of the numbers by hand, which do not use it, are kept.
* In 03_bptt, a ``numerical_gradient`` that loops with a cell limit longer than the
  student's budget: the cells stop being started when the budget runs out, so the points of
  the two backward tests before it are saved (the hard per-student bound is not hit).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_cases import ROOT, submissions

sys.path.insert(0, str(ROOT / "scripts"))
import make_exercises  # noqa: E402

pytestmark = pytest.mark.slow
LOOP = "    while True:  # a loop whose condition never changes\n        pass\n"


def _looping(assignment: str, notebook: str, grade_id: str, signature: str):
    answers = submissions.key_answers(assignment, notebook)
    head, _, _ = answers[grade_id].partition(signature)
    answers[grade_id] = head + signature + "\n" + LOOP
    return submissions.submission(assignment, notebook, answers)


def _grade(course: Path, *options: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", "--jobs", "1", "--no-export", *options], cwd=course,
                          capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _test_outputs(course: Path, student: str, assignment: str, notebook: str) -> dict[str, str]:
    nb = nbformat.read(course / "autograded" / student / assignment / f"{notebook}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: " ".join(" ".join(f"{o.ename}: {o.evalue}".split())  # unwrapped
                                                         for o in c.outputs if o.output_type == "error")
            for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def _scores(course: Path, assignment: str, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission(assignment, student).notebooks[0]
        return {g.name: g.score for g in nb.grades}


def _graded_loop(tmp_path: Path, assignment: str, notebook: str, grade_id: str, signature: str, *options: str):
    """Grade one submission whose ``grade_id`` answer loops; return (stdout, scores, test outputs)."""
    course = make_exercises.temp_course(tmp_path / "course")
    submissions.write(_looping(assignment, notebook, grade_id, signature), course / "submitted", "looper", assignment, notebook)
    stdout = _grade(course, *options)
    return stdout, _scores(course, assignment, "looper"), _test_outputs(course, "looper", assignment, notebook)


def test_a_looping_function_is_waited_on_once(tmp_path):
    stdout, scores, outputs = _graded_loop(tmp_path, "04_pytorch", "pytorch", "lstm_step",
                                           "def lstm_step(x, h_prev, c_prev, params):", "--cell-timeout", "10")
    assert "graded looper 04_pytorch: 7/14 [ok]" in stdout, stdout
    numbers = ("test_count_proj", "test_reverse_reads", "test_cell_path")  # §5: no call to lstm_step
    assert scores["test_hidden_grad_norms"] == 1 and all(scores[t] == 2 for t in numbers)
    assert sum(scores.values()) == 7
    assert "ran longer than 10 s and was stopped" in outputs["test_lstm_step"]
    for test in ("test_lstm_step_autograd", "test_lstm_step_device", "test_lstm_cell"):
        assert "not run" in outputs[test] and "stopped in an earlier test" in outputs[test], (test, outputs[test])
        assert "CellTimeoutError" not in outputs[test]  # failed at once, not after waiting out the limit


def test_the_student_budget_keeps_the_points_earned(tmp_path):
    stdout, scores, outputs = _graded_loop(tmp_path, "03_bptt", "bptt", "numerical_gradient",
                                           "def numerical_gradient(f, x, h=1e-6):",
                                           "--cell-timeout", "600", "--student-timeout", "120")
    assert "graded looper 03_bptt: 6/15 [ok]" in stdout, stdout
    assert scores["test_lstm_step_backward"] == scores["test_lstm_backward"] == 3
    assert "stopped" in outputs["test_numerical_gradient"] or "grading time" in outputs["test_numerical_gradient"]
