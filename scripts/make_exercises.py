"""Regenerate exercises/ from the answer keys with ``nbgrader generate_assignment``.

1. Build solutions/ from authoring/ (scripts/build_solutions.py).
2. Copy nbgrader_config.py and solutions/ into a temporary course directory with its own
   gradebook, so the course's gradebook.db is never touched.
3. Run ``nbgrader generate_assignment`` there for every assignment and replace
   exercises/<assignment>/ with the release notebooks it wrote.
4. Rebuild the demo submissions (demo/submissions/, scripts/submissions.py) from the new
   answer keys and release.

The output is deterministic (nbgrader's checksums depend only on the cell sources), so
running this twice leaves git clean; tests/test_course.py checks exactly that.

    python scripts/make_exercises.py             # rewrite exercises/
    python scripts/make_exercises.py --out DIR   # write the release into DIR instead
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_solutions  # noqa: E402
import submissions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = Path(sys.executable).parent / "nbgrader"
_SKIP = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment names: the folders of solutions/."""
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and not p.name.startswith("."))


def temp_course(dest: Path, root: Path = ROOT) -> Path:
    """A copy of the course directory (config and answer keys) at ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(root / "solutions", dest / "solutions", ignore=_SKIP)
    return dest


def nbgrader_command(course: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of the nbgrader CLI in ``course``, with a gradebook of its own."""
    cmd = [str(NBGRADER), *args, f"--CourseDirectory.root={course}",
           f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}"]
    # nbgrader runs `alembic` from PATH to set up the gradebook: put the venv's bin first.
    env = {**os.environ, "PATH": f"{NBGRADER.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           # the course's nbgrader_config.py imports the grader package, which a copied course lacks
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return cmd, env


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the nbgrader CLI in ``course``; raise with its output if it fails (``check``)."""
    cmd, env = nbgrader_command(course, *args)
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def generate(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the release of every assignment under ``out``; return the files written."""
    with tempfile.TemporaryDirectory(prefix="lstm-course-") as tmp:
        course = temp_course(Path(tmp) / "course", root)
        nbgrader(course, "generate_assignment", "*", "--force")  # one process for all of them
        written = []
        for stale in (p for p in out.glob("*") if p.is_dir() and p.name not in assignments(root)):
            shutil.rmtree(stale)  # an assignment removed from solutions/ leaves the release too
        for name in assignments(root):
            target = out / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(course / "exercises" / name, target, ignore=_SKIP)
            written += sorted(target.rglob("*.ipynb"))
        return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "exercises", help="release folder (default: exercises/)")
    args = parser.parse_args(argv)
    build_solutions.main([])
    for path in generate(args.out):
        print(f"wrote {path}")
    if args.out == ROOT / "exercises":
        print(f"wrote {len(submissions.write_demo())} demo submissions under {submissions.DEMO.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
