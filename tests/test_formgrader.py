"""Formgrader, clicked as an instructor would, keeps the grader's promises.

A temporary course with two submissions of 01_gates is graded with ``python -m grader
grade``; then a real Jupyter server (127.0.0.1, the course as its root, the course's
nbgrader_config.py) serves nbgrader's Formgrader, and Debian's Chromium, driven by
Playwright, clicks what its pages invite: Autograde on the hostile learner's submission,
Generate Feedback and Release Feedback on the assignment, and opens the manual-grading page.
Every request outside the server is blocked and recorded.  Screenshots of each step go to
``test-artifacts/formgrader/``.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import nbformat
import pytest

from course_cases import KEY_BLOCKED, KEY_READ, ROOT, hostile_submission, submissions
from test_browser import CHROMIUM, Site, _offline_page, chromium

sys.path.insert(0, str(ROOT / "scripts"))
import build_solutions  # noqa: E402
import make_exercises  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader"),
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make system-deps`")]
SHOTS = ROOT / "test-artifacts" / "formgrader"
TOKEN = "formgrader-test"
LEAKS = ("BEGIN HIDDEN TESTS", build_solutions.SENTINEL_HIDDEN, "grader:guard", "grader:token", "_grader_guard")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """01_gates released; alice (complete) and trudy (hostile) submitted and graded by make grade."""
    course = make_exercises.temp_course(tmp_path_factory.mktemp("formgrader") / "course")
    make_exercises.nbgrader(course, "generate_assignment", "01_gates", "--force")
    alice = submissions.submission("01_gates", "gates", submissions.key_answers("01_gates", "gates"))
    submissions.write(alice, course / "submitted", "alice", "01_gates", "gates")
    submissions.write(hostile_submission("01_gates"), course / "submitted", "trudy", "01_gates", "gates")
    _, env = make_exercises.nbgrader_command(course)
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--jobs", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for leftover in (course / "feedback").rglob("*.html"):
        leftover.unlink()  # what Formgrader's Generate Feedback writes is what gets checked
    return course


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter(app: str, root: Path, env: dict[str, str]) -> Iterator[Site]:
    """``jupyter <app>`` (``server``, ``lab``) serving ``root`` on 127.0.0.1 with ``TOKEN``, until the block ends."""
    port = _free_port()
    jupyter_bin = Path(sys.executable).with_name("jupyter")
    log_path = root.parent / f"{app}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(jupyter_bin), app, "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
                                 f"--ServerApp.port={port}", f"--IdentityProvider.token={TOKEN}",
                                 f"--ServerApp.root_dir={root}"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail(f"jupyter {app} did not start:\n" + log_path.read_text()[-3000:])
            yield Site(root, url + "/")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(course):
    """``jupyter server`` with nbgrader's Formgrader, serving the course on 127.0.0.1."""
    _, env = make_exercises.nbgrader_command(course)
    with jupyter("server", course, env) as site:
        yield site


@pytest.fixture(scope="module")
def clicked(server, course):
    """Click Autograde (trudy), Generate Feedback and Release Feedback; return what was seen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    seen: dict[str, str] = {}
    with chromium() as context:
        context.set_extra_http_headers({"Authorization": f"token {TOKEN}"})  # Formgrader's API calls too
        page = _offline_page(context, server, problems)
        page.goto(f"{server.url}formgrader/manage_submissions/01_gates")
        row = page.locator("tr", has_text="trudy")
        row.locator(".autograde a").click()
        seen["autograde"] = _modal_text(page, SHOTS / "1-autograde-trudy.png")
        seen["submissions"] = page.locator("table").inner_text()
        page.goto(f"{server.url}formgrader/manage_assignments")
        assignment = page.locator("tr", has_text="01_gates")
        assignment.locator(".generate-feedback a").click()
        seen["generate_feedback"] = _modal_text(page, SHOTS / "2-generate-feedback.png")
        assignment.locator(".release-feedback a").click()
        seen["release_feedback"] = _modal_text(page, SHOTS / "3-release-feedback.png")
        page.goto(f"{server.url}formgrader/manage_students/trudy/01_gates")
        page.locator("td a", has_text="gates").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SHOTS / "4-manual-grading-trudy.png"), full_page=True)
        seen["manual_grading"] = page.content()
    seen["problems"] = "\n".join(problems)
    return seen


def _modal_text(page, shot: Path) -> str:
    """Wait for Formgrader's success or error dialog, screenshot it, close it, return its text."""
    modal = page.locator("#success-modal, #error-modal").first
    modal.wait_for(state="visible", timeout=300_000)
    page.wait_for_timeout(600)  # Bootstrap's fade-in
    page.screenshot(path=str(shot))
    text = modal.inner_text()
    modal.locator(".modal-footer button", has_text="OK").click()
    modal.wait_for(state="detached")
    return text


def test_autograde_button_grades_the_hostile_learner_sandboxed_to_zero(clicked, course):
    from nbgrader.api import Gradebook

    assert "Successfully autograded" in clicked["autograde"], clicked["autograde"][-3000:]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        sub = gb.find_submission("01_gates", "trudy")
        tests = {g.name: g.score for nb in sub.notebooks for g in nb.grades if g.name.startswith("test_")}
    assert tests and all(score == 0 for score in tests.values()), tests
    nb = nbformat.read(course / "autograded" / "trudy" / "01_gates" / "gates.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert KEY_BLOCKED in printed and KEY_READ not in printed  # the kernel ran in the sandbox


def test_generate_feedback_button_writes_pages_without_hidden_tests(clicked, course):
    assert "Successfully generated feedback" in clicked["generate_feedback"], clicked["generate_feedback"][-3000:]
    pages = sorted((course / "feedback").rglob("*.html"))
    assert [p.parts[-3] for p in pages] == ["alice", "trudy"]
    for page in pages:
        text = page.read_text()
        for leak in LEAKS:
            assert leak not in text, (page, leak)
        assert "cdnjs" not in text, page
    assert "Score: 19.0 / 19.0" in (course / "feedback" / "alice" / "01_gates" / "gates.html").read_text()


def test_release_feedback_button_works_and_names_copied_submissions(clicked, course):
    text = clicked["release_feedback"]
    assert "Successfully released feedback" in text, text[-3000:]
    assert re.search(r"Not released through the exchange .*alice, trudy", text), text[-3000:]
    assert (course / "exchange").is_dir()


def test_manual_grading_page_shows_no_grader_internals(clicked):
    html = clicked["manual_grading"]
    assert "test_forget_gate" in html  # the page really is trudy's notebook
    for leak in LEAKS[2:]:
        assert leak not in html, leak


def test_students_are_listed_by_id_not_none(clicked):
    assert "None, None" not in clicked["submissions"]
    assert "trudy" in clicked["submissions"] and "alice" in clicked["submissions"]


def test_no_request_leaves_the_machine_and_no_page_logs_an_error(clicked):
    assert clicked["problems"] == "", clicked["problems"]  # MathJax included: the course's copy, inlined
    assert "cdnjs" not in clicked["manual_grading"] and "window.MathJax" in clicked["manual_grading"]
