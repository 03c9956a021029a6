"""The grader's pipeline as nbgrader preprocessors, for every way a notebook gets autograded.

``make grade`` runs nbgrader's Autograde converter in its workers; nbgrader's own
``autograde`` command and Formgrader's Autograde button run the same converter in the
course directory.  ``nbgrader_config.py`` gives the latter the lists below, so all of them:

* rebuild the submission from the release and the gradebook (:class:`Canonicalize`: tests,
  locked cells and points come from the gradebook, only answers from the learner);
* add the grader's guard cells and per-run verdict tokens in memory, after the notebook was
  written to the folder the kernel can read (:class:`Instrument`);
* execute in the sandbox (:class:`grader.launch.SandboxedExecute`) and score from verdicts;
* save the grades, then write the autograded notebook without the grader's cells and token
  lines (:class:`StripGrader`), which is what Formgrader shows the instructor.
"""
from __future__ import annotations

import json
from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbformat import from_dict
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, IgnorePattern,
                                    LimitOutput, NbGraderPreprocessor, OverwriteKernelspec, SaveAutoGrades)

from .canonical import BrokenNotebook, canonicalize
from .course import load_template_cells
from .feedback import gradebook_sources
from .instrument import MARK, TOKEN_MARK, instrument, is_guard_cell, is_test_cell, strip_tokens
from .launch import SandboxedExecute


def _coursedir(configurable):
    """The CourseDirectory of the converter running this preprocessor."""
    obj = configurable
    while obj is not None:
        if hasattr(obj, "coursedir"):
            return obj.coursedir
        obj = obj.parent
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=configurable.config)


class Canonicalize(NbGraderPreprocessor):
    """The notebook to execute, rebuilt from the course's release and gradebook (replaces OverwriteCells)."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        coursedir = _coursedir(self)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"])) / f"{info['notebook']}.ipynb"
        if not release.exists():
            raise FileNotFoundError(f"the release notebook {release} is needed to grade {info['notebook']}: "
                                    f"run `nbgrader generate_assignment {info['assignment']}` (make exercises)")
        template = load_template_cells(info["db_url"], info["assignment"], info["notebook"], release)
        try:
            canon = canonicalize(json.loads(json.dumps(nb)), template)
        except BrokenNotebook as err:
            raise BrokenNotebook(f"{info['student']}/{info['assignment']}/{info['notebook']}: {err}") from None
        for note in canon.notes:
            self.log.warning("%s/%s: %s", info["student"], info["notebook"], note)
        return from_dict(canon.nb), resources


class Instrument(NbGraderPreprocessor):
    """Guard cells and verdict tokens, added in memory just before execution."""

    def preprocess(self, nb, resources):
        nb, _ = instrument(nb)
        return nb, resources


class StripGrader(NbGraderPreprocessor):
    """The scored notebook without the grader's cells and token lines: tests as the gradebook has them."""

    def preprocess(self, nb, resources):
        originals = gradebook_sources(resources)
        nb.cells = [c for c in nb.cells if not is_guard_cell(c)]
        for cell in nb.cells:
            if is_test_cell(cell):
                cell.source = originals.get(cell.metadata["nbgrader"]["grade_id"], strip_tokens(cell.source))
            for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
                if out.output_type == "error":  # the frame quoting the instrumented test cell goes
                    out.traceback = [frame for frame in out.traceback if not any(m in frame for m in _INTERNALS)]
        return nb, resources


_INTERNALS = (TOKEN_MARK, "_grader_guard", MARK)


#: Preprocessors of the sanitizing pass (the notebook the kernel's folder will hold).
SANITIZE = [ClearOutput, DeduplicateIds, OverwriteKernelspec, Canonicalize, CheckCellMetadata]
#: Preprocessors of the autograding pass (in memory, then written to autograded/).
AUTOGRADE = [Instrument, SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
             AssignLatePenalties, StripGrader, CheckCellMetadata]
