"""Grade every submission of a course: parallel workers, one serial gradebook writer.

For each assignment: build the trusted template, make sure the course gradebook knows
the assignment, then run one :mod:`grader.worker` process per student (``--jobs`` at a
time, each under a wall-clock limit) and, as each one finishes, copy its autograded
notebooks and feedback into the course and commit its scores.  Finally ``nbgrader
export`` writes ``grades.csv`` and a table of scores is printed.  Each assignment's rows
(status and wall-clock seconds per student included) are saved in
``report/grading-run.json`` of the course, which the class report reads.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from .classdata import RUN_FILE, load_run
from .course import Course, Template, build_template, tool_env
from .feedback import generate_in_course
from .gradebook import ensure_assignment, record
from .sandbox import preflight

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
FIRST_UID = 200000  # sandboxed kernels run as FIRST_UID + i: a process limit per student


@dataclass
class Options:
    """How to grade; every default is what ``make grade`` uses."""

    jobs: int = os.cpu_count() or 1          # one worker (one kernel) per core
    sandbox: bool = True                     # bubblewrap around the kernel (limits apply either way)
    cell_timeout: int | None = None          # seconds per cell (scores 0 when exceeded); None: the
                                             # course's Execute.timeout, else 60
    student_timeout: int = 900               # wall-clock bound on one student's whole grading
    memory_mb: int = 2048                    # address-space limit of a student's kernel
    cpu_s: int = 600                         # CPU seconds of a student's kernel before it is killed
    db_url: str | None = None                # course gradebook; None: the course's (SQLite) one
    export: bool = True                      # run nbgrader export (grades.csv) at the end
    progress: bool = True                    # tqdm bar on stderr


@dataclass
class Row:
    """One line of the score table."""

    student: str
    assignment: str
    score: float
    max_score: float
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    pending: float = 0.0  # points of cells that still need a person (manual grading)
    seconds: float = 0.0  # wall-clock time of this student's grading (worker start to result)


def _timestamp(submission: Path):
    from nbgrader.utils import parse_utc

    stamp = submission / "timestamp.txt"
    try:
        return parse_utc(stamp.read_text().strip()) if stamp.exists() else None
    except Exception:  # an unreadable timestamp is not a reason to lose the grade
        return None


def run_worker(spec: dict, timeout: int) -> dict:
    """One student in a subprocess; a hang or crash becomes a result saying so."""
    tmp = Path(spec["tmp"])
    tmp.mkdir(parents=True)
    spec_file, result_file, log_file = tmp.parent / f"{tmp.name}.json", tmp.parent / f"{tmp.name}.out.json", tmp.parent / f"{tmp.name}.log"
    spec_file.write_text(json.dumps(spec))
    env = tool_env({"PYTHONPATH": str(PACKAGE_ROOT)})
    with open(log_file, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grader.worker", str(spec_file), str(result_file)],
                                cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the kernels die with it (PR_SET_PDEATHSIG)
            proc.wait()
            return {"ok": False, "status": "timeout", "error": f"grading took longer than {timeout} s; 0 points"}
    if proc.returncode != 0 or not result_file.exists():
        tail = log_file.read_text()[-2000:]
        return {"ok": False, "status": "error", "error": f"worker exited with {proc.returncode}: {tail}"}
    return json.loads(result_file.read_text())


def timed_worker(spec: dict, timeout: int) -> dict:
    """:func:`run_worker`, with its wall-clock duration in ``seconds``."""
    start = time.monotonic()
    result = run_worker(spec, timeout)
    return {**result, "seconds": time.monotonic() - start}


def save_run(course_root: Path, rows: list[Row]) -> Path:
    """Write ``rows`` to ``report/grading-run.json``, replacing earlier rows of the same
    assignments and keeping those of the others."""
    path = course_root / RUN_FILE
    graded = {r.assignment for r in rows}
    try:
        kept = [r for r in load_run(course_root) if r.get("assignment") not in graded]
    except ValueError:  # an unreadable file is replaced
        kept = []
    merged = sorted(kept + [asdict(r) for r in rows], key=lambda r: (r["assignment"], r["student"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"rows": merged}, indent=1))
    tmp.replace(path)  # a reader never sees half a file
    return path


def _replace_dir(src: Path | None, dst: Path) -> None:
    """Put ``src`` at ``dst`` (old content removed); ``src=None`` just removes ``dst``."""
    old = dst.with_name(dst.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        dst.rename(old)
    if src is not None and src.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def _notes(result: dict) -> list[str]:
    notes = [f"{nb}: {n}" for nb, items in (result.get("notes") or {}).items() for n in items]
    if not result.get("ok"):
        notes.append(result.get("error", "grading failed"))
    elif result.get("feedback_ok") is False:
        notes.append(f"graded, but no feedback: {result.get('feedback_error', '')[-300:]}")
    return notes


def _execution_budget(student_timeout: int) -> int:
    """Seconds of cell execution per student: the bound less a margin for starting the kernel,
    saving the grades and writing feedback, so the points earned are saved before the bound
    kills the worker (which then costs the student everything)."""
    return max(1, student_timeout - min(120, student_timeout // 4))


def grade_assignment(course: Course, assignment: str, opts: Options, work: Path, log=print) -> list[Row]:
    template: Template = build_template(course, assignment, work)
    ensure_assignment(course.db_url, course.course_id, template)
    students = course.students(assignment)
    base = dict(template=str(template.root), assignment=assignment, course_id=course.course_id,
                memory_mb=opts.memory_mb, cpu_s=opts.cpu_s, sandbox=opts.sandbox,
                cell_timeout=opts.cell_timeout or course.execute_timeout or 60, budget=_execution_budget(opts.student_timeout))
    rows = []
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        futures = {}
        for i, student in enumerate(students):
            spec = dict(base, student=student, submission=str(course.submitted / student / assignment),
                        tmp=str(work / "s" / str(i)), uid=FIRST_UID + i)  # short: the kernel's sockets live
                                                                            # below it (107-byte limit on their paths)
            futures[pool.submit(timed_worker, spec, opts.student_timeout)] = student, Path(spec["tmp"])
        bar = tqdm(total=len(futures), desc=f"grading {assignment}", unit="student", disable=not opts.progress)
        for future in as_completed(futures):
            student, tmp = futures[future]
            result = future.result()
            graded = result.get("ok") and result.get("scores") is not None
            for kind, dest in (("autograded", course.autograded), ("feedback", course.feedback)):
                src = tmp / kind / student / assignment
                _replace_dir(src if graded else None, dest / student / assignment)
            score, max_score, manual, pending = record(course.db_url, course.course_id, assignment, student,
                                              result.get("scores") if result.get("ok") else None,
                                              _timestamp(course.submitted / student / assignment))
            if manual and graded:
                generate_in_course(course, assignment, student)
            status = "ok" if result.get("ok") else result.get("status", "error")
            if result.get("ok") and result.get("broken"):
                status = "broken"
            row = Row(student, assignment, score, max_score, status, _notes(result), pending, result["seconds"])
            rows.append(row)
            log(f"graded {student} {assignment}: {score:g}/{max_score:g} [{status}]", flush=True)
            shutil.rmtree(tmp, ignore_errors=True)
            bar.update()
        bar.close()
    return sorted(rows, key=lambda r: r.student)


def export(course: Course) -> Path:
    """nbgrader's CSV export of the whole gradebook into ``grades.csv`` of the course directory."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    dest = course.root / "grades.csv"
    with Gradebook(course.db_url, course.course_id) as gb:
        CsvExportPlugin(to=str(dest)).export(gb)
    return dest


