"""The built book: every page, equation, figure and check is there, and strictness bites.

``built_book`` (tests/conftest.py) runs the strict build of ``make book`` once per session;
these tests read its HTML. ``test_strict_build_fails`` builds tiny books of its own to show
that the repository's configuration turns a failing cell or a broken reference into a
failed build rather than a page with an error on it.
"""
from __future__ import annotations

import html
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lstm_ref import numpy_lstm as nl
from lstm_ref import params as lstm_params
from lstm_ref import rnn as lstm_rnn
from test_equations import BOOK, CORE_CHAPTERS, ROOT, book_labels

#: The core chapters and the appendix on weight layouts, which the first part links to.
FIRST_PART = [*CORE_CHAPTERS, "layouts"]

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent

#: Reference code each core chapter shows with {literalinclude}: (module, object path).
INCLUDED = {
    "cell": [(nl, n) for n in ("sigmoid", "forget_gate", "input_gate", "candidate", "output_gate",
                               "cell_state", "hidden_state", "_cell")],
    "sequence": [(nl, "lstm_step"), (nl, "lstm_forward")],
    "bptt": [(nl, "_cell_backward"), (nl, "lstm_step_backward"), (nl, "lstm_backward")],
    "rnn": [(lstm_rnn, "rnn_step"), (lstm_rnn, "rnn_jacobian")],
    "layouts": [(lstm_params, "LSTMParams.gate")],
}
#: Figures (MyST-NB figure names) each core chapter must render from its own code.
FIGURES = {
    "rnn": ["fig-unrolled", "fig-rnn-vanishing"],
    "cell": ["fig-lstm-cell", "fig-squash", "fig-forget-decay", "fig-wired-cell"],
    "bptt": ["fig-lstm-backward", "fig-truncation-bias"],
    "layouts": ["fig-layout"],
}
#: Works the bibliography must list (the brief's minimum), by a distinctive piece of title.
REQUIRED_WORKS = [
    "Long Short-Term Memory",
    "Learning to Forget",
    "A Search Space Odyssey",
    "An Empirical Exploration of Recurrent Network Architectures",
    "Learning Long-Term Dependencies with Gradient Descent is Difficult",
    "On the Difficulty of Training Recurrent Neural Networks",
    "Backpropagation Through Time: What It Does and How to Do It",
    "Generating Sequences With Recurrent Neural Networks",
]


def page(built: Path, name: str) -> str:
    return (built / "book" / f"{name}.html").read_text(encoding="utf-8")


