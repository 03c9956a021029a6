"""Hostile and broken submissions, graded together in one real run of ``python -m grader grade``.

Thirteen students of the fixture course (tests/fixtures/grader_course/hostile.py) are graded
in one temporary course, two at a time, in the bubblewrap sandbox, with short limits so the
loops and the memory hog cost seconds.  Each test below then reads what that run left:
the score table, the gradebook, the autograded notebooks and the feedback HTML.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "grader_course"
sys.path.insert(0, str(FIXTURE))
import hostile  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def listener():
    """A TCP server on the host's loopback that the probe must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, listener):
    """Run the grader once over every hostile student; return (course dir, stdout)."""
    course = tmp_path_factory.mktemp("hostile") / "course"
    hostile.make_course(course, {s: make(course, listener) for s, (make, _, _) in hostile.STUDENTS.items()})
    cmd = [sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--jobs", "2",
           "--cell-timeout", "4", "--memory-mb", "1024", "--student-timeout", "240"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return course, proc.stdout


def _scores(course: Path) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: (s.score, s.max_score) for s in gb.find_assignment("ps1").submissions}


def _outputs(course: Path, student: str) -> list[dict]:
    nb = nbformat.read(course / "autograded" / student / "ps1" / "ps1.ipynb", as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def test_every_student_gets_the_expected_score(graded):
    course, _ = graded
    scores = _scores(course)
    assert set(scores) == set(hostile.STUDENTS)  # every student graded, nobody lost
    for student, (_, expected, _) in hostile.STUDENTS.items():
        assert scores[student] == (expected, hostile.MAX_SCORE), student


def test_score_table_and_export(graded):
    course, stdout = graded
    for student, (_, expected, _) in hostile.STUDENTS.items():
        assert any(line.split()[:4] == [student, "ps1", f"{expected:g}", f"{hostile.MAX_SCORE:g}"]
                   for line in stdout.splitlines()), student
    csv = (course / "grades.csv").read_text().splitlines()
    assert len(csv) == 1 + len(hostile.STUDENTS)


def test_broken_notebooks_get_a_clear_message(graded):
    _, stdout = graded
    for student, (_, _, message) in hostile.STUDENTS.items():
        if message:
            assert any(student in line and message in line for line in stdout.splitlines()), (student, message)


def test_loops_and_memory_hog_fail_only_their_own_test(graded):
    course, _ = graded
    loops = [o["ename"] for o in _outputs(course, "loops") if o["output_type"] == "error"]
    assert loops.count("CellTimeoutError") == 2  # add (interruptible) and double (ignores SIGINT)
    hog = [o for o in _outputs(course, "memory_hog") if o["output_type"] == "error"]
    assert [o["ename"] for o in hog] == ["MemoryError"]


def test_exit_and_os_exit_score_zero_and_grading_goes_on(graded):
    course, _ = graded
    errors = [o["ename"] for o in _outputs(course, "exits") if o["output_type"] == "error"]
    assert "KernelDied" in errors and "SystemExit" in errors


def test_sandbox_refuses_everything_the_probe_tries(graded):
    course, _ = graded
    text = "".join(o.get("text", "") for o in _outputs(course, "probe") if o["output_type"] == "stream")
    report = json.loads(text.split("PROBE", 1)[1].splitlines()[0])
    for attempt in ("read_answer_key", "read_gradebook", "read_other_student", "list_course", "write_outside",
                    "connect_loopback", "connect_internet", "spawn_600_processes"):
        assert report[attempt].startswith("refused"), (attempt, report[attempt])
    assert report["processes_started"] < 600
    assert report["rlimit_as"] == 1024 * 1024 * 1024
    assert report["uid"] >= 200000  # an unprivileged uid of its own
    assert not (course / "pwned.txt").exists()


def test_feedback_never_shows_hidden_tests(graded):
    course, _ = graded
    pages = sorted((course / "feedback").glob("*/ps1/ps1.html"))
    assert len(pages) == len(set(hostile.STUDENTS) - hostile.BROKEN)  # every notebook that could run
    for page in pages:
        html = page.read_text()
        assert "HIDDEN-SENTINEL" not in html, page
        assert "grader:guard" not in html and "GRADER-PASS" not in html, page
        assert "hidden tests: their results count" in html
    # the sentinel was really there: the instructor's autograded copy ran it
    assert "HIDDEN-SENTINEL-double" in (course / "autograded" / "cheat_helpers" / "ps1" / "ps1.ipynb").read_text()


def test_failed_hidden_test_feedback_has_no_traceback(graded):
    course, _ = graded
    html = (course / "feedback" / "cheat_helpers" / "ps1" / "ps1.html").read_text()
    assert "double(-3) is wrong" in html  # the assertion message reaches the student
    assert "most recent call last" not in html and "Cell In[" not in html


@pytest.mark.parametrize("student", ["cheat_helpers", "cheat_ipython"])
def test_the_cheats_work_without_the_guard(tmp_path, student):
    """Control: the same cheats, run as stock nbgrader runs them (no guard, no token), pass tests."""
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    from grader.canonical import canonicalize

    nb = canonicalize(json.loads(hostile.STUDENTS[student][0](tmp_path, 0)), hostile.template()).nb
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    points = sum(determine_grade(c)[0] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert points > 0  # ...which the guarded grader turns into 0 (test_every_student_gets_the_expected_score)


def test_student_wall_clock_bound_leaves_no_process_behind(tmp_path):
    """A student still running at --student-timeout gets 0 and a message; its kernel is gone.

    The cells' budget ends 3 s before the bound (12 - 12 // 4 s); a kernel that ignores the
    interrupt is then given 5 s to answer, so the bound strikes first (spinning cells that
    can be interrupted stop at the budget and keep their points: see test_grader_runaway)."""
    import time

    import psutil

    from grader.run import FIRST_UID

    course = hostile.make_course(tmp_path / "course", {"slow": hostile.deaf()})
    cmd = [sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--jobs", "1",
           "--cell-timeout", "120", "--student-timeout", "12", "--no-export"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any(line.split()[:5] == ["slow", "ps1", "0", "6", "timeout"] for line in proc.stdout.splitlines()), proc.stdout
    assert "grading took longer than 12 s" in proc.stdout
    assert "no class report: no submission was graded" in proc.stderr, proc.stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(p.info["uids"] and p.info["uids"].real == FIRST_UID
                                              for p in psutil.process_iter(["uids"])):
        time.sleep(0.5)
    assert not any(p.info["uids"] and p.info["uids"].real == FIRST_UID for p in psutil.process_iter(["uids"]))
