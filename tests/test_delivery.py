"""Feedback reaches learners without root: the course-local exchange and the LMS archives.

One learner goes the whole nbgrader way with the course's nbgrader_config.py: the
instructor releases 01_gates into the exchange inside the course folder, the learner
fetches it, answers and submits, the instructor collects, autogrades (sandboxed, through the
grader's pipeline), generates and releases feedback, and the learner fetches it.  A demo
submission copied into submitted/ (no exchange secret) is skipped by the release with a
warning naming it, and reaches its learner through ``python -m grader feedback-zip``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_cases import ROOT, submissions

sys.path.insert(0, str(ROOT / "scripts"))
import build_solutions  # noqa: E402
import make_exercises  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader")]
COURSE_ID = "lstm-course"


def _learner(cwd: Path, exchange: Path, *args: str) -> str:
    """The learner's nbgrader command, in their own folder (no course config there)."""
    cmd, env = make_exercises.nbgrader_command(cwd, *args, f"--course={COURSE_ID}", f"--Exchange.root={exchange}")
    cmd = [a for a in cmd if not a.startswith("--CourseDirectory.")]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The whole round trip; returns (course, learner folder, release_feedback's log)."""
    course = make_exercises.temp_course(tmp_path_factory.mktemp("delivery") / "course")
    exchange = course / "exchange"
    make_exercises.nbgrader(course, "generate_assignment", "01_gates", "--force")
    make_exercises.nbgrader(course, "release_assignment", "01_gates")
    learner = course.parent / "learner"
    learner.mkdir()
    _learner(learner, exchange, "fetch_assignment", "01_gates")
    answers = submissions.key_answers("01_gates", "gates")
    submissions.write(submissions.submission("01_gates", "gates", answers), learner, "", "01_gates", "gates")
    _learner(learner, exchange, "submit", "01_gates")
    submissions.copy_demo(course / "submitted")  # alice & co, copied in: no exchange secret
    make_exercises.nbgrader(course, "collect", "01_gates")
    make_exercises.nbgrader(course, "autograde", "01_gates")
    make_exercises.nbgrader(course, "generate_feedback", "01_gates")
    log = make_exercises.nbgrader(course, "release_feedback", "01_gates")
    _learner(learner, exchange, "fetch_feedback", "01_gates")
    return course, learner, log.stdout + log.stderr


def test_the_exchange_is_inside_the_course(released):
    course, _, _ = released
    assert (course / "exchange" / COURSE_ID / "feedback").is_dir()
    assert not Path("/usr/local/share/nbgrader/exchange", COURSE_ID).exists()


def test_the_learner_fetches_feedback_with_full_marks_and_no_hidden_test(released):
    _, learner, _ = released
    pages = list((learner / "01_gates" / "feedback").glob("*/gates.html"))
    assert len(pages) == 1, pages
    text = pages[0].read_text()
    assert "Score: 19.0 / 19.0" in text
    for leak in ("BEGIN HIDDEN TESTS", build_solutions.SENTINEL_HIDDEN, "grader:guard", "grader:token"):
        assert leak not in text, leak


def test_feedback_pages_load_nothing_from_the_network(released):
    _, learner, _ = released
    text = next((learner / "01_gates" / "feedback").glob("*/gates.html")).read_text()
    assert "cdnjs" not in text and 'src="http' not in text
    assert "window.MathJax" in text  # the course's own copy, inlined


def test_copied_submissions_are_named_not_fatal(released):
    course, _, log = released
    assert "Not released through the exchange" in log and "alice" in log, log[-2000:]
    released_pages = list((course / "exchange" / COURSE_ID / "feedback").glob("*.html"))
    assert len(released_pages) == 1  # the learner who submitted through the exchange


def test_feedback_zip_packs_one_archive_per_student(released):
    course, _, _ = released
    proc = subprocess.run([sys.executable, "-m", "grader", "feedback-zip", "--course-dir", str(course)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    archives = sorted((course / "feedback-zips").glob("*.zip"))
    students = sorted(p.name for p in (course / "feedback").iterdir())
    assert [a.stem for a in archives] == students and "alice" in students
    with zipfile.ZipFile(course / "feedback-zips" / "alice.zip") as zf:
        assert zf.namelist() == ["01_gates/gates.html"]
        assert "Score: 19.0 / 19.0" in zf.read("01_gates/gates.html").decode()


def test_feedback_zip_without_feedback_says_what_is_missing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "feedback-zip", "--course-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "does not exist (run `make grade` first)" in proc.stderr


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Chromium missing: run `make system-deps`")
def test_fetched_feedback_typesets_its_equations_offline(released):
    """The learner opens the page with no network: MathJax (inlined) typesets it, nothing fails."""
    pytest.importorskip("playwright.sync_api")
    from test_browser import Site, _offline_page, chromium

    _, learner, _ = released
    page_file = next((learner / "01_gates" / "feedback").glob("*/gates.html"))
    site = Site(page_file.parent, page_file.parent.as_uri() + "/")
    problems: list[str] = []
    with chromium() as context:
        page = _offline_page(context, site, problems)
        page.goto(page_file.as_uri())
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("MathJax.startup.promise")
        typeset = page.locator("mjx-container").count()
    assert problems == [], problems
    assert typeset > 0  # the notebook's markdown has equations, and they were rendered
