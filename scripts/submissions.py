"""Learner submissions made from the answer keys: the demo students, and test fixtures.

A submission is the release notebook (exercises/) with some solution cells filled in, the
way a learner fills them. Answers come from the answer key (solutions/), optionally with a
deliberate mistake edited in, so the demo and the tests never carry a second copy of them.

Demo students (committed under demo/submissions/<student>/<assignment>/, because the
course's .gitignore keeps every submitted/ folder out of git):

- ``alice``: complete, every answer from the key: full marks;
- ``bob``: partial, the first half of the answers, one of them with a typical mistake;
- ``carol``: broken, a misspelt import in the first answer and a deleted test cell.

    python scripts/submissions.py demo                 # rewrite demo/submissions/
    python scripts/submissions.py copy [--to DIR]      # copy them into submitted/ (or DIR)
"""
from __future__ import annotations

import argparse
import copy
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "submissions"

#: One typical mistake per assignment for the partial demo: (grade_id, old, new).
BOB_MISTAKES = {
    "01_gates": ("forget_gate", "@ W_f.T + b_f)", "@ W_f.T)"),
    "02_sequences": ("lstm_forward", " + params.b  # (T, N, 4H)", "  # (T, N, 4H)"),
    "03_bptt": ("lstm_step_backward", "dc = dc + dh * o", "dc = dh * o"),
    "04_pytorch": ("lstm_cell", "self.bias_ih + self.bias_hh", "self.bias_ih"),
    "05_gru": ("gru_step_backward", "z * dh + du @ params.W_hh", "du @ params.W_hh"),
    "06_sequence_models": ("model", "return self.head(hs[-1])", "return self.head(hs[T - 1])"),
}


def _is(cell, flag: str) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get(flag))


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def notebooks(assignment: str, root: Path = ROOT) -> list[str]:
    """Notebook names (without .ipynb) of one assignment."""
    return sorted(p.stem for p in (root / "solutions" / assignment).glob("*.ipynb"))


def assignments(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir())


def key_answers(assignment: str, notebook: str, root: Path = ROOT) -> dict[str, str]:
    """``{grade_id: source}`` of the answer key's solution cells, delimiters and sentinels removed."""
    key = nbformat.read(root / "solutions" / assignment / f"{notebook}.ipynb", as_version=4)
    answers = {}
    for cell in key.cells:
        if _is(cell, "solution"):
            lines = [ln for ln in cell.source.splitlines()
                     if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION") and "SENTINEL-" not in ln]
            answers[_grade_id(cell)] = "\n".join(lines)
    return answers


def mutate(answers: dict[str, str], grade_id: str, old: str, new: str) -> dict[str, str]:
    """A copy of ``answers`` with ``old`` replaced by ``new`` in one answer (which must contain it)."""
    if old not in answers[grade_id]:
        raise ValueError(f"{grade_id!r} of the answer key no longer contains {old!r}; update the mistake")
    return {**answers, grade_id: answers[grade_id].replace(old, new)}


def submission(assignment: str, notebook: str, answers: dict[str, str], root: Path = ROOT,
               delete: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    """The release notebook with the given answers filled in and the cells ``delete`` removed."""
    nb = copy.deepcopy(nbformat.read(root / "exercises" / assignment / f"{notebook}.ipynb", as_version=4))
    for cell in nb.cells:
        if _is(cell, "solution") and _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    nb.cells = [c for c in nb.cells if _grade_id(c) not in delete]
    return nb


def write(nb, course: Path, student: str, assignment: str, notebook: str) -> Path:
    """Save ``nb`` as course/submitted-style ``<student>/<assignment>/<notebook>.ipynb`` under ``course``."""
    path = course / student / assignment / f"{notebook}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def demo_students(root: Path = ROOT) -> dict[tuple[str, str, str], nbformat.NotebookNode]:
    """``{(student, assignment, notebook): notebook}`` of the three demo students."""
    out = {}
    for assignment in assignments(root):
        for notebook in notebooks(assignment, root):
            answers = key_answers(assignment, notebook, root)
            ids = list(answers)
            out["alice", assignment, notebook] = submission(assignment, notebook, answers, root)
            half = {k: answers[k] for k in ids[: max(1, len(ids) // 2)]}
            grade_id, old, new = BOB_MISTAKES[assignment]
            if grade_id in half:
                half = mutate(half, grade_id, old, new)
            out["bob", assignment, notebook] = submission(assignment, notebook, half, root)
            broken = {ids[0]: "import numpyy as np  # misspelt: ModuleNotFoundError\n" + answers[ids[0]]}
            tests = [_grade_id(c) for c in nbformat.read(root / "exercises" / assignment / f"{notebook}.ipynb", 4).cells
                     if _is(c, "grade") and not _is(c, "solution")]
            out["carol", assignment, notebook] = submission(assignment, notebook, {**answers, **broken}, root, delete=tests[-1:])
    return out


def write_demo(dest: Path = DEMO, root: Path = ROOT) -> list[Path]:
    shutil.rmtree(dest, ignore_errors=True)
    return [write(nb, dest, *key) for key, nb in demo_students(root).items()]


def copy_demo(to: Path, src: Path = DEMO) -> list[Path]:
    """Copy the demo submissions into a course's submitted/ folder (existing files are replaced)."""
    copied = []
    for path in sorted(src.rglob("*.ipynb")):
        target = to / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied.append(target)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="rewrite demo/submissions/ from the answer keys and the release")
    cp = sub.add_parser("copy", help="copy demo/submissions/ into submitted/")
    cp.add_argument("--to", type=Path, default=ROOT / "submitted")
    args = parser.parse_args(argv)
    paths = write_demo() if args.command == "demo" else copy_demo(args.to)
    for path in paths:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
