"""Fast checks of the grader's parts, without starting a kernel or nbgrader.

The end-to-end behaviour (real nbgrader, sandboxed kernels) is in test_grader_hostile.py
and test_grader_gradebook.py; these pin down the pieces they rely on.
"""
from __future__ import annotations

import json
import sys
import types
from unittest import mock
from pathlib import Path

import pytest

from grader.canonical import BrokenNotebook, canonicalize, load_submission
from grader.instrument import add_token, bound_names, instrument, is_test_cell

FIXTURE = Path(__file__).parent / "fixtures" / "grader_course"
sys.path.insert(0, str(FIXTURE))
import hostile  # noqa: E402


def _template():
    return hostile.template()


def _cells_by_id(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


@pytest.mark.parametrize("data, message", [
    (b"", "is empty"),
    (b'{"cells": [', "not valid notebook JSON"),
    (hostile.NBFORMAT3, "nbformat version 3"),
    (b"[1, 2]", "not a notebook"),
])
def test_unreadable_notebooks_get_a_message(tmp_path, data, message):
    path = tmp_path / "ps1.ipynb"
    path.write_bytes(data)
    with pytest.raises(BrokenNotebook, match=message):
        load_submission(path)


@pytest.mark.parametrize("maker", [hostile.tamper_edit, hostile.tamper_split])
def test_tampered_tests_are_rebuilt_from_the_gradebook(tmp_path, maker):
    key = {c["metadata"]["nbgrader"]["grade_id"]: c for c in json.loads(hostile.KEY.read_text())["cells"]
           if "nbgrader" in c["metadata"]}
    path = tmp_path / "ps1.ipynb"
    path.write_bytes(maker())
    canon = canonicalize(load_submission(path), _template())
    cells = _cells_by_id(canon.nb)
    for test in ("test_add", "test_sigmoid", "test_double"):
        assert cells[test].cell_type == "code"
        assert cells[test].source == "".join(key[test]["source"])  # hidden tests included
        assert cells[test].metadata["nbgrader"]["points"] == key[test]["metadata"]["nbgrader"]["points"]
    assert sum(1 for c in canon.nb.cells if c.metadata.get("nbgrader", {}).get("grade")) == 3
    assert sum(c.metadata["nbgrader"]["points"] for c in cells.values() if c.metadata["nbgrader"].get("grade")) == 6
    assert canon.notes  # the student is told what was repaired


def test_answers_and_extra_cells_are_kept_in_order(tmp_path):
    nb = hostile.answered(hostile.GOOD)
    nb["cells"].insert(3, hostile.code("def helper():\n    return 41"))  # after sol_add
    path = tmp_path / "ps1.ipynb"
    path.write_text(json.dumps(nb))
    canon = canonicalize(load_submission(path), _template())
    sources = [c.source for c in canon.nb.cells]
    assert sources.index("def helper():\n    return 41") == sources.index(hostile.GOOD["sol_add"]) + 1
    assert hostile.GOOD["sol_double"] in sources
    assert len({c["id"] for c in canon.nb.cells}) == len(canon.nb.cells)


def test_stripped_metadata_is_refused(tmp_path):
    path = tmp_path / "ps1.ipynb"
    path.write_bytes(hostile.stripped_metadata())
    with pytest.raises(BrokenNotebook, match="no cell carries nbgrader metadata"):
        canonicalize(load_submission(path), _template())


def _run(source: str) -> tuple[list[str], dict]:
    """Execute a test cell's source with a stand-in guard; return the tokens it published."""
    published: list[str] = []
    guard = types.ModuleType("_grader_guard")
    guard.passed = published.append
    ns: dict = {}
    with mock.patch.dict(sys.modules, {"_grader_guard": guard}):
        exec(compile(source, "<cell>", "exec"), ns)
    return published, ns


def test_token_is_published_only_when_the_test_passes():
    passing, failing = add_token("x = 2\nassert x == 2", "t0k"), add_token("x = 2\nassert x == 3", "t0k")
    assert _run(passing)[0] == ["t0k"]
    with pytest.raises(AssertionError):
        _run(failing)


def test_token_keeps_a_partial_credit_result():
    source = add_token("score = 0.5\nscore * 2  # partial credit", "t0k")
    published, ns = _run(source)
    assert published == ["t0k"] and ns["_grader_result"] == 1.0
    assert source.rstrip().splitlines()[-1].startswith("_grader_result")


def test_bound_names_of_a_setup_cell():
    src = "import numpy as np\nfrom a.b import c as d\ndef check(x):\n    pass\nTOL = 1e-8\nclass K:\n    pass"
    assert bound_names(src) == ["np", "d", "check", "TOL", "K"]


def test_instrument_guards_every_test_cell(tmp_path):
    path = tmp_path / "ps1.ipynb"
    path.write_bytes(hostile.dumps(hostile.answered(hostile.GOOD)))
    nb, tokens = instrument(canonicalize(load_submission(path), _template()).nb)
    assert set(tokens) == {"test_add", "test_sigmoid", "test_double"}
    for i, cell in enumerate(nb.cells):
        if is_test_cell(cell):
            assert "restore()" in nb.cells[i - 1].source
            assert tokens[cell.metadata["nbgrader"]["grade_id"]] in cell.source
    assert "snapshot(" in nb.cells[0].source


def test_kernel_guard_restores_what_student_code_replaced():
    """The guard in a real IPython shell (in-process): every patch is undone by restore()."""
    from IPython.core.interactiveshell import InteractiveShell
    import numpy as np
    import lstm_ref.gradcheck as gc

    shell = InteractiveShell.instance()
    guard = (Path(__file__).parents[1] / "grader" / "kernel_guard.py").read_text()
    shell.run_cell(f"import types, sys\n_g = types.ModuleType('_g')\nexec(compile({guard!r}, 'g', 'exec'), _g.__dict__)\n"
                   "_g.snapshot(['numpy', 'numpy.testing', 'lstm_ref', 'lstm_ref.gradcheck'], fresh=['lstm_ref'])")
    originals = (np.testing.assert_allclose, gc.rel_error.__code__, abs, type(shell).showtraceback)
    cheat = shell.run_cell(
        "import builtins, numpy, lstm_ref.gradcheck\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "lstm_ref.gradcheck.rel_error.__code__ = (lambda *a, **k: 0.0).__code__\n"
        "builtins.abs = lambda x: 0\n"
        "ip = get_ipython()\n"
        "ip.showtraceback = lambda *a, **k: None\n"
        "type(ip).showtraceback = lambda *a, **k: None\n"
        "import ast\n"
        "ip.ast_transformers.append(ast.NodeTransformer())\n")
    assert cheat.success and np.testing.assert_allclose is not originals[0]
    shell.run_cell("_g.restore()").raise_error()
    try:
        assert np.testing.assert_allclose is originals[0]
        assert gc.rel_error.__code__ is originals[1]
        assert abs is originals[2] and abs(-2) == 2
        assert type(shell).showtraceback is originals[3] and "showtraceback" not in vars(shell)
        assert shell.ast_transformers == []
        assert gc.rel_error(np.ones(2), np.zeros(2)) > 0.5
    finally:
        InteractiveShell.clear_instance()


def test_missing_bubblewrap_stops_grading_before_any_kernel(monkeypatch, tmp_path):
    """Without bwrap every sandboxed kernel would die and every student score 0: refuse instead."""
    from grader import sandbox
    from grader.run import Options, grade_course

    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="bubblewrap"):
        grade_course(tmp_path, opts=Options(sandbox=True))


