"""The library API: one façade, :class:`Library`, that every front end calls.

The command line, the web server, Plex sync and the Dask runner only call these
methods; none holds SQL or logic of its own. Each method is one user-facing job that
returns structured results (dataclasses, per-file outcomes with codes), takes a
progress callback and a cancel check where the job is long, and is safe to call from
several threads (one SQLite connection per thread).

>>> from music_reclass import Library
>>> lib = Library("lib.sqlite")                                # doctest: +SKIP
>>> run = lib.classify(["~/Music"], taxonomy="gtzan")          # doctest: +SKIP
>>> [(f.path, f.status, f.top_genre) for f in lib.files()]     # doctest: +SKIP
>>> lib.tag(["~/Music"], dry_run=True).changes                 # doctest: +SKIP
>>> lib.undo()                                                 # doctest: +SKIP
"""

from __future__ import annotations

from music_reclass.library.act import ActMixin, PruneReport
from music_reclass.library.classify import ClassifyMixin, ClassifyRun
from music_reclass.library.core import CancelToken
from music_reclass.library.learn import CompareOutcome, EvaluateOutcome, LearnMixin, TrainOutcome
from music_reclass.library.models import ModelSpec
from music_reclass.library.plex import PlexMixin, PlexPullReport, PulledLabel
from music_reclass.library.query import LibraryStats, ModelInfo, QueryMixin
from music_reclass.library.review import CorrectionReport, ReviewMixin
from music_reclass.library.serve import AudioSource, ChangeView, ChartData, FilePage, ServeMixin
from music_reclass.store.queries import FileQuery, FileView

__all__ = [
    "AudioSource",
    "CancelToken",
    "ChangeView",
    "ChartData",
    "ClassifyRun",
    "CorrectionReport",
    "CompareOutcome",
    "EvaluateOutcome",
    "FilePage",
    "FileQuery",
    "FileView",
    "Library",
    "LibraryStats",
    "ModelInfo",
    "ModelSpec",
    "PlexPullReport",
    "PruneReport",
    "PulledLabel",
    "TrainOutcome",
]


class Library(QueryMixin, ClassifyMixin, ActMixin, ReviewMixin, LearnMixin, ServeMixin,
              PlexMixin):
    """A music library database and every job on it.

    Parameters
    ----------
    db_path : str or Path, optional
        The SQLite file (default: ``RECLASS_DB`` or the platform's data folder). Only
        :meth:`classify` creates it; every other job on a missing database raises
        :class:`~music_reclass.errors.MissingDatabaseError`.
    classifier_factory : callable, optional
        Builds the classifier of a :class:`ModelSpec` instead of the real loader (tests
        inject a fast fake model here).

    Jobs: :meth:`classify`; :meth:`files`, :meth:`iter_files`, :meth:`file`,
    :meth:`runs`, :meth:`stats`, :meth:`models`, :meth:`use_model`; :meth:`tag`,
    :meth:`organise`, :meth:`undo`, :meth:`prune`; :meth:`review_queue`, :meth:`correct`,
    :meth:`accept`, :meth:`correct_each`, :meth:`corrections`; :meth:`train`,
    :meth:`evaluate`, :meth:`compare`, :meth:`analyze`; :meth:`plex_status`,
    :meth:`plex_push`, :meth:`plex_pull`, :meth:`plex_undo` (a Plex Media Server); for
    browsing front ends :meth:`file_page`, :meth:`review_page`, :meth:`accept_above`,
    :meth:`file_story`, :meth:`audio_source`, :meth:`charts`, :meth:`library_roots`,
    :meth:`job_paths`, :meth:`tag_job`, :meth:`organise_job`.
    """

    def __init__(self, db_path=None, *, classifier_factory=None) -> None:  # noqa: ANN001
        super().__init__(db_path)
        self.classifier_factory = classifier_factory
