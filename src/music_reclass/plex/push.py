"""``reclass plex push``: write the decided genres to Plex, locked, journalled, undoable.

Steps: settle what a crashed earlier push left (:func:`.ledger.repair_runs`);
read and match Plex's tracks; decide the wanted genres per item (per track, or
the album/artist roll-up); compare with Plex. A dry run stops there and sends
nothing. A real push starts a ``plex-push`` run (URL, server id, mode, level
and path maps in its params; never the token) and, batch by batch: reads the
items afresh, journals each one (``planned``, committed) BEFORE its edit, sends
one edit request per item (:func:`.edits.edit_genres`: genres + ``genre.locked=1``),
then reads the batch back and settles each row (:func:`.ledger.settle`).

If the server goes away mid-run the run ends ``interrupted`` and the error is
raised; the rows in flight stay ``planned`` and the next push or undo on that
server settles them from what Plex then shows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from music_reclass.act import journal
from music_reclass.plex.connection import MIN_TRACK_GENRES, PlexSession
from music_reclass.plex.edits import edit_genres
from music_reclass.plex.errors import PlexServerError, PlexUnsupportedError
from music_reclass.plex.items import fetch_items, read_states, state_of
from music_reclass.plex.ledger import PUSH_KIND, plan_row, repair_runs, settle
from music_reclass.plex.matching import DURATION_TOLERANCE, LibraryTrack, MatchReport
from music_reclass.plex.plan import (
    LEVELS,
    MIN_SHARE,
    MODES,
    GenreChange,
    Target,
    check_choice,
    plan_changes,
    target_genres,
    targets_for,
)
from music_reclass.plex.settings import PathMap
from music_reclass.plex.status import read_and_match
from music_reclass.store import journal as rows

BATCH_SIZE = 50

__all__ = ["PushReport", "push_genres"]


@dataclass
class PushReport:
    """What a push did (or, with ``dry_run``, would do)."""

    server: str
    level: str
    mode: str
    dry_run: bool
    matches: MatchReport
    run_id: int | None = None
    changes: list[GenreChange] = field(default_factory=list)  # planned from the first read
    done: list[GenreChange] = field(default_factory=list)  # written and read back
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchanged: int = 0
    repaired: list[str] = field(default_factory=list)
    cancelled: bool = False
    error: str | None = None  # the database could not record the end of the run

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    def counts(self) -> dict[str, int]:
        """The run's summary as stored with it."""
        return {"changed": len(self.done), "failed": len(self.failed),
                "skipped": len(self.skipped), "unchanged": self.unchanged}


def _check_level(session: PlexSession, level: str) -> None:
    if level == "track" and not session.track_genres:
        needed = ".".join(map(str, MIN_TRACK_GENRES))
        raise PlexUnsupportedError(
            f"Plex Media Server {session.version} keeps genres on albums and artists only "
            f"(per-track genres need {needed} or later): update Plex, or push with --level album "
            "(each album gets the majority genre of its tracks) or --level artist"
        )


