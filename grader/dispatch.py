"""Tasks to a pool a window at a time, and each task's result exactly once.

A course of thousands of students is not handed to the pool at once: each task carries a
submission's files, and a cluster's scheduler would hold them all.  :func:`dispatch` keeps
about two tasks per worker thread in flight (more as workers join), submits the next as
each result arrives, and yields ``(key, result)`` in the order they finish.  A task that
raised, was cancelled or was lost with its workers yields a :func:`grader.commit.lost`
result instead, so every key comes back exactly once whatever happens to the cluster.
"""
from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from .commit import lost

POLL_S = 15  # seconds without a result before the pool is asked whether its tasks can still finish
MIN_WINDOW = 4  # tasks in flight even when the pool reports no worker (yet)


def outcome(future, pool) -> dict:
    """The task's result, or a lost one saying why there is none."""
    try:
        return future.result()
    except CancelledError:  # the client closed: the scheduler went away, most likely
        return lost(pool.problem() or "its task was cancelled by the cluster")
    except Exception as err:  # KilledWorker after repeated worker deaths, a task that raised after its retries
        return lost(f"{type(err).__name__}: {str(err)[:300]}")


def dispatch(fn: Callable, shared: Any, todo: Iterable[tuple[Any, dict]], pool,
             poll_s: float = POLL_S) -> Iterator[tuple[Any, dict]]:
    """``(key, fn(task, shared))`` for every ``(key, task)`` of ``todo``, as they finish.

    Every ``poll_s`` seconds without a result the pool is asked whether the tasks can still
    finish; when it says they cannot (scheduler gone, no worker for a minute), the tasks in
    flight and those not yet sent come back as lost, with the pool's reason.
    """
    todo = iter(todo)
    futures: dict = {}

    def fill() -> None:
        room = max(MIN_WINDOW, 2 * pool.slots()) - len(futures)
        for key, task in islice(todo, max(0, room)):
            futures[pool.executor.submit(fn, task, shared)] = key

    fill()
    while futures:
        done, _ = wait(futures, timeout=poll_s, return_when=FIRST_COMPLETED)
        if not done and (problem := pool.problem()):
            for future in futures:
                future.cancel()
            yield from ((key, lost(problem)) for key in [*futures.values(), *(key for key, _ in todo)])
            return
        for future in done:
            yield futures.pop(future), outcome(future, pool)
        fill()
