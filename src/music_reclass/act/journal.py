"""The journal of changes to a user's files: the write-ahead discipline.

Write-ahead discipline
    Every change is first recorded as a ``planned`` journal row (committed) with
    everything undo needs (the before-state, the audio digest), then the file is
    changed (atomically, see :mod:`~music_reclass.act.safe_write`), then the
    row becomes ``done`` in the same transaction that updates the ``files`` rows.
    So after a crash (kill -9, power loss) every changed file has a journal row.

Settlement after a crash is in :mod:`~music_reclass.act.settle`, undo in
:mod:`~music_reclass.act.undo`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from music_reclass.act import safe_write
from music_reclass.act.tagio import genre_state, genres_of_state
from music_reclass.audio.hashing import content_hash
from music_reclass.errors import DatabaseError, TagError
from music_reclass.process import process_start_time
from music_reclass.store import files as store_files
from music_reclass.store import journal as rows
from music_reclass.store import runs as store_runs
from music_reclass.store.db import database_file

__all__ = ["ACT_KINDS", "UNDOABLE_KINDS", "end_act_run", "ended_run", "genres_match", "plan",
           "record_retag",
           "same_inode", "start_act_run", "tag_state_matches", "unwrap_state"]

#: The run kinds ``undo`` reverts: tag and organise here; ``plex-push`` through the
#: handler :mod:`music_reclass.plex` registers (:func:`~music_reclass.act.undo.register_undo_handler`).
UNDOABLE_KINDS = ("tag", "organise", "plex-push")
#: The run kinds whose crashed runs repair settles from the files (never a classify run:
#: it has no journal; nor a Plex run: its rows are settled from the server).
ACT_KINDS = ("tag", "organise", "undo")

#: Runs this process ended but whose end the database could not record (full, locked):
#: (database file, run id) -> (status, summary). Settlement treats them as ended
#: although our pid lives.
_ENDED: dict[tuple[str | None, int], tuple[str, dict[str, Any]]] = {}


# ----------------------------------------------------------------------------- runs


def start_act_run(conn: sqlite3.Connection, kind: str, params: dict) -> int:
    """Start a run, recording our pid and its start time so that repair knows when it died."""
    pid = os.getpid()
    owner = {"pid": pid, "pid_start": process_start_time(pid)}
    return store_runs.start_run(conn, kind, {**params, **owner})


def end_act_run(conn: sqlite3.Connection, run_id: int, status: str,
                summary: dict[str, Any]) -> str | None:
    """Record the end of a run; None, or why the database could not record it.

    A run whose end cannot be recorded stays ``running`` in the database; this process
    remembers it as ended, so that the next command here (or anywhere, once this
    process is gone) settles it.
    """
    key = (database_file(conn), run_id)
    try:
        store_runs.finish_run(conn, run_id, status, summary)
    except DatabaseError as exc:
        _ENDED[key] = (status, summary)
        return str(exc)
    _ENDED.pop(key, None)
    return None


def ended_run(conn: sqlite3.Connection, run_id: int) -> tuple[str, dict[str, Any]] | None:
    """``(status, summary)`` of a run this process ended without recording it, or None."""
    return _ENDED.get((database_file(conn), run_id))


# ----------------------------------------------------------------------------- rows


def plan(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    action: str,
    path: str | os.PathLike,
    new_path: str | os.PathLike | None = None,
    before: dict | None = None,
    after: dict | None = None,
    digest: str | None = None,
) -> int:
    """Commit a ``planned`` row BEFORE the file changes; returns its id."""
    entry_id = rows.insert_planned(conn, run_id, action=action, path=path, new_path=new_path,
                                   before=before, after=after, digest=digest)
    safe_write.fault_point("planned")
    return entry_id


# ----------------------------------------------------------------------------- DB bookkeeping


def record_retag(
    conn: sqlite3.Connection,
    path: Path,
    *,
    old_hash: str | None,
    run_id: int | None,
    genres: list[str] | None = None,
) -> str:
    """After a tag write: the file's new hash; analyses and vectors follow the content.

    Call inside a transaction. Returns the new content hash.
    """
    new_hash = content_hash(path)
    store_files.record_retagged(conn, path, new_hash, old_hash=old_hash, run_id=run_id,
                                genres=genres)
    return new_hash


# ----------------------------------------------------------------------------- state checks


def tag_state_matches(path: Path, wanted: dict) -> bool:
    """Does ``path``'s genre state match ``wanted`` (a full state or ``{"genres": [...]}``)?"""
    if not wanted:
        return False
    try:
        current = genre_state(path)
    except TagError:
        return False
    if "scheme" in wanted:
        return current == wanted
    return genres_of_state(current) == wanted.get("genres")


def genres_match(path: Path, recorded: dict | None) -> bool:
    """Are ``path``'s genres those of a journalled state (``{"state": ...}``, a state,
    or ``{"genres": [...]}``)? Only the genre values count: the owner may have changed
    anything else since."""
    if not recorded:
        return False
    if "genres" in recorded:
        wanted = recorded["genres"]
    else:
        state = unwrap_state(recorded)
        if "scheme" not in state:
            return False
        wanted = genres_of_state(state)
    try:
        return genres_of_state(genre_state(path)) == wanted
    except TagError:
        return False


def unwrap_state(state: dict) -> dict:
    """A tag-run ``before`` is ``{"state": ..., "exact": ...}``; the state itself."""
    return state.get("state", state)


def same_inode(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
