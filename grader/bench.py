"""``python -m grader bench``: submissions graded per minute, one worker vs one per core.

The course's answer keys are submitted as the work of ``--students`` students of one
assignment, in two fresh temporary copies of the course; the first is graded with
``--jobs 1``, the second with ``--jobs N``.  The wall time includes everything a real run
does (template, sandboxed kernels, feedback, gradebook, export), so the figures are what an
instructor sees.  Not a test: it prints and optionally writes JSON, it asserts nothing.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from .course import Course
from .run import Options, grade_course


def make_copy(course: Course, assignment: str, students: int, dest: Path) -> Path:
    """A course with the answer keys of ``assignment`` submitted ``students`` times."""
    dest.mkdir(parents=True)
    if course.config_file:
        shutil.copy(course.config_file, dest / "nbgrader_config.py")
    shutil.copytree(course.source / assignment, dest / course.source.name / assignment)
    for i in range(students):
        shutil.copytree(course.source / assignment, dest / course.submitted.name / f"student{i:03d}" / assignment)
    return dest


def run_bench(course_dir: Path, students: int, jobs: int, sandbox: bool, json_path: Path | None,
              assignment: str | None = None) -> dict:
    course = Course.load(course_dir)
    assignment = assignment or sorted(p.name for p in course.source.iterdir() if p.is_dir())[0]
    results = []
    for n_jobs in (1, jobs):
        with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
            copy = make_copy(course, assignment, students, Path(tmp) / "course")
            start = time.perf_counter()
            rows = grade_course(copy, [assignment], Options(jobs=n_jobs, sandbox=sandbox, progress=False),
                                log=lambda *a, **k: None)
            seconds = time.perf_counter() - start
        full = sum(r.score == r.max_score for r in rows)
        results.append({"jobs": n_jobs, "students": students, "seconds": round(seconds, 1),
                        "per_minute": round(60 * students / seconds, 2), "full_marks": full})
    results[1]["speedup"] = round(results[0]["seconds"] / results[1]["seconds"], 2)
    report = {"course": str(course.root), "assignment": assignment, "sandbox": sandbox, "runs": results}
    print(f"grading throughput, {assignment!r} x {students} submissions (sandbox {'on' if sandbox else 'off'}):")
    print(f"{'jobs':>5} {'seconds':>9} {'subm/min':>9} {'full marks':>11}")
    for r in results:
        print(f"{r['jobs']:>5} {r['seconds']:>9.1f} {r['per_minute']:>9.2f} {r['full_marks']:>6}/{students}")
    print(f"parallel speed-up: {results[1]['speedup']:.2f}x with {jobs} workers")
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
    return report
