"""``reclass plex status``: Plex's genres against the predictions and the decided genres.

Per matched track: the genres Plex shows (the track's own on Plex Media Server
1.40 or later, else its album's), whether they hold the model's top genre and
whether they are the decided genres; then totals, and what a push at the
chosen level and mode would change. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from music_reclass.plex.connection import PlexSession
from music_reclass.plex.items import ItemState, list_tracks, read_states
from music_reclass.plex.matching import (
    DURATION_TOLERANCE,
    LibraryTrack,
    Match,
    MatchReport,
    match_tracks,
)
from music_reclass.plex.plan import (
    LEVELS,
    MIN_SHARE,
    MODES,
    GenreChange,
    check_choice,
    plan_changes,
    same_genres,
    targets_for,
)
from music_reclass.plex.settings import PathMap
from music_reclass.taxonomy.normalise import genre_key, normalise_genre

__all__ = ["StatusReport", "StatusTotals", "TrackStatus", "plex_status", "read_and_match"]

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


def read_and_match(
    session: PlexSession,
    library: Sequence[LibraryTrack],
    *,
    path_maps: Sequence[PathMap] = (),
    duration_tolerance: float = DURATION_TOLERANCE,
    on_progress: Progress = None,
    cancel: Cancel = None,
) -> MatchReport:
    """List the server's tracks and match them to ``library`` (see :mod:`.matching`)."""
    tracks = list_tracks(session, on_progress=on_progress, cancel=cancel)
    return match_tracks(tracks, library, path_maps=path_maps, duration_tolerance=duration_tolerance)


def _canonical(name: str) -> str:
    return normalise_genre(name) or genre_key(name) or name.casefold()


def _holds(plex_genres: Sequence[str], label: str) -> bool:
    """Do Plex's genres name the same genre as ``label`` (taxonomy aliases included)?"""
    return _canonical(label) in {_canonical(g) for g in plex_genres}


@dataclass(frozen=True)
class TrackStatus:
    """One matched track: where Plex and the library stand."""

    rating_key: int
    title: str  # "artist - title" as Plex has it
    path: str
    method: str  # "path" | "tags"
    plex_genres: tuple[str, ...] | None  # None: the item was not found on re-read
    genre_level: str  # "track": the track's own genres; "album": its album's (old servers)
    locked: bool | None
    predicted: tuple[tuple[str, float], ...]
    decided: tuple[str, ...]
    agrees_prediction: (
        bool | None
    )  # Plex's genres hold the top prediction; None: nothing to compare
    agrees_decided: bool | None  # Plex's genres are the decided ones; None: nothing to compare


@dataclass
class StatusTotals:
    plex_tracks: int = 0
    matched: int = 0
    matched_by_path: int = 0
    matched_by_tags: int = 0
    ambiguous: int = 0
    unmatched: int = 0
    library_only: int = 0
    with_plex_genre: int = 0
    locked: int = 0
    agree_prediction: int = 0
    disagree_prediction: int = 0
    agree_decided: int = 0
    disagree_decided: int = 0
    would_change: int = 0


@dataclass
class StatusReport:
    server: str
    version: str
    track_genres: bool  # the server keeps genres per track
    level: str
    mode: str
    matches: MatchReport
    rows: list[TrackStatus] = field(default_factory=list)
    totals: StatusTotals = field(default_factory=StatusTotals)
    changes: list[GenreChange] = field(default_factory=list)  # what a push would change
    skipped: list[str] = field(default_factory=list)  # what a push would leave, with why
    notes: list[str] = field(default_factory=list)


def _row(match: Match, state: ItemState | None, level: str) -> TrackStatus:
    genres = None if state is None else state.genres
    predicted, decided = match.library.predicted, match.library.decided
    agrees_prediction = agrees_decided = None
    if genres and predicted:
        agrees_prediction = _holds(genres, predicted[0][0])
    if genres and decided:
        agrees_decided = same_genres(genres, decided)
    return TrackStatus(
        rating_key=match.plex.rating_key,
        title=match.plex.display(),
        path=match.library.path,
        method=match.method,
        plex_genres=genres,
        genre_level=level,
        locked=None if state is None else state.locked,
        predicted=predicted,
        decided=decided,
        agrees_prediction=agrees_prediction,
        agrees_decided=agrees_decided,
    )


