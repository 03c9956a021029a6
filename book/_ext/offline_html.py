"""Sphinx extension: the book's HTML reads well offline, on a phone, with a clean console.

- sphinx-thebe 0.3.1 adds its inline configuration script (``const THEBE_JS_URL = ...``)
  twice under Sphinx 7.4 (once registered with filename ``None``, once with ``""``, which
  Sphinx does not see as the same script); the second ``const`` of the same name is a
  SyntaxError in the console of every page. Repeated scripts are dropped from each page.
- ``static/offline_html.css``: wide tables scroll inside their own box on a narrow screen
  instead of making the whole page scroll sideways; on a desktop screen code blocks get
  the width of about 92 characters at 1280px (a smaller code font, a narrower "On this
  page" column, slimmer margins), so included code is not clipped at the right.
- MathJax is served from ``vendor/static/mathjax`` (``mathjax_path`` in ``_config.yml``),
  installed by ``make book``; a build without it warns, and the strict build fails.
- Every image has alt text a screen reader can say: see ``alt_text.py``, the other local
  extension.

The browser tests (``tests/test_browser.py``) check all of this in Chromium.
"""
from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def _drop_repeated_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = {k: v for k, v in script.attributes.items() if k != "priority"}
        key = (script.filename or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder restores its own list after each page


def _check_mathjax(app: Sphinx) -> None:
    mathjax_path = app.config.mathjax_path
    if "://" in mathjax_path:
        return  # a CDN: the browser tests will report it
    if not any((Path(app.confdir) / entry / mathjax_path).is_file() for entry in app.config.html_static_path):
        logger.warning(
            f"MathJax ({mathjax_path}) is in no html_static_path entry {app.config.html_static_path}: "
            "run `make book`, which installs it from npm into vendor/static"
        )


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", lambda app: app.config.html_static_path.append(str(STATIC)))
    app.connect("builder-inited", _check_mathjax)
    app.add_css_file("offline_html.css")
    app.connect("html-page-context", _drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
