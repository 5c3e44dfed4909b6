"""Corrections: the genres a person says a track has, with who, when and what it replaced.

A correction belongs to the content (a renamed or copied file keeps it) and to the run
that made it (``correct`` runs), so that ``undo`` can withdraw it. The newest active
correction of a content is the owner's word on it: it is a training label and what
``tag`` writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from music_reclass.store.db import path_from_db, path_to_db, utcnow

__all__ = ["Correction", "active_corrections", "add_correction", "correction_for",
           "corrections_of_run", "undo_corrections"]


@dataclass(frozen=True)
class Correction:
    """One correction as stored."""

    id: int
    content_hash: str
    labels: list[str]
    path: str | None
    source: str
    replaced: dict[str, Any] | None
    model_id: str | None
    run_id: int | None
    state: str
    created_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Correction:
        labels = json.loads(row["labels"]) if row["labels"] else [row["label"]]
        return cls(
            id=int(row["id"]), content_hash=row["content_hash"], labels=labels,
            path=None if row["path"] is None else path_from_db(row["path"]),
            source=row["source"], replaced=json.loads(row["replaced"]) if row["replaced"] else None,
            model_id=row["model_id"], run_id=row["run_id"], state=row["state"],
            created_at=row["created_at"],
        )


def add_correction(conn: sqlite3.Connection, content_hash: str, labels: Sequence[str], *,
                   path: str | os.PathLike | None, source: str, replaced: dict[str, Any] | None,
                   model_id: str | None, run_id: int | None) -> int:
    """Record a correction (call inside a transaction); returns its id."""
    cur = conn.execute(
        "INSERT INTO corrections (content_hash, label, labels, path, source, replaced, model_id,"
        " run_id, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
        (content_hash, labels[0], json.dumps(list(labels), ensure_ascii=False),
         None if path is None else path_to_db(path), source,
         None if replaced is None else json.dumps(replaced, ensure_ascii=False), model_id,
         run_id, utcnow()),
    )
    return int(cur.lastrowid)


def correction_for(conn: sqlite3.Connection, content_hash: str) -> Correction | None:
    """The newest active correction of a content, or None."""
    row = conn.execute(
        "SELECT * FROM corrections WHERE content_hash = ? AND state = 'active'"
        " ORDER BY id DESC LIMIT 1", (content_hash,)).fetchone()
    return None if row is None else Correction.from_row(row)


def active_corrections(conn: sqlite3.Connection) -> Iterator[Correction]:
    """The newest active correction of every corrected content."""
    rows = conn.execute(
        "SELECT c.* FROM corrections c JOIN (SELECT content_hash, max(id) AS id FROM corrections"
        " WHERE state = 'active' GROUP BY content_hash) latest ON latest.id = c.id ORDER BY c.id")
    for row in rows:
        yield Correction.from_row(row)


def corrections_of_run(conn: sqlite3.Connection, run_id: int) -> list[Correction]:
    rows = conn.execute("SELECT * FROM corrections WHERE run_id = ? ORDER BY id", (run_id,))
    return [Correction.from_row(row) for row in rows]


def undo_corrections(conn: sqlite3.Connection, run_id: int) -> int:
    """Withdraw the active corrections of a run (call inside a transaction); how many."""
    cur = conn.execute(
        "UPDATE corrections SET state = 'undone', undone_at = ? WHERE run_id = ? AND"
        " state = 'active'", (utcnow(), run_id))
    return int(cur.rowcount)
