"""The façade's Plex jobs: compare genres with a Plex Media Server, push them there, pull them.

The connection comes from the arguments, else ``RECLASS_PLEX_URL`` /
``RECLASS_PLEX_TOKEN``, else the ``[plex]`` table of the configuration file (url,
token, path_map, section). The library's side is one query over files, tracks and the
active model's analyses (:func:`plex_tracks`): per file its tags, its predictions and the
genres ``tag`` would write (the model's decision, or every genre above
``min_confidence``), named as ``tag`` names them. The work is in :mod:`music_reclass.plex`.

>>> lib.plex_status(url="http://plex.local:32400", path_maps=["/data/music=/home/me/Music"])
... # doctest: +SKIP
>>> lib.plex_push(dry_run=True).changes                      # doctest: +SKIP
>>> lib.plex_pull(as_corrections=True).corrections           # doctest: +SKIP
>>> lib.undo()                                               # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from music_reclass.act.selection import choose_genres
from music_reclass.act.undo import UndoReport
from music_reclass.library.core import LibraryBase
from music_reclass.library.review import MAX_LABELS, CorrectionReport
from music_reclass.plex import (
    LibraryTrack,
    PlexSession,
    PlexSettings,
    PushReport,
    StatusReport,
    connect,
    latest_push_run,
    plex_status,
    pull_labels,
    push_genres,
    resolve_settings,
    settings_for_run,
    undo_push,
)
from music_reclass.plex.plan import MIN_SHARE
from music_reclass.plex.push import BATCH_SIZE
from music_reclass.store import queries
from music_reclass.store.analyses import AnalysisRow
from music_reclass.store.corrections import correction_for
from music_reclass.store.db import display_path
from music_reclass.store.queries import FileQuery, FileView

__all__ = ["PlexMixin", "PlexPullReport", "PulledLabel"]

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


@dataclass(frozen=True)
class PulledLabel:
    """Plex's genres of one library file (its track's own, else its album's or artist's)."""

    path: str
    genres: list[str]
    artist: str | None = None
    title: str | None = None


@dataclass
class PlexPullReport:
    """What :meth:`PlexMixin.plex_pull` read, and what it recorded as corrections."""

    server: str
    labels: list[PulledLabel] = field(default_factory=list)
    corrections: CorrectionReport | None = None  # with ``as_corrections``
    kept: list[str] = field(default_factory=list)  # tracks whose correction stayed as it was

    @property
    def ok(self) -> bool:
        return self.corrections is None or self.corrections.ok


def _analysis(view: FileView, model_id: str) -> AnalysisRow:
    """The model's analysis of a listed file, as :func:`choose_genres` reads it."""
    return AnalysisRow(
        content_hash=view.content_hash or "", model_id=model_id,
        status="ok" if view.genres else "error", error_code=None, error=None,
        genres=view.genres, tags=[], analysed_seconds=None, run_id=None,
        decided=view.decided, abstain_reason=view.abstain_reason,
    )


def _same_labels(a: Sequence[str], b: Sequence[str]) -> bool:
    return [x.casefold() for x in a] == [y.casefold() for y in b]


