"""nbgrader's Execute preprocessor, made to survive kernels that die or hang.

Stock nbgrader stops grading a notebook when the kernel dies (``sys.exit`` in a thread,
``os._exit``, the CPU limit, the OOM killer): ``DeadKernelError`` propagates and no grade
at all is saved.  A cell that ignores the interrupt sent after ``Execute.timeout`` keeps
the kernel busy, and every later cell times out behind it.  Here the failing cell gets an
error output (so it scores 0), the kernel is restarted, the cells that ran fine before it
are replayed quietly, and grading carries on with the next cell.

A test cell also scores 0 unless it printed its token (see :mod:`grader.instrument`).
"""
from __future__ import annotations

import os
import re
import uuid

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import run_sync
from jupyter_core.paths import jupyter_runtime_dir
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from traitlets import CaselessStrEnum, Integer

from nbgrader.preprocessors import Execute

from .instrument import TOKEN_MARK, TOKEN_PREFIX, is_test_cell

_TOKEN_RE = re.compile(r'print\("' + TOKEN_PREFIX + r'", "([0-9a-f]+)"\)  ' + re.escape(TOKEN_MARK))


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class IPCKernelManager(AsyncKernelManager):
    """ZMQ over Unix sockets: the sandboxed kernel has no network, not even loopback."""

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # both files in the runtime dir, the one directory the kernel and we both see
        stem = os.path.join(jupyter_runtime_dir(), f"kernel-{uuid.uuid4().hex[:12]}")
        self.connection_file = self.connection_file or stem + ".json"
        self.ip = stem + "-ipc"


class RobustExecute(Execute):
    """Execute that restarts a dead or stuck kernel and keeps grading."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", IPCKernelManager)
        super().__init__(*args, **kwargs)

    responsive_timeout = Integer(5, help="seconds a kernel has to answer after a timed-out cell").tag(config=True)
    max_restarts = Integer(10, help="restarts per notebook before the remaining cells are failed").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._replay: list[str] = []
        self._restarts = 0
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._restarts > self.max_restarts:
            cell.outputs = [_error("GraderError", "not run: the kernel had to be restarted too often")]
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError, RuntimeError) as err:
            if isinstance(err, CellTimeoutError):
                why = _error("CellTimeoutError", f"this cell ran longer than {self.timeout} s and was stopped")
            else:
                why = _error("KernelDied", "the kernel died while running this cell (exit, crash or resource limit)")
            cell.outputs = list(cell.get("outputs", [])) + [why]
            self._restart()
            return cell, resources
        timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.outputs if o.output_type == "error")
        if timed_out and not self._responsive():
            self._restart()
        elif not timed_out and not is_test_cell(cell):
            self._replay.append(cell.source)
        if is_test_cell(cell):
            self._check_token(cell)
        return cell, resources

    def _check_token(self, cell) -> None:
        """Drop the token from the output; without it the test did not run to its end."""
        match = _TOKEN_RE.search(cell.source)
        if match is None:
            return
        marker = f"{TOKEN_PREFIX} {match.group(1)}"
        seen = False
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stdout" and marker in out.text:
                seen = True
                out.text = "".join(line for line in out.text.splitlines(True) if marker not in line)
        cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.text == "")]
        if not seen and not any(o.output_type == "error" for o in cell.outputs):
            cell.outputs.append(_error("GraderError", "this test did not run to its end, so it scores 0"))

    def _responsive(self) -> bool:
        try:
            run_sync(self.kc.kernel_info)(reply=True, timeout=self.responsive_timeout)
            return True
        except Exception:
            return False

    def _restart(self) -> None:
        """New kernel, same connection; replay the cells that ran cleanly so far."""
        self._restarts += 1
        self.log.warning("restarting the kernel (%d) and replaying %d cells", self._restarts, len(self._replay))
        self.kc.stop_channels()
        run_sync(self.km.restart_kernel)(now=True)
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
        for source in list(self._replay):
            try:
                reply = run_sync(self.kc.execute_interactive)(
                    source, timeout=self.timeout, output_hook=lambda msg: None, store_history=False)
            except Exception:  # a replay that hangs now: stop replaying, later cells will fail
                break
            if reply["content"]["status"] != "ok":
                break
