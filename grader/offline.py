"""Feedback pages that need no network: MathJax inlined from the course's own copy.

nbgrader's feedback template loads MathJax 2 from cdnjs, so a learner reading feedback
offline sees raw TeX and the browser logs a failed request.  ``nbgrader_config.py`` (and
the grader's own feedback) put ``grader/templates`` first on the template path, whose
``mathjax`` macro calls :func:`mathjax_script`: MathJax 3's self-contained SVG build,
from ``vendor/static/mathjax`` (installed by ``make book``/``make test``), inlined in the
page.  Without that copy the page carries no script at all and the equations stay TeX.
"""
from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")
MATHJAX = Path(__file__).resolve().parents[1] / "vendor" / "static" / "mathjax" / "tex-svg.js"
_CONFIG = ("window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true, tags: 'ams'}, "
           "svg: {fontCache: 'global'}, options: {enableMenu: false}};")


# Formgrader's grading page (formgrade.js) waits for MathJax 2's startup signal through
# MathJax.Hub; MathJax 3 has no Hub, so the page would stop with an error: answer it from
# MathJax 3's startup promise.
_HUB_SHIM = ("(function () { var mj = window.MathJax; if (!mj || mj.Hub) return; mj.Hub = {"
             "Startup: {signal: {Interest: function (cb) { var p = mj.startup && mj.startup.promise;"
             " (p || Promise.resolve()).then(function () { cb('End'); }); }}},"
             " Queue: function () { if (mj.typesetPromise) { mj.typesetPromise(); } }}; })();")


@lru_cache(maxsize=1)
def mathjax_script(_url: str | None = None) -> Markup:
    """``<script>`` elements that typeset the page's TeX offline (``_url``, a CDN address, is ignored)."""
    if not MATHJAX.exists():
        return Markup(f"<!-- no MathJax: {MATHJAX} is missing (make book installs it); equations are shown as TeX -->")
    source = MATHJAX.read_text(encoding="utf-8")
    if "<script" in source.lower() or "</script" in source.lower():  # could end or nest the element:
        data = base64.b64encode(source.encode()).decode()           # load it from a data: URL instead
        script = f'<script src="data:text/javascript;base64,{data}"></script>'
    else:
        script = f"<script>{source}</script>"  # as is: escaping would change its regular expressions
    return Markup(f"<script>{_CONFIG}</script>\n{script}\n<script>{_HUB_SHIM}</script>")


def template_config(c) -> None:
    """Point nbconvert's HTML exporter (feedback) at the course's templates, nbgrader's after them."""
    import nbgrader

    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(formgrader)]
    c.HTMLExporter.filters = {"offline_mathjax": "grader.offline.mathjax_script"}
