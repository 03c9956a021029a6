"""Calling the learner's code: the tripwire, runaway functions, exceptions, changed inputs.

Every call of a learner's function goes through :func:`_call`, which

* arms a profiler hook that blocks the calls this test does not allow (:class:`Rule`):
  the reference's version of what the test grades.  Only a *direct* call from the
  learner's code counts, so a function the notebook itself provides (03 imports the
  reference's ``lstm_step`` and ``lstm_forward`` for use in the backward pass) may be
  called, and whatever it calls internally is its own business;
* remembers a function that had to be stopped (the cell's time limit interrupts it with
  ``KeyboardInterrupt``), so later tests that reach it fail at once, saying why, instead
  of waiting out the time limit again;
* turns an exception raised by the learner's code into a message that says which call
  raised it, with which arguments, and at which line of the learner's code;
* compares every argument with a copy afterwards: a function that changes its caller's
  arrays in place is wrong even when its outputs are right;
* undoes changes the learner's code makes to the numerical settings (NumPy's error
  state, torch's default dtype, grad mode, ...), see :mod:`._state`.
"""
from __future__ import annotations

import inspect
import linecache
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ._inputs import changed_inputs, parameter_names, snapshot
from ._state import settings_kept

_REF_DIR = Path(__file__).resolve().parents[1]  # lstm_ref/, where the reference lives
_REFERENCE_FILES = tuple(str(_REF_DIR / f) for f in ("numpy_lstm.py", "torch_lstm.py", "_fast_torch.py", "torch_cell.py"))
_LIBRARY_DIRS = (str(_REF_DIR), str(Path(inspect.__file__).parent))  # lstm_ref and the standard library

#: Code objects of functions stopped for running too long, with the name they were called as.
_RUNAWAY: dict = {}


class LearnerError(AssertionError):
    """The learner's code raised; ``original`` is the exception."""

    def __init__(self, message: str, original: BaseException | None = None):
        super().__init__(message)
        self.original = original


class _Runaway(AssertionError):
    """Raised by the profiler hook on entering a function already stopped once."""


@dataclass(frozen=True)
class Rule:
    """What a test forbids: every function in ``files`` and the code objects in ``codes``."""

    files: tuple[str, ...] = _REFERENCE_FILES
    codes: frozenset = frozenset()
    why: str = "the reference implementation of what this test grades"
    allowed: str = "your own functions from this notebook"
    exempt_callers: tuple[str, ...] = field(default=_REFERENCE_FILES + (str(_REF_DIR / "params.py"),))

    def forbids(self, frame) -> bool:
        code = frame.f_code
        if not (code.co_filename.endswith(self.files) or code in self.codes):
            return False
        caller = frame.f_back
        return caller is None or not caller.f_code.co_filename.endswith(self.exempt_callers)


class _Tripwire:
    """Context manager recording the first forbidden call (and stopping runaway functions).

    ``sys.setprofile`` sees every Python-level call, so ``from lstm_ref.numpy_lstm import *``,
    ``import lstm_ref.numpy_lstm as x`` and ``importlib`` are all caught: they share the
    reference's code objects, whose ``co_filename`` is the reference module's file.
    """

    def __init__(self, rule: Rule):
        self.rule = rule
        self.hit: str | None = None

    def _profile(self, frame, event, arg):
        if event != "call":  # C calls and returns need no look
            return
        code = frame.f_code
        if code in _RUNAWAY:
            raise _Runaway(code)
        if self.hit is None and self.rule.forbids(frame):
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


def _is_learner_code(filename: str) -> bool:
    return not (filename.startswith(_LIBRARY_DIRS) or "site-packages" in filename or filename.startswith("<frozen"))


def _learner_frames(tb) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(tb) if _is_learner_code(f.filename)]


def _where(tb) -> str:
    """`` at `source line` (line k of your cell)`` for the innermost learner frame, if any."""
    frames = _learner_frames(tb)
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or linecache.getline(f.filename, f.lineno)).strip()
    return f", at `{line}` (line {f.lineno} of {f.name})" if line else f" (line {f.lineno} of {f.name})"


