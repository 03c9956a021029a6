"""Numerical settings that a learner's code can change for the whole process.

NumPy's error state (``np.seterr(all="raise")``), torch's default dtype, grad mode, thread
count and anomaly mode are global.  A learner's function that changes them must not
change what the checks compute afterwards, and the reference must give the same answer
whatever the learner's notebook set earlier: :func:`settings_kept` undoes what a call
changed, :func:`reference_settings` evaluates the reference with fixed, quiet settings.
"""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager

import numpy as np


def _torch():
    return sys.modules.get("torch")  # only when the notebook uses torch at all


def _capture() -> tuple:
    torch = _torch()
    state = None
    if torch is not None:
        state = (torch.get_default_dtype(), torch.is_grad_enabled(), torch.get_num_threads(), torch.is_anomaly_enabled())
    return np.geterr(), state


def _apply(saved: tuple) -> None:
    err, state = saved
    np.seterr(**err)
    torch = _torch()
    if torch is not None and state is not None:
        dtype, grad, threads, anomaly = state
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if torch.is_anomaly_enabled() != anomaly:
            torch.set_anomaly_enabled(anomaly)


@contextmanager
def settings_kept():
    """Run a block (the learner's code); afterwards put the settings back as they were."""
    saved = _capture()
    try:
        yield
    finally:
        _apply(saved)


@contextmanager
def reference_settings():
    """Evaluate the reference (or a model of a mistake) out of the learner's reach: no
    floating-point traps, no warnings turned into errors, gradients on."""
    with settings_kept(), np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch = _torch()
        if torch is not None:
            torch.set_grad_enabled(True)
        yield
