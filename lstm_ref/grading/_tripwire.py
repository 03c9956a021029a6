"""The tripwire: calls into the reference while the learner's code runs.

A profiler hook records the first call whose code lives in a forbidden source file (the
reference modules ``lstm_ref/numpy_lstm.py`` and ``lstm_ref/torch_lstm.py``), or whose
code object is one of a given set, so an answer that delegates to ``lstm_ref`` fails
however the reference was imported.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

_REF_DIR = Path(__file__).resolve().parents[1]  # lstm_ref/, where the reference lives


class _Tripwire:
    """Context manager recording the first call into a forbidden source file.

    ``sys.setprofile`` sees every Python-level call, so ``from lstm_ref.numpy_lstm import *``,
    ``import lstm_ref.numpy_lstm as x`` and ``importlib`` are all caught: they share the
    reference's code objects, whose ``co_filename`` is the reference module's file.
    """

    def __init__(self, forbidden: tuple[str, ...], codes: frozenset = frozenset()):
        self.forbidden = forbidden
        self.codes = codes
        self.hit: str | None = None

    def _profile(self, frame, event, arg):
        if event != "call" or self.hit is not None:  # C calls and returns need no look
            return
        code = frame.f_code
        if code.co_filename.endswith(self.forbidden) or code in self.codes:
            self.hit = f"{_module_name(code.co_filename)}.{code.co_qualname}"

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        return False


def _module_name(filename: str) -> str:
    """``lstm_ref.numpy_lstm`` or ``torch.nn.modules.rnn`` for a source file's path."""
    parts = Path(filename).with_suffix("").parts
    for top in ("lstm_ref", "torch"):
        if top in parts:
            return ".".join(parts[len(parts) - 1 - parts[::-1].index(top):])
    return Path(filename).stem


_REFERENCE_FILES = (str(_REF_DIR / "numpy_lstm.py"), str(_REF_DIR / "torch_lstm.py"))


def _call(fn: Callable, args: tuple, name: str, forbidden: tuple[str, ...] = _REFERENCE_FILES,
          codes: frozenset = frozenset()):
    """Call the learner's ``fn(*args)`` with the tripwire armed."""
    with _Tripwire(forbidden, codes) as trip:
        out = fn(*args)
    if trip.hit:
        raise AssertionError(
            f"{name} calls {trip.hit}, an implementation it must not use. The points are for "
            f"your own implementation: write {name} with NumPy/torch operations (and your own "
            "functions from this notebook) instead of calling lstm_ref or torch's LSTM."
        )
    return out
