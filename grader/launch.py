"""The kernel every grading path executes learners' code in: started through :mod:`grader.sandbox`.

``make grade`` (its workers) and nbgrader's own ``autograde`` (the command line and
Formgrader's Autograde button, through ``nbgrader_config.py``) both execute with
:class:`SandboxedExecute`: the kernel command is prefixed with the sandbox launcher, so it
runs in bubblewrap, under the memory, CPU and process limits, with only the notebook's
folder writable.  Where bubblewrap cannot work, grading is refused with a message naming
what to do; it never falls back to an unsandboxed kernel on its own.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import zlib
from pathlib import Path

from traitlets import Bool, Integer

from .execute import IPCKernelManager, RobustExecute
from .sandbox import preflight

FIRST_UID = 200000  # sandboxed kernels run as FIRST_UID + n when the grader runs as root
SANDBOX_PY = str(Path(__file__).with_name("sandbox.py"))


class SandboxRefused(RuntimeError):
    """The sandbox cannot work here, so learners' code is not run at all."""


class SandboxKernelManager(IPCKernelManager):
    """An IPC kernel whose command line starts with the sandbox launcher."""

    launcher: list[str] = []

    def format_kernel_cmd(self, extra_arguments=None):
        return self.launcher + ["--"] + super().format_kernel_cmd(extra_arguments)


def student_uid(student: str) -> int:
    """A uid of the student's own (stable across runs): the process limit is per student."""
    return FIRST_UID + zlib.crc32(student.encode()) % 100000


class SandboxedExecute(RobustExecute):
    """RobustExecute whose kernel runs in the sandbox, with limits."""

    sandbox = Bool(True, help="bubblewrap around the kernel; False: limits only (make grade --no-sandbox)").tag(config=True)
    memory_mb = Integer(2048, help="address-space limit of the kernel, in MiB").tag(config=True)
    cpu_s = Integer(600, help="CPU seconds of the kernel before it is killed").tag(config=True)
    uid = Integer(0, help="uid of the kernel when grading as root (0: one derived from the student id)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        problem = preflight() if self.sandbox else None
        if problem:
            raise SandboxRefused(f"learners' code is not run outside the sandbox: {problem}. Grade with `make grade` "
                                 "once bubblewrap works (make system-deps installs it)")
        self._rundir = tempfile.mkdtemp(prefix="grader-run-")  # short: socket paths have a 107-byte limit
        try:
            return super().preprocess(nb, resources, km)
        finally:
            shutil.rmtree(self._rundir, ignore_errors=True)

    def create_kernel_manager(self):
        name = self.kernel_name or self.nb.metadata.get("kernelspec", {}).get("name") or "python3"
        self.km = SandboxKernelManager(kernel_name=name, config=self.config, runtime_dir=self._rundir)
        self.km.launcher = self._launcher()
        return self.km

    def _launcher(self) -> list[str]:
        workdir = self.resources.get("metadata", {}).get("path") or "."
        student = self.resources.get("nbgrader", {}).get("student", "")
        argv = [sys.executable, SANDBOX_PY, "--workdir", str(Path(workdir).resolve()), "--rundir", self._rundir,
                "--memory-mb", str(self.memory_mb), "--cpu-s", str(self.cpu_s),
                "--uid", str(self.uid or student_uid(student))]
        return argv + ([] if self.sandbox else ["--no-bwrap"])
