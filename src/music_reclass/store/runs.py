"""Runs: every classify, tag, organise, undo (and later learn, plex) job, with its status.

A run row is written when the job starts (status ``running``) and settled when it ends
(``done``, ``failed``, ``interrupted``), with the counts it reported in ``summary``:
later runs never erase them. Act runs record their process id and start time in
``params`` so that a crashed run is recognised and its journal settled.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from music_reclass.store.db import transaction, utcnow

__all__ = ["RunRow", "finish_run", "get_run", "list_runs", "running_runs", "start_run"]


@dataclass(frozen=True)
class RunRow:
    """One run as stored."""

    id: int
    kind: str
    started_at: str
    finished_at: str | None
    status: str
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRow:
        return cls(
            id=int(row["id"]),
            kind=row["kind"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            status=row["status"],
            params=_json(row["params"]),
            summary=_json(row["summary"]),
        )


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def start_run(conn: sqlite3.Connection, kind: str, params: dict[str, Any]) -> int:
    """Record the start of a run of ``kind`` (its own transaction) and return its id."""
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO runs (kind, started_at, params) VALUES (?, ?, ?)",
            (kind, utcnow(), json.dumps(params, sort_keys=True, default=str)),
        )
    return int(cur.lastrowid)


def finish_run(conn: sqlite3.Connection, run_id: int, status: str = "done",
               summary: dict[str, Any] | None = None) -> None:
    """Settle a run (its own transaction): status, end time and the counts it reported.

    The run's content claims (:mod:`~music_reclass.store.claims`) go with it."""
    with transaction(conn):
        conn.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))
        conn.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = coalesce(?, summary)"
            " WHERE id = ?",
            (utcnow(), status, None if summary is None else json.dumps(summary, default=str),
             run_id),
        )


def get_run(conn: sqlite3.Connection, run_id: int) -> RunRow | None:
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else RunRow.from_row(row)


def running_runs(conn: sqlite3.Connection, kinds: tuple[str, ...]) -> list[RunRow]:
    """Runs of these kinds still marked ``running`` (alive, or crashed and not yet settled)."""
    marks = ", ".join("?" * len(kinds))
    rows = conn.execute(
        f"SELECT * FROM runs WHERE status = 'running' AND kind IN ({marks}) ORDER BY id", kinds
    )
    return [RunRow.from_row(row) for row in rows]


def list_runs(conn: sqlite3.Connection, *, limit: int | None = None,
              kinds: tuple[str, ...] | None = None) -> list[RunRow]:
    """Run history, newest first."""
    sql, args = "SELECT * FROM runs", []
    if kinds:
        sql += f" WHERE kind IN ({', '.join('?' * len(kinds))})"
        args += list(kinds)
    sql += " ORDER BY id DESC"
    if limit:
        sql += " LIMIT ?"
        args.append(limit)
    return [RunRow.from_row(row) for row in conn.execute(sql, args)]