class PlexMixin(LibraryBase):
    """Plex sync: status, push (journalled, undoable), pull."""

    # -- connection and the library's side

    def plex_settings(self, *, url: str | None = None, token: str | None = None,
                      path_maps: Sequence[str] | None = None, section: str | None = None,
                      timeout: float = 30.0) -> PlexSettings:
        """The connection: the arguments, else the environment, else the config file.

        Raises
        ------
        PlexSetupError
            No URL or token, a malformed URL or path map (one line, never the token).
        """
        return resolve_settings(url, token, path_maps, section, timeout=timeout)

    def plex_connect(self, settings: PlexSettings) -> PlexSession:
        """Connect to the server of ``settings`` and find its music libraries.

        Raises
        ------
        PlexSetupError
            The server unreachable, the token refused, not a Plex server, no music
            library, python-plexapi missing (one line each, never quoting the token).
        """
        return connect(settings)

    def plex_tracks(self, *, model: str | None = None, min_confidence: float | None = None,
                    top_k: int | None = 3) -> list[LibraryTrack]:
        """Every successfully read file of the library, as the Plex sync matches it.

        One query over files, tracks and the model's analyses. ``decided`` holds the
        genres ``tag`` would write with the same ``min_confidence`` and ``top_k`` (the
        owner's correction, else by default the model's decision), ``undecided`` why
        there are none.
        """
        model_id, _ = self.model_id_for(model)  # type: ignore[attr-defined]
        normalise = self._normaliser(model_id)  # type: ignore[attr-defined]
        query = FileQuery(model_id=model_id, status="ok", with_tags=False)
        tracks = []
        for view in queries.iter_files(self.connection(), query, check_missing=False):
            chosen, why = choose_genres(_analysis(view, model_id), min_confidence=min_confidence,
                                        top_k=top_k, normalise=normalise,
                                        correction=view.correction)
            tracks.append(LibraryTrack(
                path=view.path, duration=view.duration, title=view.title, artist=view.artist,
                album=view.album,
                predicted=tuple((g["label"], float(g["confidence"])) for g in view.genres),
                decided=tuple(name for name, _ in chosen), undecided=why,
            ))
        return tracks

    # -- jobs

    def plex_status(self, *, url: str | None = None, token: str | None = None,
                    path_maps: Sequence[str] | None = None, section: str | None = None,
                    model: str | None = None, min_confidence: float | None = None,
                    top_k: int | None = 3, mode: str = "replace", level: str | None = None,
                    min_share: float = MIN_SHARE, on_progress: Progress = None,
                    cancel: Cancel = None) -> StatusReport:
        """Plex's genres against the predictions and the decided genres, per matched track
        and in totals, and what a push would change. Nothing is written anywhere."""
        settings = self.plex_settings(url=url, token=token, path_maps=path_maps, section=section)
        tracks = self.plex_tracks(model=model, min_confidence=min_confidence, top_k=top_k)
        session = self.plex_connect(settings)
        return plex_status(session, tracks, path_maps=settings.path_maps, mode=mode,
                           level=level, min_share=min_share, on_progress=on_progress,
                           cancel=cancel)

    def plex_push(self, *, url: str | None = None, token: str | None = None,
                  path_maps: Sequence[str] | None = None, section: str | None = None,
                  model: str | None = None, min_confidence: float | None = None,
                  top_k: int | None = 3, mode: str = "replace", level: str = "track",
                  min_share: float = MIN_SHARE, skip_locked: bool = False,
                  dry_run: bool = False, batch_size: int = BATCH_SIZE,
                  on_progress: Progress = None, cancel: Cancel = None) -> PushReport:
        """Write the decided genres to the matched Plex items, locking the field.

        Every item's genres and lock are journalled before its edit (a ``plex-push``
        run); :meth:`undo` restores them. ``dry_run`` sends and records nothing.
        ``level`` ``album``/``artist`` rolls the tracks' genres up (servers before Plex
        Media Server 1.40 keep no genres per track).
        """
        settings = self.plex_settings(url=url, token=token, path_maps=path_maps, section=section)
        conn = self.connection() if dry_run else self.writable_connection()
        tracks = self.plex_tracks(model=model, min_confidence=min_confidence, top_k=top_k)
        session = self.plex_connect(settings)
        return push_genres(conn, session, tracks, path_maps=settings.path_maps, mode=mode,
                           level=level, dry_run=dry_run, min_share=min_share,
                           skip_locked=skip_locked, batch_size=batch_size,
                           on_progress=on_progress, cancel=cancel)

    def plex_pull(self, *, url: str | None = None, token: str | None = None,
                  path_maps: Sequence[str] | None = None, section: str | None = None,
                  fallback: bool = True, as_corrections: bool = False,
                  replace_own: bool = False, model: str | None = None,
                  on_progress: Progress = None, cancel: Cancel = None) -> PlexPullReport:
        """Plex's genres of the matched tracks, as labels for learning.

        With ``as_corrections`` they are also recorded as corrections (source ``plex``,
        one undoable ``correct`` run), the labels ``learn`` trains on: a track whose
        current correction already says the same is left alone, and so is one the
        owner corrected here by hand unless ``replace_own``. Nothing is written to Plex.
        """
        settings = self.plex_settings(url=url, token=token, path_maps=path_maps, section=section)
        if as_corrections:
            self.writable_connection()  # refuse a read-only library before reading Plex
        tracks = self.plex_tracks(model=model, min_confidence=1.0, top_k=None)
        session = self.plex_connect(settings)
        by_path = {t.path: t for t in tracks}
        pairs = pull_labels(session, tracks, path_maps=settings.path_maps, fallback=fallback,
                            on_progress=on_progress, cancel=cancel)
        report = PlexPullReport(session.describe(), [
            PulledLabel(path, genres, by_path[path].artist, by_path[path].title)
            for path, genres in pairs
        ])
        if as_corrections and report.labels:
            self._pulled_corrections(report, replace_own=replace_own, model=model)
        return report

    def plex_undo(self, run_id: int | None = None, *, url: str | None = None,
                  token: str | None = None, dry_run: bool = False) -> UndoReport:
        """Restore the genres and locks a ``plex-push`` run (default: the latest) changed.

        The server is the run's URL (or ``url``), the token ``token``, else the
        environment's or the config file's. An item changed in Plex since is refused.
        """
        conn = self.connection() if dry_run else self.writable_connection()
        run_id = run_id if run_id is not None else latest_push_run(conn)
        if run_id is None:
            return UndoReport(None)
        settings = settings_for_run(conn, run_id, url=url, token=token)
        return undo_push(conn, run_id, settings=settings, dry_run=dry_run)

    # -- internals

    def _pulled_corrections(self, report: PlexPullReport, *, replace_own: bool,
                            model: str | None) -> None:
        conn = self.connection()
        hashes = {view.path: view.content_hash for view in queries.iter_files(
            conn, FileQuery(status="ok", with_tags=False), check_missing=False)}
        todo: list[tuple[str, list[str]]] = []
        for label in report.labels:
            genres = label.genres[:MAX_LABELS]
            chash = hashes.get(label.path)
            current = correction_for(conn, chash) if chash else None
            shown = display_path(label.path)
            if current is not None and _same_labels(current.labels, genres):
                report.kept.append(f"{shown}: already corrected to {'; '.join(genres)}")
            elif current is not None and current.source != "plex" and not replace_own:
                report.kept.append(f"{shown}: your correction {'; '.join(current.labels)} kept "
                                   f"(Plex: {'; '.join(genres)})")
            else:
                todo.append((label.path, genres))
        if todo:
            report.corrections = self.correct_each(  # type: ignore[attr-defined]
                todo, source="plex", model=model)

