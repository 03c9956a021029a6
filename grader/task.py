"""One student's grading as a task that any executor can run: bytes in, bytes out.

:func:`grade_task` is what both the local pool and a Dask worker call.  It unpacks the
assignment's template (cached per machine by its hash, see :mod:`grader.transfer`), writes
the submission's files into a private temporary folder, grades them in a
``python -m grader.worker`` subprocess (the same sandbox, limits, guard and canonical
rebuild wherever it runs) under the student's wall-clock bound, and returns the scores,
notes and the autograded notebooks and feedback pages as bytes.  Nothing in it reads or
writes the course directory: the client that submitted the task does that.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .transfer import read_tree, template_dir, write_tree

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = ("autograded", "feedback")  # folders a graded student's result carries back
MAX_TMP_CHARS = 60  # the kernel's ipc sockets live below the task folder: 107-byte limit on their paths


def run_worker(spec: dict, timeout: int) -> dict:
    """One student in a subprocess; a hang or crash becomes a result saying so."""
    from .course import tool_env  # imported here: nbformat costs seconds, which a cluster's check should not

    tmp = Path(spec["tmp"])
    tmp.mkdir(parents=True)
    spec_file, result_file, log_file = (tmp.parent / f"{tmp.name}{ext}" for ext in (".json", ".out.json", ".log"))
    spec_file.write_text(json.dumps(spec))
    # GRADER_PARENT_PID: the worker dies with this thread's process (a killed Dask worker
    # leaves no grading behind it); see grader.worker.main
    env = tool_env({"PYTHONPATH": str(PACKAGE_ROOT), "GRADER_PARENT_PID": str(os.getpid())})
    with open(log_file, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "grader.worker", str(spec_file), str(result_file)],
                                cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the kernels die with it (PR_SET_PDEATHSIG)
            proc.wait()
            return {"ok": False, "status": "timeout", "error": f"grading took longer than {timeout} s; 0 points"}
    if proc.returncode != 0 or not result_file.exists():
        tail = log_file.read_text()[-2000:]
        return {"ok": False, "status": "error", "error": f"worker exited with {proc.returncode}: {tail}"}
    return json.loads(result_file.read_text())


def timed_worker(spec: dict, timeout: int) -> dict:
    """:func:`run_worker`, with its wall-clock duration in ``seconds``."""
    start = time.monotonic()
    result = run_worker(spec, timeout)
    return {**result, "seconds": time.monotonic() - start}


@functools.lru_cache(maxsize=1)
def _sandbox_problem() -> str | None:
    from .sandbox import preflight

    return preflight()


def _work_folder() -> tempfile.TemporaryDirectory:
    work = tempfile.TemporaryDirectory(prefix="g")
    if len(work.name) > MAX_TMP_CHARS:
        work.cleanup()
        raise RuntimeError(f"temporary folder {work.name!r} is {len(work.name)} characters long; the kernel's "
                           f"sockets need at most {MAX_TMP_CHARS}: start the worker with TMPDIR=/tmp")
    return work


def grade_task(task: dict, template: bytes) -> dict:
    """Grade the student of ``task`` with the template archive ``template``.

    Parameters
    ----------
    task : dict
        ``spec`` (what :mod:`grader.worker` needs, less the paths), ``submission``
        (``{relative path: bytes}``), ``template_sha256``, ``timeout`` (seconds for the
        student) and optionally ``cache`` (the folder of unpacked templates).
    template : bytes
        The tar.gz archive of :func:`grader.transfer.pack_template`.

    Returns
    -------
    dict
        The worker's result (``ok``, ``status``, ``scores``, ``notes``, ...), its wall-clock
        ``seconds``, ``host``, and for a graded student ``files``: ``{"autograded": {path:
        bytes}, "feedback": {path: bytes}}`` relative to ``<kind>/<student>/<assignment>``.
        Infrastructure failures (no sandbox, no disk) raise, so that Dask retries the task
        elsewhere; what the submission does never raises.
    """
    spec = task["spec"]
    if spec["sandbox"] and _sandbox_problem():
        raise RuntimeError(f"worker {os.uname().nodename} cannot sandbox kernels: {_sandbox_problem()}")
    cache = Path(task["cache"]) if task.get("cache") else None
    root = template_dir(task["template_sha256"], template, cache)
    with _work_folder() as name:
        work = Path(name)
        submission = write_tree(task["submission"], work / "in")
        result = timed_worker(dict(spec, template=str(root), submission=str(submission), tmp=str(work / "s")),
                              task["timeout"])
        if result.get("ok") and result.get("scores") is not None:
            result["files"] = {kind: read_tree(work / "s" / kind / spec["student"] / spec["assignment"])
                               for kind in OUTPUTS}
    return {**result, "host": os.uname().nodename}


def code_digest() -> dict[str, str]:
    """SHA-256 of the grader's and lstm_ref's sources on disk: what makes two machines grade
    alike (each student's ``grader.worker`` and kernel import them afresh)."""
    out = {}
    for package in ("grader", "lstm_ref"):
        h = hashlib.sha256()
        folder = PACKAGE_ROOT / package
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
        out[package] = h.hexdigest()
    return out


_IMPORTED = code_digest()  # what this process runs in-process (this module, grader.transfer)


def worker_check(sandbox: bool) -> dict:
    """What a client asks every worker before grading: code versions and sandbox readiness."""
    return {"code": code_digest(), "imported": _IMPORTED, "python": sys.version.split()[0],
            "sandbox": _sandbox_problem() if sandbox else None}
