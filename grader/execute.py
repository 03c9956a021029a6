"""nbgrader's Execute preprocessor, made to survive kernels that die or hang.

Stock nbgrader stops grading a notebook when the kernel dies (``sys.exit`` in a thread,
``os._exit``, the CPU limit, the OOM killer): ``DeadKernelError`` propagates and no grade
at all is saved.  A cell that ignores the interrupt sent after ``Execute.timeout`` keeps
the kernel busy, and every later cell times out behind it.  Here the failing cell gets an
error output (so it scores 0), the kernel is restarted, the cells that ran fine before it
are replayed quietly, and grading carries on with the next cell.

A test cell scores from its structured verdict alone (see :mod:`grader.instrument`): it
passes when it published its per-run token and raised nothing.  What the learner's code
wrote on stderr (warnings, logging) stays visible, relabelled as ordinary output with a
note, so that nbgrader, which zeroes any test with stderr output, does not count it.

With a ``deadline`` (the student's time budget), cells that would start after it are not
run but marked, so the points earned before it are still saved.
"""
from __future__ import annotations

import os
import re
import time
import uuid

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import run_sync
from jupyter_core.paths import jupyter_runtime_dir
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from traitlets import CaselessStrEnum, Float, Integer, Unicode

from nbgrader.preprocessors import Execute

from .instrument import TOKEN_CALL, TOKEN_MARK, is_test_cell, token_seen
from .kernel_guard import VERDICT_MIME

_TOKEN_RE = re.compile(re.escape(TOKEN_CALL) + r'\("([0-9a-f]+)"\)  ' + re.escape(TOKEN_MARK))
STDERR_NOTE = "[printed on stderr (warnings, logging): shown for your information, it does not change your score]\n"


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class IPCKernelManager(AsyncKernelManager):
    """ZMQ over Unix sockets: the sandboxed kernel has no network, not even loopback."""

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)
    runtime_dir = Unicode("", help="directory of the connection file and sockets (default: Jupyter's runtime dir)")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # both files in the runtime dir, the one directory the kernel and we both see
        stem = os.path.join(self.runtime_dir or jupyter_runtime_dir(), f"kernel-{uuid.uuid4().hex[:12]}")
        self.connection_file = self.connection_file or stem + ".json"
        self.ip = stem + "-ipc"


class RobustExecute(Execute):
    """Execute that restarts a dead or stuck kernel and keeps grading."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", IPCKernelManager)
        super().__init__(*args, **kwargs)

    responsive_timeout = Integer(5, help="seconds a kernel has to answer after a timed-out cell").tag(config=True)
    max_restarts = Integer(10, help="restarts per notebook before the remaining cells are failed").tag(config=True)
    deadline = Float(0.0, help="time.time() after which no further cell is started (0: none)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._replay: list[str] = []
        self._restarts = 0
        return super().preprocess(nb, resources, km)

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if self.deadline and timeout:
            timeout = max(1, min(timeout, int(self.deadline - time.time())))
        self._last_timeout = timeout
        return timeout

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._restarts > self.max_restarts:
            cell.outputs = [_error("GraderError", "not run: the kernel had to be restarted too often")]
            return cell, resources
        if self.deadline and time.time() >= self.deadline:
            cell.outputs = [_error("GraderError", "not run: this submission used up its grading time; the points "
                                   "of the tests before this cell are kept")]
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
        if timed_out:
            cell.outputs = [o for o in cell.outputs if o.get("ename") != "CellTimeoutError"] + [_error(
                "CellTimeoutError", f"this cell ran longer than {getattr(self, '_last_timeout', self.timeout)} s and was "
                "stopped: look for a loop that never ends in the code it calls")]
        if timed_out and not self._responsive():
            self._restart()
        elif not timed_out and not is_test_cell(cell):
            self._replay.append(cell.source)
        if is_test_cell(cell):
            self._check_token(cell)
        return cell, resources

    def _check_token(self, cell) -> None:
        """Score from the verdict: passed iff the token was published and nothing raised."""
        match = _TOKEN_RE.search(cell.source)
        if match is None:
            return
        passed = token_seen(cell, match.group(1))
        outputs = [o for o in cell.outputs if not (o.output_type == "display_data" and VERDICT_MIME in o.get("data", {}))]
        outputs = _relabel_stderr(outputs)
        failed = any(o.output_type == "error" for o in outputs)
        if not passed and not failed:
            outputs.append(_error("GraderError", "this test did not run to its end, so it scores 0"))
        cell.outputs = outputs

    def _responsive(self) -> bool:
        """Does the kernel answer a kernel_info request?  (The async client's ``reply=True``
        form fails an assertion, which made every timed-out cell restart the kernel.)"""
        try:
            msg_id = self.kc.kernel_info()
            run_sync(self.kc._async_recv_reply)(msg_id, timeout=self.responsive_timeout)
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


def _relabel_stderr(outputs: list) -> list:
    """stderr streams as stdout with a note (nbgrader would score them 0); runs merged."""
    out: list = []
    previous_was_stderr = False
    for o in outputs:
        is_stderr = o.output_type == "stream" and o.name == "stderr"
        if is_stderr and previous_was_stderr:
            out[-1].text += o.text
        elif is_stderr:
            out.append(NotebookNode(output_type="stream", name="stdout", text=STDERR_NOTE + o.text))
        elif o.output_type != "stream" or o.text:
            out.append(o)
        previous_was_stderr = is_stderr
    return out
