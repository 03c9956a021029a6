"""The class report (``python -m grader report``) on a small course graded without kernels.

The course: the real answer keys and release notebooks (``01_gates`` and ``03_bptt``), the
demo students alice, bob and carol, and five more with known stories (a copied answer with
renamed variables, two independent correct answers, a shared mistake, a broken notebook,
a timeout, a missing notebook, a missing submission).  Each submission is "autograded" in
this process: its cells run with ``exec`` and every failing test cell gets the error output
a kernel would give it, with the checker's real message and diagnosis; the scores go into
the gradebook through :func:`grader.gradebook.record`, the statuses and times into
``report/grading-run.json`` through :func:`grader.run.save_run`.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_exercises  # noqa: E402
import submissions  # noqa: E402

from grader.__main__ import main  # noqa: E402
from grader.classdata import ReportError, load_class, load_run  # noqa: E402
from grader.course import Course, build_template  # noqa: E402
from grader.diagnoses import Diagnosis, diagnose  # noqa: E402
from grader.gradebook import ensure_assignment, record  # noqa: E402
from grader.report import attention, build_report  # noqa: E402
from grader.run import Row, save_run  # noqa: E402
from grader.similarity import Assignment, Cell, similar_pairs  # noqa: E402

ASSIGNMENTS = {"01_gates": "gates", "03_bptt": "bptt"}
ARTIFACTS = ROOT / "test-artifacts" / "report"

# --- answers ------------------------------------------------------------------------------------------
DAVE_STEP = '''def lstm_step(x, h_prev, c_prev, params):
    """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
    H = h_prev.shape[1]
    hx = np.concatenate([h_prev, x], axis=1)               # (N, H + D)
    W = np.concatenate([params.W_hh, params.W_ih], axis=1)  # (4H, H + D)
    pre = hx @ W.T + params.b
    gate_i = sigmoid(pre[:, 0:H])
    gate_f = sigmoid(pre[:, H:2 * H])
    cand = np.tanh(pre[:, 2 * H:3 * H])
    gate_o = sigmoid(pre[:, 3 * H:4 * H])
    c_new = gate_f * c_prev + gate_i * cand
    h_new = gate_o * np.tanh(c_new)
    return h_new, c_new, (x, h_prev, c_prev)
'''
# dave's answer with every variable renamed, comments and blank lines changed
ERIN_STEP = '''def lstm_step(x, h_prev, c_prev, params):
    """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
    # my own version
    n_hidden = h_prev.shape[1]
    inp = np.concatenate([h_prev, x], axis=1)
    weights = np.concatenate([params.W_hh, params.W_ih], axis=1)

    z = inp @ weights.T + params.b   # pre-activations
    ii = sigmoid(z[:, 0:n_hidden])
    ff = sigmoid(z[:, n_hidden:2 * n_hidden])
    gg = np.tanh(z[:, 2 * n_hidden:3 * n_hidden])
    oo = sigmoid(z[:, 3 * n_hidden:4 * n_hidden])
    c_next = ff * c_prev + ii * gg
    h_next = oo * np.tanh(c_next)
    return h_next, c_next, (x, h_prev, c_prev)
'''
# two independent correct answers, neither the key's
FRANK_STEP = '''def lstm_step(x, h_prev, c_prev, params):
    """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
    H = c_prev.shape[-1]
    blocks = {}
    for k, name in enumerate("ifgo"):
        rows = slice(k * H, (k + 1) * H)
        W = np.hstack((params.W_hh[rows], params.W_ih[rows]))
        blocks[name] = (W, params.b[rows])
    i = input_gate(x, h_prev, *blocks["i"])
    f = forget_gate(x, h_prev, *blocks["f"])
    g = candidate(x, h_prev, *blocks["g"])
    o = output_gate(x, h_prev, *blocks["o"])
    c = cell_state(f, c_prev, i, g)
    return hidden_state(o, c), c, {"gates": (i, f, g, o)}
