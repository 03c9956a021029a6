"""Insert the grader's trusted cells into a canonical notebook.

* a first cell that snapshots builtins, sys, os, IPython and the packages the locked
  cells import (:mod:`grader.kernel_guard`), before any student code runs;
* after each locked setup cell, a cell recording the names it defined (helpers such as
  an ``assert_close`` the student might redefine);
* before each locked setup cell, a cell that puts back the clean numerical settings;
* before each test cell, a cell that restores all of the above;
* at the end of each test cell, a line publishing a random per-run token as a structured
  verdict (:func:`grader.kernel_guard.passed`).  A test earns its points only if its
  verdict shows up in its outputs (checked outside the kernel), so a test that was
  skipped, cut short by ``sys.exit``/``os._exit``, rewritten by an input transformer or
  silenced by a patched ``showtraceback`` earns nothing, and what the learner's code
  printed, on stdout or stderr, cannot change the verdict.

Inserted cells start with :data:`MARK`; feedback drops them and the token lines.
"""
from __future__ import annotations

import ast
import secrets
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

MARK = "# grader:guard"
TOKEN_MARK = "# grader:token"
TOKEN_CALL = "__import__('sys').modules['_grader_guard'].passed"
# pure-Python packages whose modules imported after the snapshot are dropped before each
# test, so the test's own import loads them fresh from disk (never numpy: C extensions)
FRESH = ["lstm_ref"]
_GUARD_SOURCE = (Path(__file__).parent / "kernel_guard.py").read_text()


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    meta = _nbg(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_setup_cell(cell) -> bool:
    meta = _nbg(cell)
    return cell.cell_type == "code" and bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution")


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:  # IPython magics; such a cell is left as it is
        return None


def bound_names(source: str) -> list[str]:
    """Top-level names a cell binds (imports, defs, classes, simple assignments)."""
    tree = _parse(source)
    names: list[str] = []
    for node in tree.body if tree else []:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names


def imported_modules(sources: list[str]) -> list[str]:
    """Modules imported anywhere in ``sources``, by full dotted name (these get protected)."""
    found = {"lstm_ref", "numpy", "numpy.testing"}
    for source in sources:
        tree = _parse(source)
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
                # ``from lstm_ref import grading`` imports a submodule: protect it too (a
                # name that is no module fails to import in snapshot(), harmlessly)
                found.update(f"{node.module}.{a.name}" for a in node.names if a.name != "*")
    return sorted(found)


def is_guard_cell(cell) -> bool:
    """A cell the grader inserted (never part of the assignment)."""
    return cell.cell_type == "code" and cell.source.startswith(MARK)


def strip_tokens(source: str) -> str:
    """``source`` without the grader's token lines."""
    return "\n".join(line for line in source.split("\n") if TOKEN_MARK not in line)


def _guard_cell(source: str):
    return new_code_cell(f"{MARK} (inserted by the grader; not part of the assignment)\n{source}")


def add_token(source: str, token: str) -> str:
    """``source`` with a line publishing ``token`` once every statement before it passed.

    When the cell ends in an expression (nbgrader gives partial credit for a number
    there), its value is kept and shown again after the token, so the result is unchanged.
    """
    line = f'{TOKEN_CALL}("{token}")  {TOKEN_MARK}'
    tree = _parse(source)
    lines = source.rstrip("\n").split("\n")
    if not (tree and tree.body and isinstance(tree.body[-1], ast.Expr)):
        return "\n".join(lines + [line])
    last = tree.body[-1]
    first, end = last.lineno - 1, last.end_lineno - 1
    segment = "\n".join(lines[first:end] + [lines[end][: last.end_col_offset]])
    rest = lines[end][last.end_col_offset:]
    wrapped = f"_grader_result = ({segment}){rest}".split("\n")
    semicolon = ";" if rest.strip().startswith(";") else ""
    return "\n".join(lines[:first] + wrapped + lines[end + 1:] + [line, f"_grader_result{semicolon}  {TOKEN_MARK}"])


def instrument(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """Return the notebook with the trusted cells added and ``{test grade_id: token}``."""
    modules = imported_modules([c.source for c in nb.cells if is_setup_cell(c) or is_test_cell(c)])
    boot = (
        "def __grader_boot():\n"
        "    import sys, types\n"
        "    module = types.ModuleType('_grader_guard')\n"
        f"    exec(compile({_GUARD_SOURCE!r}, '<grader-guard>', 'exec'), module.__dict__)\n"
        "    sys.modules['_grader_guard'] = module\n"
        f"    module.snapshot({modules!r}, fresh={FRESH!r})\n"
        "__grader_boot()\n"
        "del __grader_boot"
    )
    cells = [_guard_cell(boot)]
    tokens: dict[str, str] = {}
    for cell in nb.cells:
        if is_setup_cell(cell):
            cells.append(_guard_cell("__import__('sys').modules['_grader_guard'].clean()"))
        if is_test_cell(cell):
            cells.append(_guard_cell("__import__('sys').modules['_grader_guard'].restore()"))
            token = secrets.token_hex(16)
            tokens[_nbg(cell)["grade_id"]] = token
            cell.source = add_token(cell.source, token)
        cells.append(cell)
        if is_setup_cell(cell):
            names = bound_names(cell.source)
            cells.append(_guard_cell(f"__import__('sys').modules['_grader_guard'].record({names!r})"))
    nb.cells = cells
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb, tokens


def token_seen(cell, token: str) -> bool:
    """Did the executed test cell publish its verdict with ``token``?"""
    from .kernel_guard import VERDICT_MIME

    return any(
        out.get("output_type") == "display_data" and (out.get("data", {}).get(VERDICT_MIME) or {}).get("token") == token
        for out in cell.get("outputs", [])
    )
