"""The nbgrader course end to end, with the real nbgrader 0.9.6 CLI and its SQLite gradebook.

Everything runs in a temporary copy of the course directory (nbgrader_config.py and
solutions/), so the course's own gradebook.db and submitted/ are never touched. The
expensive part, one kernel per submitted notebook, is shared: every student below is
autograded by a single ``nbgrader autograde "*"`` in a session fixture.
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_cases import CHEATS, KEY_BLOCKED, KEY_READ, MISTAKES, NOTEBOOK, ROOT, answers_with, hostile_submission, submissions

sys.path.insert(0, str(ROOT / "scripts"))
import build_solutions  # noqa: E402
import make_exercises  # noqa: E402

# One worker runs them all (with xdist's --dist loadgroup): the session fixtures below cost minutes.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("nbgrader")]

ASSIGNMENTS = sorted(NOTEBOOK)
#: The wrong answers that go through real nbgrader, one per assignment, all by student "dana".
DANA = {"01_gates": "step-gate-order", "02_sequences": "from-torch-dropped-bias-hh",
        "03_bptt": "backward-grads-not-summed", "04_pytorch": "torch-step-fixed-device",
        "05_gru": "gru-direct-path-missing", "06_sequence_models": "order-model-fixed-step"}
MISTAKE = {m.name: m for m in MISTAKES}
#: Demo students autograded here (a kernel per notebook costs seconds): the complete one
#: everywhere, the partial and the broken one on three assignments each (06's training
#: run is left to alice and dana).
DEMO_GRADED = {"alice": ASSIGNMENTS, "bob": ["01_gates", "03_bptt", "05_gru"],
               "carol": ["02_sequences", "04_pytorch", "05_gru"]}


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    """A temporary course directory with the release generated from the committed answer keys."""
    course = make_exercises.temp_course(tmp_path_factory.mktemp("nbgrader") / "course")
    make_exercises.nbgrader(course, "generate_assignment", "*", "--force")
    return course


def _with_tests_edited(nb, grade_ids):
    """The learner also "fixes" the failing tests by editing them: nbgrader must restore them."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in grade_ids:
            cell.source = "pass  # edited by the learner"
    return nb


def _submit(course: Path, student: str, assignment: str, nb) -> None:
    submissions.write(nb, course / "submitted", student, assignment, NOTEBOOK[assignment])


#: The submissions are autograded in two course copies at once (assignments split so that
#: each copy has about half the notebooks): kernels start and wait in parallel.
SHARDS = (("01_gates", "04_pytorch", "05_gru"), ("02_sequences", "03_bptt", "06_sequence_models"))


def _submissions(course: Path) -> list[tuple[str, str, nbformat.NotebookNode]]:
    """``(student, assignment, notebook)`` of every learner graded here."""
    subs = [(s, a, nb) for (s, a, _), nb in submissions.demo_students().items() if a in DEMO_GRADED[s]]
    for assignment in ASSIGNMENTS:
        name, mistake = NOTEBOOK[assignment], MISTAKE[DANA[assignment]]
        subs.append(("untouched", assignment, nbformat.read(course / "exercises" / assignment / f"{name}.ipynb", 4)))
        dana = submissions.submission(assignment, name, answers_with(mistake))
        subs.append(("dana", assignment, _with_tests_edited(dana, mistake.fails)))
    subs.append(("trudy", "01_gates", hostile_submission("01_gates")))
    for assignment, cheats in CHEATS.items():
        key = submissions.key_answers(assignment, NOTEBOOK[assignment])
        subs.append(("mallory", assignment, submissions.submission(assignment, NOTEBOOK[assignment], {**key, **cheats})))
    return subs


def _run_all(courses: list[Path], *args: str) -> None:
    """``nbgrader <args>`` in every course at once; fail with the output of any that fails."""
    procs = []
    for course in courses:
        cmd, env = make_exercises.nbgrader_command(course, *args)
        procs.append(subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate()[0] for p in procs]
    failed = [out for p, out in zip(procs, outputs) if p.returncode != 0]
    assert not failed, f"nbgrader {' '.join(args)} failed:\n" + "\n".join(failed)