# --- cheats aimed at the checkers themselves (lstm_ref.grading and its submodules) ------------
_CHECKER_CHEATS = {
    "none (control)": "pass",
    "package attribute": "grading.check_function = lambda *a, **k: None",
    "package function code": "grading.check_function.__wrapped__.__code__ = (lambda *a, **k: None).__code__",
    "package wrapper closure": "grading.check_function.__closure__[0].cell_contents = lambda *a, **k: None",
    "through sys.modules": "import sys\nsys.modules['lstm_ref.grading'].check_function = lambda *a, **k: None",
    "submodule helpers": (
        "import sys\nfor n, m in list(sys.modules.items()):\n"
        "    if n.startswith('lstm_ref.grading') and hasattr(m, '_verify'):\n"
        "        m._verify = lambda *a, **k: None\n"
        "    if n.startswith('lstm_ref.grading') and hasattr(m, '_check_sigmoid_extremes'):\n"
        "        m._check_sigmoid_extremes = lambda *a, **k: None"
    ),
    "tripwire method code": (
        "import sys\nsys.modules['lstm_ref.grading._tripwire']._Tripwire._profile.__code__ = "
        "(lambda self, frame, event, arg: None).__code__"
    ),
}

_CHEAT_HARNESS = r'''
import json, sys, types
from pathlib import Path
from IPython.core.interactiveshell import InteractiveShell
from grader.instrument import imported_modules

setup = "import numpy as np\n\nfrom lstm_ref import LSTMParams, grading\n"
test = 'grading.check_function(sigmoid, "sigmoid")'
guard = Path("grader/kernel_guard.py").read_text()
modules = imported_modules([setup, test])
answer = sys.argv[1]
results = {}
for label, cheat in json.loads(sys.argv[2]).items():
    for name in [k for k in sys.modules if k.startswith("lstm_ref")]:
        del sys.modules[name]
    shell = InteractiveShell.instance()
    shell.run_cell(f"import types, sys\n_g = types.ModuleType('_g')\nexec(compile({guard!r}, 'g', 'exec'), _g.__dict__)\n"
                   f"_g.snapshot({modules!r}, fresh=['lstm_ref'])").raise_error()
    shell.run_cell(setup).raise_error()
    shell.run_cell("_g.record(['np', 'LSTMParams', 'grading'])").raise_error()
    shell.run_cell(answer + "\n" + cheat).raise_error()
    shell.run_cell("_g.restore()").raise_error()
    results[label] = shell.run_cell(test).success
    InteractiveShell.clear_instance()
print(json.dumps(results))
'''


