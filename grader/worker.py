"""Grade one student's submission in a temporary course of its own.

Run as ``python -m grader.worker SPEC.json RESULT.json`` by :mod:`grader.task`, one process
per student, under a wall-clock timeout.  The temporary course holds a copy of the
template gradebook, the canonical (rebuilt and instrumented) notebooks and nothing else:
no answer keys, no other student.  nbgrader autogrades and writes feedback there; the
result (scores, notes, where the outputs are) goes to RESULT.json for the parent, which
is the only process that writes the real gradebook.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

# jsonschema, which nbformat imports, compiles rfc3987_syntax's Lark grammar at import when
# that package is installed, to check the "iri" string format: about 2 s of CPU in every
# student's worker process, for a format that no nbformat schema uses (they use no
# "format" at all, see tests/test_grader_dask.py).  Marked absent, it is not imported and
# "iri" is left unchecked, as jsonschema does without the package.
sys.modules.setdefault("rfc3987_syntax", None)

from .canonical import BrokenNotebook, canonicalize, load_submission
from .course import Template, tool_env

_SKIP = {".ipynb_checkpoints", "__pycache__"}


def _ignore(folder: str, names: list[str]) -> list[str]:
    """Notebooks are rebuilt, not copied; symlinks (to an answer key, say) are dropped."""
    return [n for n in names if n.endswith(".ipynb") or n in _SKIP or os.path.islink(os.path.join(folder, n))]


def nbgrader_config(tmp: Path, spec: dict):
    from traitlets.config import Config

    from .feedback import feedback_config
    from .hooks import AUTOGRADE, SANITIZE, Canonicalize

    c = Config()
    c.CourseDirectory.root = str(tmp)
    c.CourseDirectory.course_id = spec["course_id"]
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.db_url = f"sqlite:///{tmp / 'gradebook.db'}"
    # the same pipeline as nbgrader's own autograde in the course (nbgrader_config.py), less
    # Canonicalize: prepare() already rebuilt each notebook (and turned unreadable ones into notes)
    c.Autograde.sanitize_preprocessors = [p for p in SANITIZE if p is not Canonicalize]
    c.Autograde.autograde_preprocessors = AUTOGRADE
    c.SandboxedExecute.sandbox = spec["sandbox"]
    c.SandboxedExecute.memory_mb = spec["memory_mb"]
    c.SandboxedExecute.cpu_s = spec["cpu_s"]
    c.SandboxedExecute.uid = spec["uid"]
    c.SandboxedExecute.timeout = spec["cell_timeout"]
    if spec.get("budget"):
        c.SandboxedExecute.deadline = spec["started"] + spec["budget"]
    c.SandboxedExecute.startup_timeout = 120
    feedback_config(c)
    return c


def prepare(spec: dict, tmp: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Copy gradebook and support files, write the canonical notebooks; return (notes, broken)."""
    template = Template(Path(spec["template"]), spec["assignment"])
    shutil.copy(template.gradebook, tmp / "gradebook.db")
    src, dest = template.root / "source" / spec["assignment"], tmp / "source" / spec["assignment"]
    if src.is_dir():  # support files only: the template a task carries has no answer keys
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.ipynb"))
    else:
        dest.mkdir(parents=True)
    sub_in = Path(spec["submission"])
    sub_out = tmp / "submitted" / spec["student"] / spec["assignment"]
    shutil.copytree(sub_in, sub_out, ignore=_ignore)
    notes: dict[str, list[str]] = {}
    broken: list[str] = []
    for name in template.notebooks():
        path = sub_in / f"{name}.ipynb"
        if not path.exists():
            notes[name] = [f"{name}.ipynb was not submitted: 0 points"]
            continue
        try:
            canon = canonicalize(load_submission(path), template.cells(name))
        except BrokenNotebook as err:
            notes[name] = [f"{err}: 0 points"]
            broken.append(name)
            continue
        notes[name] = canon.notes
        (sub_out / f"{name}.ipynb").write_text(json.dumps(canon.nb, indent=1))
    return notes, broken


def read_scores(tmp: Path, spec: dict) -> dict:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{tmp / 'gradebook.db'}") as gb:
        sub = gb.find_submission(spec["assignment"], spec["student"])
        for nb in sub.notebooks:
            out[nb.name] = {
                "late_penalty": nb.late_submission_penalty,
                "grades": {g.name: {"auto_score": g.auto_score, "max_score": g.max_score,
                                    "needs_manual_grade": g.needs_manual_grade} for g in nb.grades},
                "comments": {c.name: c.auto_comment for c in nb.comments},
            }
    return out


def grade(spec: dict) -> dict:
    """Autograde and generate feedback for one student in ``spec['tmp']``."""
    tmp = Path(spec["tmp"])
    (tmp / "run").mkdir(parents=True)
    notes, broken = prepare(spec, tmp)
    submitted = tmp / "submitted" / spec["student"] / spec["assignment"]
    if not list(submitted.glob("*.ipynb")):  # nothing nbgrader could grade: all zero
        return {"ok": True, "notes": notes, "broken": broken, "scores": None}
    os.environ.update(tool_env({"JUPYTER_PATH": str(tmp / "jupyter"), "JUPYTER_RUNTIME_DIR": str(tmp / "run"),
                                "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_DATA_DIR": str(tmp / "data")}))
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config(tmp, spec)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.autograde(spec["assignment"], spec["student"], force=True, create=True)
    if not result["success"]:
        return {"ok": False, "notes": notes, "broken": broken, "error": (result.get("log", "") + (result.get("error") or ""))[-6000:]}
    feedback = api.generate_feedback(spec["assignment"], spec["student"], force=True)
    return {"ok": True, "notes": notes, "broken": broken, "scores": read_scores(tmp, spec),
            "feedback_ok": feedback["success"], "feedback_error": (feedback.get("error") or "")[-2000:]}


def stay_with_parent() -> None:
    """Die with the grading process that started this worker (``GRADER_PARENT_PID``), as the
    kernels die with this worker: a killed Dask worker leaves nothing grading behind it."""
    from .sandbox import die_with_parent

    parent = os.environ.get("GRADER_PARENT_PID")
    die_with_parent()
    if parent and os.getppid() != int(parent):  # it died before the signal was armed
        sys.exit("grader.worker: the process that started this worker has gone; nothing graded")


def main() -> None:
    stay_with_parent()
    spec = json.loads(Path(sys.argv[1]).read_text())
    spec.setdefault("started", time.time())
    result = grade(spec)
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
