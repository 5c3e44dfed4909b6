"""Where a classify run's work runs: worker processes on this machine, or inline.

A pool offers two kinds of task, both batches of files: ``hash`` (content hash and stat)
and ``analyse`` (decode + classify), each returning a :class:`concurrent.futures.Future`.
The classify run (:mod:`music_reclass.runner.classify`) only submits tasks and harvests
results; a Dask cluster plugs in behind the same interface.

Local workers are started with ``forkserver`` (never ``fork`` after torch is imported:
its thread pools do not survive a fork); the server preloads only the torch-free worker
module, and each worker loads the classifier once when it starts.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

from music_reclass.errors import ParameterError
from music_reclass.runner.worker import (
    Analysed,
    AnalyseJob,
    Hashed,
    analyse_files,
    hash_files,
    init_worker,
)

__all__ = ["InlinePool", "LocalPool", "Pool", "default_jobs", "make_pool"]


class Pool(Protocol):
    """What a classify run needs from wherever its work runs."""

    #: tasks kept in flight (bounds memory and keeps every worker fed)
    capacity: int
    #: files per analyse task
    batch_size: int

    def submit_hash(self, paths: Sequence[str]) -> Future[list[Hashed]]: ...

    def submit_analyse(self, jobs: Sequence[AnalyseJob]) -> Future[list[Analysed]]: ...

    def shutdown(self) -> None: ...


def default_jobs() -> int:
    """Worker processes by default: one per core (each runs one compute thread)."""
    return max(1, os.cpu_count() or 1)


class InlinePool:
    """Everything in the calling process (``jobs=0``): for debugging and tiny runs."""

    capacity = 1

    def __init__(self, classifier: Any, *, batch_size: int = 1) -> None:
        self.classifier = classifier
        self.batch_size = batch_size

    def submit_hash(self, paths: Sequence[str]) -> Future[list[Hashed]]:
        return _done(hash_files(paths))

    def submit_analyse(self, jobs: Sequence[AnalyseJob]) -> Future[list[Analysed]]:
        return _done(analyse_files(jobs, self.classifier))

    def shutdown(self) -> None:
        """Nothing to stop."""


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class LocalPool:
    """``jobs`` worker processes, each holding its own copy of the classifier.

    Raises
    ------
    ParameterError
        The classifier cannot be sent to another process (not picklable).
    """

    def __init__(self, classifier: Any, *, jobs: int, batch_size: int = 1,
                 queued_per_worker: int = 4) -> None:
        try:
            blob = pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - pickling raises many types
            raise ParameterError(
                f"the model cannot be sent to worker processes ({exc}); use --jobs 0"
            ) from exc
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            context.set_forkserver_preload(["music_reclass.runner.worker"])
        lifeline, self._keep_alive = context.Pipe(duplex=False)  # the write end lives with us
        self._executor = ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=init_worker,
            initargs=(lifeline, blob, str(classifier.model_id)),
        )
        self.batch_size = batch_size
        self.capacity = max(2, jobs * (1 + queued_per_worker))

    def submit_hash(self, paths: Sequence[str]) -> Future[list[Hashed]]:
        return self._executor.submit(hash_files, list(paths))

    def submit_analyse(self, jobs: Sequence[AnalyseJob]) -> Future[list[Analysed]]:
        return self._executor.submit(analyse_files, list(jobs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._keep_alive.close()


def make_pool(classifier: Any, *, jobs: int | None, batch_size: int = 1) -> Pool:
    """The pool of a local run: ``jobs`` processes (default one per core), 0 inline.

    Raises
    ------
    ParameterError
        ``jobs`` or ``batch_size`` out of range, or a classifier that cannot be pickled.
    """
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ParameterError(f"jobs must be an integer >= 0, got {jobs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if jobs == 0:
        return InlinePool(classifier, batch_size=batch_size)
    return LocalPool(classifier, jobs=jobs, batch_size=batch_size)
