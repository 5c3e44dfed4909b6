"""Classify on a Dask cluster: the same run, its work on Dask workers.

:class:`DaskPool` implements the runner's pool interface over a
:class:`distributed.Client`: hashing and analysing tasks (tens of files each) run on the
cluster's workers, each of which loads the classifier once (a
:class:`~distributed.diagnostics.plugin.WorkerPlugin`, not a scattered object), and their
results come back as they complete, to the calling process, which alone writes the
database. A worker that dies has its tasks re-run by the scheduler.

Workers read the files by path: the library must be on a filesystem every worker sees
(NFS, SMB, a cluster filesystem), at the same path or at a path given by a path map
(``/home/me/Music=/mnt/music``: what this machine calls the first, workers call the
second). ``--dask local:N`` starts a :class:`~distributed.LocalCluster` of N worker
processes on this machine (one thread each).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from music_reclass.errors import ParameterError
from music_reclass.runner.worker import (
    Analysed,
    AnalyseJob,
    Hashed,
    analyse_files,
    hash_files,
    load_classifier_blob,
)

__all__ = ["DaskClient", "DaskPool", "PathMap", "parse_dask_address", "parse_path_map"]

#: files per analyse task on a cluster: enough to amortise a task's overhead
DASK_BATCH = 16


class PathMap:
    """Translate paths between this machine and the workers (prefix for prefix)."""

    def __init__(self, pairs: Sequence[tuple[str, str]] = ()) -> None:
        self.pairs = [(local.rstrip("/"), remote.rstrip("/")) for local, remote in pairs]

    def to_worker(self, path: str) -> str:
        return self._swap(path, 0, 1)

    def to_local(self, path: str) -> str:
        return self._swap(path, 1, 0)

    def _swap(self, path: str, src: int, dst: int) -> str:
        for pair in sorted(self.pairs, key=lambda p: -len(p[src])):
            prefix = pair[src]
            if path == prefix or path.startswith(prefix + "/"):
                return pair[dst] + path[len(prefix):]
        return path


def parse_path_map(items: Sequence[str]) -> PathMap:
    """``["LOCAL=REMOTE", ...]`` as a :class:`PathMap`.

    Raises
    ------
    ParameterError
        An item without ``=`` or with an empty side.
    """
    pairs = []
    for item in items:
        local, sep, remote = item.partition("=")
        if not sep or not local or not remote:
            raise ParameterError(f"a path map is LOCAL=REMOTE, not {item!r}")
        pairs.append((local, remote))
    return PathMap(pairs)


def parse_dask_address(address: str) -> tuple[str, int | None]:
    """``("local", N)`` for ``local:N`` (or ``local``), else ``(scheduler address, None)``.

    Raises
    ------
    ParameterError
        Neither ``local[:N]`` nor a ``tcp://``/``tls://`` scheduler address.
    """
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2] or str(os.cpu_count() or 1)
        if not count.isdigit() or int(count) < 1:
            raise ParameterError(f"--dask local:N needs a number of workers >= 1, not {count!r}")
        return "local", int(count)
    if not address.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        raise ParameterError(
            f"--dask takes local:N or a scheduler address such as tcp://host:8786, not {address!r}")
    return address, None


class DaskClient:
    """A connected :class:`distributed.Client` (and the local cluster it started, if any).

    Raises
    ------
    ParameterError
        A bad address, an unreachable scheduler, or Dask not installed.
    """

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ParameterError("--dask needs Dask: pip install 'music-reclass[dask]'") from exc
        target, workers = parse_dask_address(address)
        self.cluster = None
        try:
            if target == "local":
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                            processes=True, dashboard_address=None)
                self.client = Client(self.cluster)
            else:
                self.client = Client(target, timeout="20s")
        except OSError as exc:
            self.close()
            raise ParameterError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc

    @property
    def n_workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def close(self) -> None:
        try:
            if getattr(self, "client", None) is not None:
                self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None

    def __enter__(self) -> DaskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ClassifierPlugin:
    """Loads the classifier once in each worker process (and in workers that join later)."""

    name = "music-reclass-classifier"

    def __init__(self, blob: bytes, model_id: str) -> None:
        self.blob = blob
        self.model_id = model_id

    def setup(self, worker: Any) -> None:  # noqa: ARG002 - the plugin protocol's signature
        load_classifier_blob(self.blob, self.model_id)

    def teardown(self, worker: Any) -> None:
        """Nothing to release: the process ends with the worker."""

    def transition(self, *args: Any, **kwargs: Any) -> None:
        """Not used."""


def _plugin_class() -> type:
    from distributed.diagnostics.plugin import WorkerPlugin

    return type("ClassifierPlugin", (_ClassifierPlugin, WorkerPlugin), {})


class DaskPool:
    """The runner's pool on a Dask cluster (see the module docstring).

    Parameters
    ----------
    classifier : Classifier
        Sent to every worker once (pickled without its weights, loaded there).
    address : str
        ``local:N`` or a scheduler address (``tcp://host:8786``).
    path_map : PathMap, optional
        How workers name this machine's paths.
    batch_size : int
        Files per analyse task.

    Raises
    ------
    ParameterError
        A bad address, an unreachable scheduler, a classifier that cannot be pickled,
        or Dask not installed.
    """

    def __init__(self, classifier: Any, address: str, *, path_map: PathMap | None = None,
                 batch_size: int = DASK_BATCH) -> None:
        try:
            blob = pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - pickling raises many types
            raise ParameterError(f"the model cannot be sent to Dask workers ({exc})") from exc
        self._dask = DaskClient(address)
        self.client = self._dask.client
        self.client.register_plugin(_plugin_class()(blob, str(classifier.model_id)))
        self.path_map = path_map or PathMap()
        self.batch_size = batch_size
        self.capacity = max(4, 3 * self._dask.n_workers)

    def submit_hash(self, paths: Sequence[str]) -> Future[list[Hashed]]:
        remote = [self.path_map.to_worker(p) for p in paths]
        back = dict(zip(remote, paths, strict=True))
        return self._bridge(self.client.submit(hash_files, remote, pure=False),
                            lambda items: [replace(i, path=back.get(i.path, i.path))
                                           for i in items])

    def submit_analyse(self, jobs: Sequence[AnalyseJob]) -> Future[list[Analysed]]:
        remote = [replace(job, path=self.path_map.to_worker(job.path)) for job in jobs]
        originals = {job.path: local for job, local in zip(remote, jobs, strict=True)}
        return self._bridge(self.client.submit(analyse_files, remote, pure=False),
                            lambda items: [replace(i, job=originals[i.job.path]) for i in items])

    @staticmethod
    def _bridge(task: Any, translate: Callable[[list[Any]], list[Any]]) -> Future:
        """A concurrent.futures Future that completes with ``translate(task.result())``."""
        future: Future = Future()

        def done(finished: Any) -> None:
            try:
                future.set_result(translate(finished.result()))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting run
                future.set_exception(exc)

        task.add_done_callback(done)
        return future

    def shutdown(self) -> None:
        self._dask.close()
