"""Grade every submission of a course: many workers, one serial gradebook writer.

For each assignment: build the trusted template, make sure the course gradebook knows
the assignment, then send one task per student (:func:`grader.task.grade_task`: the
submission's files and the template's hash in; scores, autograded notebooks and feedback
out; all as bytes) to a pool of workers, ``--jobs`` local ones or the workers of a Dask
cluster (``--scheduler``), a window at a time (:mod:`grader.dispatch`), and, as each result
arrives, write its files into the course and commit its scores (:mod:`grader.commit`).  Finally ``nbgrader export`` writes
``grades.csv`` and a table of scores is printed.  Each assignment's rows (status and
wall-clock seconds per student included) are saved in ``report/grading-run.json`` of the
course, which the class report reads.  A run that was stopped resumes where it stopped
(:mod:`grader.journal`).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from .classdata import RUN_FILE, load_run
from .commit import NOT_GRADED, Row, commit
from .course import Course, Template, build_template, tool_env
from .dispatch import dispatch
from .executors import SchedulerError, open_pool
from .gradebook import ensure_assignment
from .journal import Journal, settings_key
from .sandbox import preflight
from .task import grade_task, run_worker, timed_worker  # noqa: F401 (run_worker, timed_worker: public before)
from .transfer import digest, pack_template, read_tree

FIRST_UID = 200000  # sandboxed kernels run as FIRST_UID + i: a process limit per student


@dataclass
class Options:
    """How to grade; every default is what ``make grade`` uses."""

    jobs: int = os.cpu_count() or 1  # one worker (one kernel) per core
    sandbox: bool = True  # bubblewrap around the kernel (limits apply either way)
    # seconds per cell (0 points past it); None: the course's Execute.timeout, or 60
    cell_timeout: int | None = None
    student_timeout: int = 900  # wall-clock bound on one student's whole grading
    memory_mb: int = 2048  # address-space limit of a student's kernel
    cpu_s: int = 600  # CPU seconds of a student's kernel before it is killed
    db_url: str | None = None  # course gradebook; None: the course's (SQLite) one
    export: bool = True  # run nbgrader export (grades.csv) at the end
    progress: bool = True  # tqdm bar on stderr
    scheduler: str | None = None  # Dask scheduler tcp://HOST:PORT; None: --jobs locally
    # Dask: reruns of a task that raised (a lost worker's tasks are rescheduled by the
    # scheduler itself)
    retries: int = 2
    connect_timeout: float = 10  # Dask: seconds to reach the scheduler, find a worker
    fresh: bool = False  # regrade all, also students a stopped run committed


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


def _execution_budget(student_timeout: int) -> int:
    """Seconds of cell execution per student: the bound less a margin for starting the kernel,
    saving the grades and writing feedback, so the points earned are saved before the bound
    kills the worker (which then costs the student everything)."""
    return max(1, student_timeout - min(120, student_timeout // 4))


def worker_settings(course: Course, opts: Options) -> dict:
    """What the worker is told besides the student: the same for every student of a run."""
    return dict(course_id=course.course_id, memory_mb=opts.memory_mb, cpu_s=opts.cpu_s, sandbox=opts.sandbox,
                cell_timeout=opts.cell_timeout or course.execute_timeout or 60,
                budget=_execution_budget(opts.student_timeout))


def _sources(course: Course, assignment: str) -> str:
    """Hash of what the template is built from: the answer keys and the course's config (the
    template's own bytes differ from build to build: its gradebook records times)."""
    files = read_tree(course.source / assignment)
    if course.config_file:
        files["\0nbgrader_config.py"] = course.config_file.read_bytes()
    return digest(files)


def _max_score(template: Template) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(template.db_url) as gb:
        return gb.find_assignment(template.assignment).max_score


def _plan(course: Course, assignment: str, done: dict) -> tuple[list[Row], list[tuple[int, str]]]:
    """Rows of the students a stopped run committed (for the same submission), and
    ``(index, student)`` of the others."""
    kept, todo = [], []
    for i, student in enumerate(course.students(assignment)):
        entry = done.get(student)
        if entry and entry["submission"] == digest(read_tree(course.submitted / student / assignment)):
            kept.append(Row(**entry["row"]))
        else:
            todo.append((i, student))
    return kept, todo


def _tasks(course: Course, assignment: str, opts: Options, pool, sha256: str, todo: list[tuple[int, str]]):
    """``((student, submission hash), task)`` for each of ``todo``, its files read when it is sent."""
    settings = worker_settings(course, opts)
    for i, student in todo:
        files = read_tree(course.submitted / student / assignment)
        spec = dict(settings, assignment=assignment, student=student, uid=FIRST_UID + i)
        yield (student, digest(files)), dict(spec=spec, submission=files, template_sha256=sha256,
                                             timeout=opts.student_timeout, cache=pool.cache)