def text_of(markup: str) -> str:
    """Visible text of an HTML page, tags dropped, entities decoded, whitespace collapsed."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", markup)))


def html_id(label: str) -> str:
    """The id Sphinx gives the equation labelled ``label`` (``eq:bptt-dW`` -> ``equation-eq-bptt-dw``)."""
    return "equation-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        for key in ("parts", "chapters", "sections"):
            for entry in node.get(key, []) or []:
                if "file" in entry:
                    files.append(entry["file"])
                walk(entry)

    walk(toc)
    return files


# --- the real book -----------------------------------------------------------------------------------
def test_every_toc_entry_has_a_page(built_book):
    missing, empty = [], []
    for name in toc_files():
        path = built_book / f"{name}.html"
        if not path.is_file():
            missing.append(name)
        elif "<h1" not in path.read_text(encoding="utf-8"):
            empty.append(name)
    assert not missing, f"toc entries without a built page: {missing}"
    assert not empty, f"built pages without a title: {empty}"


def test_every_labelled_equation_is_numbered_on_its_page(built_book):
    pages = {p: p.read_text(encoding="utf-8") for p in (built_book / "book").rglob("*.html")}
    problems = []
    for label, where in book_labels().items():
        anchor = f'id="{html_id(label)}"'
        hits = [p for p, markup in pages.items() if anchor in markup]
        source = Path(where[0].split(":")[0])
        expected = built_book / source.with_suffix(".html")
        if hits != [expected] or pages[expected].count(anchor) != 1:
            problems.append(f"{label}: expected once in {expected.name}, found in {[p.name for p in hits]}")
    assert not problems, problems


def test_no_unresolved_roles_reach_the_html(built_book):
    leftovers = {}
    for name in FIRST_PART:
        text = text_of(page(built_book, name))
        found = re.findall(r"\{(?:eq|cite|cite:t|doc|numref|term)\}`[^`]*`", text)
        if found:
            leftovers[name] = found
    assert not leftovers, f"MyST roles shown as text instead of links: {leftovers}"


@pytest.mark.parametrize("chapter", sorted(INCLUDED))
def test_reference_code_is_included_from_lstm_ref(built_book, chapter):
    text = text_of(page(built_book, chapter))
    for module, qualname in INCLUDED[chapter]:
        obj = module
        for part in qualname.split("."):
            obj = getattr(obj, part)
        source_lines = [line.strip() for line in inspect.getsource(obj).splitlines() if line.strip()]
        absent = [line for line in source_lines if re.sub(r"\s+", " ", line) not in text]
        assert not absent, f"{chapter}: lines of {qualname} not shown on the page: {absent[:3]}"


def test_chapters_do_not_carry_copies_of_reference_code():
    """The sources include lstm_ref code; they never define a function of the same name."""
    names = {n for n, obj in vars(nl).items() if inspect.isfunction(obj) and obj.__module__ == nl.__name__}
    names |= {n for n, obj in vars(lstm_rnn).items() if inspect.isfunction(obj) and obj.__module__ == lstm_rnn.__name__}
    copies = {
        name: sorted(n for n in names if re.search(rf"^\s*def {re.escape(n)}\(", (BOOK / f"{name}.md").read_text(), re.M))
        for name in FIRST_PART
    }
    copies = {k: v for k, v in copies.items() if v}
    assert not copies, f"chapters defining functions that lstm_ref already has: {copies}"


@pytest.mark.parametrize("chapter", sorted(FIGURES))
def test_figures_are_rendered_from_code(built_book, chapter):
    markup = page(built_book, chapter)
    for name in FIGURES[chapter]:
        assert f'id="{name}"' in markup, f"{chapter}: figure {name} missing"
    images = re.findall(r'<img[^>]+src="([^"]+)"', markup)
    assert len(images) >= len(FIGURES[chapter]), images
    for src in images:
        image = (built_book / "book" / src).resolve()
        assert image.is_file() and image.stat().st_size > 2000, f"{chapter}: image {src} missing or empty"


def test_diagram_script_writes_every_diagram(tmp_path, monkeypatch):
    """``python book/_scripts/diagrams.py`` (re)writes the SVG copies; each is a real drawing."""
    sys.path.insert(0, str(BOOK / "_scripts"))
    try:
        import diagrams
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(diagrams, "STATIC", tmp_path)
    diagrams.main()
    svgs = sorted(p.name for p in tmp_path.glob("*.svg"))
    assert svgs == ["lstm_cell.svg", "lstm_cell_backward.svg", "lstm_layout.svg", "unrolled_rnn.svg"], svgs
    for name in svgs:
        svg = (tmp_path / name).read_text()
        assert svg.count("<path") > 20, f"{name} has almost nothing drawn in it"


def test_executed_checks_are_printed_and_pass(built_book):
    sequence = text_of(page(built_book, "sequence"))
    errors = [float(e) for e in re.findall(r"max abs error vs torch\.nn\.LSTM: (\d\.\de[+-]\d+)", sequence)]
    assert len(errors) == 3 and max(errors) < 1e-10, errors

    bptt = text_of(page(built_book, "bptt"))
    checks = re.findall(r"(\w+) \([\d, ]+\) rel\. error (\d\.\de[+-]\d+) (ok|FAIL)", bptt)
    assert len(checks) == 6, checks
    assert all(float(err) < 1e-7 and verdict == "ok" for _, err, verdict in checks), checks

    appendix = text_of(page(built_book, "layouts"))
    assert appendix.count("exact: True") == 2 and "exact: False" not in appendix
    layouts = [float(e) for e in re.findall(r"max \|h - h_ref\| = (\d\.\de[+-]\d+)", appendix)]
    assert len(layouts) == 4, layouts  # Keras, CS231n, ONNX, then CS231n weights read in our order
    assert max(layouts[:3]) < 1e-12 and layouts[3] > 1e-3, layouts


def test_glossary_defines_the_terms_and_every_chapter_links_to_it(built_book):
    """Each chapter links the first use of its terms to the glossary, whose entries all exist."""
    glossary = page(built_book, "glossary")
    terms = set(re.findall(r'<dt id="(term-[^"]+)"', glossary))
    assert len(terms) >= 60, sorted(terms)
    for name in FIRST_PART:
        if name == "further_reading":
            continue
        links = set(re.findall(r'href="glossary\.html#(term-[^"]+)"', page(built_book, name)))
        assert links, f"{name}: no links to the glossary"
        assert links <= terms, f"{name}: links to terms the glossary lacks: {links - terms}"


def test_bibliography_lists_the_core_works_and_chapters_link_to_it(built_book):
    bibliography = text_of(page(built_book, "further_reading")).lower()
    missing = [title for title in REQUIRED_WORKS if title.lower() not in bibliography]
    assert not missing, f"works missing from the bibliography: {missing}"
    for name in ("rnn", "cell", "bptt"):
        assert 'href="further_reading.html#' in page(built_book, name), f"{name}: no citation links"


def test_solutions_never_reach_the_html(built_book):
    published = [p for p in built_book.rglob("*") if "solutions" in p.relative_to(built_book).parts]
    assert not published, published
    # every solution region and hidden test of the answer keys carries a sentinel
    # (scripts/build_solutions.py); the markers' names alone may be explained in the text
    from scripts.build_solutions import SENTINEL_HIDDEN, SENTINEL_SOLUTION

    keys = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "solutions").glob("*/*.ipynb"))
    assert SENTINEL_SOLUTION in keys and SENTINEL_HIDDEN in keys, "answer keys lost their sentinels"
    leaked = [
        p.name for p in built_book.rglob("*")
        if p.is_file() and p.suffix in {".html", ".ipynb", ".md", ".txt", ".js"}
        and any(s in p.read_text(encoding="utf-8", errors="ignore") for s in (SENTINEL_SOLUTION, SENTINEL_HIDDEN))
    ]
    assert not leaked, f"solution or hidden-test text in the published book: {leaked}"


# --- strictness of the configuration itself ---------------------------------------------------
GOOD_CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
# Chapter

$$
y = 2x
$$ (eq:double)

See {eq}`eq:double`.

```{code-cell} ipython3
print(6 * 7)
```
"""
BROKEN = {
    "failing cell": (GOOD_CHAPTER.replace("print(6 * 7)", "1 / 0"), "ZeroDivisionError"),
    "broken equation reference": (GOOD_CHAPTER.replace("{eq}`eq:double`", "{eq}`eq:no-such-label`"), "eq:no-such-label"),
    "plot without alt text": (GOOD_CHAPTER.replace(
        "print(6 * 7)", "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"), "has no alt text"),
}


