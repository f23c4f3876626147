"""A process pool over files that survives a dead worker: the unfinished files are retried in a
fresh pool, then one by one, so only the file that really killed its worker is lost.
"""


from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor


def _pool_context():
    import multiprocessing as mp

    # forking a process that already runs TensorFlow's threads is unsafe; spawn then
    if "tensorflow" in sys.modules or sys.platform == "win32":
        return mp.get_context("spawn")
    return mp.get_context("fork")


class WorkerDied(Exception):
    """The worker process running a task died under it (killed for memory, a crash in C code)."""


def map_files(func, tasks, jobs: int, on_result) -> None:
    """Call `func(*task)` for every task in worker processes, each outcome handed to `on_result`.

    One dead worker breaks a whole process pool and fails every unfinished task with it, so those
    are run again in a fresh pool, and should that break too, one at a time in a single worker
    (started afresh after each death): only a task that really kills its worker is reported so.

    Args:
        func: a module-level function (workers find it by name, under 'spawn' too).
        tasks: argument tuples, one per task.
        jobs: worker processes; with 1, or a single task, everything runs in this process
            (cheaper, but a task that kills the process then ends the run).
        on_result: called here as `on_result(index, result, error)` in the order tasks finish,
            once per task; `error` is None, or the exception `func` raised (`result` is None then),
            or a WorkerDied for a task whose worker process died running it. An exception it
            raises cancels the tasks not started, waits for those running, and propagates.
    """
    tasks = list(tasks)
    if jobs <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            try:
                result = func(*task)
            except Exception as e:
                on_result(i, None, e)
                continue
            on_result(i, result, None)
        return
    todo = list(range(len(tasks)))
    for _ in range(2):  # the first pool, then a fresh one for what a dead worker took down with it
        todo = _run_pool(func, tasks, todo, min(jobs, len(todo)), on_result)
        if not todo:
            return
    _run_one_by_one(func, tasks, todo, on_result)


def _run_pool(func, tasks: list, todo: list[int], workers: int, on_result) -> list[int]:
    """Run the tasks `todo` in one pool; returns those left unfinished because the pool broke."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    lost: list[int] = []
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
    try:
        futures = {}
        for k, i in enumerate(todo):
            try:
                futures[pool.submit(func, *tasks[i])] = i
            except BrokenProcessPool:  # a worker died while the rest were being submitted
                lost.extend(todo[k:])
                break
        for fut in as_completed(futures):
            i = futures[fut]
            error = fut.exception()
            if isinstance(error, BrokenProcessPool):
                lost.append(i)  # maybe the killer, maybe a bystander: the next round tells
            else:
                on_result(i, None if error else fut.result(), error)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return sorted(lost)


def _run_one_by_one(func, tasks: list, todo: list[int], on_result) -> None:
    """Run the tasks `todo` one at a time in one worker: a death then names its task for sure."""
    from concurrent.futures.process import BrokenProcessPool

    pool = None
    try:
        for i in todo:
            if pool is None:
                pool = ProcessPoolExecutor(max_workers=1, mp_context=_pool_context())
            try:
                fut = pool.submit(func, *tasks[i])
                error = fut.exception()
            except BrokenProcessPool as e:
                error = e
            if isinstance(error, BrokenProcessPool):
                pool.shutdown(wait=True)
                pool = None
                on_result(i, None, WorkerDied("its worker process died"))
            else:
                on_result(i, None if error else fut.result(), error)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
