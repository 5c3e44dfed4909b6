"""One model's outcome on one content: genres, tags, the decision, or an error.

``model_id`` names the model and everything that changes its output (version,
taxonomy digest, calibration), so a new model never mixes with an old one. Genres and
tags are JSON lists ``[{"label", "confidence"}]`` best first; the top genre and its
confidence are copied into indexed columns for filters and sorts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from music_reclass.store.db import utcnow

__all__ = ["AnalysisRecord", "AnalysisRow", "copy_analyses", "find_analysis", "put_analysis"]


@dataclass(frozen=True)
class AnalysisRecord:
    """What a classify run stores for one (content, model)."""

    model_id: str
    status: str  # ok | error
    genres: Sequence[tuple[str, float]] = ()
    tags: Sequence[tuple[str, float]] = ()
    error_code: str | None = None
    error: str | None = None
    analysed_seconds: float | None = None
    decided: Sequence[str] | None = None  # None: abstained (or an error)
    abstain_reason: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class AnalysisRow:
    """One model's stored outcome on one content."""

    content_hash: str
    model_id: str
    status: str  # ok | error
    error_code: str | None
    error: str | None
    genres: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    analysed_seconds: float | None
    run_id: int | None
    decided: list[str] | None = None
    abstain_reason: str | None = None
    stage: str | None = None
    created_at: str | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AnalysisRow:
        return cls(
            content_hash=row["content_hash"],
            model_id=row["model_id"],
            status=row["status"],
            error_code=row["error_code"],
            error=row["error"],
            genres=_loads(row["genres"]),
            tags=_loads(row["tags"]),
            analysed_seconds=row["analysed_seconds"],
            run_id=row["run_id"],
            decided=None if row["decided"] is None else json.loads(row["decided"]),
            abstain_reason=row["abstain_reason"],
            stage=row["stage"],
            created_at=row["created_at"],
        )


def records(pairs: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """``[(label, confidence)]`` as the stored ``[{"label", "confidence"}]`` form."""
    return [{"label": str(label), "confidence": round(float(conf), 6)} for label, conf in pairs]


def _loads(text: str | None) -> list[dict[str, Any]]:
    return json.loads(text) if text else []


def find_analysis(
    conn: sqlite3.Connection, content_hash: str, model_id: str
) -> AnalysisRow | None:
    """The stored outcome of ``model_id`` on ``content_hash``, or None."""
    row = conn.execute(
        "SELECT * FROM analyses WHERE content_hash = ? AND model_id = ?", (content_hash, model_id)
    ).fetchone()
    return None if row is None else AnalysisRow.from_row(row)


def analysed_contents(conn: sqlite3.Connection, content_hashes: Sequence[str],
                      model_id: str) -> set[str]:
    """Which of ``content_hashes`` already have an analysis by ``model_id``."""
    found: set[str] = set()
    for start in range(0, len(content_hashes), 900):
        batch = list(content_hashes[start : start + 900])
        marks = ", ".join("?" * len(batch))
        found.update(
            row[0] for row in conn.execute(
                f"SELECT content_hash FROM analyses WHERE model_id = ? AND content_hash IN ({marks})",
                (model_id, *batch),
            )
        )
    return found


def put_analysis(
    conn: sqlite3.Connection, content_hash: str, record: AnalysisRecord, *, run_id: int | None
) -> None:
    """Write (replace) the analysis of ``(content_hash, record.model_id)``. In a transaction."""
    ok = record.status == "ok"
    genres = records(record.genres)
    top = genres[0] if ok and genres else None
    conn.execute(
        "INSERT INTO analyses (content_hash, model_id, status, error_code, error, genres, tags,"
        " analysed_seconds, created_at, run_id, top_genre, top_confidence, decided,"
        " abstain_reason, stage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(content_hash, model_id) DO UPDATE SET status = excluded.status,"
        " error_code = excluded.error_code, error = excluded.error, genres = excluded.genres,"
        " tags = excluded.tags, analysed_seconds = excluded.analysed_seconds,"
        " created_at = excluded.created_at, run_id = excluded.run_id,"
        " top_genre = excluded.top_genre, top_confidence = excluded.top_confidence,"
        " decided = excluded.decided, abstain_reason = excluded.abstain_reason,"
        " stage = excluded.stage",
        (
            content_hash,
            record.model_id,
            record.status,
            None if ok else record.error_code,
            None if ok else record.error,
            json.dumps(genres, ensure_ascii=False, separators=(",", ":")),
            json.dumps(records(record.tags), ensure_ascii=False, separators=(",", ":")),
            record.analysed_seconds,
            utcnow(),
            run_id,
            top["label"] if top else None,
            top["confidence"] if top else None,
            None if record.decided is None or not ok
            else json.dumps(list(record.decided), ensure_ascii=False),
            record.abstain_reason if ok else None,
            record.stage,
        ),
    )


def copy_analyses(conn: sqlite3.Connection, old_hash: str, new_hash: str) -> None:
    """Give ``new_hash`` the analyses of ``old_hash`` (same audio, new file bytes after a
    tag write). Call inside a transaction."""
    conn.execute(
        "INSERT OR IGNORE INTO analyses (content_hash, model_id, status, error_code, error,"
        " genres, tags, analysed_seconds, created_at, run_id, top_genre, top_confidence,"
        " decided, abstain_reason, stage) SELECT ?, model_id, status, error_code, error,"
        " genres, tags, analysed_seconds, created_at, run_id, top_genre, top_confidence,"
        " decided, abstain_reason, stage FROM analyses WHERE content_hash = ?",
        (new_hash, old_hash),
    )


def delete_analysis(conn: sqlite3.Connection, content_hash: str, model_id: str) -> None:
    conn.execute(
        "DELETE FROM analyses WHERE content_hash = ? AND model_id = ?", (content_hash, model_id)
    )