'''
GINA_STEP = '''def lstm_step(x, h_prev, c_prev, params):
    """One LSTM step: returns (h, c, cache) with h, c of shape (N, H)."""
    size = params.W_hh.shape[1]
    total = np.dot(x, params.W_ih.T) + np.dot(h_prev, params.W_hh.T)
    total = total + params.b
    in_gate, forget, cand, out_gate = np.split(total, 4, axis=1)
    in_gate, forget, out_gate = sigmoid(in_gate), sigmoid(forget), sigmoid(out_gate)
    cand = np.tanh(cand)
    new_c = forget * c_prev + in_gate * cand
    assert new_c.shape[1] == size
    new_h = out_gate * np.tanh(new_c)
    return new_h, new_c, None
'''
NO_FORGET_BIAS = ("forget_gate", "@ W_f.T + b_f)", "@ W_f.T)")
FORWARD_DIFFERENCE = ("numerical_gradient", "(f_plus - f_minus) / (2 * h)", "(f_plus - f_minus) / h")
CELL_STATE_WRONG = ("cell_state", "f * c_prev + i * g", "f * c_prev + g")


def answers(assignment: str, *mistakes: tuple[str, str, str], **replaced: str) -> dict[str, str]:
    """The key's answers of ``assignment`` with ``mistakes`` edited in and whole answers ``replaced``."""
    out = submissions.key_answers(assignment, ASSIGNMENTS[assignment])
    for m in mistakes:
        out = submissions.mutate(out, *m)
    return {**out, **replaced}


# (student, assignment) -> answers, or a story the grading run tells instead
STORIES = {
    ("dave", "01_gates"): answers("01_gates", NO_FORGET_BIAS, lstm_step=DAVE_STEP),
    ("erin", "01_gates"): answers("01_gates", NO_FORGET_BIAS, lstm_step=ERIN_STEP),
    ("frank", "01_gates"): answers("01_gates", lstm_step=FRANK_STEP),
    ("gina", "01_gates"): answers("01_gates", CELL_STATE_WRONG, lstm_step=GINA_STEP),
    ("henry", "01_gates"): "broken",      # not a notebook: the worker's status is broken
    ("dave", "03_bptt"): answers("03_bptt", FORWARD_DIFFERENCE),
    ("erin", "03_bptt"): answers("03_bptt", FORWARD_DIFFERENCE),
    ("frank", "03_bptt"): "timeout",      # graded past the student timeout
    ("henry", "03_bptt"): "no notebook",  # a folder without bptt.ipynb
}                                         # gina submitted no 03_bptt


# --- grading without kernels --------------------------------------------------------------------------
def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def autograde(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict]:
    """Run ``nb``'s code cells in one namespace; failing test cells get the error output a
    kernel gives. Returns the notebook and its scores as the worker reports them."""
    namespace: dict = {}
    grades = {}
    for cell in nb.cells:
        meta, error = _meta(cell), None
        if cell.cell_type == "code":
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(cell.source, f"<{meta.get('grade_id', 'cell')}>", "exec"), namespace)  # noqa: S102
            except Exception as err:  # noqa: BLE001 - a learner's error, recorded like a kernel does
                error = err
            cell.outputs = []
        if not meta.get("grade"):
            continue
        if meta.get("solution"):  # written answer: waits for a person
            grades[meta["grade_id"]] = {"auto_score": None}
            continue
        if error is not None:
            cell.outputs = [nbformat.v4.new_output("error", ename=type(error).__name__, evalue=str(error),
                                                   traceback=[f"{type(error).__name__}: {error}"])]
        grades[meta["grade_id"]] = {"auto_score": 0.0 if error else float(meta["points"])}
    return nb, {"grades": grades, "comments": {}}


def _submit(course: Path, student: str, assignment: str, story) -> None:
    folder = course / "submitted" / student / assignment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    notebook = ASSIGNMENTS[assignment]
    if story == "broken":
        (folder / f"{notebook}.ipynb").write_text("{ this is not a notebook")
    elif story != "no notebook":
        nbformat.write(submissions.submission(assignment, notebook, story), folder / f"{notebook}.ipynb")


def grade(course: Path, assignment: str, student: str, seconds: float) -> Row:
    """What ``grade_assignment`` does for one student, with ``autograde`` for the worker."""
    c = Course.load(course)
    notebook = ASSIGNMENTS[assignment]
    story = STORIES.get((student, assignment))
    path = c.submitted / student / assignment / f"{notebook}.ipynb"
    status, notes, scores = "ok", [], None
    if story in ("broken", "timeout", "no notebook"):
        status = {"broken": "broken", "timeout": "timeout", "no notebook": "ok"}[story]
        notes = [{"broken": f"{notebook}: {notebook}.ipynb is not valid JSON: 0 points",
                  "timeout": "grading took longer than 900 s; 0 points",
                  "no notebook": f"{notebook}: {notebook}.ipynb was not submitted: 0 points"}[story]]
    else:
        nb, nb_scores = autograde(nbformat.read(path, as_version=4))
        out = c.autograded / student / assignment / f"{notebook}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
        scores = {notebook: nb_scores}
    score, max_score, _, pending = record(c.db_url, c.course_id, assignment, student, scores)
    return Row(student, assignment, score, max_score, status, notes, pending, seconds)


def grade_manually(course: Path, assignment: str, student: str, cell: str, points: float) -> None:
    """What Formgrader does when a person grades a written answer."""
    from nbgrader.api import Gradebook

    c = Course.load(course)
    with Gradebook(c.db_url, c.course_id) as gb:
        g = gb.find_grade(cell, ASSIGNMENTS[assignment], assignment, student)
        g.manual_score, g.needs_manual_grade = points, False
        gb.db.commit()


def make_course(root: Path) -> Path:
    """The course above, graded; names and email for alice in the gradebook."""
    from nbgrader.api import Gradebook

    course = make_exercises.temp_course(root / "course")
    shutil.copytree(ROOT / "exercises", course / "exercises")
    submissions.copy_demo(course / "submitted")
    for extra in (p for p in (course / "submitted").glob("*/*") if p.name not in ASSIGNMENTS):
        shutil.rmtree(extra)
    for (student, assignment), story in STORIES.items():
        _submit(course, student, assignment, story)
    c = Course.load(course)
    for k, assignment in enumerate(ASSIGNMENTS):
        ensure_assignment(c.db_url, c.course_id, build_template(c, assignment, root / "work" / assignment))
        rows = [grade(course, assignment, s, 2.0 + 7 * k + j) for j, s in enumerate(c.students(assignment))]
        save_run(course, rows)
    grade_manually(course, "03_bptt", "alice", "written_forget_gate", 2.0)
    with Gradebook(c.db_url, c.course_id) as gb:
        gb.update_or_create_student("alice", first_name="Alice", last_name="Liddell", email="alice@example.org")
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return make_course(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(course) -> Path:
    """The report's folder, built by the command line."""
    assert main(["report", "--course-dir", str(course)]) == 0
    return course / "report"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- mistakes -----------------------------------------------------------------------------------------
def test_diagnosis_of_wrapped_messages():
    likely = ("forget_gate does not match the reference on inputs with N=1, D=3,\n    H=4, T=5, float64:\n"
              "  - output f is wrong: largest error 0.253\n  Likely mistake: gate order swapped: you read the stacked"
              " blocks of W_ih, W_hh and\n      b as (f, i, g, o); the order is PyTorch's (i, f, g, o).\n"
              "  See equation (eq:gates) in \"Gates\":\n    gates.html#eq-gates")
    assert diagnose("AssertionError", likely).text == (
        "gate order swapped: you read the stacked blocks of W_ih, W_hh and b as (f, i, g, o); the order is PyTorch's "
        "(i, f, g, o).")
    where = ("lstm_backward does not match\n  No known mistake matches exactly. Where to look:\n"
             "  * db is wrong in all four gate blocks: look at what they share,\n      δc_t (eq:bptt-dc).\n"
             "  * dx is wrong already at the last step t = T.")
    assert diagnose("AssertionError", where) == Diagnosis(
        "where to look", "db is wrong in all four gate blocks: look at what they share, δc_t (eq:bptt-dc).")
    undiagnosed = "x does not match\n  No known mistake matches this answer: compare"
    assert diagnose("AssertionError", undiagnosed).kind == "not diagnosed"
    assert diagnose("NotImplementedError", "").kind == "not answered"
    one = diagnose("AssertionError", "accuracy on fresh sequences is 0.484; expected at least 0.9.")
    assert one == diagnose("AssertionError", "accuracy on fresh sequences is 0.521; expected at least 0.9.")


def test_mistakes_ranked_by_students(report):
    rows = read_csv(report / "mistakes.csv")
    counts = [int(r["students"]) for r in rows]
    assert counts == sorted(counts, reverse=True)
    by = {(r["test"], r["mistake"]): r for r in rows}
    bias = [r for (test, text), r in by.items() if test == "test_forget_gate" and text.startswith("bias left out")]
    assert [(r["students"], r["student_ids"]) for r in bias] == [("3", "bob dave erin")]
    forward = [r for (test, text), r in by.items() if test == "test_numerical_gradient" and r["kind"] == "mistake"]
    assert [(r["students"], r["student_ids"]) for r in forward] == [("2", "dave erin")]
    assert by["test_cell_state", "not diagnosed"]["student_ids"] == "gina"
    assert "bob" in by["test_hidden_state", "not answered (the stub still raises NotImplementedError)"]["student_ids"]
    page = (report / "index.html").read_text()
    assert re.search(r"bias left out.*?3 students", page, re.S)


# --- near-identical answers ---------------------------------------------------------------------------
def test_copied_pair_is_flagged_and_independent_answers_are_not(report):
    pairs = read_csv(report / "similar_pairs.csv")
    assert [(p["assignment"], p["student_a"], p["student_b"]) for p in pairs] == [("01_gates", "dave", "erin")]
    assert pairs[0]["cells"].startswith("gates/lstm_step") and float(pairs[0]["similarity"]) >= 0.5
    page = (report / "index.html").read_text()
    assert "for a person to look at" in page and "no score was changed" in page


def _assignment(answers_by_student: dict[str, str], key: str = "", template: str = "") -> Assignment:
    cell = Cell("nb", "answer")
    return Assignment("a", {"np"}, {cell: template}, {cell: key}, {cell: answers_by_student})


def test_key_answers_and_class_idioms_flag_nobody():
    key = "def f(x):\n    y = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + y), y / (1 + y))\n"
    same = {s: key.replace("y", v) for s, v in zip("abcdef", "ytuvwz")}  # the key, renamed: everyone
    assert similar_pairs(_assignment(same, key=key)) == []
    assert similar_pairs(_assignment(same)) == []  # one form shared by the whole class
    assert len(similar_pairs(_assignment(dict(list(same.items())[:2])))) == 1  # two alone: listed
    short = {"a": "return x + 1", "b": "return x + 1"}
    assert similar_pairs(_assignment(short)) == []


# --- attention, scores, LMS files ---------------------------------------------------------------------
def test_students_who_need_attention(course, report):
    people = {p.student: " | ".join(p.reasons) for p in attention(load_class(course))}
    assert "alice" not in people
    assert "broken submission" in people["henry"] and "bptt.ipynb missing" in people["henry"]
    assert "grading timed out" in people["frank"]
    assert "03_bptt: no submission" in people["gina"]
    assert "03_bptt: needs manual grading (2 points pending)" in people["bob"]
    assert "low score: 18% of all points so far" in people["bob"]  # 6 of 34
    # carol's notebooks break at their first answer, but the numbers by hand do not need it: she
    # earns 17 of the 34 points, exactly half, and only a share below half is low
    assert "low score" not in people["carol"]
    page = (report / "index.html").read_text()
    assert "needs manual grading (2 points pending)" in page and "grading timed out" in page


def test_scores_csv_has_every_student_and_assignment(report):
    rows = {(r["student"], r["assignment"]): r for r in read_csv(report / "scores.csv")}
    students = {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "henry"}
    assert set(rows) == {(s, a) for s in students for a in ASSIGNMENTS}
    assert rows["alice", "03_bptt"]["score"] == "15" and rows["alice", "03_bptt"]["pending_manual_points"] == "0"
    assert rows["gina", "03_bptt"]["status"] == "missing"
    assert rows["frank", "03_bptt"]["status"] == "timeout"
    assert rows["henry", "01_gates"]["status"] == "broken"
    assert rows["henry", "03_bptt"]["missing_notebooks"] == "bptt.ipynb"
    assert float(rows["bob", "01_gates"]["grading_seconds"]) > 0


def test_lms_exports(report):
    with open(report / "canvas.csv", newline="") as f:
        canvas = list(csv.reader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_gates", "03_bptt"]
    assert canvas[1] == ["    Points Possible", "", "", "", "", "19", "15"]  # 01: 9 + 10 by hand; 03: 9 + 6
    by_login = {r[3]: r for r in canvas[2:]}
    assert by_login["alice"][0] == "Liddell, Alice" and by_login["alice"][5:] == ["19", "15"]
    assert by_login["gina"][6] == ""  # nothing submitted: no grade, not 0
    moodle = read_csv(report / "moodle.csv")
    assert list(moodle[0]) == ["First name", "Last name", "Username", "Email address", "01_gates", "03_bptt"]
    alice = next(r for r in moodle if r["Username"] == "alice")
    assert (alice["Email address"], alice["01_gates"]) == ("alice@example.org", "19")


def test_page_is_offline_with_inline_plots(report):
    page = (report / "index.html").read_text()
    assert page.count("<svg") >= 2 * len(ASSIGNMENTS) + 1  # per assignment two, and the grading times
    assert "<script" not in page and "<img" not in page
    external = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//|url\(\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert external == []
    assert "http://" not in page and "https://" not in page


# --- the grading run's rows ---------------------------------------------------------------------------
def test_grading_run_rows_of_other_assignments_are_kept(tmp_path):
    save_run(tmp_path, [Row("ann", "a1", 1, 2, seconds=3.0), Row("bo", "a1", 2, 2, status="timeout", seconds=9.5)])
    save_run(tmp_path, [Row("ann", "a2", 0, 5, status="broken")])
    save_run(tmp_path, [Row("ann", "a1", 2, 2, seconds=4.0)])  # a1 graded again: its old rows replaced
    rows = {(r["student"], r["assignment"]): r for r in load_run(tmp_path)}
    assert set(rows) == {("ann", "a1"), ("ann", "a2")}
    assert (rows["ann", "a1"]["seconds"], rows["ann", "a2"]["status"]) == (4.0, "broken")
    assert json.loads((tmp_path / "report" / "grading-run.json").read_text())["rows"][0]["student"] == "ann"


def test_missing_pieces_are_named_not_a_traceback(tmp_path, capsys):
    course = make_exercises.temp_course(tmp_path / "course")
    assert main(["report", "--course-dir", str(course)]) == 2
    err = capsys.readouterr().err
    assert "no gradebook at" in err and "Traceback" not in err
    c = Course.load(course)
    ensure_assignment(c.db_url, c.course_id, build_template(c, "01_gates", tmp_path / "work"))
    record(c.db_url, c.course_id, "01_gates", "ann", None)
    with pytest.raises(ReportError, match=r"no autograded notebooks under .*autograded/<student>/<assignment>"):
        build_report(course)


# --- in a browser -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_report_renders_offline_in_chromium(report):
    pytest.importorskip("playwright.sync_api")
    import test_browser as tb  # the book's browser setup: Debian's Chromium, offline flags

    if not tb.CHROMIUM.exists():
        pytest.skip(f"{tb.CHROMIUM} missing: run `make system-deps`")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with tb.serve(report) as site, tb.chromium() as context:
        page = tb._offline_page(context, site, problems)
        for name, viewport in (("desktop", tb.DESKTOP), ("phone", tb.PHONE)):
            page.set_viewport_size(viewport)
            page.goto(site.url + "index.html", wait_until="load")
            sizes = page.eval_on_selector_all("svg, img", "els => els.map(e => [e.getBoundingClientRect().width,"
                                              " e.getBoundingClientRect().height])")
            width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            assert len(sizes) >= 2 * len(ASSIGNMENTS) + 1
            assert all(w > 0 and h > 0 for w, h in sizes), sizes
            assert width <= viewport["width"], f"{name}: page {width} px wide in a {viewport['width']} px screen"
    assert problems == []