def _describe(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return f"{type(value).__name__} {tuple(shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, tuple) and value and all(hasattr(v, "shape") for v in value):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    return "None" if value is None else type(value).__name__


def _signature(fn: Callable, name: str, args: tuple) -> str:
    """``lstm_forward(x=ndarray (5, 2, 3) float64, params=LSTMParams)`` for the error messages."""
    names = parameter_names(fn)
    parts = [f"{names[k]}={_describe(a)}" if k < len(names) else _describe(a) for k, a in enumerate(args)]
    return f"{name}({', '.join(parts)})"


def _innermost_code(tb, fn):
    frames = [f for f in _walk(tb) if _is_learner_code(f.f_code.co_filename)]
    return frames[-1].f_code if frames else getattr(fn, "__code__", None)


def _walk(tb):
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _call(fn: Callable, args: tuple, name: str, rule: Rule | None = None, *, inputs: bool = True, call: str | None = None):
    """Call the learner's ``fn(*args)`` under the tripwire; explain what went wrong, if anything.

    ``inputs``: check afterwards that no argument was changed in place.  ``call`` names the
    call in messages (default: ``name`` with the arguments).
    """
    rule = rule or Rule()
    label = call or _signature(fn, name, args)
    before = snapshot(args) if inputs else None
    try:
        with settings_kept(), _Tripwire(rule) as trip:
            out = fn(*args)
    except _Runaway as err:
        stopped = _RUNAWAY.get(err.args[0], name)
        raise LearnerError(f"not run: {label} reaches {err.args[0].co_name}, which was stopped in an earlier test "
                           f"(called as {stopped}) for running past the time limit, so it is not run again. "
                           "Look for a loop that never ends.") from None
    except KeyboardInterrupt as err:
        code = _innermost_code(err.__traceback__, fn)
        if code is not None:
            _RUNAWAY[code] = label
        raise LearnerError(f"{label} was stopped: it ran past the cell's time limit{_where(err.__traceback__)}. "
                           "Look for a loop that never ends (a while whose condition never changes).", err) from None
    except LearnerError:
        raise
    except NotImplementedError as err:
        if not str(err):  # the release stub
            raise LearnerError(f"{name} is not written yet: replace `raise NotImplementedError()` in its cell "
                               "with your code", err) from None
        raise LearnerError(f"{label} raised NotImplementedError: {err}{_where(err.__traceback__)}", err) from None
    except Exception as err:  # noqa: BLE001 -- any error of the learner's code becomes a message
        raise LearnerError(f"{label} raised {type(err).__name__}: {err}{_where(err.__traceback__)}", err) from None
    if trip.hit:
        raise AssertionError(
            f"{name} calls {trip.hit}, {rule.why}, which this test does not let answers use: the points "
            f"are for writing it yourself with NumPy/torch operations ({rule.allowed} are fine)."
        )
    if before is not None:
        changed = changed_inputs(fn, args, before)
        if changed:
            raise AssertionError(f"{name} changed its input {changed} in place: the caller's arrays must "
                                 "stay as they were. Compute new arrays (h = ... instead of h += ... or h[:] = ...) "
                                 "or work on a copy.")
    return out


_BACKWARD = ("lstm_step_backward", "lstm_backward", "_cell_backward", "_local_derivatives")


def _backward_codes() -> frozenset:
    """Code objects of the reference's backward passes (NumPy, torch and the fast path)."""
    from .. import _fast_torch, numpy_lstm, torch_lstm

    fns = [getattr(m, n) for m in (numpy_lstm, torch_lstm) for n in _BACKWARD if hasattr(m, n)]
    fns += [_fast_torch.fast_backward, _fast_torch._local_derivatives, torch_lstm.LSTMFunction.backward]
    return frozenset(f.__code__ for f in fns)


def rule_for(name: str, codes: frozenset = frozenset()) -> Rule:
    """What the test of ``name`` forbids: what the notebook asks the learner to write there.

    Forward functions, the cell and porting: the reference modules (and ``codes``).  The
    backward passes: only the reference's backward functions, so that the forward functions
    that 03_bptt imports for use in the backward pass stay allowed.  The numerical gradient:
    ``lstm_ref.gradcheck``.
    """
    if name in ("lstm_step_backward", "lstm_backward"):
        return Rule(files=(), codes=_backward_codes(), why="a reference backward function",
                    allowed="the forward functions the notebook imports (lstm_step, lstm_forward) and your own functions")
    if name == "numerical_gradient":
        return Rule(files=(str(_REF_DIR / "gradcheck.py"),), codes=_backward_codes(),
                    why="the reference's gradient check", allowed="your own functions and NumPy")
    if name == "LSTMCell":
        import torch

        return Rule(files=_REFERENCE_FILES + (str(Path(torch.nn.modules.rnn.__file__)),),
                    why="an LSTM implementation (lstm_ref or torch.nn's LSTM modules)",
                    allowed="torch operations, nn.Parameter and your own lstm_step")
    return Rule(codes=codes)
