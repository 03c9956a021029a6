"""nbgrader course directory of the LSTM course (nbgrader 0.9.6, no JupyterHub).

solutions/<assignment>/*.ipynb  answer keys (nbgrader "source"), built from authoring/ by `make exercises`
exercises/<assignment>/*.ipynb  release notebooks for learners (generated, committed)
submitted/<student>/<assignment>/  collected submissions (not committed; see demo/submissions)
gradebook.db, autograded/, feedback/  grading state (not committed)
"""
import os
import sys

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

# The course's grader package sits beside this file; nbgrader's own commands and Formgrader's
# buttons load this file, so they get the grader's protections from here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import grader.feedback  # noqa: F401
    import grader.hooks
except ImportError as err:
    raise ImportError(f"nbgrader_config.py needs the course's grader package (beside this file, or on "
                      f"PYTHONPATH): {err}") from None

c.CourseDirectory.course_id = "lstm-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# Every notebook runs in well under 30 s on one CPU core; a cell still running after 120 s
# is a learner's infinite loop, reported as a timeout instead of hanging the grader.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Release: the stubs a learner sees in place of each solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.enforce_metadata = True

# Autograde, however it is started (`make grade`, `nbgrader autograde`, Formgrader's
# "Autograde" button): the grader's pipeline (grader/hooks.py).  Each notebook is rebuilt from
# the release and the gradebook (every test, locked cell and point value from the answer key;
# only answers from the learner), runs in the bubblewrap sandbox under the kernel guard, and
# scores from the grader's verdicts; the notebook Formgrader shows has no grader cells.  With
# no working sandbox it refuses to grade, saying why.
c.Autograde.sanitize_preprocessors = grader.hooks.SANITIZE
c.Autograde.autograde_preprocessors = grader.hooks.AUTOGRADE
c.LockCells.lock_grade_cells = True
c.LockCells.lock_readonly_cells = True

# `nbgrader zip_collect <assignment>`: submissions downloaded from an LMS go, as they come
# (zip files or notebooks), into downloaded/<assignment>/archive/. The pattern below reads
# Canvas-style names, "<student>[_LATE]_<id>_<id>_<notebook>.ipynb"; it is matched against
# the whole path, hence the leading ".*/". Adapt it to your LMS's file names.
c.ZipCollectApp.downloaded_directory = "downloaded"
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^_/]+)(?:_LATE)?_\d+_\d+_(?P<file_id>[^/]+)$"

# Feedback, however it is made (`make grade`, `nbgrader generate_feedback`, Formgrader's
# "Generate Feedback"): hidden tests, the grader's guard cells and token lines and the
# tracebacks of tests are removed before the HTML is written, and the page typesets its
# equations with the course's own MathJax, inlined (no CDN: it reads offline).
grader.feedback.feedback_config(c)

# Release Feedback (`nbgrader release_feedback`, Formgrader's button) and the learners'
# `nbgrader fetch_assignment/submit/fetch_feedback` go through an exchange folder inside the
# course, which needs no root (nbgrader's default is /usr/local/share/nbgrader/exchange).
# Learners on the same machine set the same c.Exchange.root.  Feedback of submissions that
# did not come through the exchange (copied, zip_collect) is skipped there with a warning:
# `python -m grader feedback-zip` packs it for an LMS.
c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)
c.ExchangeFactory.release_feedback = "grader.delivery.ReleaseFeedback"
