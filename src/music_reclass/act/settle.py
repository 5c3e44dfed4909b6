"""Settlement: deciding, from the files themselves, what a planned change became.

:func:`repair_interrupted` looks at the ``planned`` journal rows of runs whose process
is gone and decides whether each change happened (-> ``done``, DB rows updated, a
half-finished move completed) or not (-> ``failed``). Every command runs it first.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from music_reclass.act import safe_write
from music_reclass.act.journal import (
    ACT_KINDS,
    record_retag,
    same_inode,
    tag_state_matches,
    unwrap_state,
)
from music_reclass.act.payload import file_sha256
from music_reclass.act.tagio import genre_state, genres_of_state
from music_reclass.errors import UndoError
from music_reclass.store import files as store_files
from music_reclass.store import runs as store_runs
from music_reclass.store.db import display_path, transaction
from music_reclass.store.journal import Entry, entries, set_done, set_failed

__all__ = ["repair_interrupted"]



def repair_interrupted(conn: sqlite3.Connection) -> list[str]:
    """Settle the ``planned`` rows of runs whose process died; returns messages.

    Decides from the files whether each change happened; completes a move whose
    target is in place (removes the source only when it is the same inode, or
    byte-identical for a cross-device copy); marks the run ``interrupted``.
    Only tag, organise and undo runs are settled (a classify run has no journal).
    A row that cannot be settled (unreadable, unexpected error) is marked
    ``failed`` with the reason: one bad row never blocks the library.
    """
    messages: list[str] = []
    for run in store_runs.running_runs(conn, ACT_KINDS):
        if safe_write.pid_alive(run.params.get("pid"), run.params.get("pid_start")):
            continue
        for entry in entries(conn, run.id):
            if entry.state == "planned":
                messages.append(_repair_entry_safely(conn, entry, run.kind))
        store_runs.finish_run(conn, run.id, "interrupted")
        safe_write.cleanup_stale_temps(_dirs_of_run(conn, run.id))
    return messages


def _repair_entry_safely(conn: sqlite3.Connection, entry: Entry, kind: str) -> str:
    """:func:`_repair_entry`, marking the row failed (with why) when it cannot be settled."""
    try:
        return _repair_entry(conn, entry, kind)
    except Exception as exc:  # noqa: BLE001 - one odd row must never wedge every later command
        reason = f"repair failed: {type(exc).__name__}: {exc}"
        if conn.in_transaction:
            conn.rollback()
        set_failed(conn, entry.id, reason)
        return f"{display_path(entry.path)}: {reason}"


def _dirs_of_run(conn: sqlite3.Connection, run_id: int) -> set[Path]:
    dirs = set()
    for entry in entries(conn, run_id):
        dirs.add(Path(entry.path).parent)
        if entry.new_path:
            dirs.add(Path(entry.new_path).parent)
    return dirs


def _repair_entry(conn: sqlite3.Connection, entry: Entry, kind: str) -> str:
    path = Path(entry.path)
    shown = display_path(path)
    if entry.action == "remove":
        return _repair_remove(conn, entry, path)
    if entry.action == "tag":
        if not path.exists():
            set_failed(conn, entry.id, "interrupted; file missing")
            return f"{shown}: interrupted tag write, file missing"
        if entry.before and tag_state_matches(path, unwrap_state(entry.before)):
            set_failed(conn, entry.id, "interrupted before the write")
            return f"{shown}: interrupted before the write (unchanged)"
        if entry.after and tag_state_matches(path, unwrap_state(entry.after)):
            state = genre_state(path)
            with transaction(conn):
                record_retag(
                    conn,
                    path,
                    old_hash=store_files.content_hash_of(conn, path),
                    run_id=entry.run_id,
                    genres=genres_of_state(state),
                )
                set_done(conn, entry.id, after=state if kind != "undo" else None)
            return f"{shown}: interrupted after the write (completed)"
        set_failed(conn, entry.id, "interrupted; file changed by someone else")
        return f"{shown}: interrupted; tags match neither before nor after"
    if entry.new_path is None:
        raise UndoError(f"{entry.action} row without a target path")
    src, dst = path, Path(entry.new_path)
    shown_src, shown_dst = shown, display_path(dst)
    copy = entry.action == "copy"
    method = (entry.after or {}).get("method", "link")
    if not dst.exists():
        set_failed(conn, entry.id, "interrupted before the move")
        return f"{shown_src}: interrupted before the {entry.action} (unchanged)"
    if copy or not src.exists():
        if copy and (not src.exists() or file_sha256(src) != file_sha256(dst)):
            set_failed(conn, entry.id, "interrupted; copy differs from its source")
            return f"{shown_dst}: interrupted copy differs from its source; left in place"
        with transaction(conn):
            store_files.record_moved(conn, src, dst, copy=copy, run_id=entry.run_id)
            set_done(conn, entry.id)
        return f"{shown_src} -> {shown_dst}: interrupted after the {entry.action} (completed)"
    # Both names exist: finish the move only if dst is certainly our copy of src.
    ours = same_inode(src, dst) if method == "link" else file_sha256(src) == file_sha256(dst)
    if not ours:
        set_failed(conn, entry.id, "interrupted; target is another file")
        return f"{shown_src} -> {shown_dst}: target is another file; both left in place"
    src.unlink()
    safe_write.fsync_dir(src.parent)
    with transaction(conn):
        store_files.record_moved(conn, src, dst, copy=False, run_id=entry.run_id)
        set_done(conn, entry.id)
    return f"{shown_src} -> {shown_dst}: interrupted move completed"


def _repair_remove(conn: sqlite3.Connection, entry: Entry, path: Path) -> str:
    """An undo removing an organise copy was interrupted: did the copy go?"""
    if os.path.lexists(path):
        set_failed(conn, entry.id, "interrupted before the removal")
        return f"{display_path(path)}: interrupted before removing the copy (kept)"
    with transaction(conn):
        store_files.record_removed(conn, path)
        set_done(conn, entry.id)
    return f"{display_path(path)}: interrupted after removing the copy (completed)"