@pytest.fixture(scope="session")
def graded(course) -> dict:
    """Autograde and write feedback for every student; ``{(student, assignment): {grade_id: (score, max)}}``.

    The shards' autograded/ and feedback/ folders are copied back into ``course``.
    """
    from nbgrader.api import Gradebook

    assert sorted(a for shard in SHARDS for a in shard) == ASSIGNMENTS
    shards = []
    for k, assignments in enumerate(SHARDS):
        shard = course.parent / f"shard{k}"
        shutil.copytree(course, shard)  # the release and the gradebook that knows it
        shards.append(shard)
        for student, assignment, nb in _submissions(course):
            if assignment in assignments:
                _submit(shard, student, assignment, nb)
    _run_all(shards, "autograde", "*", "--force")
    _run_all(shards, "generate_feedback", "*", "--force")
    scores = {}
    for shard, assignments in zip(shards, SHARDS):
        for folder in ("autograded", "feedback"):
            shutil.copytree(shard / folder, course / folder, dirs_exist_ok=True)
        with Gradebook(f"sqlite:///{shard / 'gradebook.db'}") as gb:
            for assignment in assignments:
                for sub in gb.assignment_submissions(assignment):
                    scores[sub.student_id, assignment] = {
                        g.name: (g.score, g.max_score, g.needs_manual_grade) for nb in sub.notebooks for g in nb.grades
                    }
    return scores


def _feedback(course: Path, student: str, assignment: str) -> str:
    path = course / "feedback" / student / assignment / f"{NOTEBOOK[assignment]}.html"
    text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))
    return " ".join(text.split())  # messages are wrapped for narrow displays


# --- the release --------------------------------------------------------------------------------
def test_regenerated_exercises_equal_the_committed_ones(course):
    fresh = {p.relative_to(course / "exercises"): p.read_bytes() for p in (course / "exercises").rglob("*.ipynb")}
    committed = {p.relative_to(ROOT / "exercises"): p.read_bytes() for p in (ROOT / "exercises").rglob("*.ipynb")}
    assert sorted(fresh) == sorted(committed)
    assert [k for k in fresh if fresh[k] != committed[k]] == [], "run `make exercises` and commit exercises/"


def test_answer_keys_are_built_from_authoring():
    targets = build_solutions.targets()
    assert sorted(p.parent.name for p in targets.values()) == ASSIGNMENTS
    stale = [str(dst) for src, dst in targets.items() if not dst.exists() or dst.read_text() != build_solutions.render(src)]
    assert stale == [], "run `make exercises` and commit solutions/"


def test_answer_keys_store_no_outputs():
    for path in (ROOT / "solutions").rglob("*.ipynb"):
        nb = nbformat.read(path, 4)
        assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"), path


def test_every_solution_and_hidden_region_has_a_sentinel_and_none_is_released():
    for path in (ROOT / "solutions").rglob("*.ipynb"):
        text = path.read_text()
        assert text.count("### BEGIN SOLUTION") == text.count(build_solutions.SENTINEL_SOLUTION) > 0, path
        assert text.count("### BEGIN HIDDEN TESTS") == text.count(build_solutions.SENTINEL_HIDDEN) > 0, path
    released = [p for p in (ROOT / "exercises").rglob("*") if p.is_file()]
    assert released
    for path in released:
        text = path.read_text()
        assert "SENTINEL-" not in text, f"solution or hidden test leaked into {path}"
        assert "hidden=True" not in text and "BEGIN SOLUTION" not in text, path


def test_demo_submissions_are_up_to_date():
    fresh = submissions.demo_students()
    committed = sorted(submissions.DEMO.rglob("*.ipynb"))
    assert sorted(submissions.DEMO / s / a / f"{n}.ipynb" for s, a, n in fresh) == committed
    for (student, assignment, name), nb in fresh.items():
        assert nbformat.writes(nb) == nbformat.writes(nbformat.read(submissions.DEMO / student / assignment / f"{name}.ipynb", 4))