def config_paths() -> list[str]:
    """Repository paths that _config.yml names (local Sphinx extensions, static folders)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config.get("sphinx") or {}
    paths = [str(v) for v in (sphinx.get("local_extensions") or {}).values()]
    paths += [str(v) for v in ((sphinx.get("config") or {}).get("html_static_path") or [])]
    paths += [str(v) for v in config.get("bibtex_bibfiles") or []]
    return list(dict.fromkeys(paths))  # two extensions can live in one folder


def build_tiny_book(root: Path, chapter: str) -> subprocess.CompletedProcess:
    """The repository's own _config.yml, a two-page toc, and ``chapter``; built as ``make book`` builds.

    The paths the configuration names (extensions, static files, the bibliography) are
    linked in from the repository, so the tiny book is configured exactly as the real one.
    """
    root.mkdir()
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    for rel in config_paths():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(ROOT / rel, target_is_directory=(ROOT / rel).is_dir())
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapter\n")
    (root / "intro.md").write_text("# Tiny book\n\nOne chapter.\n")
    (root / "chapter.md").write_text(chapter)
    return run_build(root)


def run_build(root: Path) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "jupyter-book"), "build", str(root), "--builder", "html", "-n", "-W", "--keep-going"]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})


def test_tiny_book_builds_when_nothing_is_wrong(tmp_path):
    """The control: without a planted fault the same setup builds, so a failure below is the fault's.

    A second build of the unchanged book takes the notebook from the execution cache
    (``execute_notebooks: cache``) instead of running it again.
    """
    root = tmp_path / "book"
    proc = build_tiny_book(root, GOOD_CHAPTER)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "42" in text_of((root / "_build" / "html" / "chapter.html").read_text())
    assert "Executed notebook" in proc.stdout + proc.stderr
    (root / "chapter.md").touch()  # Sphinx re-reads the page; the cache must still hold its outputs
    again = run_build(root)
    log = again.stdout + again.stderr
    assert again.returncode == 0, log[-3000:]
    assert "Using cached notebook" in log and "Executed notebook" not in log, log[-3000:]


@pytest.mark.parametrize("fault", sorted(BROKEN))
def test_strict_build_fails(tmp_path, fault):
    chapter, evidence = BROKEN[fault]
    proc = build_tiny_book(tmp_path / "book", chapter)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"the build passed despite a {fault}:\n{log[-3000:]}"
    assert evidence in log, f"the build failed, but its log does not name the {fault} ({evidence}):\n{log[-3000:]}"
