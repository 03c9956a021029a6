"""Where grading tasks run: local threads or a Dask cluster, behind one interface.

Both pools hand :mod:`grader.run` a :class:`concurrent.futures.Executor`: a
``ThreadPoolExecutor`` locally (each task spends its time in a ``grader.worker``
subprocess, so threads suffice) and ``distributed.Client.get_executor()`` on a cluster,
whose futures are ``concurrent.futures.Future`` as well.  So there is one grading loop;
what differs is kept here: how the template's bytes reach the workers, how many workers
there are, and what is checked before a cluster is trusted with a course.
"""
from __future__ import annotations

import tempfile
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

from .task import worker_check
from .transfer import Bundle


class SchedulerError(ValueError):
    """The cluster cannot grade: unreachable, without workers, or its workers are not set up."""


class LocalPool:
    """``jobs`` students at a time on this machine; templates unpacked into a private folder."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        self.executor: Executor = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="grade")
        self._cache = tempfile.TemporaryDirectory(prefix="grader-templates-")
        self.cache: str | None = self._cache.name

    def share(self, bundle: Bundle):
        """What a task receives as its template: here, the bytes themselves."""
        return bundle.data

    def workers(self) -> int:
        return self.jobs

    def slots(self) -> int:
        """Students graded at once."""
        return self.jobs

    def problem(self) -> str | None:
        """Why tasks can no longer finish (never, for local threads)."""
        return None

    def close(self, cancel: bool = False) -> None:
        self.executor.shutdown(wait=True, cancel_futures=cancel)
        self._cache.cleanup()


def _template(data: bytes) -> bytes:
    """Identity: a task whose result is the template archive (see :meth:`DaskPool.share`)."""
    return data


def _connect(address: str, timeout: float):
    """A ``distributed.Client`` of ``address``, or :class:`SchedulerError` within ``timeout`` s.

    The client is made in a daemon thread because ``Client(timeout=...)`` bounds the TCP
    connection but not the handshake: a server that accepts and never answers (another
    service on that port) would hang it for good.
    """
    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    expected = "Expected tcp://HOST:PORT of a running `dask scheduler`"
    try:  # checked first: a Client made from a bad address complains again when collected
        scheme, location = parse_address(address, strict=False)
        get_backend(scheme)
        parse_host_port(location)
    except ValueError as err:
        raise SchedulerError(f"{address!r} is not a scheduler address ({err}). {expected}") from None
    box: dict = {}

    def connect() -> None:
        try:
            box["client"] = Client(address, timeout=timeout, set_as_default=False)
        except BaseException as err:  # noqa: BLE001 - handed to the caller below
            box["error"] = err

    thread = threading.Thread(target=connect, name="dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 2)
    if thread.is_alive():
        raise SchedulerError(f"{address!r} accepted a connection but did not answer as a Dask scheduler within "
                             f"{timeout + 2:g} s. {expected}")
    if "error" in box:  # refused, unreachable, unknown host
        err = box["error"]
        raise SchedulerError(f"cannot reach a Dask scheduler at {address!r} within {timeout:g} s: "
                             f"{type(err).__name__}: {err}. {expected}")
    return box["client"]


class DaskPool:
    """Students graded by the workers of the Dask scheduler at ``address``.

    Raises :class:`SchedulerError` within about ``connect_timeout`` seconds when the
    scheduler cannot be reached, has no worker, or a worker lacks the course environment
    (another grader or lstm_ref version, no bubblewrap when ``sandbox``).
    """

    cache = None  # each worker machine keeps unpacked templates in its temporary folder

    def __init__(self, address: str, retries: int = 2, connect_timeout: float = 10, sandbox: bool = True):
        self.address, self.connect_timeout = address, connect_timeout
        self.client = _connect(address, connect_timeout)
        try:
            self._wait_for_workers()
            self._check_workers(sandbox)
        except BaseException:
            self.client.close()
            raise
        self.executor: Executor = self.client.get_executor(retries=retries, pure=False)
        self._no_workers_since: float | None = None

    def _wait_for_workers(self) -> None:
        try:
            self.client.wait_for_workers(1, timeout=self.connect_timeout)
        except Exception:  # distributed's TimeoutError
            raise SchedulerError(f"the Dask scheduler at {self.address} has no workers after {self.connect_timeout:g} s: "
                                 f"start some with `dask worker {self.address}` in the course environment") from None

    def _check_workers(self, sandbox: bool) -> None:
        """Every worker must run this grader and lstm_ref, and sandbox kernels if asked to; the
        scheduler must be able to import the grader (it unpickles the tasks)."""
        here = worker_check(False)["code"]
        try:
            reports = self.client.run(worker_check, sandbox, on_error="return")
        except Exception as err:
            raise SchedulerError(f"could not ask the workers of {self.address} about their environment: {err}") from None
        try:  # the scheduler unpickles every task, so it must import the grader too
            reports["scheduler"] = self.client.run_on_scheduler(worker_check, False)
        except Exception as err:
            reports["scheduler"] = err
        problems = []
        for worker, report in sorted(reports.items()):
            if isinstance(report, BaseException):
                problems.append(f"{worker}: cannot run the grader ({type(report).__name__}: {report}); start it in "
                                "the course environment with the course folder on PYTHONPATH")
            elif report["code"] != here:
                changed = [k for k in here if report["code"].get(k) != here[k]]
                problems.append(f"{worker}: runs another version of {' and '.join(changed)} than this client")
            elif report["imported"]["grader"] != here["grader"]:
                problems.append(f"{worker}: its grader changed on disk since it started: restart it")
            elif report["sandbox"]:
                problems.append(f"{worker}: {report['sandbox']}")
        if problems:
            raise SchedulerError("workers not ready to grade:\n  " + "\n  ".join(problems))

    def share(self, bundle: Bundle):
        """A future of the template bytes, keyed by their hash.

        A task (not ``scatter``) holds them: the scheduler keeps the task's arguments, so if
        the only worker holding the bytes dies they are recomputed, not lost, and each
        worker fetches them once from a peer.
        """
        return self.client.submit(_template, bundle.data, key=f"grader-template-{bundle.sha256}", pure=False)

    def _workers(self) -> dict:
        try:
            return self.client.scheduler_info(n_workers=-1)["workers"]
        except Exception:  # scheduler gone: problem() says so
            return {}

    def workers(self) -> int:
        return len(self._workers())

    def slots(self) -> int:
        """Students graded at once: the threads of all workers (one kernel each)."""
        return sum(w.get("nthreads", 1) for w in self._workers().values())

    def problem(self) -> str | None:
        """Why the remaining tasks cannot finish: the scheduler is gone, or no worker is left."""
        import time

        if self.client.status not in ("running", "connecting"):
            return f"lost the connection to the Dask scheduler at {self.address}"
        if self.workers():
            self._no_workers_since = None
            return None
        self._no_workers_since = self._no_workers_since or time.monotonic()
        if time.monotonic() - self._no_workers_since > max(60.0, self.connect_timeout):
            return f"the Dask scheduler at {self.address} has had no workers for a minute"
        return None

    def close(self, cancel: bool = False) -> None:
        """Release the run's tasks (a client that lost its scheduler has nothing to release)."""
        if self.client.status == "running":
            self.executor.shutdown(wait=False)
        self.client.close()


def open_pool(scheduler: str | None, jobs: int, retries: int, connect_timeout: float, sandbox: bool):
    """A :class:`DaskPool` when ``scheduler`` is given, else a :class:`LocalPool` of ``jobs``."""
    if scheduler:
        return DaskPool(scheduler, retries, connect_timeout, sandbox)
    return LocalPool(jobs)
