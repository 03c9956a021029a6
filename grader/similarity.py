"""Pairs of submissions whose answers are near-identical beyond what everyone was given.

For a person to look at, never a verdict: similar code has innocent causes (allowed
collaboration, the same tutorial, a short answer with one natural form), and nothing here
changes a score.

Each answer cell (``metadata.nbgrader.solution``) of each submission becomes a set of token
shingles (:data:`K` consecutive tokens of Python's ``tokenize``, comments dropped; a name
the cell binds, a parameter or a variable, is replaced by its order of first appearance in
the cell, so consistently renamed variables still match; written answers become lower-case
words).
From each set are removed the shingles of the release template's cell; an answer left with
fewer than :data:`MIN_SHINGLES` is ignored (unanswered or trivial).  Shingles of the answer
key, or held by more than :data:`COMMON_SHARE` of the class (and more than two students),
are then discounted, so that correct one-liners and the class's common idioms flag nobody.
Two submissions' cells are compared by the Jaccard similarity of what is left; a pair is
listed when a cell reaches :data:`THRESHOLD` with at least :data:`MIN_SHARED` shingles in
common.
"""
from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from .nbjson import cells, nbgrader, read, source

K = 5               # tokens per shingle
MIN_SHINGLES = 25   # fewer new shingles than this (after the template's), about two lines of code:
                    # answer ignored, one-liners are written alike independently
COMMON_SHARE = 0.25  # a shingle held by more than this share of the class is discounted
MIN_SHARED = 8      # shingles two cells must share to count
THRESHOLD = 0.5     # Jaccard similarity of a cell that lists the pair

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_KEEP = set(keyword.kwlist) | set(dir(builtins))
_SOLUTION_REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*\n?", re.S | re.M)
_DELIMITER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)


@dataclass(frozen=True)
class Cell:
    """An answer cell: its notebook, grade id and kind (code or markdown)."""

    notebook: str
    name: str
    kind: str = "code"


@dataclass
class Pair:
    """Two submissions of one assignment with near-identical answers."""

    assignment: str
    a: str
    b: str
    score: float                                     # Jaccard over every cell both answered
    cells: list[tuple[Cell, float]] = field(default_factory=list)  # the cells above the threshold
    shared: int = 0                                  # shingles in common, all cells


# --- tokens and shingles ------------------------------------------------------------------------------
def _raw_tokens(source: str) -> list[tuple[int, str, bool]]:
    """``(type, text, after_dot)`` of Python tokens; a crude split when tokenize gives up."""
    out, prev = [], ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in _SKIP:
                out.append((tok.type, tok.string, prev == "."))
                prev = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        if not out:  # not Python at all (a magic, a fragment): words and symbols
            code = re.sub(r"#[^\n]*", "", source)
            words = re.findall(r"\w+|[^\w\s]", code)
            out = [(tokenize.NAME if w[0].isalpha() or w[0] == "_" else tokenize.OP, w, False) for w in words]
    return out


def local_names(source: str) -> set[str] | None:
    """Names the cell binds (parameters, assignment and loop targets, ``except ... as``);
    None when it is not valid Python."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def code_tokens(source: str, known: set[str]) -> list[str]:
    """Tokens of ``source``, each name the cell binds numbered by first appearance
    (``a = b + a`` -> ``$0 = b + $0``); when the cell does not parse, every name outside
    ``known`` (and not a keyword, builtin or attribute) is numbered instead."""
    bound = local_names(source)
    numbers: dict[str, str] = {}
    out = []
    for kind, text, after_dot in _raw_tokens(source):
        if kind == tokenize.NAME and not after_dot and (
                text in bound if bound is not None else text not in known and text not in _KEEP):
            text = numbers.setdefault(text, f"${len(numbers)}")
        out.append(text)
    return out


def text_tokens(source: str) -> list[str]:
    """Lower-case words of a written answer."""
    return re.findall(r"\w+", source.lower())


def shingles(tokens: list[str], k: int = K) -> set[tuple[str, ...]]:
    """Every run of ``k`` consecutive tokens (one shingle for a shorter list)."""
    if len(tokens) < k:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1)}


# --- notebooks -------------------------------------------------------------------------------------
def answer_cells(nb: dict) -> dict[Cell, str]:
    """``{Cell: source}`` of the solution cells of a notebook (as JSON)."""
    out = {}
    for cell in cells(nb):
        meta = nbgrader(cell)
        if meta.get("solution") and isinstance(meta.get("grade_id"), str):
            kind = "code" if cell.get("cell_type") == "code" else "markdown"
            out[Cell("", meta["grade_id"], kind)] = source(cell)
    return out


def known_names(nb: dict) -> set[str]:
    """Names used anywhere in a notebook's code cells: what every learner was given."""
    names = set()
    for cell in cells(nb):
        if cell.get("cell_type") == "code":
            names |= {text for kind, text, _ in _raw_tokens(source(cell)) if kind == tokenize.NAME}
    return names


