"""The models a library has used, their short names, and the library's settings.

Every classify run registers its model here (``model_id``, a short name, where it came
from). The library's *active model*, the one that ``list``, ``tag``, ``organise`` and the
web UI show, is a setting: results of different models never mix in one view.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from music_reclass.store.db import transaction, utcnow

__all__ = ["ModelRow", "find_models", "get_setting", "list_models", "register_model",
           "set_setting"]


@dataclass(frozen=True)
class ModelRow:
    """A model as the library knows it."""

    model_id: str
    name: str
    kind: str
    source: str | None
    info: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    analyses: int = 0


def _model(row: sqlite3.Row, analyses: int = 0) -> ModelRow:
    return ModelRow(row["model_id"], row["name"], row["kind"], row["source"],
                    json.loads(row["info"] or "{}"), row["created_at"], analyses)


def register_model(conn: sqlite3.Connection, model_id: str, *, name: str, kind: str,
                   source: str | None, info: dict[str, Any] | None = None) -> None:
    """Record a model (its own transaction); a known model id keeps its first name."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO models (model_id, name, kind, source, info, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(model_id) DO UPDATE SET"
            " source = excluded.source, info = excluded.info",
            (model_id, name, kind, source, json.dumps(info or {}, default=str), utcnow()),
        )


def list_models(conn: sqlite3.Connection) -> list[ModelRow]:
    """Every registered model with its number of analyses, newest first."""
    counts = dict(conn.execute("SELECT model_id, count(*) FROM analyses GROUP BY model_id"))
    rows = conn.execute("SELECT * FROM models ORDER BY created_at DESC, rowid DESC")
    return [_model(row, int(counts.get(row["model_id"], 0))) for row in rows]


def find_models(conn: sqlite3.Connection, name: str) -> list[ModelRow]:
    """Models whose short name, or id, is ``name`` (or whose id starts with it)."""
    rows = conn.execute(
        "SELECT * FROM models WHERE name = ? OR model_id = ? ORDER BY created_at DESC, rowid DESC",
        (name, name),
    ).fetchall()
    if not rows:
        rows = conn.execute(
            "SELECT * FROM models WHERE substr(model_id, 1, ?) = ?"
            " ORDER BY created_at DESC, rowid DESC",
            (len(name), name),
        ).fetchall()
    return [_model(row) for row in rows]


def get_setting(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return default if row is None else json.loads(row[0])


def set_setting(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """Write a setting (its own transaction); None removes it."""
    with transaction(conn):
        if value is None:
            conn.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                " SET value = excluded.value",
                (key, json.dumps(value)),
            )