def _checker_cheats_pass(answer: str) -> dict[str, bool]:
    """Run each cheat after ``answer`` in a fresh IPython shell guarded by kernel_guard."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", _CHEAT_HARNESS, answer, json.dumps(_CHECKER_CHEATS)],
        cwd=root, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_kernel_guard_restores_the_checkers_and_their_methods():
    """A wrong sigmoid (tanh) or one that calls the reference fails the test whatever the cheat
    did to lstm_ref.grading, its submodules or the tripwire's methods; the right one passes."""
    wrong = _checker_cheats_pass("import numpy as np\ndef sigmoid(z):\n    return np.tanh(z)")
    calls_reference = _checker_cheats_pass("from lstm_ref.numpy_lstm import sigmoid")
    right = _checker_cheats_pass(
        "import numpy as np\ndef sigmoid(z):\n    e = np.exp(-np.abs(z))\n"
        "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))"
    )
    assert wrong == {label: False for label in _CHECKER_CHEATS}, wrong
    assert calls_reference == {label: False for label in _CHECKER_CHEATS}, calls_reference
    assert right["none (control)"] is True


@pytest.mark.parametrize("assignment", ["01_gates", "02_sequences", "03_bptt", "04_pytorch"])
def test_every_release_cell_runs_exactly_once(tmp_path, assignment):
    """A release code cell without nbgrader metadata was kept as the learner's cell and inserted
    again from the template (04's training setup ran twice)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
    import submissions

    notebook = submissions.notebooks(assignment)[0]
    nb = submissions.submission(assignment, notebook, submissions.key_answers(assignment, notebook))
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    release = json.loads((Path(__file__).parents[1] / "exercises" / assignment / f"{notebook}.ipynb").read_text())
    template = [t for t in _course_template(assignment, notebook, release)]
    canon = canonicalize(load_submission(path), template).nb
    sources = ["".join(c.source) for c in canon.cells if c.cell_type == "code"]
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in canon.cells]
    plain = 0
    for cell in release["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            assert ids.count(grade_id) == 1, grade_id
        elif cell["cell_type"] == "code":
            plain += 1
            assert sources.count("".join(cell["source"])) == 1, "".join(cell["source"])[:80]
    assert plain or assignment in ("01_gates", "02_sequences")  # 03 and 04 have ordinary code cells


def _course_template(assignment, notebook, release):
    """The template cells as the grader builds them, locked cells with the key's source."""
    from grader.canonical import template_cells

    key = json.loads((Path(__file__).parents[1] / "solutions" / assignment / f"{notebook}.ipynb").read_text())
    locked = {c["metadata"]["nbgrader"]["grade_id"]: (c["cell_type"], "".join(c["source"])) for c in key["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("locked")}
    return template_cells(release, locked)


def test_the_score_table_shows_pending_manual_grading():
    from grader.run import Row, format_table

    table = format_table([Row("alice", "03_bptt", 7, 9, pending=2), Row("bob", "01_gates", 3, 9)])
    alice, bob = table.splitlines()[2:4]
    assert alice.endswith("ok, needs manual grading (2 points pending)") and bob.endswith("ok")


def test_nbgrader_autograde_refuses_without_a_sandbox_and_says_what_to_do():
    """Where bubblewrap cannot work, the pipeline nbgrader_config.py registers runs nothing."""
    import nbformat

    from grader import launch

    execute = launch.SandboxedExecute()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("open('/tmp/ran', 'w')")])
    with mock.patch.object(launch, "preflight", return_value="bubblewrap (bwrap) is not installed"), \
            mock.patch.object(launch.RobustExecute, "preprocess") as run:
        with pytest.raises(launch.SandboxRefused, match=r"not run outside the sandbox: bubblewrap .* `make grade`"):
            execute.preprocess(nb, {"metadata": {"path": "."}})
    run.assert_not_called()


