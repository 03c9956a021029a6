"""The instructor's course directory, and the trusted template built from its sources.

The template is a private nbgrader course made by ``nbgrader generate_assignment`` from
the course's source notebooks (the answer keys): its gradebook holds every locked cell
with its hidden tests and every point value, its release notebook gives the order of the
cells.  Grading trusts only the template, never the submission, for those.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from .canonical import TemplateCell, template_cells


def normalize_db_url(url: str) -> str:
    """``postgresql://...`` -> ``postgresql+psycopg2://...``: SQLAlchemy 2.1's default
    PostgreSQL driver is psycopg 3; the course ships psycopg2-binary."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


@dataclass
class Course:
    """Paths and settings read from the course's ``nbgrader_config.py``."""

    root: Path
    course_id: str
    source: Path
    submitted: Path
    autograded: Path
    feedback: Path
    db_url: str
    config_file: Path | None
    execute_timeout: int | None = None  # the course's Execute.timeout (seconds per cell), if set

    @classmethod
    def load(cls, root: Path, db_url: str | None = None) -> "Course":
        root = root.resolve()
        config_file = root / "nbgrader_config.py"
        cfg = PyFileConfigLoader(config_file.name, path=str(root)).load_config() if config_file.exists() else {}
        cd = cfg.get("CourseDirectory", {}) if cfg else {}

        def sub(key: str, default: str) -> Path:
            return root / cd.get(key, default)

        return cls(
            root=root,
            course_id=cd.get("course_id", "course"),
            source=sub("source_directory", "source"),
            submitted=sub("submitted_directory", "submitted"),
            autograded=sub("autograded_directory", "autograded"),
            feedback=sub("feedback_directory", "feedback"),
            db_url=normalize_db_url(db_url or cd.get("db_url") or f"sqlite:///{root / 'gradebook.db'}"),
            config_file=config_file if config_file.exists() else None,
            execute_timeout=(cfg.get("Execute", {}) if cfg else {}).get("timeout"),
        )

    def assignments(self) -> list[str]:
        """Assignments that have both a source folder and at least one submission."""
        if not self.submitted.is_dir():
            return []
        found = {p.name for s in self.submitted.iterdir() if s.is_dir() for p in s.iterdir() if p.is_dir()}
        return sorted(a for a in found if (self.source / a).is_dir())

    def students(self, assignment: str) -> list[str]:
        if not self.submitted.is_dir():
            return []
        return sorted(s.name for s in self.submitted.iterdir() if (s / assignment).is_dir())


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for nbgrader subprocesses: the venv's bin first (nbgrader runs ``alembic``)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


@dataclass
class Template:
    """A generated copy of one assignment: trusted gradebook and released notebooks."""

    root: Path
    assignment: str

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    def notebooks(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "release" / self.assignment).glob("*.ipynb"))

    def cells(self, notebook: str) -> list[TemplateCell]:
        return load_template_cells(self.db_url, self.assignment, notebook,
                                   self.root / "release" / self.assignment / f"{notebook}.ipynb")


def load_template_cells(db_url: str, assignment: str, notebook: str, release: Path) -> list[TemplateCell]:
    """The cells of ``release`` (a released notebook), locked ones with the source the gradebook holds."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(notebook, assignment)
        locked = {c.name: (c.cell_type, c.source) for c in nb.source_cells if c.locked}
    return template_cells(json.loads(release.read_text()), locked)


def build_template(course: Course, assignment: str, workdir: Path) -> Template:
    """Run nbgrader's generate_assignment on a private copy of the assignment's source."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    root = workdir / "template"
    shutil.copytree(course.source / assignment, root / "source" / assignment)
    cfg = Config()
    if course.config_file:  # the course's own settings (delimiters, code stubs, headers...)
        cfg.merge(PyFileConfigLoader(course.config_file.name, path=str(course.root)).load_config())
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.course_id = course.course_id
    cfg.CourseDirectory.source_directory = "source"
    cfg.CourseDirectory.release_directory = "release"
    cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    os.environ["PATH"] = tool_env()["PATH"]  # nbgrader's Gradebook runs `alembic` from PATH
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{result.get('log', '')[-3000:]}"
                           f"{result.get('error') or ''}")
    return Template(root, assignment)
