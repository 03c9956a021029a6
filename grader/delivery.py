"""Getting feedback to learners without root: nbgrader's exchange inside the course, and zips for an LMS.

:class:`ReleaseFeedback` is nbgrader's ``release_feedback`` (command line and Formgrader's
button) that skips, with a warning naming them, the students whose feedback cannot go through
the exchange: their submission did not come through it (copied in, or ``zip_collect``), so
there is no ``submission_secret.txt`` to address the feedback with, and stock nbgrader stops
the whole release on the first such student.  :func:`zip_feedback` packs each student's
feedback pages into one archive for an LMS upload.
"""
from __future__ import annotations

import glob
import os
import zipfile
from pathlib import Path

from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback

NEEDED = ("timestamp.txt", "submission_secret.txt")


class ReleaseFeedback(ExchangeReleaseFeedback):
    """Release the feedback of every student who submitted through the exchange; name the others."""

    def copy_files(self):
        folders = glob.glob(self.src_path)
        outside = sorted({Path(f).parent.name for f in folders if not all(os.path.exists(os.path.join(f, n)) for n in NEEDED)})
        if outside:
            self.log.warning("Not released through the exchange (no %s: submitted another way): %s. Send their feedback "
                             "with `python -m grader feedback-zip`.", " or ".join(NEEDED), ", ".join(outside))
        kept = self.coursedir.student_id_exclude
        self.coursedir.student_id_exclude = ",".join(filter(None, [kept, *outside]))
        try:
            super().copy_files()
        finally:
            self.coursedir.student_id_exclude = kept


def zip_feedback(feedback: Path, out: Path, assignments: list[str] | None = None) -> list[Path]:
    """``out/<student>.zip`` holding ``<assignment>/<notebook>.html`` of every (chosen) assignment.

    ``feedback`` is the course's feedback folder, ``<student>/<assignment>/*.html``.
    """
    if not feedback.is_dir():
        raise ValueError(f"no feedback to pack: {feedback} does not exist (run `make grade` first)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for student in sorted(p for p in feedback.iterdir() if p.is_dir()):
        pages = sorted(p for p in student.glob("*/*.html") if assignments is None or p.parent.name in assignments)
        if not pages:
            continue
        archive = out / f"{student.name}.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for page in pages:
                zf.write(page, f"{page.parent.name}/{page.name}")
        written.append(archive)
    if not written:
        raise ValueError(f"no feedback pages under {feedback}/<student>/<assignment>/ for {assignments or 'any assignment'}")
    return written