def push_genres(
    conn: sqlite3.Connection | None,
    session: PlexSession,
    library: Sequence[LibraryTrack],
    *,
    path_maps: Sequence[PathMap] = (),
    mode: str = "replace",
    level: str = "track",
    dry_run: bool = False,
    min_share: float = MIN_SHARE,
    skip_locked: bool = False,
    duration_tolerance: float = DURATION_TOLERANCE,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> PushReport:
    """Write the library's decided genres to the matched Plex items.

    Parameters
    ----------
    conn : sqlite3.Connection or None
        The library database (its journal); may be None for a dry run.
    session : PlexSession
    library : sequence of LibraryTrack
        The library's files with their decided genres.
    path_maps : sequence of PathMap
    mode : {"replace", "merge"}
    level : {"track", "album", "artist"}
        ``track`` needs Plex Media Server 1.40 or later.
    dry_run : bool
        Compute and report the changes; send no edit, write no journal.
    min_share : float
        Album/artist roll-up: the share of votes a genre needs.
    skip_locked : bool
        Leave items whose genre field is locked in Plex (hand-edited) alone.
    duration_tolerance : float
        Seconds, for matching by tags.
    batch_size : int
        Items read, edited and read back together.
    on_progress : callable, optional
        ``on_progress(done, total)`` over the items to change.
    cancel : callable, optional
        Checked between batches; the run then ends ``interrupted`` (what was
        written stays journalled and undoable).

    Returns
    -------
    PushReport

    Raises
    ------
    PlexUnsupportedError
        ``level="track"`` on a server older than 1.40.
    PlexUnreachableError, PlexAuthError, PlexServerError
        The server failed before or during the run (a started run ends ``interrupted``).
    """
    check_choice("mode", mode, MODES)
    check_choice("level", level, LEVELS)
    _check_level(session, level)
    if conn is None and not dry_run:
        raise ValueError("push_genres needs the library database unless dry_run")
    report = PushReport(session.describe(), level, mode, dry_run, MatchReport())
    if conn is not None and not dry_run:
        report.repaired = repair_runs(conn, session)
    report.matches = read_and_match(
        session, library, path_maps=path_maps, duration_tolerance=duration_tolerance, cancel=cancel
    )
    if cancel is not None and cancel():
        report.cancelled = True  # Plex was not read whole: never act on part of it
        return report
    targets, report.skipped = targets_for(report.matches.matched, level=level, min_share=min_share)
    states = read_states(session, [t.rating_key for t in targets])
    report.changes, unchanged, missing = plan_changes(
        targets, states, mode=mode, skip_locked=skip_locked
    )
    report.unchanged, report.skipped = len(unchanged), report.skipped + missing
    if dry_run or not report.changes:
        return report
    assert conn is not None
    params = {
        "url": session.url,
        "server": session.machine_identifier,
        "server_name": session.name,
        "version": session.version,
        "mode": mode,
        "level": level,
        "min_share": min_share,
        "skip_locked": skip_locked,
        "path_maps": [str(m) for m in path_maps],
        "sections": [s.title for s in session.sections],
    }
    report.run_id = journal.start_act_run(conn, PUSH_KIND, params)
    by_key = {t.rating_key: t for t in targets}
    status = "interrupted"
    try:
        for start in range(0, len(report.changes), batch_size):
            if cancel is not None and cancel():
                report.cancelled = True
                break
            batch = report.changes[start : start + batch_size]
            targets_now = [by_key[c.rating_key] for c in batch]
            _push_batch(conn, session, report, targets_now, skip_locked=skip_locked)
            if on_progress is not None:
                on_progress(min(start + batch_size, len(report.changes)), len(report.changes))
        else:
            status = "done" if report.ok else "failed"
    finally:
        # a database that cannot record the end leaves the run to the next repair_runs
        report.error = journal.end_act_run(conn, report.run_id, status, report.counts())
    return report


def _push_batch(
    conn: sqlite3.Connection,
    session: PlexSession,
    report: PushReport,
    targets: list[Target],
    *,
    skip_locked: bool,
) -> None:
    """Journal, edit and read back one batch of items."""
    assert report.run_id is not None
    items = fetch_items(session, [t.rating_key for t in targets])
    sent: list[tuple[int, GenreChange]] = []
    for target in targets:
        item = items.get(target.rating_key)
        if item is None:
            report.failed.append(f"{target.title}: no longer in Plex")
            continue
        state = state_of(item)  # now, not at planning time: this is what undo restores
        if skip_locked and state.locked:  # locked since the plan was made
            report.skipped.append(f"{target.title}: genre field locked in Plex (--skip-locked)")
            continue
        after, added, removed = target_genres(state.genres, target.wanted, report.mode)
        if not added and not removed:
            report.unchanged += 1
            continue
        change = GenreChange(
            target.rating_key, target.level, target.title, state.genres, state.locked,
            after, added, removed, target.paths,
        )  # fmt: skip
        entry_id = plan_row(
            conn, report.run_id, session, state,
            after={"genres": list(after), "locked": True},
            level=target.level, title=target.title, paths=target.paths,
        )  # fmt: skip
        try:
            with session.errors():
                edit_genres(
                    item,
                    genres=after,
                    remove=removed,
                    locked=True,
                    add=added if report.mode == "merge" else None,
                )
        except PlexServerError as exc:
            rows.set_failed(conn, entry_id, str(exc))
            report.failed.append(f"{target.title}: {exc}")
            continue
        sent.append((entry_id, change))
    shown = read_states(session, [change.rating_key for _, change in sent])
    for entry_id, change in sent:
        settled = settle(
            conn,
            entry_id,
            before={"genres": list(change.before), "locked": change.before_locked},
            after={"genres": list(change.after), "locked": True},
            state=shown.get(change.rating_key),
        )
        if settled.done:
            report.done.append(
                replace(change, after=shown[change.rating_key].genres)
                if settled.outcome == "differs"
                else change
            )
        if settled.outcome == "lock-differs":
            report.warnings.append(f"{change.title}: {settled.problem}")
        elif settled.problem:
            report.failed.append(f"{change.title}: {settled.problem}")
