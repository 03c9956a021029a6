"""A learner's failing test, as JupyterLab shows it: the diagnosis, not the grader's internals.

A release notebook of 01_gates with one known mistake (the forget gate's bias left out) is
opened in a real JupyterLab (127.0.0.1, Debian's Chromium driven by Playwright, every
request outside the server blocked and recorded); "Run All Cells" stops at the failing
test, whose output must show the learner's call, the diagnosis with its numbers and the
book's address, and no frame of ``lstm_ref.grading``'s files. Then nbgrader's "Validate"
button must report the same message with its numbers whole. Screenshots of both go to
``test-artifacts/jupyterlab/``.
"""
from __future__ import annotations

import os
import re

import nbformat
import pytest

from course_cases import MISTAKES, ROOT, answers_with, submissions
from test_browser import CHROMIUM, _offline_page, chromium
from test_formgrader import TOKEN, jupyter

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make system-deps`")]
SHOTS = ROOT / "test-artifacts" / "jupyterlab"
MISTAKE = next(m for m in MISTAKES if m.name == "gate-bias-missing")  # fails test_forget_gate only
# The notebook's kernel has started and is idle. JupyterLab shows "Idle" with "No Kernel" while
# the session is created, and "Run All Cells" clicked then runs nothing.
KERNEL_READY = """() => {
  const name = document.querySelector(".jp-Toolbar-kernelName");
  const state = document.querySelector(".jp-Notebook-ExecutionIndicator");
  return Boolean(name && state) && name.textContent.includes("Python")
         && state.getAttribute("data-status") === "idle";
}"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict[str, str]:
    """Run All Cells, then Validate, on the notebook with the mistake; what each showed."""
    folder = tmp_path_factory.mktemp("jupyterlab") / "learner"
    folder.mkdir()
    nbformat.write(submissions.submission("01_gates", "gates", answers_with(MISTAKE)), folder / "gates.ipynb")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    found: dict[str, str] = {}
    with jupyter("lab", folder, env) as site, chromium() as context:
        context.set_extra_http_headers({"Authorization": f"token {TOKEN}"})
        page = _offline_page(context, site, problems)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{site.url}lab/tree/gates.ipynb")
        page.wait_for_function(KERNEL_READY, timeout=180_000)  # not just "Idle": that shows before the kernel
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        failed = page.locator(".jp-OutputArea-output", has_text="Traceback").first
        failed.wait_for(timeout=180_000)
        failed.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "1-failing-test.png"))
        found["output"] = failed.inner_text()
        found["failed cells"] = str(page.locator(".jp-OutputArea-output", has_text="Traceback").count())
        page.locator(".jp-Toolbar-item", has_text="Validate").first.click()
        dialog = page.locator(".jp-Dialog").first
        dialog.wait_for(timeout=300_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "2-validate.png"))
        found["validate"] = dialog.inner_text()
    found["problems"] = "\n".join(problems)
    return found


def test_the_failing_test_shows_the_diagnosis_with_its_numbers(seen):
    output = seen["output"]
    assert seen["failed cells"] == "1", "Run All stops at the first failing test"
    assert 'grading.check_function(forget_gate, "forget_gate")' in output  # the learner's test line
    assert "Likely mistake: bias left out." in output
    assert re.search(r"largest error [\d.e-]+ at index \(\d+, \d+\) \(yours -?[\d.]+,\s+expected -?[\d.]+\)", output)
    assert "book/cell.html#equation-eq-forget-gate" in output


def test_no_frame_of_the_grading_library_is_shown(seen):
    output = seen["output"]
    assert not re.search(r"lstm_ref[/\\]grading[/\\]", output), output  # no file of the checkers
    frames = [line for line in output.splitlines() if line.startswith(("File ", "Cell In["))]
    assert len(frames) <= 2, frames  # the learner's cell and the two-line re-raise


def test_validate_button_reports_the_same_message_whole(seen):
    text = " ".join(seen["validate"].split())
    assert "The following cell failed" in text and "Likely mistake: bias left out." in text
    assert re.search(r"\(yours -?[\d.]+, expected -?[\d.]+\)", text), text


def test_jupyterlab_made_no_request_outside_the_machine(seen):
    assert seen["problems"] == ""