# --- nbgrader validate -------------------------------------------------------------------------------
def test_answer_keys_pass_nbgrader_validate(course):
    keys = [str(course / "solutions" / a / f"{NOTEBOOK[a]}.ipynb") for a in ASSIGNMENTS]
    proc = make_exercises.nbgrader(course, "validate", *keys, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("Success! Your notebook passes all the tests.") == len(keys), proc.stdout


def test_untouched_release_fails_nbgrader_validate(course):
    release = course / "exercises" / "01_gates" / "gates.ipynb"
    proc = make_exercises.nbgrader(course, "validate", str(release), check=False)
    assert "NotImplementedError" in proc.stdout and "Success!" not in proc.stdout


# --- nbgrader autograde -------------------------------------------------------------------------------
def _lost(grades: dict) -> set[str]:
    return {k for k, (score, max_score, manual) in grades.items() if score < max_score and not manual}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_complete_submission_gets_full_marks(graded, assignment):
    grades = graded["alice", assignment]
    assert grades and _lost(grades) == set()
    assert all(not manual for name, (_, _, manual) in grades.items() if name.startswith("test_"))


def test_written_answer_waits_for_manual_grading(graded):
    score, max_score, manual = graded["alice", "03_bptt"]["written_forget_gate"]
    assert manual and max_score == 2


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_scores_zero_without_crashing(graded, course, assignment):
    grades = graded["untouched", assignment]
    assert grades and sum(score for score, _, _ in grades.values()) == 0
    assert (course / "autograded" / "untouched" / assignment / f"{NOTEBOOK[assignment]}.ipynb").exists()


def test_nbgrader_generate_feedback_shows_no_hidden_test_and_no_grader_internals(graded, course):
    """The course's nbgrader_config.py gives nbgrader's own generate_feedback the grader's filter."""
    pages = list((course / "feedback").rglob("*.html"))
    assert len(pages) >= 12
    for page in pages:
        text = page.read_text()
        for leak in ("BEGIN HIDDEN TESTS", build_solutions.SENTINEL_HIDDEN, "hidden=True", "grader:guard", "grader:token"):
            assert leak not in text, (page, leak)
        assert "hidden tests: their results count in your score" in text, page


def test_nbgrader_autograde_runs_the_hostile_learner_sandboxed_and_guarded(graded, course):
    """Checkers patched, answer key read, tests replaced by ``pass``: through ``nbgrader autograde``
    (the course's nbgrader_config.py) this earns nothing, the key stays out of reach, the tests run."""
    grades = graded["trudy", "01_gates"]
    tests = {k: v for k, v in grades.items() if k.startswith("test_")}
    assert tests and all(score == 0 for score, _, _ in tests.values()), tests
    nb = nbformat.read(course / "autograded" / "trudy" / "01_gates" / "gates.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert KEY_BLOCKED in printed and KEY_READ not in printed
    assert "edited by the learner" not in "".join(c.source for c in nb.cells)


def test_autograded_notebooks_hold_each_release_cell_once_and_no_grader_internals(graded, course):
    """What Formgrader shows: every cell of the release exactly once, tests as written, no guard or token."""
    checked = 0
    for path in (course / "autograded").glob("*/*/*.ipynb"):
        student, assignment = path.parts[-3], path.parts[-2]
        nb = nbformat.read(path, 4)
        release = nbformat.read(course / "exercises" / assignment / path.name, 4)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        for cell in release.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id:
                assert ids.count(grade_id) == 1, (student, assignment, grade_id)
            elif student in ("alice", "untouched"):  # learners who kept the release's cells
                assert [c.source for c in nb.cells].count(cell.source) == 1, (student, assignment, cell.source[:60])
        text = path.read_text()
        assert "grader:guard" not in text and "grader:token" not in text, path
        checked += 1
    assert checked >= 14


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_one_mistake_loses_exactly_its_tests_and_feedback_names_it(graded, course, assignment):
    """Dana also replaced the failing test cells by ``pass``; OverwriteCells restores them."""
    mistake = MISTAKE[DANA[assignment]]
    assert _lost(graded["dana", assignment]) == set(mistake.fails)
    assert mistake.says in _feedback(course, "dana", assignment)


@pytest.mark.parametrize("assignment", sorted(CHEATS))
def test_answers_calling_lstm_ref_get_no_points(graded, course, assignment):
    grades = graded["mallory", assignment]
    autograded = {k: v for k, v in grades.items() if k.removeprefix("test_") in CHEATS[assignment]}  # not the numbers
    assert autograded and all(score == 0 for score, _, _ in autograded.values())
    assert "which this test does not let answers use" in _feedback(course, "mallory", assignment)


def test_partial_submission_gets_partial_marks_and_named_feedback(graded, course):
    for assignment in DEMO_GRADED["bob"]:
        grades = graded["bob", assignment]
        total = sum(score for score, _, _ in grades.values())
        assert 0 <= total < sum(m for _, m, _ in grades.values())
    assert 0 < sum(s for s, _, _ in graded["bob", "01_gates"].values())
    assert "bias left out" in _feedback(course, "bob", "01_gates")
    assert "dc not accumulated from the future step" in _feedback(course, "bob", "03_bptt")
    assert "the direct path left out" in _feedback(course, "bob", "05_gru")
    assert 0 < sum(s for s, _, _ in graded["bob", "05_gru"].values())  # his forward pass is right


def test_broken_submission_is_graded_and_deleted_test_cell_restored(graded, course):
    for assignment in DEMO_GRADED["carol"]:
        grades = graded["carol", assignment]
        release = nbformat.read(course / "exercises" / assignment / f"{NOTEBOOK[assignment]}.ipynb", 4)
        graded_cells = [c.metadata.nbgrader for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert set(grades) == {m.grade_id for m in graded_cells}, "every graded cell, the deleted one too"
        deleted = [m.grade_id for m in graded_cells if not m.solution][-1]  # as submissions.demo_students
        autograded = nbformat.read(course / "autograded" / "carol" / assignment / f"{NOTEBOOK[assignment]}.ipynb", 4)
        assert deleted in [c.metadata.get("nbgrader", {}).get("grade_id") for c in autograded.cells]
        assert "ModuleNotFoundError" in _feedback(course, "carol", assignment)
