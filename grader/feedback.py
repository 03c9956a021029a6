"""Feedback that shows results but never the hidden tests (nbgrader issue #917).

Stock ``generate_feedback`` renders the autograded notebook, whose test cells carry the
full source restored from the gradebook, hidden part included, and whose tracebacks
quote the failing hidden line.  This preprocessor runs before the HTML export:

* the region between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is replaced
  by one comment line;
* an error in a test cell is shown as ``Name: message`` only, without the traceback (which
  quotes source lines);
* the grader's own inserted cells are removed and the test's source is the gradebook's.
"""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from .instrument import TOKEN_MARK, is_guard_cell, is_test_cell


def gradebook_sources(resources: dict) -> dict[str, str]:
    """``{grade_id: source}`` of the notebook's cells as the gradebook stores them (hidden tests included)."""
    from nbgrader.api import Gradebook

    info = resources["nbgrader"]
    with Gradebook(info["db_url"]) as gb:
        return {c.name: c.source for c in gb.find_notebook(info["notebook"], info["assignment"]).source_cells}

PLACEHOLDER = "# (hidden tests: their results count in your score, their code is not shown)"


class HideHiddenTests(NbGraderPreprocessor):
    """Strip hidden tests, tracebacks of tests and grader cells from the feedback notebook."""

    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess(self, nb, resources):
        self._originals = gradebook_sources(resources)  # the test as written, without token lines
        nb.cells = [c for c in nb.cells if not is_guard_cell(c)]
        return super().preprocess(nb, resources)

    def _strip(self, source: str) -> str:
        out, hidden = [], False
        for line in source.split("\n"):
            if self.begin in line:
                hidden = True
                out.append(PLACEHOLDER)
            elif self.end in line:
                hidden = False
            elif not hidden and TOKEN_MARK not in line:
                out.append(line)
        return "\n".join(out)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_test_cell(cell):
            original = self._originals.get(cell.metadata["nbgrader"]["grade_id"], cell.source)
            cell.source = self._strip(original)
            for out in cell.get("outputs", []):
                if out.output_type == "error":
                    out.traceback = [f"{out.ename}: {out.evalue}"]
        return cell, resources


def feedback_config(c) -> None:
    """Feedback pages, however they are made: the hidden-test filter, offline MathJax."""
    from .offline import template_config

    c.GenerateFeedback.preprocessors = ["nbgrader.preprocessors.GetGrades", "grader.feedback.HideHiddenTests",
                                        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]
    template_config(c)


def generate_in_course(course, assignment: str, student: str) -> None:
    """Feedback from the course's own gradebook, so manual grades and comments appear in it.

    Workers write feedback from their private gradebooks (in parallel); once a person has
    graded or commented a cell, the parent regenerates that student's feedback here.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    cfg = Config()
    cfg.CourseDirectory.root = str(course.root)
    cfg.CourseDirectory.course_id = course.course_id
    cfg.CourseDirectory.db_url = course.db_url
    cfg.CourseDirectory.autograded_directory = course.autograded.name
    cfg.CourseDirectory.feedback_directory = course.feedback.name
    cfg.CourseDirectory.source_directory = course.source.name
    feedback_config(cfg)
    api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
    result = api.generate_feedback(assignment, student, force=True)
    if not result["success"]:
        raise RuntimeError(f"feedback for {student}/{assignment} failed:\n{result.get('log', '')[-2000:]}")
