"""Features of many files: parallel, cached, with per-file errors collected.

Each file is handled by one call of :func:`process_file` — content hash, cache
look-up, extraction, cache write — in a pool of worker processes (``spawn`` /
``forkserver``: never ``fork``, which is unsafe with torch and BLAS threads),
or on a dask cluster, or in this process when ``n_jobs`` is 0 or 1.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError, ReclassError
from music_reclass.features.cache import FeatureCache
from music_reclass.features.registry import FeatureExtractor, get_extractor

__all__ = ["FeatureResult", "extract_many", "process_file"]


@dataclass
class FeatureResult:
    """Outcome of :func:`extract_many`.

    Attributes
    ----------
    X : np.ndarray [shape=(len(ok_paths), dim), dtype=float32]
        One row per successfully analysed file, in input order.
    ok_paths : list of str
        The files behind the rows of ``X``.
    errors : dict
        ``path -> "code: message"`` for each file that failed (``code`` is the
        error's stable code, e.g. ``too-short``).
    feature_names : list of str
        Column names of ``X``.
    n_cached : int
        How many rows came from the cache.
    """

    X: np.ndarray
    ok_paths: list[str]
    errors: dict[str, str] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    n_cached: int = 0


def _describe(error: BaseException) -> str:
    code = getattr(error, "code", None) if isinstance(error, ReclassError) else None
    message = str(error) or type(error).__name__
    return f"{code}: {message}" if code else f"{type(error).__name__}: {message}"


def process_file(
    path: str, extractor: FeatureExtractor, cache_root: str | None
) -> tuple[str, np.ndarray | None, str | None, bool]:
    """Features of one file, through the cache when ``cache_root`` is given.

    Never raises for a bad file: returns ``(path, vector or None, error or
    None, from_cache)``.
    """
    try:
        cache = key = None
        if cache_root is not None:
            from music_reclass.audio.hashing import content_hash

            cache = FeatureCache(cache_root)
            key = content_hash(path)
            cached = cache.load(extractor, key)
            if cached is not None:
                return path, cached, None, True
        vector = extractor.extract(path)
        if not np.all(np.isfinite(vector)):
            raise ValueError("non-finite feature values")
        if cache is not None:
            cache.store(extractor, key, vector)
        return path, vector, None, False
    except Exception as error:  # one bad file must not stop the batch
        return path, None, _describe(error), False


# -- worker processes -------------------------------------------------------------

_WORKER_EXTRACTOR: FeatureExtractor | None = None


def _init_worker(extractor: FeatureExtractor, threads: int) -> None:
    """Runs once per worker: keep the extractor (and its models) for all tasks."""
    global _WORKER_EXTRACTOR
    _WORKER_EXTRACTOR = extractor
    # n_jobs processes each running multi-threaded BLAS/torch would oversubscribe.
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    if extractor.uses_torch:
        import torch

        torch.set_num_threads(threads)


def _worker_task(path: str, cache_root: str | None):
    assert _WORKER_EXTRACTOR is not None, "worker not initialised"
    return process_file(path, _WORKER_EXTRACTOR, cache_root)


def _mp_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run_pool(
    queue: deque[str],
    extractor: FeatureExtractor,
    cache_root: str | None,
    n_jobs: int,
    window: int,
) -> Generator[tuple[str, np.ndarray | None, str | None, bool], None, list[str]]:
    """Process ``queue`` (consumed from the left) in one pool until it is empty or
    the pool breaks; yield results; return the paths in flight when it broke."""
    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    with ProcessPoolExecutor(
        max_workers=n_jobs,
        mp_context=_mp_context(),
        initializer=_init_worker,
        initargs=(extractor, threads),
    ) as pool:
        in_flight: dict[Future, str] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < window:
                    in_flight[pool.submit(_worker_task, queue[0], cache_root)] = queue[0]
                    queue.popleft()
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    path = in_flight.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        # a worker died (crash in a decoder, killed for memory): every
                        # task in flight is lost with it, not only the culprit's
                        return [path, *in_flight.values()]
                    except Exception as error:
                        yield path, None, _describe(error), False
        except BrokenProcessPool:  # raised by submit() after the death
            return list(in_flight.values())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return []


def _iter_pool(
    paths: list[str], extractor: FeatureExtractor, cache_root: str | None, n_jobs: int
) -> Iterator[tuple[str, np.ndarray | None, str | None, bool]]:
    """Results from worker processes, surviving workers that die.

    A bounded number of tasks is in flight (memory stays flat on 100k files, an
    interrupt waits only for the running ones). When a worker dies, the files
    that were in flight are retried one at a time in a fresh single-worker pool,
    so only the file that kills its worker is reported, and the rest of the queue
    goes on in a fresh pool.
    """
    queue: deque[str] = deque(paths)
    suspects: deque[str] = deque()
    while queue or suspects:
        isolating = bool(suspects)
        lost = yield from _run_pool(
            suspects if isolating else queue,
            extractor,
            cache_root,
            1 if isolating else n_jobs,
            1 if isolating else 4 * n_jobs,
        )
        if isolating:
            for path in lost:  # alone in its pool: this file kills the worker
                yield path, None, "crashed: the worker process died on this file", False
        else:
            suspects.extend(lost)


def _iter_dask(
    paths: list[str], extractor: FeatureExtractor, cache_root: str | None, client: Any
) -> Iterator[tuple[str, np.ndarray | None, str | None, bool]]:
    from dask.distributed import as_completed as dask_as_completed

    futures = client.map(
        process_file, paths, extractor=extractor, cache_root=cache_root, pure=False
    )
    path_of = {future.key: path for future, path in zip(futures, paths, strict=True)}
    for future in dask_as_completed(futures):
        try:
            yield future.result()
        except Exception as error:
            yield path_of[future.key], None, _describe(error), False


def _iter_serial(
    paths: list[str], extractor: FeatureExtractor, cache_root: str | None
) -> Iterator[tuple[str, np.ndarray | None, str | None, bool]]:
    for path in paths:
        yield process_file(path, extractor, cache_root)


def extract_many(
    paths: Iterable[str | PathLike],
    extractor: FeatureExtractor | str,
    *,
    n_jobs: int | None = None,
    cache: bool | FeatureCache = True,
    on_progress: Callable[[int, int], None] | None = None,
    dask_client: Any = None,
) -> FeatureResult:
    """Extract features of many files in parallel, through the feature cache.

    Parameters
    ----------
    paths : iterable of path
        Audio files; duplicates are analysed once and reported once.
    extractor : FeatureExtractor or str
        The extractor, or its registry name.
    n_jobs : int, optional
        Worker processes (default: ``os.cpu_count()``); 1 runs in this process.
    cache : bool or FeatureCache
        ``True`` uses the default cache (``paths.cache_dir()/features``),
        ``False`` disables it, or give a :class:`FeatureCache`.
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` once before the first file and after
        each file (``total``: distinct paths), e.g. to drive a progress bar; this layer
        shows nothing itself (the commands build the bar:
        :func:`music_reclass.cli.output.progress_callback`).
    dask_client : dask.distributed.Client, optional
        Map over this cluster instead of local processes (``n_jobs`` is then
        ignored). The workers must be able to import music_reclass and, when
        caching, to write to the cache folder.

    Returns
    -------
    FeatureResult
        Rows in input order; failed files in ``errors``, never raised.
    """
    if isinstance(extractor, str):
        extractor = get_extractor(extractor)
    if not isinstance(extractor, FeatureExtractor):
        raise ParameterError(f"expected a FeatureExtractor or a name, got {extractor!r}")
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 0:
        raise ParameterError(f"--jobs must be an integer >= 0, got {n_jobs!r}")
    n_jobs = max(1, n_jobs)  # 0, as for classify: in this process
    if cache is True:
        cache = FeatureCache()
    cache_root = str(cache.root) if isinstance(cache, FeatureCache) else None

    unique = list(dict.fromkeys(os.fspath(path) for path in paths))
    n_jobs = min(n_jobs, max(1, len(unique)))
    if dask_client is not None:
        results = _iter_dask(unique, extractor, cache_root, dask_client)
    elif n_jobs == 1:
        results = _iter_serial(unique, extractor, cache_root)
    else:
        results = _iter_pool(unique, extractor, cache_root, n_jobs)

    vectors: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    n_cached = 0
    if on_progress is not None and unique:
        on_progress(0, len(unique))
    for done, (path, vector, error, from_cache) in enumerate(results, start=1):
        if vector is None:
            errors[path] = error or "unknown error"
        else:
            vectors[path] = vector
            n_cached += from_cache
        if on_progress is not None:
            on_progress(done, len(unique))

    for path in unique:  # a lost task must still be accounted for
        if path not in vectors and path not in errors:
            errors[path] = "no-result: the worker returned nothing for this file"
    ok_paths = [path for path in unique if path in vectors]
    X = (
        np.stack([vectors[path] for path in ok_paths]).astype(np.float32, copy=False)
        if ok_paths
        else np.zeros((0, extractor.dim), dtype=np.float32)
    )
    errors = {path: errors[path] for path in unique if path in errors}
    return FeatureResult(
        X=X,
        ok_paths=ok_paths,
        errors=errors,
        feature_names=extractor.feature_names,
        n_cached=n_cached,
    )
