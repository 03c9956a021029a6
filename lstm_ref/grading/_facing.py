"""What a learner sees when a check fails: the message, not the checker's frames.

IPython hides frames whose locals hold ``__tracebackhide__`` but always shows the last one,
where the error was raised.  :func:`learner_facing` re-raises a failed check's
``AssertionError`` with a fresh traceback whose last frame is a two-line function, so a
failing test cell shows its own line, then the diagnosis.  The message is wrapped at
:data:`WIDTH` characters: ``nbgrader validate`` cuts longer lines (at 87, with its indent),
which lost the numbers at the end of them.
"""
from __future__ import annotations

import functools
import linecache
import textwrap
from typing import Callable

WIDTH = 83

_FILE = "<lstm_ref.grading>"
_SOURCE = "def check_failed(error):\n    raise error  # the message below says what is wrong and where to look\n"
linecache.cache[_FILE] = (len(_SOURCE), None, _SOURCE.splitlines(True), _FILE)  # shown as the last frame
_namespace: dict = {}
exec(compile(_SOURCE, _FILE, "exec"), _namespace)
_failed = _namespace["check_failed"]


def learner_facing(check: Callable) -> Callable:
    """``check`` with its failures re-raised from a frame that shows no library code."""
    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True  # noqa: F841 (read by IPython)
        try:
            return check(*args, **kwargs)
        except AssertionError as err:
            error = err
        error.args = (wrap(str(error)),) + error.args[1:]
        _failed(error.with_traceback(None))

    return wrapper


def wrap(message: str, width: int = WIDTH) -> str:
    """Every line at most ``width`` characters; a wrapped line goes on indented by two more."""
    out = []
    for k, line in enumerate(message.split("\n")):
        indent = line[: len(line) - len(line.lstrip())]
        first = width - len("AssertionError: ") if k == 0 else width  # the first line follows the error's name
        wrapped = textwrap.wrap(line, first, subsequent_indent=indent + "    ", break_on_hyphens=False) or [line]
        out += wrapped[:1] + textwrap.wrap(" ".join(w.strip() for w in wrapped[1:]), width, initial_indent=indent + "    ",
                                           subsequent_indent=indent + "    ", break_on_hyphens=False)
    return "\n".join(out)
