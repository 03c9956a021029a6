"""Fixtures shared across the suite.

``built_book`` runs ``make book`` (the strict build) once per session (jupyter-cache makes a
rebuild with nothing changed take seconds) and fails with the build log if any warning,
broken reference or failing cell occurs.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_report_header(config):
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CUDA tests are skipped)"
    return f"torch {torch.__version__}, CUDA device: {cuda}"


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Path of ``_build/html`` after a strict (``-n -W --keep-going``) build of the book."""
    proc = subprocess.run(["make", "book"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if proc.returncode != 0:
        pytest.fail(f"strict book build failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return ROOT / "_build" / "html"


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """Undo changes to torch's process-wide state (default dtype, grad mode, threads).

    Some tests execute notebook code in-process, and notebooks may call
    ``torch.set_default_dtype(torch.float64)``; without this a later test would see it.
    """
    import torch

    dtype, grad, threads = torch.get_default_dtype(), torch.is_grad_enabled(), torch.get_num_threads()
    yield
    torch.set_default_dtype(dtype)
    torch.set_grad_enabled(grad)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
