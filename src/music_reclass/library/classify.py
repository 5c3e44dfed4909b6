"""``Library.classify``: classify the audio under some folders into the library."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from music_reclass.audio.discover import count_files
from music_reclass.errors import ParameterError
from music_reclass.library.core import LibraryBase
from music_reclass.library.models import (
    ACTIVE_KEY,
    ModelSpec,
    active_spec,
    load_spec,
    parse_spec,
    register,
)
from music_reclass.runner.classify import classify_paths
from music_reclass.runner.pool import make_pool
from music_reclass.runner.results import FileResult, RunSummary
from music_reclass.store import models as store_models
from music_reclass.store.db import display_path

__all__ = ["ClassifyMixin", "ClassifyRun"]


@dataclass
class ClassifyRun:
    """What :meth:`Library.classify` did.

    Attributes
    ----------
    summary : RunSummary
        Counts, timings and the run's status (``done``, ``cancelled``, ``interrupted``).
    results : list of FileResult
        One per file, in the order they finished (empty with ``keep_results=False``,
        which keeps memory flat for a 100,000-file run: use ``on_result`` then).
    model_id : str
        The model that made the results.
    model_name : str
        Its short name.
    active : bool
        Whether it is the library's active model (the one list/tag/organise use).
    """

    summary: RunSummary
    results: list[FileResult] = field(default_factory=list)
    model_id: str = ""
    model_name: str = ""
    active: bool = True

    @property
    def run_id(self) -> int:
        return self.summary.run_id

    @property
    def status(self) -> str:
        return self.summary.status

    @property
    def ok(self) -> bool:
        return self.summary.failed == 0 and self.summary.status == "done"


class ClassifyMixin(LibraryBase):
    """The classify job of the façade."""

    #: builds a classifier from a :class:`ModelSpec` instead of the real loader (tests
    #: inject a fast fake here; None: the real models)
    classifier_factory: Callable[[ModelSpec], Any] | None = None

    def classify(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        model: str | os.PathLike | None = None,
        taxonomy: str | None = None,
        cascade: bool | None = None,
        jobs: int | None = None,
        batch_size: int = 1,
        force: bool = False,
        keep_results: bool = True,
        on_result: Callable[[FileResult], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        on_ignored: Callable[[Any], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        dask: str | None = None,
        dask_path_map: Sequence[str] = (),
        pool: Any = None,
    ) -> ClassifyRun:
        """Classify every audio file under ``paths`` and record the results (blocks).

        Creates the database when it does not exist. Files already analysed by the model
        are answered from the database; contents whose vectors are stored are answered
        without decoding when the model can use them; the rest is decoded and classified
        on every core (``jobs`` worker processes).

        Parameters
        ----------
        paths : sequence of path-like
            Files and folders (searched recursively; audio is recognised by content).
        model : str or path-like, optional
            A model name or file (see :mod:`music_reclass.library.models`); default: the
            library's active model.
        taxonomy : str, optional
            The genres of the embedded model: ``default``, ``gtzan`` or a mapping file.
        cascade : bool or None
            True: run the progressive cascade of the embedded models (cheap stages first,
            the later ones only for the tracks the earlier ones leave undecided); each
            result then says which ``stage`` decided. It is a model of its own
            (``cascade`` or ``cascade-<taxonomy>`` in :meth:`models`). False: the
            embedded model without the cascade, even when the cascade is the active
            model. None (default): the active model.
        jobs : int, optional
            Worker processes (default: one per core); 0 does everything in this process.
        batch_size : int
            Files per worker task (their excerpts share one forward pass).
        force : bool
            Analyse again what this model already analysed.
        keep_results : bool
            Keep every :class:`FileResult` in :attr:`ClassifyRun.results`.
        on_result : callable, optional
            Called with each :class:`FileResult` as soon as it is recorded.
        on_progress : callable, optional
            ``on_progress(done, total)``: files handled so far (ignored ones included)
            out of the files under ``paths``.
        on_ignored : callable, optional
            Called with each non-audio file passed over (cover art, playlists...).
        cancel : callable, optional
            Polled between files (e.g. a :class:`CancelToken`): True stops the run.
        dask : str, optional
            Run the work on a Dask cluster: ``local:N`` (a local cluster of N worker
            processes) or a scheduler address (``tcp://host:8786``). The workers read
            the files by path: see :mod:`music_reclass.runner.dask`.
        dask_path_map : sequence of str
            ``LOCAL=REMOTE`` prefixes: how Dask workers name this machine's paths.
        pool : Pool, optional
            Where the work runs, when neither local processes nor ``dask`` fit.

        Returns
        -------
        ClassifyRun

        Raises
        ------
        ParameterError
            A path that does not exist, an unknown model or taxonomy, bad ``jobs``.
        ModelError, FeatureMismatchError
            A model file that is damaged or does not fit its features.
        DatabaseError
            The database cannot be created or opened for writing.

        Examples
        --------
        >>> from music_reclass import Library
        >>> lib = Library("lib.sqlite")                      # doctest: +SKIP
        >>> run = lib.classify(["demo"], taxonomy="gtzan")   # doctest: +SKIP
        >>> [(r.path, r.status, r.genres[0]["label"]) for r in run.results]  # doctest: +SKIP
        """
        missing = [p for p in paths if not os.path.lexists(p)]
        if missing:
            raise ParameterError(
                "no such file or folder: " + ", ".join(display_path(p) for p in missing))
        # the model is named and loaded before the database is created: a mistyped
        # option must not leave a new, empty library behind
        existing = self.connection() if self.exists else None
        spec = parse_spec(existing, model, taxonomy, cascade=cascade) or active_spec(existing)
        classifier = load_spec(spec, factory=self.classifier_factory)
        conn = self.writable_connection(create=True)
        register(conn, spec, classifier)
        active = self._activate_if_first(conn, spec, classifier)
        outcome = ClassifyRun(summary=RunSummary(run_id=0), model_id=str(classifier.model_id),
                              model_name=spec.name, active=active)
        total = count_files(paths) if on_progress is not None else 0
        done = [0]

        def progressed() -> None:
            done[0] += 1
            if on_progress is not None:
                on_progress(done[0], max(total, done[0]))

        def result(item: FileResult) -> None:
            if keep_results:
                outcome.results.append(item)
            if on_result is not None:
                on_result(item)
            progressed()

        def ignored(candidate: Any) -> None:
            if on_ignored is not None:
                on_ignored(candidate)
            progressed()

        if pool is None and dask is not None:
            from music_reclass.runner.dask import DaskPool, parse_path_map

            pool = DaskPool(classifier, dask, path_map=parse_path_map(dask_path_map))
        elif pool is None:
            pool = make_pool(classifier, jobs=jobs, batch_size=batch_size)
        outcome.summary = classify_paths(
            paths, conn=conn, classifier=classifier, pool=pool, force=force, on_result=result,
            on_ignored=ignored, cancel=cancel,
            params={"model": spec.name, "taxonomy": spec.taxonomy, "file": spec.file,
                    "cascade": spec.cascade, "dask": dask},
        )
        return outcome

    def _activate_if_first(self, conn: Any, spec: ModelSpec, classifier: Any) -> bool:
        """A library's first model becomes its active one; returns whether ``spec`` is."""
        current = store_models.get_setting(conn, ACTIVE_KEY)
        if current is None:
            store_models.set_setting(conn, ACTIVE_KEY, spec.as_setting())
            return True
        return ModelSpec.from_setting(current) == spec