def test_sandboxed_kernel_command_starts_with_the_launcher(tmp_path):
    from grader import launch

    execute = launch.SandboxedExecute(memory_mb=512, cpu_s=30)
    execute._rundir = str(tmp_path)
    execute.resources = {"metadata": {"path": str(tmp_path)}, "nbgrader": {"student": "alice"}}
    argv = execute._launcher()
    assert argv[1] == launch.SANDBOX_PY and "--no-bwrap" not in argv
    assert argv[argv.index("--workdir") + 1] == str(tmp_path) and argv[argv.index("--memory-mb") + 1] == "512"
    assert argv[argv.index("--uid") + 1] == str(launch.student_uid("alice")) != str(launch.student_uid("bob"))


def test_strip_grader_leaves_the_test_as_written(tmp_path):
    """What Formgrader shows after autograde: no guard cell, no token line, no frame quoting them."""
    import nbformat

    from grader.hooks import StripGrader
    from grader.instrument import MARK

    test = nbformat.v4.new_code_cell("check(f)\n__import__('sys').modules['_grader_guard'].passed(\"ab\")  # grader:token",
                                     metadata={"nbgrader": {"grade": True, "grade_id": "test_f", "points": 1}})
    test.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong",
                                           traceback=["Cell In[3] ... # grader:token", "check.py: wrong"])]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"{MARK}\nrestore()"), test])
    with mock.patch("grader.hooks.gradebook_sources", return_value={"test_f": "check(f)"}):
        nb, _ = StripGrader().preprocess(nb, {})
    assert [c.source for c in nb.cells] == ["check(f)"]
    assert nb.cells[0].outputs[0].traceback == ["check.py: wrong"]


def test_the_score_table_keeps_its_columns_for_long_names():
    from grader.run import Row, format_table

    table = format_table([Row("alice", "06_sequence_models", 5, 5), Row("a-student-with-a-long-id", "01_gates", 3, 9)])
    head, _, *rows = table.splitlines()
    score_end = head.index("score") + len("score")
    assert all(row[:score_end].rstrip()[-1].isdigit() and row[score_end] == " " for row in rows), table
    assert [row.split()[:4] for row in rows] == [["alice", "06_sequence_models", "5", "5"],
                                                 ["a-student-with-a-long-id", "01_gates", "3", "9"]]
