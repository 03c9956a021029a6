"""Command line: ``python -m grader grade``, ``report``, ``feedback-zip`` and ``bench``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .run import Options, format_table, grade_course


def _grade_args(p: argparse.ArgumentParser) -> None:
    d = Options()
    p.add_argument("--course-dir", type=Path, default=Path("."), help="nbgrader course directory (default: .)")
    p.add_argument("--assignment", action="append", help="assignment to grade (repeatable; default: all submitted)")
    p.add_argument("--jobs", type=int, default=d.jobs, help=f"students graded at once (default: cores = {d.jobs}); with --scheduler, the cluster's threads")
    p.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=True,
                   help="run kernels in bubblewrap (default: on); limits apply either way")
    p.add_argument("--db-url", help="gradebook URL, e.g. postgresql://user@host/db (default: the course's SQLite)")
    p.add_argument("--cell-timeout", type=int, default=d.cell_timeout,
                   help="seconds per cell (default: the course's Execute.timeout, else 60)")
    p.add_argument("--student-timeout", type=int, default=d.student_timeout, help="seconds per student, all notebooks")
    p.add_argument("--memory-mb", type=int, default=d.memory_mb, help="address-space limit of a kernel")
    p.add_argument("--cpu-s", type=int, default=d.cpu_s, help="CPU-seconds limit of a kernel")
    p.add_argument("--no-export", action="store_true", help="skip nbgrader export (grades.csv)")
    p.add_argument("--no-report", action="store_true", help="skip the class report (report/index.html)")
    p.add_argument("--scheduler", help="tcp://HOST:PORT of a Dask scheduler: grade on its workers instead of "
                   "--jobs local ones (README: Grading on a cluster)")
    p.add_argument("--retries", type=int, default=d.retries, help="with --scheduler: reruns of a task that failed")
    p.add_argument("--connect-timeout", type=float, default=d.connect_timeout,
                   help="with --scheduler: seconds to reach the scheduler and find a worker")
    p.add_argument("--fresh", action="store_true",
                   help="grade every student, also those a stopped run already committed (default: resume)")


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--course-dir", type=Path, default=Path("."), help="nbgrader course directory (default: .)")
    p.add_argument("--out", type=Path, help="folder to write the report into (default: <course>/report)")
    p.add_argument("--db-url", help="gradebook URL (default: the course's SQLite)")


def report(course_dir: Path, out: Path | None, db_url: str | None, prog: str) -> int:
    """Build the class report; print where it is, or what it needed (exit 2)."""
    from .report import ReportError, build_report

    try:
        page = build_report(course_dir, out, db_url)
    except ReportError as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    print(f"class report: {page}")
    return 0


def report_after_grading(args: argparse.Namespace) -> None:
    """The class report at the end of ``grade``; the grades are saved already, so a report
    that cannot be written is said on stderr without failing the grading run."""
    from .course import Course
    from .diagnoses import autograded_notebooks

    if not autograded_notebooks(Course.load(args.course_dir).autograded):
        print("python -m grader grade: no class report: no submission was graded (the notes above say why)",
              file=sys.stderr)
        return
    try:
        report(args.course_dir, None, args.db_url, "python -m grader grade: no class report")
    except Exception as err:  # noqa: BLE001 - reported, and `python -m grader report` shows the traceback
        print(f"python -m grader grade: the grades are saved, but the class report failed ({err!r}); "
              "run `python -m grader report` to see why", file=sys.stderr)


def options(args: argparse.Namespace) -> Options:
    return Options(jobs=args.jobs, sandbox=args.sandbox, cell_timeout=args.cell_timeout,
                   student_timeout=args.student_timeout, memory_mb=args.memory_mb, cpu_s=args.cpu_s,
                   db_url=args.db_url, export=not args.no_export, progress=sys.stderr.isatty(),
                   scheduler=args.scheduler, retries=args.retries, connect_timeout=args.connect_timeout,
                   fresh=args.fresh)


def _feedback_zip(args: argparse.Namespace) -> int:
    from .course import Course
    from .delivery import zip_feedback

    course = Course.load(args.course_dir)
    try:
        archives = zip_feedback(course.feedback, args.out or course.root / "feedback-zips", args.assignment)
    except ValueError as err:
        print(f"python -m grader feedback-zip: {err}", file=sys.stderr)
        return 2
    print(f"{len(archives)} archives (one per student) in {archives[0].parent}")
    return 0


def _not_graded(rows) -> int:
    """Exit status 3, and a line saying so, when some students are not graded (lost tasks)."""
    from .commit import NOT_GRADED

    missing = [f"{r.student}/{r.assignment}" for r in rows if r.status == NOT_GRADED]
    if not missing:
        return 0
    print(f"python -m grader grade: {len(missing)} not graded ({', '.join(missing[:10])}"
          f"{', ...' if len(missing) > 10 else ''}): run it again to grade only those", file=sys.stderr)
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _grade_args(sub.add_parser("grade", help="autograde submitted/, write feedback, export, print scores, report"))
    _report_args(sub.add_parser("report", help="class report (HTML, CSV, Canvas and Moodle files) of the last grading"))
    pack = sub.add_parser("feedback-zip", help="one zip of feedback pages per student, for an LMS upload")
    pack.add_argument("--course-dir", type=Path, default=Path("."), help="nbgrader course directory (default: .)")
    pack.add_argument("--assignment", action="append", help="assignment to include (repeatable; default: all)")
    pack.add_argument("--out", type=Path, help="folder of the archives (default: <course>/feedback-zips)")
    bench = sub.add_parser("bench", help="submissions graded per minute: serial, parallel, on a cluster")
    bench.add_argument("--course-dir", type=Path, default=Path(__file__).resolve().parent.parent / "tests/fixtures/grader_course",
                       help="course whose answer keys are submitted as every student's work")
    bench.add_argument("--assignment", help="assignment to submit (default: the first in the source folder)")
    bench.add_argument("--students", type=int, default=8, help="submissions per run")
    bench.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers of the parallel run")
    bench.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=True)
    bench.add_argument("--json", type=Path, help="also write the figures here")
    bench.add_argument("--scheduler", help="also grade the same submissions on this Dask cluster (tcp://HOST:PORT)")
    bench.add_argument("--overhead", type=int, default=0, metavar="R",
                       help="also time one submission R times: bare `jupyter nbconvert --execute` vs the grader")
    args = parser.parse_args(argv)
    if args.command == "grade":
        try:
            rows = grade_course(args.course_dir, args.assignment, options(args))
        except ValueError as err:  # nothing to grade, unknown assignment: say so, no traceback
            print(f"python -m grader grade: {err}", file=sys.stderr)
            return 2
        print(format_table(rows))
        if not args.no_report:
            report_after_grading(args)
        return _not_graded(rows)
    if args.command == "report":
        return report(args.course_dir, args.out, args.db_url, "python -m grader report")
    if args.command == "feedback-zip":
        return _feedback_zip(args)
    from .bench import run_bench

    try:
        run_bench(args.course_dir, args.students, args.jobs, args.sandbox, args.json, args.assignment,
                  args.scheduler, args.overhead)
    except ValueError as err:  # a cluster that cannot grade
        print(f"python -m grader bench: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