def grade_course(course_dir: Path, assignments: list[str] | None = None, opts: Options | None = None,
                 log=print) -> list[Row]:
    """Grade ``assignments`` (default: every assignment with submissions) of a course."""
    opts = opts or Options()
    os.environ["PATH"] = tool_env()["PATH"]  # nbgrader's Gradebook runs `alembic` from PATH
    problem = preflight() if opts.sandbox else None
    if problem:
        raise ValueError(problem)
    course = Course.load(course_dir, opts.db_url)
    wanted = assignments or course.assignments()
    if not wanted:
        raise ValueError(f"no submissions to grade: expected {course.submitted}/<student>/<assignment>/*.ipynb "
                         f"with a matching {course.source}/<assignment>/")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="grader-") as work:
        for assignment in wanted:
            if not (course.source / assignment).is_dir():
                raise ValueError(f"assignment {assignment!r} has no source folder {course.source / assignment}")
            graded = grade_assignment(course, assignment, opts, Path(work) / assignment, log)
            save_run(course.root, graded)
            rows += graded
    if opts.export:
        export(course)
    return rows


def format_table(rows: list[Row]) -> str:
    """Plain-text score table, one line per student and assignment, notes below."""
    head = f"{'student':<20} {'assignment':<14} {'score':>7} {'max':>6}  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        waiting = f", needs manual grading ({r.pending:g} points pending)" if r.pending else ""
        lines.append(f"{r.student:<20} {r.assignment:<14} {r.score:>7g} {r.max_score:>6g}  {r.status}{waiting}")
    notes = [f"  {r.student}/{r.assignment}: {n}" for r in rows for n in r.notes]
    return "\n".join(lines + (["", "notes:"] + notes if notes else []))
