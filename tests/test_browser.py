"""The built HTML book, read in a real browser with no network.

Debian's Chromium, driven by Playwright, opens every page of ``_build/html`` served on a
loopback port, with every request to any other address blocked, and checks what a learner
without a network would see: every equation typeset by MathJax (no error node, no raw
LaTeX left in the text), every image loaded, no console error and no failed request, every
internal link resolving (its ``#fragment`` included), the search page finding a word of the
book, and no solution or hidden test of ``solutions/`` anywhere in the output. It saves a
screenshot of each page at desktop and at phone width under ``test-artifacts/browser/`` for
a reviewer, and checks that no page is wider than the phone's screen and that, at desktop
width, every code block (folded ones opened) shows its longest line without scrolling
sideways.

``BOOK_HTML=path/to/html pytest tests/test_browser.py`` checks a book built elsewhere instead
of building it (the ``built_book`` fixture, as ``make book``).

The ``test_checker_*`` and ``test_leak_check_*`` tests run the same checks on tiny pages that are broken on purpose,
to show that it reports what it should.
"""
from __future__ import annotations

import html
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by `make system-deps`
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport
SEARCH_WORD = "forget"
TIMEOUT_MS = 60_000  # generous: the CI machine has two busy cores

# LaTeX that MathJax should have replaced, looked for in the page's text outside code.
REDIRECT = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)
RAW_LATEX = re.compile(r"\$\$|\\begin\{|\\end\{|\\\(|\\\)|\\\[|\\\]|\$\\[A-Za-z]+")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make system-deps`"),
]

# Runs in the page once it has loaded: waits for MathJax's first typesetting pass and for
# every image, then reports what the checks need.
INSPECT_JS = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await Promise.all([...document.images].map(img => {
    img.loading = "eager";
    return img.complete ? null : new Promise(done => {
      img.addEventListener("load", done); img.addEventListener("error", done);
    });
  }));
  const text = document.body.cloneNode(true);
  text.querySelectorAll("pre, code, .highlight, mjx-container, script, style, textarea")
      .forEach(node => node.remove());
  return {
    mathjax: Boolean(window.MathJax && MathJax.version),
    math: document.querySelectorAll(".math").length,
    untypeset: [...document.querySelectorAll(".math")]
      .filter(el => !el.querySelector("mjx-container"))
      .map(el => el.textContent.trim().slice(0, 80)),
    math_errors: [...document.querySelectorAll("mjx-merror, [data-mjx-error]")]
      .map(el => (el.getAttribute("data-mjx-error") || el.textContent).slice(0, 80)),
    broken_images: [...document.images]
      .filter(img => !(img.complete && img.naturalWidth > 0))
      .map(img => img.getAttribute("src")),
    images: document.images.length,
    unlabelled_images: [...document.images]  // no alt a screen reader could say: none, or a file name
      .filter(img => !(img.getAttribute("alt") || "").trim() || /\\.(png|jpe?g|svg|gif)$/i.test(img.alt.trim()))
      .map(img => img.getAttribute("src")),
    text: text.textContent,
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    ids: [...document.querySelectorAll("[id], a[name]")].map(el => el.id || el.getAttribute("name")),
  };
}
"""


# Runs in the page after its desktop screenshot: opens everything folded (<details>, the
# toggle-button admonitions), then reports each <pre> whose content is wider than its box,
# which the reader would see clipped at the right and have to scroll sideways.
CODE_WIDTH_JS = """
() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  document.querySelectorAll(".toggle-hidden").forEach(el => el.classList.remove("toggle-hidden"));
  return [...document.querySelectorAll("pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth)
    .map(pre => {
      const lines = pre.textContent.split("\\n");
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), "");
      return {
        width: pre.scrollWidth, column: pre.clientWidth, longest: longest.length,
        first: (lines.find(line => line.trim()) || "").trim().slice(0, 72),
      };
    });
}
"""


# --- a folder served on loopback -------------------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's argument name
        pass


@dataclass
class Site:
    """A folder served at ``url`` (``http://127.0.0.1:<port>/``)."""

    root: Path
    url: str

    def file_of(self, url: str) -> Path:
        """The file under ``root`` that a same-origin URL points at (``dir/`` -> ``dir/index.html``)."""
        target = self.root / unquote(urlsplit(url).path).lstrip("/")
        return target / "index.html" if target.is_dir() else target

    def pages(self) -> list[str]:
        """Every HTML page, as a path relative to ``root`` (theme assets under _static excluded)."""
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*.html")
            if not p.relative_to(self.root).parts[0].startswith("_")
        )


@contextmanager
def serve(root: Path) -> Iterator[Site]:
    """Serve ``root`` on a free loopback port for the duration of the ``with`` block."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()


# --- the browser --------------------------------------------------------------------------------------
@contextmanager
def chromium() -> Iterator:
    """Debian's Chromium in a fresh profile (user-data dir), offline flags, headless."""
    with sync_api.sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class PageReport:
    """What one page showed, and what was wrong with it."""

    name: str
    problems: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    math: int = 0
    images: int = 0
    wide_code: list[str] = field(default_factory=list)  # code blocks wider than the desktop column


def _offline_page(context, site: Site, problems: list[str]):
    """A new page whose requests outside ``site`` are blocked and whose errors are recorded."""
    page = context.new_page()

    def route(route):
        url = route.request.url
        if url.startswith(site.url) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            problems.append(f"request outside the book blocked: {url}")
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console error: {msg.text}"))
    page.on("pageerror", lambda exc: problems.append(f"uncaught exception: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda res: res.status >= 400 and problems.append(f"HTTP {res.status}: {res.url}"))
    return page


def check_page(context, site: Site, name: str, shots: Path | None = None) -> PageReport:
    """Open ``site``'s page ``name`` offline and check its mathematics, images and layout.

    The page is opened twice, at desktop and at phone width (a fresh load, as a phone
    would); screenshots go to ``shots/<name>.png`` and ``shots/phone/<name>.png``. At
    desktop width, code blocks that scroll sideways go to ``wide_code``.
    """
    report = PageReport(name)
    redirect = REDIRECT.search(site.file_of(site.url + name).read_text(errors="replace"))
    if redirect:  # e.g. the root index.html: only its target is checked, as a link
        report.links = [urljoin(site.url + name, redirect.group(1))]
        return report
    shot = name.replace("/", "__").removesuffix(".html") + ".png"
    for viewport, folder in [(DESKTOP, shots), (PHONE, shots and shots / "phone")]:
        problems: list[str] = []
        page = _offline_page(context, site, problems)
        try:
            page.set_viewport_size(viewport)
            page.goto(site.url + name, wait_until="load")
            found = page.evaluate(INSPECT_JS)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if folder:
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / shot), full_page=True)
            if viewport is DESKTOP:  # after the screenshot: it opens what is folded
                report.wide_code = [
                    f"{name}: code block {pre['width']}px wide in a {pre['column']}px column "
                    f"(longest line {pre['longest']} characters), first line {pre['first']!r}"
                    for pre in page.evaluate(CODE_WIDTH_JS)
                ]
        finally:
            page.close()
        if viewport is PHONE:
            if width > PHONE["width"] + 1:
                problems.append(f"page is {width}px wide on a {PHONE['width']}px phone screen (scrolls sideways)")
            report.problems += [p for p in problems if p not in report.problems]
            continue
        report.math, report.images = found["math"], found["images"]
        report.links, report.ids = found["links"], set(found["ids"])
        if found["math"] and not found["mathjax"]:
            problems.append(f"{found['math']} equations but MathJax did not load")
        problems += [f"equation not typeset: {tex!r}" for tex in found["untypeset"]]
        problems += [f"MathJax error: {err!r}" for err in found["math_errors"]]
        for match in RAW_LATEX.finditer(found["text"]):
            around = found["text"][max(0, match.start() - 30) : match.end() + 30]
            problems.append(f"raw LaTeX in the text: {' '.join(around.split())!r}")
        problems += [f"image did not load: {src}" for src in found["broken_images"]]
        problems += [f"image without alt text: {src}" for src in found["unlabelled_images"]]
        report.problems += problems
    return report


def broken_links(site: Site, reports: dict[str, PageReport]) -> list[str]:
    """Internal links whose file is missing, or whose ``#fragment`` is no id on the target page."""
    problems = []
    for name, report in reports.items():
        for link in report.links:
            if not link.startswith(site.url):
                continue  # external links are not requests; nothing is fetched from them offline
            target = site.file_of(link)
            fragment = unquote(urlsplit(link).fragment)
            if not target.is_file():
                problems.append(f"{name}: link to a missing file: {link}")
            elif fragment and target.suffix == ".html":
                page = target.relative_to(site.root).as_posix()
                if page in reports and fragment not in reports[page].ids:
                    problems.append(f"{name}: link to a missing anchor: {link}")
    return problems


def search_results(context, site: Site, word: str) -> tuple[list[str], list[str]]:
    """Run the book's own search page for ``word``; returns (result links, problems)."""
    problems: list[str] = []
    page = _offline_page(context, site, problems)
    try:
        page.goto(f"{site.url}search.html?q={word}", wait_until="load")
        page.wait_for_function(
            "() => document.querySelector('#search-results .search-summary')?.textContent.trim()"
        )
        links = page.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
    finally:
        page.close()
    return links, problems


# --- what solutions/ must not leak ---------------------------------------------------------------------
_REGION = re.compile(r"^[ \t]*#+ ?BEGIN (SOLUTION|HIDDEN TESTS)[^\n]*\n(.*?)^[ \t]*#+ ?END \1", re.M | re.S)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def secret_snippets(solutions: Path, public: str = "") -> dict[str, str]:
    """Text from ``solutions/**/*.ipynb`` that only instructors may see: snippet -> where.

    Hidden tests: every line. Solution regions: every comment line, and the region's code
    as a whole, unless it is in ``public`` (whitespace-collapsed text that is published on
    purpose: the reference package, which the book shows, may hold the same code as an
    answer). Written answers (markdown solution cells): every line of some length.
    """
    snippets = {}
    for notebook in sorted(solutions.rglob("*.ipynb")):
        where = notebook.relative_to(solutions).as_posix()
        for cell in json.loads(notebook.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                snippets.update({_normalise(line): f"{where} (written answer)" for line in source.splitlines() if len(line.strip()) >= 30})
            for kind, body in _REGION.findall(source):
                lines = [line.strip() for line in body.splitlines() if line.strip()]
                if kind == "HIDDEN TESTS":
                    snippets.update({_normalise(line): f"{where} (hidden test)" for line in lines if len(line) >= 12})
                    continue
                snippets.update({_normalise(line): f"{where} (solution)" for line in lines if line.startswith("#") and len(line) >= 12})
                code = _normalise(" ".join(line for line in lines if not line.startswith("#")))
                if len(code) >= 40 and code not in public:
                    snippets[code] = f"{where} (solution)"
    return snippets


def published_text(html_root: Path) -> Iterator[tuple[str, str]]:
    """(path, text) of every text file of the built book, HTML tags stripped, whitespace collapsed."""
    for path in sorted(html_root.rglob("*")):
        rel = path.relative_to(html_root)
        if not path.is_file() or rel.parts[0] == "_static" or path.suffix not in {".html", ".js", ".txt", ".md", ".ipynb", ".py", ".json"}:
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".html":
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        yield rel.as_posix(), _normalise(text)


# --- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def book_html(request) -> Path:
    """The built book: ``$BOOK_HTML`` if set (an HTML folder built elsewhere), else ``built_book``."""
    if os.environ.get("BOOK_HTML"):
        return Path(os.environ["BOOK_HTML"])
    return request.getfixturevalue("built_book")


@pytest.fixture(scope="module")
def book_site(book_html) -> Iterator[Site]:
    with serve(book_html) as site:
        yield site


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


@pytest.fixture(scope="module")
def page_reports(browser, book_site) -> dict[str, PageReport]:
    """Every page of the book, checked once (screenshots in test-artifacts/browser/)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # no stale screenshot of a removed page
    return {name: check_page(browser, book_site, name, ARTIFACTS) for name in book_site.pages()}


# --- the book --------------------------------------------------------------------------------------------
def test_every_page_renders_offline(page_reports):
    assert len(page_reports) >= 10, f"expected the book's pages, found {sorted(page_reports)}"
    problems = [f"{name}: {p}" for name, report in page_reports.items() for p in report.problems]
    assert not problems, "\n".join(problems)


def test_the_book_has_mathematics_and_figures_to_check(page_reports):
    # Guards the test above against passing on pages that have nothing to render.
    assert sum(r.math for r in page_reports.values()) >= 50
    assert sum(r.images for r in page_reports.values()) >= 5
    assert page_reports["book/applications.html"].images >= 3


def test_code_blocks_fit_the_desktop_column(page_reports):
    # At 1280 px every code block, folded ones included, shows its longest line: nothing is
    # clipped at the right. The book's CSS (book/_ext/static/offline_html.css) gives code
    # about 92 characters at that width; a longer line is for the code to shorten.
    wide = [line for report in page_reports.values() for line in report.wide_code]
    assert not wide, f"{len(wide)} code blocks scroll sideways at {DESKTOP['width']} px:\n" + "\n".join(wide)


def test_every_internal_link_resolves(book_site, page_reports):
    problems = broken_links(book_site, page_reports)
    assert not problems, "\n".join(problems)


def test_search_finds_a_word_of_the_book_offline(browser, book_site):
    links, problems = search_results(browser, book_site, SEARCH_WORD)
    assert not problems, "\n".join(problems)
    assert links, f"search for {SEARCH_WORD!r} found nothing"
    assert all(book_site.file_of(link).is_file() for link in links), links


def test_no_solution_or_hidden_test_is_published(book_html):
    solutions = ROOT / "solutions"
    if not solutions.is_dir():
        pytest.skip("no solutions/ folder yet")
    reference = _normalise(" ".join(p.read_text() for p in sorted((ROOT / "lstm_ref").rglob("*.py"))))
    snippets = secret_snippets(solutions, public=reference)
    assert snippets, "found no solution region or hidden test in solutions/ to look for"
    leaks = [
        f"{path}: {snippet[:80]!r} from {where}"
        for path, text in published_text(book_html)
        for snippet, where in snippets.items()
        if snippet in text
    ]
    assert not leaks, "\n".join(leaks)


# --- the checker fails when it should --------------------------------------------------------------------
BROKEN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>broken</title>
<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script></head>
<body>
<p>Display maths left raw: $$x^2$$ and \\begin{aligned} a \\end{aligned}</p>
<div class="math notranslate nohighlight">\\[c_t = f_t \\odot c_{t-1}\\]</div>
<img src="missing.png" alt="a figure that is not there">
<img src="dot.png" alt="_images/3f2a.png">
<a href="nowhere.html">a page that does not exist</a> <a href="#no-such-anchor">an anchor that does not exist</a>
<div style="width: 2000px">a figure too wide for a phone</div>
<pre>def too_wide(): return "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"</pre>
<details><summary>folded</summary><pre>folded_but_too_wide = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"</pre></details>
<script>console.error("something broke")</script>
</body></html>
"""

GOOD_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>good</title><script defer src="mathjax/tex-mml-chtml.js"></script></head>
<body><p>Inline <span class="math">\\(f_t = \\sigma(z)\\)</span>.</p>
<div class="math">\\[c_t = f_t \\odot c_{t-1} + i_t \\odot g_t\\]</div>
<img src="dot.png" alt="a dot"> <a href="#top" id="top">top</a>
<details><summary>folded</summary><pre>def fits(): return 1</pre></details></body></html>
"""


def _checker_site(tmp_path: Path, page: str, with_mathjax: bool = False) -> Path:
    (tmp_path / "page.html").write_text(page)
    # a 1x1 PNG
    (tmp_path / "dot.png").write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf000002020101a3b1b4d80000000049454e44ae426082"
    ))
    if with_mathjax:
        mathjax = ROOT / "vendor" / "static" / "mathjax"
        if not (mathjax / "tex-mml-chtml.js").is_file():
            pytest.skip("MathJax not installed in vendor/static: run `make book`")
        (tmp_path / "mathjax").symlink_to(mathjax)
    return tmp_path


def test_checker_reports_raw_latex_broken_images_console_errors_and_network(browser, tmp_path):
    with serve(_checker_site(tmp_path, BROKEN_PAGE)) as site:
        report = check_page(browser, site, "page.html")
        links = broken_links(site, {"page.html": report})
    problems = "\n".join(report.problems + links)
    expected = [
        "request outside the book blocked: https://cdn.jsdelivr.net/npm/mathjax@3",
        "MathJax did not load",
        "equation not typeset: '\\\\[c_t",
        "raw LaTeX in the text: '",
        "$$x^2$$",
        "\\\\begin{aligned}",
        "image did not load: missing.png",
        "image without alt text: dot.png",
        "HTTP 404: " + site.url + "missing.png",
        "console error: something broke",
        "page is ",
        "link to a missing file: " + site.url + "nowhere.html",
        "link to a missing anchor: " + site.url + "page.html#no-such-anchor",
    ]
    missing = [e for e in expected if e not in problems]
    assert not missing, f"the checker did not report {missing}; it reported:\n{problems}"
    firsts = sorted(line.split("first line ")[1][:20] for line in report.wide_code)
    assert firsts == ["'def too_wide(): ret", "'folded_but_too_wide"], report.wide_code


def test_checker_passes_a_correct_page_with_local_mathjax(browser, tmp_path):
    with serve(_checker_site(tmp_path, GOOD_PAGE, with_mathjax=True)) as site:
        report = check_page(browser, site, "page.html")
        links = broken_links(site, {"page.html": report})
    assert report.math == 2 and report.images == 1
    assert not report.problems + links + report.wide_code, report.problems + links + report.wide_code


def test_leak_check_finds_published_solutions_and_hidden_tests(tmp_path):
    solutions, html_root = tmp_path / "solutions", tmp_path / "html"
    (solutions / "01_x").mkdir(parents=True)
    html_root.mkdir()
    code = "return scale_then_shift(n, factor=13, offset=3)"
    cells = [
        "check(answer)\n### BEGIN HIDDEN TESTS\nassert answer(3) == 42, 'hidden case'\n### END HIDDEN TESTS\n",
        f"def answer(n):\n    ### BEGIN SOLUTION\n    # the trick: scale, then shift\n    {code}\n    ### END SOLUTION\n",
    ]
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": c} for c in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (solutions / "01_x" / "x.ipynb").write_text(json.dumps(notebook))

    snippets = secret_snippets(solutions)
    assert set(snippets) == {"assert answer(3) == 42, 'hidden case'", "# the trick: scale, then shift", code}
    assert code not in secret_snippets(solutions, public=f"def answer(n): {code}")  # reference code is public

    (html_root / "clean.html").write_text("<p>check(answer)</p>")
    (html_root / "hidden.html").write_text("<pre><span>assert</span> answer(3) ==\n 42, &#39;hidden case&#39;</pre>")
    (html_root / "solution.html").write_text(f"<pre>{html.escape(code)}</pre>")
    leaks = sorted(path for path, text in published_text(html_root) for s in snippets if s in text)
    assert leaks == ["hidden.html", "solution.html"]