def grade_assignment(course: Course, assignment: str, opts: Options, pool, work: Path, log=print) -> list[Row]:
    """Grade every student of ``assignment`` on ``pool``; commit each as its result arrives."""
    template = build_template(course, assignment, work)
    ensure_assignment(course.db_url, course.course_id, template)
    bundle, max_score = pack_template(template.root), _max_score(template)
    journal = Journal(course.root, assignment, settings_key(_sources(course, assignment),
                                                            {**worker_settings(course, opts), "db": course.db_url}))
    rows, todo = _plan(course, assignment, {} if opts.fresh else journal.committed())
    if rows:
        were = "student was" if len(rows) == 1 else "students were"
        log(f"resuming {assignment}: {len(rows)} {were} committed by a run that stopped; "
            f"grading the other {len(todo)} (--fresh grades everyone)", flush=True)
    shared = pool.share(bundle)  # held until the assignment is done
    bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="student", disable=not opts.progress,
               postfix=f"{pool.workers()} workers")
    tasks = _tasks(course, assignment, opts, pool, bundle.sha256, todo)
    for (student, submission), result in dispatch(grade_task, shared, tasks, pool):
        row = commit(course, assignment, student, result, max_score)
        if row.status != NOT_GRADED:
            journal.add(student, submission, asdict(row))
        rows.append(row)
        if row.status == NOT_GRADED:
            log(f"{student} {assignment}: {result['error'][:300]}", flush=True)
        else:
            log(f"graded {student} {assignment}: {row.score:g}/{row.max_score:g} [{row.status}]", flush=True)
        bar.set_postfix_str(f"{pool.workers()} workers", refresh=False)
        bar.update()
    bar.close()
    if all(r.status != NOT_GRADED for r in rows):
        journal.finish()
    del shared
    return sorted(rows, key=lambda r: r.student)


def export(course: Course) -> Path:
    """nbgrader's CSV export of the whole gradebook into ``grades.csv`` of the course directory."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    dest = course.root / "grades.csv"
    with Gradebook(course.db_url, course.course_id) as gb:
        CsvExportPlugin(to=str(dest)).export(gb)
    return dest


def _wanted(course: Course, assignments: list[str] | None) -> list[str]:
    wanted = assignments or course.assignments()
    if not wanted:
        raise ValueError(f"no submissions to grade: expected {course.submitted}/<student>/<assignment>/*.ipynb "
                         f"with a matching {course.source}/<assignment>/")
    for assignment in wanted:
        if not (course.source / assignment).is_dir():
            raise ValueError(f"assignment {assignment!r} has no source folder {course.source / assignment}")
    return wanted


def grade_course(course_dir: Path, assignments: list[str] | None = None, opts: Options | None = None,
                 log=print) -> list[Row]:
    """Grade ``assignments`` (default: every assignment with submissions) of a course.

    Raises ValueError (:class:`grader.executors.SchedulerError` for a cluster that cannot
    grade) before anything is graded when the run cannot work.
    """
    opts = opts or Options()
    os.environ["PATH"] = tool_env()["PATH"]  # nbgrader's Gradebook runs `alembic` from PATH
    problem = preflight() if opts.sandbox and not opts.scheduler else None  # a cluster checks its workers
    if problem:
        raise ValueError(problem)
    course = Course.load(course_dir, opts.db_url)
    wanted = _wanted(course, assignments)
    rows: list[Row] = []
    pool = open_pool(opts.scheduler, opts.jobs, opts.retries, opts.connect_timeout, opts.sandbox)
    try:
        with tempfile.TemporaryDirectory(prefix="grader-") as work:
            for assignment in wanted:
                graded = grade_assignment(course, assignment, opts, pool, Path(work) / assignment, log)
                save_run(course.root, graded)
                rows += graded
    except BaseException:
        pool.close(cancel=True)
        raise
    pool.close()
    if opts.export:
        export(course)
    return rows


def format_table(rows: list[Row]) -> str:
    """Plain-text score table, one line per student and assignment, notes below; the name
    columns as wide as their longest entry (``06_sequence_models`` included)."""
    ws = max([20, *(len(r.student) for r in rows)])
    wa = max([14, *(len(r.assignment) for r in rows)])
    head = f"{'student':<{ws}} {'assignment':<{wa}} {'score':>7} {'max':>6}  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        waiting = f", needs manual grading ({r.pending:g} points pending)" if r.pending else ""
        lines.append(f"{r.student:<{ws}} {r.assignment:<{wa}} {r.score:>7g} {r.max_score:>6g}  {r.status}{waiting}")
    notes = [f"  {r.student}/{r.assignment}: {n}" for r in rows for n in r.notes]
    return "\n".join(lines + (["", "notes:"] + notes if notes else []))
