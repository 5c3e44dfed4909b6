"""The journal's rows: every change made to a user's files, with what undo needs.

A row is written ``planned`` (committed) BEFORE its file changes and becomes ``done``
in the transaction that records the change, or ``failed`` with the reason; undo marks
it ``undone``. The logic around these rows (write-ahead discipline, settlement of rows
whose outcome was not recorded, undo) is in :mod:`music_reclass.act.journal`; this
module holds their SQL only.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from music_reclass.errors import ParameterError
from music_reclass.store.db import path_from_db, path_to_db, transaction, utcnow

__all__ = [
    "ACTIONS",
    "FILE_ACTIONS",
    "Entry",
    "entries",
    "get_entry",
    "insert_planned",
    "latest_undoable_run",
    "later_moves",
    "mark_undone",
    "planned_entries",
    "retarget",
    "runs_with_planned",
    "set_done",
    "set_failed",
    "set_planned_after",
]

#: Journal actions on files: "remove" is undo deleting an organise copy (no new_path).
FILE_ACTIONS = ("tag", "move", "copy", "remove")
#: Every journal action: the file ones, and "plex-genre" (a Plex item's genres and lock;
#: ``path`` is ``plex://<server>/library/metadata/<key>``), settled and undone by
#: :mod:`music_reclass.plex`, never by the file settlement.
ACTIONS = (*FILE_ACTIONS, "plex-genre")


@dataclass
class Entry:
    """One journal row."""

    id: int
    run_id: int
    action: str
    path: str
    new_path: str | None
    before: dict | None
    after: dict | None
    audio_digest: str | None
    state: str
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            action=row["action"],
            path=path_from_db(row["path"]),
            new_path=None if row["new_path"] is None else path_from_db(row["new_path"]),
            before=json.loads(row["before"]) if row["before"] else None,
            after=json.loads(row["after"]) if row["after"] else None,
            audio_digest=row["audio_digest"],
            state=row["state"],
            error=row["error"],
        )


def _db_text(text: str) -> str:
    """``text`` (an error message that may quote an undecodable file name) as valid UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def insert_planned(
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
    """Commit a ``planned`` row (its own transaction); returns its id."""
    if action not in ACTIONS:
        raise ParameterError(f"unknown journal action {action!r}")
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO journal (run_id, action, path, new_path, before, after, audio_digest,"
            " state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
            (
                run_id,
                action,
                path_to_db(path),
                None if new_path is None else path_to_db(new_path),
                None if before is None else json.dumps(before),
                None if after is None else json.dumps(after),
                digest,
                utcnow(),
            ),
        )
    return int(cur.lastrowid)


def set_done(conn: sqlite3.Connection, entry_id: int, *, after: dict | None = None) -> None:
    """Mark a row done (call inside the transaction that records the change)."""
    if after is None:
        conn.execute("UPDATE journal SET state = 'done' WHERE id = ?", (entry_id,))
    else:
        conn.execute(
            "UPDATE journal SET state = 'done', after = ? WHERE id = ?",
            (json.dumps(after), entry_id),
        )


def set_planned_after(conn: sqlite3.Connection, entry_id: int, after: dict) -> None:
    """Complete a planned row's after-state just before the change (its own transaction):
    e.g. the SHA-256 the file will have, so that settlement and undo recognise it."""
    with transaction(conn):
        conn.execute(
            "UPDATE journal SET after = ? WHERE id = ? AND state = 'planned'",
            (json.dumps(after), entry_id),
        )


def set_failed(conn: sqlite3.Connection, entry_id: int, error: str) -> None:
    """Mark a row failed with the reason (its own transaction)."""
    with transaction(conn):
        conn.execute(
            "UPDATE journal SET state = 'failed', error = ? WHERE id = ?",
            (_db_text(error), entry_id),
        )


def retarget(conn: sqlite3.Connection, entry_id: int, new_path: str | os.PathLike) -> None:
    """A planned move's target name was taken meanwhile: record the new one (own transaction)."""
    with transaction(conn):
        conn.execute(
            "UPDATE journal SET new_path = ? WHERE id = ?", (path_to_db(new_path), entry_id)
        )


def mark_undone(conn: sqlite3.Connection, entry_id: int) -> None:
    """Mark a row undone (call inside the transaction that records the undo)."""
    conn.execute(
        "UPDATE journal SET state = 'undone', undone_at = ? WHERE id = ?", (utcnow(), entry_id)
    )


def entries(conn: sqlite3.Connection, run_id: int) -> list[Entry]:
    """The rows of one run, oldest first."""
    rows = conn.execute("SELECT * FROM journal WHERE run_id = ? ORDER BY id", (run_id,))
    return [Entry.from_row(r) for r in rows]


def get_entry(conn: sqlite3.Connection, entry_id: int) -> Entry | None:
    row = conn.execute("SELECT * FROM journal WHERE id = ?", (entry_id,)).fetchone()
    return None if row is None else Entry.from_row(row)


def planned_entries(conn: sqlite3.Connection,
                    actions: tuple[str, ...] | None = None) -> list[Entry]:
    """Every row still ``planned`` (of these ``actions``), whatever its run's status,
    oldest first."""
    sql, args = "SELECT * FROM journal WHERE state = 'planned'", ()
    if actions is not None:
        sql += f" AND action IN ({', '.join('?' * len(actions))})"
        args = tuple(actions)
    rows = conn.execute(sql + " ORDER BY id", args)
    return [Entry.from_row(r) for r in rows]


def runs_with_planned(conn: sqlite3.Connection, kinds: tuple[str, ...]) -> list[int]:
    """The runs of ``kinds`` that still have ``planned`` rows, oldest first."""
    marks = ", ".join("?" * len(kinds))
    rows = conn.execute(
        f"SELECT r.id FROM runs r WHERE r.kind IN ({marks}) AND EXISTS"
        " (SELECT 1 FROM journal j WHERE j.run_id = r.id AND j.state = 'planned')"
        " ORDER BY r.id",
        kinds,
    )
    return [int(row[0]) for row in rows]


def latest_undoable_run(conn: sqlite3.Connection, kinds: tuple[str, ...]) -> int | None:
    """The newest run of ``kinds`` with ``done`` rows not yet undone."""
    marks = ", ".join("?" * len(kinds))
    row = conn.execute(
        f"SELECT r.id FROM runs r WHERE r.kind IN ({marks}) AND EXISTS"
        " (SELECT 1 FROM journal j WHERE j.run_id = r.id AND j.state = 'done')"
        " ORDER BY r.id DESC LIMIT 1",
        kinds,
    ).fetchone()
    return None if row is None else int(row[0])


def later_moves(conn: sqlite3.Connection, entry_id: int) -> Iterator[tuple[str, str]]:
    """``(from, to)`` of the done moves journalled after ``entry_id``, oldest first."""
    for row in conn.execute(
        "SELECT path, new_path FROM journal WHERE id > ? AND action = 'move' AND state = 'done'"
        " ORDER BY id",
        (entry_id,),
    ):
        yield path_from_db(row["path"]), path_from_db(row["new_path"])
