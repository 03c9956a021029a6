"""The sound and the coloured text of book/music.md and book/interpretable.md, offline.

Debian's Chromium, with the helpers of ``tests/test_browser.py`` (every request outside
the served folder blocked), opens the built pages and checks that every ``<audio>``
element loads its WAV from the page itself (a ``data:`` URL) with a positive, finite
duration and no error, that every image loads, and that the coloured text is there.

The ``test_audio_checker_*`` test runs the same check on a tiny page with one good and
one broken ``<audio>`` element, so that the check is seen to fail when it should.

``BOOK_HTML=path/to/html pytest tests/test_media_offline.py`` checks a book built
elsewhere, as ``tests/test_browser.py`` does.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from lstm_ref import music
from test_browser import CHROMIUM, _offline_page, check_page, chromium, serve

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts" / "media"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: run `make system-deps`"),
]

# Resolves, for every <audio> on the page, once its metadata has loaded or it failed.
AUDIO_JS = """
async () => Promise.all([...document.querySelectorAll("audio")].map(a => new Promise(done => {
  const report = () => done({
    src: (a.currentSrc || a.getAttribute("src") || "").slice(0, 30),
    ready: a.readyState, duration: a.duration, error: a.error ? a.error.code : null,
  });
  if (a.readyState >= 1 || a.error) { report(); return; }
  a.addEventListener("loadedmetadata", report, {once: true});
  a.addEventListener("error", report, {once: true});
  setTimeout(report, 20000);
  a.load();
})))
"""


def audio_report(context, site, name: str) -> tuple[list[dict], list[str]]:
    """Open ``name`` offline; each audio element's state and the page's problems."""
    problems: list[str] = []
    page = _offline_page(context, site, problems)
    try:
        page.goto(site.url + name, wait_until="load")
        return page.evaluate(AUDIO_JS), problems
    finally:
        page.close()


def _in_toc(page: str) -> bool:
    return f"file: book/{page}\n" in (ROOT / "_toc.yml").read_text() + "\n"


def _page_or_skip(book_html: Path, page: str) -> str:
    """``book/<page>.html`` if the build has it; skip if the toc does not list it either."""
    if not (book_html / "book" / f"{page}.html").is_file():
        assert not _in_toc(page), f"book/{page} is in _toc.yml but the build has no {page}.html"
        pytest.skip(f"book/{page} is not in _toc.yml, so the book does not build it")
    return f"book/{page}.html"


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


def test_audio_checker_tells_a_playable_clip_from_a_broken_one(browser, tmp_path):
    notes = np.array([[60, 0, 4], [64, 0, 4], [67, 0, 8]])
    good = music.audio_html(music.wav_bytes(music.synthesise(notes, step_seconds=0.15)))
    broken = '<audio controls src="data:audio/wav;base64,UklGRgAAAABXQVZF"></audio>'
    (tmp_path / "page.html").write_text(f"<!doctype html><html><body>{good}{broken}</body></html>")
    with serve(tmp_path) as site:
        audio, _ = audio_report(browser, site, "page.html")
    assert len(audio) == 2
    assert audio[0]["src"].startswith("data:audio/wav") and audio[0]["error"] is None
    assert audio[0]["duration"] == pytest.approx(8 * 0.15, abs=0.01)
    assert audio[1]["error"] is not None, audio[1]


@pytest.fixture(scope="module")
def book_html(request) -> Path:
    if os.environ.get("BOOK_HTML"):
        return Path(os.environ["BOOK_HTML"])
    return request.getfixturevalue("built_book")


def test_music_page_plays_its_clips_offline(browser, book_html):
    name = _page_or_skip(book_html, "music")
    with serve(book_html) as site:
        audio, problems = audio_report(browser, site, name)
        report = check_page(browser, site, name, SHOTS)
    assert len(audio) == 2, audio
    for clip in audio:
        assert clip["src"].startswith("data:audio/wav") and clip["error"] is None, clip
        assert 1 < clip["duration"] < 60, clip
    assert report.images >= 3 and not report.problems + problems, report.problems + problems
    assert not report.wide_code, report.wide_code


def test_interpretable_page_shows_coloured_text_offline(browser, book_html):
    name = _page_or_skip(book_html, "interpretable")
    with serve(book_html) as site:
        report = check_page(browser, site, name, SHOTS)
        page = browser.new_page()
        try:
            page.goto(site.url + name, wait_until="load")
            spans = page.evaluate("() => document.querySelectorAll('pre.cells-text span').length")
        finally:
            page.close()
    assert spans > 1000, spans  # two sonnets, one span per character
    assert report.images >= 1 and not report.problems, report.problems
    assert not report.wide_code, report.wide_code


def test_toc_check_reads_the_real_toc():
    """_in_toc sees the chapters that are there, and not one that is not."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["root"] == "book/intro" and _in_toc("applications") and not _in_toc("no_such_page")