def _totals(report: StatusReport) -> StatusTotals:
    matches, rows = report.matches, report.rows
    return StatusTotals(
        plex_tracks=len(matches.matched) + len(matches.ambiguous) + len(matches.unmatched),
        matched=len(matches.matched),
        matched_by_path=matches.count("path"),
        matched_by_tags=matches.count("tags"),
        ambiguous=len(matches.ambiguous),
        unmatched=len(matches.unmatched),
        library_only=len(matches.library_only),
        with_plex_genre=sum(1 for r in rows if r.plex_genres),
        locked=sum(1 for r in rows if r.locked),
        agree_prediction=sum(1 for r in rows if r.agrees_prediction is True),
        disagree_prediction=sum(1 for r in rows if r.agrees_prediction is False),
        agree_decided=sum(1 for r in rows if r.agrees_decided is True),
        disagree_decided=sum(1 for r in rows if r.agrees_decided is False),
        would_change=len(report.changes),
    )


def plex_status(
    session: PlexSession,
    library: Sequence[LibraryTrack],
    *,
    path_maps: Sequence[PathMap] = (),
    mode: str = "replace",
    level: str | None = None,
    min_share: float = MIN_SHARE,
    duration_tolerance: float = DURATION_TOLERANCE,
    on_progress: Progress = None,
    cancel: Cancel = None,
) -> StatusReport:
    """Compare Plex's genres with the library's predictions and decisions.

    Parameters
    ----------
    session : PlexSession
    library : sequence of LibraryTrack
    path_maps : sequence of PathMap
    mode : {"replace", "merge"}
        For "what a push would change".
    level : {"track", "album", "artist"}, optional
        Of that push; default ``track`` where the server keeps per-track genres
        (Plex Media Server >= 1.40), else ``album``.
    min_share, duration_tolerance : float
        See :func:`.plan.targets_for` and :func:`.matching.match_tracks`.
    on_progress : callable, optional
        ``on_progress(done, total)`` while Plex's tracks are read.
    cancel : callable, optional
        Stops reading early (the report then covers what was read).

    Returns
    -------
    StatusReport
    """
    level = level or ("track" if session.track_genres else "album")
    check_choice("level", level, LEVELS)
    check_choice("mode", mode, MODES)
    report = StatusReport(
        server=session.describe(),
        version=session.version,
        track_genres=session.track_genres,
        level=level,
        mode=mode,
        matches=read_and_match(
            session,
            library,
            path_maps=path_maps,
            duration_tolerance=duration_tolerance,
            on_progress=on_progress,
            cancel=cancel,
        ),
    )
    matched = report.matches.matched
    if session.track_genres:
        states = read_states(session, [m.plex.rating_key for m in matched])
        report.rows = [_row(m, states.get(m.plex.rating_key), "track") for m in matched]
    else:
        report.notes.append(
            f"Plex Media Server {session.version} keeps no genres per track (1.40 or later "
            "does): the genres shown are each track's album's; push with --level album or "
            "--level artist"
        )
        states = read_states(session, {m.plex.album_key for m in matched if m.plex.album_key})
        report.rows = [_row(m, states.get(m.plex.album_key or -1), "album") for m in matched]
    if level == "track" and not session.track_genres:
        report.skipped.append("per-track push unavailable on this server")
    else:
        targets, report.skipped = targets_for(matched, level=level, min_share=min_share)
        if level != "track":
            states = read_states(session, [t.rating_key for t in targets])
        report.changes, _, missing = plan_changes(targets, states, mode=mode)
        report.skipped += missing
    report.totals = _totals(report)
    return report