def strip_solutions(nb: dict) -> dict:
    """The release form of a source notebook: solution regions removed (when no release exists)."""
    return dict(nb, cells=[dict(c, source=_SOLUTION_REGION.sub("", source(c))) for c in cells(nb)])


@dataclass
class Assignment:
    """Everything compared for one assignment: per cell, template, key and each student's answer."""

    name: str
    known: set[str] = field(default_factory=set)
    template: dict[Cell, str] = field(default_factory=dict)
    key: dict[Cell, str] = field(default_factory=dict)
    answers: dict[Cell, dict[str, str]] = field(default_factory=dict)  # cell -> student -> source


def _with_notebook(cells: dict[Cell, str], notebook: str) -> dict[Cell, str]:
    return {Cell(notebook, c.name, c.kind): src for c, src in cells.items()}


def load_assignment(name: str, submitted: Path, release: Path, source: Path, students: list[str]) -> Assignment:
    """Answers of ``students`` from ``submitted/<student>/<name>/``, the template from the
    release notebooks (else the source with its solutions removed), the key from ``source``."""
    out = Assignment(name)
    for key_path in sorted((source / name).glob("*.ipynb")):
        nb_name, key_nb = key_path.stem, read(key_path)
        release_nb = read(release / name / key_path.name) or strip_solutions(key_nb)
        out.known |= known_names(release_nb)
        out.template |= _with_notebook(answer_cells(release_nb), nb_name)
        out.key |= {c: _DELIMITER.sub("", s) for c, s in _with_notebook(answer_cells(key_nb), nb_name).items()}
        for student in students:
            mine = _with_notebook(answer_cells(read(submitted / student / name / key_path.name)), nb_name)
            for cell, src in mine.items():
                out.answers.setdefault(cell, {})[student] = src
    return out


# --- comparison ------------------------------------------------------------------------------------
def _shingles_of(cell: Cell, source: str, known: set[str]) -> set:
    tokens = code_tokens(source, known) if cell.kind == "code" else text_tokens(source)
    return shingles(tokens)


def cell_sets(assignment: Assignment, cell: Cell) -> dict[str, set]:
    """Each student's shingles of ``cell`` that count: template removed, short answers left
    out, shingles of the key and of a large share of the class discounted."""
    known = assignment.known
    template = _shingles_of(cell, assignment.template.get(cell, ""), known)
    key = _shingles_of(cell, assignment.key.get(cell, ""), known)
    sets = {s: _shingles_of(cell, src, known) - template for s, src in assignment.answers.get(cell, {}).items()}
    sets = {s: sh for s, sh in sets.items() if len(sh) >= MIN_SHINGLES}
    held = Counter(sh for shs in sets.values() for sh in shs)
    common = {sh for sh, n in held.items() if n > max(2, COMMON_SHARE * len(sets))}
    return {s: sh - key - common for s, sh in sets.items()}


def similar_pairs(assignment: Assignment, threshold: float = THRESHOLD) -> list[Pair]:
    """Pairs of students with at least one cell above ``threshold``, most similar first."""
    per_cell = {cell: cell_sets(assignment, cell) for cell in assignment.answers}
    students = sorted({s for sets in per_cell.values() for s in sets})
    pairs = []
    for a, b in combinations(students, 2):
        inter = union = 0
        flagged = []
        for cell, sets in per_cell.items():
            if a in sets and b in sets and (sets[a] or sets[b]):
                common, both = len(sets[a] & sets[b]), len(sets[a] | sets[b])
                inter, union = inter + common, union + both
                if common >= MIN_SHARED and common / both >= threshold:
                    flagged.append((cell, common / both))
        if flagged:
            pairs.append(Pair(assignment.name, a, b, inter / union, flagged, inter))
    return sorted(pairs, key=lambda p: (-len(p.cells), -p.score, p.a, p.b))
