"""The gradebook side: LMS download via zip_collect, interrupted and repeated runs, PostgreSQL,
manual grades kept across runs.

Both tests run ``python -m grader grade`` for real on a small course whose submissions
arrive the way an LMS delivers them: one zip of files named
``<assignment>_<student>_attempt_<timestamp>_<notebook>``, unpacked by ``nbgrader zip_collect``.
"""
from __future__ import annotations

import csv
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "grader_course"
sys.path.insert(0, str(FIXTURE))
import hostile  # noqa: E402

pytestmark = pytest.mark.slow
BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
COLLECT = 'c.FileNameCollectorPlugin.named_regexp = r".*_(?P<student_id>\\w+?)_attempt_(?P<timestamp>[0-9\\-]+)_(?P<file_id>\\w+\\.ipynb)"\n'
EXPECTED = {"ann": 6.0, "cid": 3.0}  # cid: add and sigmoid wrong, double right


def lms_course(root: Path) -> Path:
    """Fixture course with two submissions collected from an LMS zip by nbgrader zip_collect."""
    hostile.make_course(root, {})
    with open(root / "nbgrader_config.py", "a") as f:
        f.write(COLLECT)
    answers = {"ann": hostile.GOOD, "cid": dict(hostile.WRONG, sol_double=hostile.GOOD["sol_double"])}
    archive = root / "downloaded" / "ps1" / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms_download.zip", "w") as z:
        for student, ans in answers.items():
            z.writestr(f"ps1_{student}_attempt_2026-11-20-10-00-00_ps1.ipynb", hostile.dumps(hostile.answered(ans)))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", "ps1"], cwd=root, env=ENV,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (root / "submitted").iterdir()) == sorted(answers)
    return root


def grade_cmd(course: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", "--course-dir", str(course), "--cell-timeout", "20", *extra]


def scores(db_url: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    from grader.course import normalize_db_url

    with Gradebook(normalize_db_url(db_url)) as gb:
        return {s.student.id: (s.score, s.max_score) for s in gb.find_assignment("ps1").submissions}


def auto_scores(db_url: str) -> dict[tuple[str, str], float]:
    """Every autograder score, by (student, test cell)."""
    from nbgrader.api import Gradebook

    from grader.course import normalize_db_url

    with Gradebook(normalize_db_url(db_url)) as gb:
        return {(s.student.id, g.name): g.auto_score for s in gb.find_assignment("ps1").submissions
                for nb in s.notebooks for g in nb.grades}


def test_interrupted_run_keeps_grades(tmp_path):
    """Also the --no-sandbox path (limits only), for machines without bubblewrap."""
    course = lms_course(tmp_path / "course")
    db = f"sqlite:///{course / 'gradebook.db'}"
    # kill the grader (its whole process group, as a crash would) once the first student is committed
    proc = subprocess.Popen(grade_cmd(course, "--jobs", "1", "--no-sandbox"), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    first = next(line for line in proc.stdout if line.startswith("graded "))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    student = first.split()[1]
    assert scores(db) == {student: (EXPECTED[student], 6.0)}
    kept = auto_scores(db)
    # running again grades everyone and gives the committed student the same scores
    done = subprocess.run(grade_cmd(course, "--jobs", "2", "--no-sandbox"), cwd=ROOT, env=ENV,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert scores(db) == {s: (v, 6.0) for s, v in EXPECTED.items()}
    assert {k: v for k, v in auto_scores(db).items() if k[0] == student} == kept
    with open(course / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["student_id"]: r["timestamp"] for r in rows} == {s: "2026-11-20 10:00:00" for s in EXPECTED}


def override(db_url: str, student: str, cell: str, score: float, comment: str) -> None:
    """What formgrader does when a person grades a cell: a manual score and comment."""
    from nbgrader.api import Gradebook

    from grader.course import normalize_db_url

    with Gradebook(normalize_db_url(db_url)) as gb:
        gb.find_grade(cell, "ps1", "ps1", student).manual_score = score
        gb.find_comment("sol_double", "ps1", "ps1", student).manual_comment = comment
        gb.db.commit()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server():
    """A private PostgreSQL cluster on a free 127.0.0.1 port, removed afterwards."""
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert bindirs, "PostgreSQL is not installed: run `make system-deps` (Debian package postgresql)"
    bindir = Path(bindirs[-1])
    tmp = Path(tempfile.mkdtemp(prefix="grader-pg-"))
    os.chmod(tmp, 0o755)
    as_user = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(tmp, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = tmp / "data", _free_port()

    def run(*cmd):
        subprocess.run(as_user + [str(bindir / cmd[0]), *cmd[1:]], check=True, capture_output=True, text=True)

    run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run("pg_ctl", "-D", str(data), "-l", str(tmp / "log"), "-w", "start",
        "-o", f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off")
    try:
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gradebook")
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)


def test_postgresql_gradebook_parallel_idempotent_keeps_manual_grades(tmp_path):
    course = lms_course(tmp_path / "course")
    with postgres_server() as url:
        done = subprocess.run(grade_cmd(course, "--jobs", "2", "--db-url", url), cwd=ROOT, env=ENV,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert scores(url) == {s: (v, 6.0) for s, v in EXPECTED.items()}
        first = auto_scores(url)
        # a person overrides one test of ann's in formgrader; grading again changes no
        # autograder score and keeps the person's score and comment
        override(url, "ann", "test_double", 1.5, "Half marks: see the rubric (manual note)")
        again = subprocess.run(grade_cmd(course, "--jobs", "2", "--db-url", url), cwd=ROOT, env=ENV,
                               capture_output=True, text=True)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        assert auto_scores(url) == first
        assert scores(url) == {"ann": (4.5, 6.0), "cid": (EXPECTED["cid"], 6.0)}
        # as in Formgrader, a regraded cell with a person's score is flagged for review again
        ann = next(line for line in again.stdout.splitlines() if line.startswith("ann "))
        assert ann.endswith("ok, needs manual grading (3 points pending)"), ann
    assert "manual note" in (course / "feedback" / "ann" / "ps1" / "ps1.html").read_text()
    assert not (course / "gradebook.db").exists()  # nothing went to the SQLite default
    with open(course / "grades.csv") as f:
        assert {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)} == {"ann": 4.5, "cid": EXPECTED["cid"]}
