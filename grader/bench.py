"""``python -m grader bench``: submissions graded per minute, and the grader's cost per notebook.

Throughput: the course's answer keys are submitted as the work of ``--students`` students
of one assignment, in fresh temporary copies of the course, graded with ``--jobs 1``,
with ``--jobs N`` and, given ``--scheduler``, on that Dask cluster, one after the other in
the same run.  The wall time includes everything a real run does (template, sandboxed
kernels, feedback, gradebook, export), so the figures are what an instructor sees.

Overhead (``--overhead R``): one submission, ``R`` times in turn, as a bare ``jupyter
nbconvert --to notebook --execute`` of its notebooks and as the grader's work for one
student (:func:`grader.task.grade_task`: canonical rebuild, guard, sandboxed kernel,
autograde, feedback; then the client's commit), interleaved so both see the same load.

Not a test: it prints and optionally writes JSON, it asserts nothing.
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .course import Course, build_template, tool_env
from .run import FIRST_UID, Options, grade_course, worker_settings


def make_copy(course: Course, assignment: str, students: int, dest: Path) -> Path:
    """A course with the answer keys of ``assignment`` submitted ``students`` times."""
    dest.mkdir(parents=True)
    if course.config_file:
        shutil.copy(course.config_file, dest / "nbgrader_config.py")
    shutil.copytree(course.source / assignment, dest / course.source.name / assignment)
    for i in range(students):
        shutil.copytree(course.source / assignment, dest / course.submitted.name / f"student{i:03d}" / assignment)
    return dest


def _throughput(course: Course, assignment: str, students: int, opts: Options, label: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        copy = make_copy(course, assignment, students, Path(tmp) / "course")
        start = time.perf_counter()
        rows = grade_course(copy, [assignment], opts, log=lambda *a, **k: None)
        seconds = time.perf_counter() - start
    return {"run": label, "students": students, "seconds": round(seconds, 1),
            "per_minute": round(60 * students / seconds, 2), "full_marks": sum(r.score == r.max_score for r in rows),
            "task_seconds_median": round(statistics.median(r.seconds for r in rows), 2)}


def _workers(scheduler: str) -> int:
    from .executors import DaskPool

    pool = DaskPool(scheduler, sandbox=False)
    try:
        return pool.workers()
    finally:
        pool.close()


def throughput(course: Course, assignment: str, students: int, jobs: int, sandbox: bool,
               scheduler: str | None) -> list[dict]:
    """One run per pool: 1 local worker, ``jobs`` local workers, the cluster (if given)."""
    runs = [_throughput(course, assignment, students, Options(jobs=n, sandbox=sandbox, progress=False), f"local x{n}")
            for n in (1, jobs)]
    if scheduler:
        opts = Options(scheduler=scheduler, sandbox=sandbox, progress=False)
        runs.append(_throughput(course, assignment, students, opts, f"dask x{_workers(scheduler)}"))
    for run in runs:
        run["speedup"] = round(runs[0]["seconds"] / run["seconds"], 2)
    return runs


def _bare_nbconvert(folder: Path, out: Path) -> float:
    """Seconds of ``jupyter nbconvert --execute`` over the notebooks of ``folder``, one command each."""
    start = time.perf_counter()
    for nb in sorted(folder.glob("*.ipynb")):
        subprocess.run([str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=600", "--output-dir", str(out), str(nb)],
                       cwd=folder, env=tool_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def _graded(course: Course, assignment: str, sandbox: bool, work: Path):
    """``(task, template bytes, commit)`` for the copy's one student, ready to run again and again."""
    from .commit import commit
    from .gradebook import ensure_assignment
    from .transfer import pack_template, read_tree

    template = build_template(course, assignment, work / "t")
    ensure_assignment(course.db_url, course.course_id, template)
    bundle = pack_template(template.root)
    student = course.students(assignment)[0]
    spec = dict(worker_settings(course, Options(sandbox=sandbox)), assignment=assignment, student=student, uid=FIRST_UID)
    task = dict(spec=spec, submission=read_tree(course.submitted / student / assignment),
                template_sha256=bundle.sha256, timeout=900, cache=str(work / "cache"))
    return task, bundle.data, lambda result: commit(course, assignment, student, result, 0.0)


def overhead(course: Course, assignment: str, repeats: int, sandbox: bool) -> dict:
    """Median seconds per submission, bare nbconvert vs the grader, measured in turns."""
    from .task import grade_task

    bare, task_s, commit_s = [], [], []
    with tempfile.TemporaryDirectory(prefix="grader-overhead-") as tmp:
        copy = Course.load(make_copy(course, assignment, 1, Path(tmp) / "course"))
        task, template, commit = _graded(copy, assignment, sandbox, Path(tmp))
        for _ in range(repeats):
            bare.append(_bare_nbconvert(copy.submitted / task["spec"]["student"] / assignment, Path(tmp) / "bare"))
            start = time.perf_counter()
            result = grade_task(task, template)
            task_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            row = commit(result)
            commit_s.append(time.perf_counter() - start)
    med = {k: round(statistics.median(v), 2) for k, v in (("bare", bare), ("task", task_s), ("commit", commit_s))}
    return {"repeats": repeats, "notebooks": len(list((course.source / assignment).glob("*.ipynb"))),
            "bare_nbconvert_s": med["bare"], "grader_task_s": med["task"], "grader_commit_s": med["commit"],
            "ratio": round((med["task"] + med["commit"]) / med["bare"], 2), "last_score": row.score,
            "bare_all": [round(x, 2) for x in bare], "task_all": [round(x, 2) for x in task_s]}


def _print(report: dict) -> None:
    print(f"grading throughput, {report['assignment']!r} x {report['runs'][0]['students']} submissions "
          f"(sandbox {'on' if report['sandbox'] else 'off'}):")
    print(f"{'run':>10} {'seconds':>9} {'subm/min':>9} {'speed-up':>9} {'s/student':>10} {'full marks':>11}")
    for r in report["runs"]:
        print(f"{r['run']:>10} {r['seconds']:>9.1f} {r['per_minute']:>9.2f} {r['speedup']:>8.2f}x "
              f"{r['task_seconds_median']:>10.2f} {r['full_marks']:>6}/{r['students']}")
    o = report.get("overhead")
    if o:
        print(f"per submission ({o['notebooks']} notebook(s), median of {o['repeats']} turns): bare nbconvert "
              f"{o['bare_nbconvert_s']:.2f} s, grader {o['grader_task_s']:.2f} s + commit {o['grader_commit_s']:.2f} s"
              f" = {o['ratio']:.2f}x")


def run_bench(course_dir: Path, students: int, jobs: int, sandbox: bool, json_path: Path | None,
              assignment: str | None = None, scheduler: str | None = None, repeats: int = 0) -> dict:
    course = Course.load(course_dir)
    assignment = assignment or sorted(p.name for p in course.source.iterdir() if p.is_dir())[0]
    report = {"course": str(course.root), "assignment": assignment, "sandbox": sandbox,
              "runs": throughput(course, assignment, students, jobs, sandbox, scheduler)}
    if repeats:
        report["overhead"] = overhead(course, assignment, repeats, sandbox)
    _print(report)
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
    return report
