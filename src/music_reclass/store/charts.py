"""Aggregates for the charts of the web UI: confidence histogram, genres before and after,
and a track's correction history.

Every figure is computed by SQLite over one model's analyses, so the charts cost one
query each at any library size.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from music_reclass.store.corrections import Correction

__all__ = ["confidence_histogram", "correction_history", "decided_genre_counts",
           "tag_genre_counts"]


def confidence_histogram(conn: sqlite3.Connection, model_id: str, *,
                         bins: int = 10) -> list[dict[str, Any]]:
    """Files per top-genre confidence bin, split into decided and abstained.

    Returns ``bins`` dicts ``{"lo", "hi", "decided", "abstained"}`` covering [0, 1]; a
    confidence of exactly 1 falls in the last bin.
    """
    counts = [[0, 0] for _ in range(bins)]
    rows = conn.execute(
        "SELECT min(CAST(a.top_confidence * :bins AS INTEGER), :bins - 1) AS bin,"
        " a.decided IS NOT NULL AS decided, count(*) FROM files f"
        " JOIN analyses a ON a.content_hash = f.content_hash AND a.model_id = :model"
        " WHERE a.status = 'ok' AND a.top_confidence IS NOT NULL GROUP BY bin, decided",
        {"bins": bins, "model": model_id},
    )
    for index, decided, n in rows:
        counts[max(0, int(index))][0 if decided else 1] += int(n)
    return [{"lo": i / bins, "hi": (i + 1) / bins, "decided": d, "abstained": a}
            for i, (d, a) in enumerate(counts)]


def tag_genre_counts(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """``(genre, files)`` of the genre tags found in the library's files, most first.

    Spellings that differ only in case are counted together under the most common one.
    """
    rows = conn.execute(
        "SELECT j.value, count(*) FROM files f JOIN tracks t ON t.content_hash = f.content_hash"
        " JOIN json_each(t.genre_tags) j WHERE f.status = 'ok' AND t.genre_tags IS NOT NULL"
        " AND t.genre_tags <> '[]' GROUP BY j.value"
    )
    merged: dict[str, list[Any]] = {}
    for value, n in rows:
        name = " ".join(str(value).split())
        if not name:
            continue
        entry = merged.setdefault(name.casefold(), [name, 0, 0])
        if int(n) > entry[2]:  # the most used spelling names the group
            entry[0], entry[2] = name, int(n)
        entry[1] += int(n)
    return sorted(((name, total) for name, total, _ in merged.values()),
                  key=lambda item: (-item[1], item[0].casefold()))


def decided_genre_counts(conn: sqlite3.Connection, model_id: str) -> list[tuple[str, int]]:
    """``(genre, files)`` of what the library would write: the owner's active correction
    of a track, else the model's decision (abstentions count nowhere); most first."""
    rows = conn.execute(
        "SELECT j.value, count(*) FROM files f"
        " JOIN analyses a ON a.content_hash = f.content_hash AND a.model_id = ?"
        " JOIN json_each(coalesce((SELECT coalesce(c.labels, json_array(c.label))"
        "  FROM corrections c WHERE c.content_hash = f.content_hash AND c.state = 'active'"
        "  ORDER BY c.id DESC LIMIT 1), a.decided)) j"
        " WHERE f.status = 'ok' AND a.status = 'ok' GROUP BY j.value", (model_id,))
    return sorted(((str(g), int(n)) for g, n in rows), key=lambda item: (-item[1], item[0]))


def correction_history(conn: sqlite3.Connection, content_hash: str) -> list[Correction]:
    """Every correction ever made on a content (active and withdrawn), newest first."""
    rows = conn.execute("SELECT * FROM corrections WHERE content_hash = ? ORDER BY id DESC",
                        (content_hash,))
    return [Correction.from_row(row) for row in rows]
