"""Settlement: deciding, from the files themselves, what a planned change became.

A journal row is committed ``planned`` before its file changes, and becomes ``done`` in
the transaction that records the change. When that transaction cannot run (the process
was killed, the database was full or locked, an I/O error) the row stays ``planned``
whatever happened to the file. :func:`repair_interrupted`, which every act command runs
first, finds every such row, whatever its run's status (a crashed run, or a run that
ended but could not record a change), except the rows of runs still in progress, and
compares the file's actual state with the planned before and after states:

- the file is as planned after the change -> ``done`` (the library's rows follow it;
  a half-finished move is completed, so an organised file is never stranded);
- the file is as before -> ``failed`` (not applied);
- neither (changed by someone else meanwhile, or missing) -> ``failed`` with the reason:
  the owner decides.

:func:`settle_entry` applies the same decision at once to a row whose change raised an
error half-way (the file may or may not have changed before the error).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from music_reclass.act import safe_write
from music_reclass.act.journal import (
    ACT_KINDS,
    ended_run,
    genres_match,
    record_retag,
    same_inode,
)
from music_reclass.act.outcome import FileOutcome
from music_reclass.act.payload import file_sha256
from music_reclass.act.tagio import genre_state, genres_of_state
from music_reclass.errors import DatabaseError, UndoError
from music_reclass.process import pid_alive
from music_reclass.store import files as store_files
from music_reclass.store import journal as rows
from music_reclass.store import runs as store_runs
from music_reclass.store.db import display_path, transaction
from music_reclass.store.journal import Entry, set_done, set_failed

__all__ = ["JournalStopped", "Settled", "repair_interrupted", "retry_unrecorded",
           "settle_entry"]


class JournalStopped(Exception):
    """The database could not record a change that was made: the run stops there."""


@dataclass(frozen=True)
class Settled:
    """What a planned row became: ``done``, ``not-done``, ``owner`` (neither state), or
    ``unrecorded`` (the database could not record it; ``changed`` then says whether the
    file changed, as far as the file shows)."""

    verdict: str
    message: str
    changed: bool = False


def repair_interrupted(conn: sqlite3.Connection) -> list[str]:
    """Settle every planned row whose outcome was not recorded; returns one line each.

    The rows of runs whose process is gone (or that this process ended without being
    able to record it) are settled and the run is marked ``interrupted`` (or the status
    its process meant to record); then the planned rows of runs that already ended.
    Runs still in progress (their process alive) are left alone. Only tag, organise and
    undo runs have a journal of files (a classify run is never settled here; the rows of
    Plex items are settled from the server by :mod:`music_reclass.plex`). A row that cannot
    be settled (unreadable, unexpected error) is marked ``failed`` with the reason: one
    bad row never blocks the library.

    Raises
    ------
    DatabaseError
        The database cannot record the settlement (the rows stay planned).
    """
    messages: list[str] = []
    for run in store_runs.running_runs(conn, ACT_KINDS):
        ended = ended_run(conn, run.id)
        if ended is None and pid_alive(run.params.get("pid"), run.params.get("pid_start")):
            continue
        for entry in rows.entries(conn, run.id):
            if entry.state == "planned":
                messages.append(_settle_safely(conn, entry, run.kind).message)
        status, summary = ended if ended is not None else ("interrupted", None)
        store_runs.finish_run(conn, run.id, status, summary)
        safe_write.cleanup_stale_temps(_dirs_of_run(conn, run.id))
    kinds: dict[int, store_runs.RunRow | None] = {}
    for entry in rows.planned_entries(conn, rows.FILE_ACTIONS):
        if entry.run_id not in kinds:
            kinds[entry.run_id] = store_runs.get_run(conn, entry.run_id)
        run = kinds[entry.run_id]
        if run is not None and run.status == "running":
            continue  # in progress in another process
        messages.append(_settle_safely(conn, entry, run.kind if run else "tag").message)
    return messages


def settle_entry(conn: sqlite3.Connection, entry_id: int, kind: str, *,
                 reason: str | None = None) -> Settled:
    """Settle one planned row now (its change raised an error, or could not be recorded).

    ``reason`` is stored with a change that did not happen. A database that cannot
    record the settlement leaves the row planned (settled by the next command) and
    says so.
    """
    entry = rows.get_entry(conn, entry_id)
    if entry is None or entry.state != "planned":
        return Settled("settled", "already settled")
    try:
        return _settle_safely(conn, entry, kind, reason=reason)
    except DatabaseError as exc:
        return Settled("unrecorded", f"the journal could not record it ({exc}); settled on "
                       "the next command", changed=_changed(entry))


def _changed(entry: Entry) -> bool:
    """Whether the planned change is on disk (for a report; never raises)."""
    try:
        if entry.action == "tag":
            return Path(entry.path).exists() and tag_verdict(Path(entry.path), entry) == "done"
        if entry.action == "remove":
            return not os.path.lexists(entry.path)
        return entry.new_path is not None and os.path.lexists(entry.new_path)
    except Exception:  # noqa: BLE001 - a report line, not a decision
        return False


def retry_unrecorded(conn: sqlite3.Connection, unrecorded: dict[int, FileOutcome],
                     kind: str) -> list[FileOutcome]:
    """Settle a run's unrecorded changes (journal row id -> outcome) now, if the database
    takes writes again (a lock released); returns the ones left to the next command."""
    return [outcome for entry_id, outcome in unrecorded.items()
            if settle_entry(conn, entry_id, kind).verdict == "unrecorded"]


def _settle_safely(conn: sqlite3.Connection, entry: Entry, kind: str, *,
                   reason: str | None = None) -> Settled:
    """:func:`_settle`, marking the row failed (with why) when it cannot be decided."""
    try:
        return _settle(conn, entry, kind, reason)
    except DatabaseError:
        raise
    except Exception as exc:  # noqa: BLE001 - one odd row must never wedge every later command
        why = f"repair failed: {type(exc).__name__}: {exc}"
        if conn.in_transaction:
            conn.rollback()
        set_failed(conn, entry.id, why)
        return Settled("owner", f"{display_path(entry.path)}: {why}")


def _dirs_of_run(conn: sqlite3.Connection, run_id: int) -> set[Path]:
    dirs = set()
    for entry in rows.entries(conn, run_id):
        dirs.add(Path(entry.path).parent)
        if entry.new_path:
            dirs.add(Path(entry.new_path).parent)
    return dirs


def _settle(conn: sqlite3.Connection, entry: Entry, kind: str, reason: str | None) -> Settled:
    if entry.action == "remove":
        return _settle_remove(conn, entry, Path(entry.path))
    if entry.action == "tag":
        return _settle_tag(conn, entry, kind, reason)
    return _settle_move(conn, entry, reason)


def _not_done(conn: sqlite3.Connection, entry: Entry, why: str, message: str,
              verdict: str = "not-done") -> Settled:
    set_failed(conn, entry.id, why)
    return Settled(verdict, message)


def _mark_undone_original(conn: sqlite3.Connection, entry: Entry) -> None:
    """An undo row that is done: the row it undoes is undone (inside a transaction)."""
    original = (entry.after or {}).get("undoes") or (entry.before or {}).get("entry")
    if original:
        rows.mark_undone(conn, int(original))


def tag_verdict(path: Path, entry: Entry) -> str:
    """``done`` / ``not-done`` / ``owner`` of a tag row, from the file itself.

    Done: the file has the SHA-256 the write gave it (recorded just before the
    replace), or, when that is unknown or the file was edited since, its genres are the
    planned ones (and not the old ones). Not done: the genres are still the old ones.
    """
    after, before = entry.after or {}, entry.before or {}
    if after.get("sha256") and file_sha256(path) == after["sha256"]:
        return "done"
    matches_after, matches_before = genres_match(path, after), genres_match(path, before)
    if matches_after and not matches_before:
        return "done"
    if matches_before:
        return "not-done"
    return "owner"


def _settle_tag(conn: sqlite3.Connection, entry: Entry, kind: str,
                reason: str | None) -> Settled:
    path = Path(entry.path)
    shown = display_path(path)
    if not path.exists():
        return _not_done(conn, entry, "interrupted; file missing",
                         f"{shown}: tag write not recorded and the file is missing", "owner")
    verdict = tag_verdict(path, entry)
    if verdict == "not-done":
        why = reason or "interrupted before the write"
        return _not_done(conn, entry, why, f"{shown}: not written ({why}); unchanged")
    if verdict == "owner":
        why = reason or "interrupted; tags match neither before nor after"
        return _not_done(conn, entry, f"{why}; the file changed otherwise",
                         f"{shown}: tags match neither the planned before nor after state; "
                         "left as it is for you to check", "owner")
    state = genre_state(path)
    after = {**(entry.after or {}), "state": state, "genres": genres_of_state(state)}
    with transaction(conn):
        record_retag(conn, path, old_hash=store_files.content_hash_of(conn, path),
                     run_id=entry.run_id, genres=genres_of_state(state))
        set_done(conn, entry.id, after=after)
        if kind == "undo":
            _mark_undone_original(conn, entry)
    return Settled("done", f"{shown}: written; the journal now records it (undo covers it)")


def _settle_move(conn: sqlite3.Connection, entry: Entry, reason: str | None) -> Settled:
    if entry.new_path is None:
        raise UndoError(f"{entry.action} row without a target path")
    src, dst = Path(entry.path), Path(entry.new_path)
    shown_src, shown_dst = display_path(src), display_path(dst)
    copy = entry.action == "copy"
    method = (entry.after or {}).get("method", "link")
    if not os.path.lexists(dst):
        why = reason or f"interrupted before the {entry.action}"
        return _not_done(conn, entry, why, f"{shown_src}: not {'copied' if copy else 'moved'}"
                         f" ({why}); unchanged")
    if copy or not src.exists():
        if copy and (not src.exists() or file_sha256(src) != file_sha256(dst)):
            return _not_done(conn, entry, "interrupted; copy differs from its source",
                             f"{shown_dst}: unrecorded copy differs from its source; left "
                             "in place", "owner")
        _record_moved(conn, entry, src, dst, copy=copy)
        return Settled("done", f"{shown_src} -> {shown_dst}: {entry.action} recorded "
                       "(undo covers it)")
    # Both names exist: finish the move only if dst is certainly our copy of src.
    ours = same_inode(src, dst) if method == "link" else file_sha256(src) == file_sha256(dst)
    if not ours:
        return _not_done(conn, entry, "interrupted; target is another file",
                         f"{shown_src} -> {shown_dst}: target is another file; both left in "
                         "place", "owner")
    src.unlink()
    safe_write.fsync_dir(src.parent)
    _record_moved(conn, entry, src, dst, copy=False)
    return Settled("done", f"{shown_src} -> {shown_dst}: half-done move completed and "
                   "recorded (undo covers it)")


def _record_moved(conn: sqlite3.Connection, entry: Entry, src: Path, dst: Path, *,
                  copy: bool) -> None:
    with transaction(conn):
        store_files.record_moved(conn, src, dst, copy=copy, run_id=entry.run_id)
        set_done(conn, entry.id)
        _mark_undone_original(conn, entry)


def _settle_remove(conn: sqlite3.Connection, entry: Entry, path: Path) -> Settled:
    """An undo removing an organise copy was interrupted: did the copy go?"""
    if os.path.lexists(path):
        return _not_done(conn, entry, "interrupted before the removal",
                         f"{display_path(path)}: copy not removed (kept)")
    with transaction(conn):
        store_files.record_removed(conn, path)
        set_done(conn, entry.id)
        _mark_undone_original(conn, entry)
    return Settled("done", f"{display_path(path)}: copy removal recorded")
