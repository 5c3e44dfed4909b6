"""Reading and writing the library database for classify runs and queries.

Every write helper here that records a file's outcome does it in ONE transaction
(:func:`music_reclass.library.db.transaction`), so a run killed at any instant leaves
each file either fully recorded (tracks + files + analyses + embeddings) or not at
all, and the next run resumes from what was committed.

Paths are stored absolute and resolved through :func:`music_reclass.library.db.path_to_db`:
TEXT when the name is valid UTF-8 (newlines and any unicode round-trip unchanged), else
the raw bytes as a BLOB (a name with undecodable bytes, held by Python as lone
surrogates, which SQLite cannot bind as text). Every function here takes and returns
``str`` paths; the conversion happens only at the SQL boundary.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from music_reclass.library.db import path_from_db, path_to_db, transaction, utcnow

__all__ = [
    "AnalysisRow",
    "FileRow",
    "StoredOutcome",
    "decode_embedding",
    "encode_embedding",
    "file_details",
    "find_analysis",
    "latest_analysis",
    "list_files",
    "list_runs",
    "lookup_file",
    "record_file",
]


@dataclass(frozen=True)
class FileRow:
    """What the ``files`` table knows about one path."""

    path: str
    content_hash: str | None
    size: int | None
    mtime_ns: int | None
    status: str


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


@dataclass(frozen=True)
class StoredOutcome:
    """The outcome of one file, ready for :func:`record_file`.

    ``status`` is the file's status in the DB (``ok`` or ``error``); ``track`` holds
    the ``tracks`` columns when known (duration, sample_rate, channels, codec, and
    optionally title, artist, album, genre_tags: a list of the genre tags in the file).
    """

    path: str
    status: str
    content_hash: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    error_code: str | None = None
    error: str | None = None
    track: Mapping[str, Any] | None = None


# ----------------------------------------------------------------------------- encoding


def encode_embedding(array: np.ndarray) -> tuple[str, str, bytes]:
    """``(dtype, shape JSON, bytes)`` of a float32 little-endian array."""
    data = np.ascontiguousarray(array, dtype="<f4")
    return "float32", json.dumps(list(data.shape)), data.tobytes()


def decode_embedding(dtype: str, shape: str, data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_embedding`."""
    if dtype != "float32":
        raise ValueError(f"unsupported embedding dtype {dtype!r}")
    return np.frombuffer(data, dtype="<f4").reshape(json.loads(shape)).copy()


def _records(pairs: Iterable[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"label": str(label), "confidence": round(float(conf), 6)} for label, conf in pairs]


def _loads(text: str | None) -> list[dict[str, Any]]:
    return json.loads(text) if text else []


# ----------------------------------------------------------------------------- reads


def lookup_file(conn: sqlite3.Connection, path: str | os.PathLike) -> FileRow | None:
    """The ``files`` row of ``path`` (absolute, resolved), or None."""
    row = conn.execute(
        "SELECT path, content_hash, size, mtime_ns, status FROM files WHERE path = ?",
        (path_to_db(path),),
    ).fetchone()
    if row is None:
        return None
    return FileRow(path_from_db(row["path"]), row["content_hash"], row["size"], row["mtime_ns"], row["status"])


def _analysis(row: sqlite3.Row | None) -> AnalysisRow | None:
    if row is None:
        return None
    return AnalysisRow(
        content_hash=row["content_hash"],
        model_id=row["model_id"],
        status=row["status"],
        error_code=row["error_code"],
        error=row["error"],
        genres=_loads(row["genres"]),
        tags=_loads(row["tags"]),
        analysed_seconds=row["analysed_seconds"],
        run_id=row["run_id"],
    )


def find_analysis(
    conn: sqlite3.Connection, content_hash: str, model_id: str
) -> AnalysisRow | None:
    """The stored outcome of ``model_id`` on ``content_hash``, or None."""
    return _analysis(
        conn.execute(
            "SELECT * FROM analyses WHERE content_hash = ? AND model_id = ?",
            (content_hash, model_id),
        ).fetchone()
    )


def latest_analysis(
    conn: sqlite3.Connection, content_hash: str, model_id: str | None = None
) -> AnalysisRow | None:
    """The newest analysis of a content (of ``model_id`` when given)."""
    if model_id is not None:
        return find_analysis(conn, content_hash, model_id)
    return _analysis(
        conn.execute(
            "SELECT * FROM analyses WHERE content_hash = ? ORDER BY id DESC LIMIT 1",
            (content_hash,),
        ).fetchone()
    )


# ----------------------------------------------------------------------------- writes


def record_file(
    conn: sqlite3.Connection,
    outcome: StoredOutcome,
    *,
    run_id: int,
    model_id: str | None = None,
    genres: Sequence[tuple[str, float]] | None = None,
    tags: Sequence[tuple[str, float]] | None = None,
    embeddings: Mapping[str, np.ndarray] | None = None,
    analysed_seconds: float | None = None,
    analysis_status: str | None = None,
) -> None:
    """Record one file's outcome, its track, analysis and embeddings in one transaction.

    Parameters
    ----------
    conn : sqlite3.Connection
    outcome : StoredOutcome
        The file row to upsert (by path).
    run_id : int
        The run that saw the file.
    model_id : str, optional
        With ``analysis_status``: write (replace) the ``analyses`` row of
        ``(outcome.content_hash, model_id)``, and the embeddings when given.
    genres, tags : sequence of (label, confidence), optional
        Best first.
    embeddings : mapping of str to np.ndarray, optional
        Track-level arrays, stored as float32 blobs.
    analysed_seconds : float, optional
    analysis_status : {"ok", "error"}, optional
        None: the file's analysis is not (re)written (a cached or undecodable-path outcome).
    """
    now = utcnow()
    with transaction(conn):
        if outcome.content_hash is not None:
            conn.execute(
                "INSERT OR IGNORE INTO tracks (content_hash) VALUES (?)", (outcome.content_hash,)
            )
            if outcome.track:
                track = outcome.track
                genre_tags = track.get("genre_tags")
                conn.execute(
                    "UPDATE tracks SET duration = ?, sample_rate = ?, channels = ?, codec = ?,"
                    " title = coalesce(?, title), artist = coalesce(?, artist),"
                    " album = coalesce(?, album), genre_tags = coalesce(?, genre_tags)"
                    " WHERE content_hash = ?",
                    (
                        track.get("duration"),
                        track.get("sample_rate"),
                        track.get("channels"),
                        track.get("codec"),
                        track.get("title"),
                        track.get("artist"),
                        track.get("album"),
                        None if genre_tags is None else json.dumps(list(genre_tags),
                                                                   ensure_ascii=False),
                        outcome.content_hash,
                    ),
                )
        conn.execute(
            "INSERT INTO files (path, content_hash, size, mtime_ns, first_seen, last_seen,"
            " status, error_code, error, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(path) DO UPDATE SET content_hash = excluded.content_hash,"
            " size = excluded.size, mtime_ns = excluded.mtime_ns, last_seen = excluded.last_seen,"
            " status = excluded.status, error_code = excluded.error_code,"
            " error = excluded.error, last_run_id = excluded.last_run_id",
            (
                path_to_db(outcome.path),
                outcome.content_hash,
                outcome.size,
                outcome.mtime_ns,
                now,
                now,
                outcome.status,
                outcome.error_code,
                outcome.error,
                run_id,
            ),
        )
        if analysis_status is None or outcome.content_hash is None or model_id is None:
            return
        conn.execute(
            "INSERT INTO analyses (content_hash, model_id, status, error_code, error, genres,"
            " tags, analysed_seconds, created_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(content_hash, model_id) DO UPDATE SET status = excluded.status,"
            " error_code = excluded.error_code, error = excluded.error,"
            " genres = excluded.genres, tags = excluded.tags,"
            " analysed_seconds = excluded.analysed_seconds, created_at = excluded.created_at,"
            " run_id = excluded.run_id",
            (
                outcome.content_hash,
                model_id,
                analysis_status,
                outcome.error_code if analysis_status == "error" else None,
                outcome.error if analysis_status == "error" else None,
                json.dumps(_records(genres or []), ensure_ascii=False),
                json.dumps(_records(tags or []), ensure_ascii=False),
                analysed_seconds,
                now,
                run_id,
            ),
        )
        # a re-analysis (--force, or ok after an error) replaces the old vectors entirely
        conn.execute(
            "DELETE FROM embeddings WHERE content_hash = ? AND model_id = ?",
            (outcome.content_hash, model_id),
        )
        conn.executemany(
            "INSERT INTO embeddings (content_hash, model_id, name, dtype, shape, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (outcome.content_hash, model_id, name, *encode_embedding(array))
                for name, array in sorted((embeddings or {}).items())
            ],
        )


# ----------------------------------------------------------------------------- queries


def list_files(
    conn: sqlite3.Connection,
    *,
    genre: str | None = None,
    status: str | None = None,
    model_id: str | None = None,
    under: str | None = None,
) -> list[dict[str, Any]]:
    """Every known file with its latest analysis, sorted by path.

    Parameters
    ----------
    genre : str, optional
        Keep files whose TOP genre is this one (case-insensitive).
    status : {"ok", "error"}, optional
        Keep files with this status.
    model_id : str, optional
        Use this model's analyses (default: each content's newest one).
    under : str, optional
        Keep paths equal to or below this absolute path.

    Returns
    -------
    list of dict
        ``path, status, error_code, error, content_hash, duration, model_id,
        genres, tags, genre_tags``.
    """
    where, params = [], []
    if status is not None:
        where.append("f.status = ?")
        params.append(status)
    sql = (
        "SELECT f.path, f.status, f.error_code, f.error, f.content_hash, t.duration,"
        " t.genre_tags FROM files f LEFT JOIN tracks t ON t.content_hash = f.content_hash"
        + (" WHERE " + " AND ".join(where) if where else "")
    )
    # Paths are TEXT or BLOB (undecodable names), which SQL neither compares nor sorts
    # together: filter and sort on the file-system bytes in Python instead.
    rows = [(os.fsencode(path_from_db(row["path"])), row) for row in conn.execute(sql, params)]
    if under is not None:
        under_bytes = os.fsencode(under)
        prefix = under_bytes.rstrip(b"/") + b"/"
        rows = [(key, row) for key, row in rows if key == under_bytes or key.startswith(prefix)]
    rows.sort(key=lambda item: item[0])
    results = []
    for _, row in rows:
        analysis = (
            latest_analysis(conn, row["content_hash"], model_id) if row["content_hash"] else None
        )
        genres = analysis.genres if analysis and analysis.status == "ok" else []
        if genre is not None and (not genres or genres[0]["label"].lower() != genre.lower()):
            continue
        results.append(
            {
                "path": path_from_db(row["path"]),
                "status": row["status"],
                "error_code": row["error_code"],
                "error": row["error"],
                "content_hash": row["content_hash"],
                "duration": row["duration"],
                "model_id": analysis.model_id if analysis else None,
                "genres": genres,
                "tags": analysis.tags if analysis else [],
                "genre_tags": json.loads(row["genre_tags"]) if row["genre_tags"] else [],
            }
        )
    return results


def file_details(conn: sqlite3.Connection, path: str | os.PathLike) -> dict[str, Any] | None:
    """Everything stored about one file (by absolute path), or None if unknown.

    Returns
    -------
    dict
        The ``files`` columns, ``track`` (the ``tracks`` row), ``analyses`` (every
        model's outcome, newest first, each with ``embeddings``: name -> shape) and
        ``run`` (the run that last saw the file), ``same_content`` (other paths with
        the same bytes).
    """
    db_path = path_to_db(path)
    row = conn.execute("SELECT * FROM files WHERE path = ?", (db_path,)).fetchone()
    if row is None:
        return None
    details: dict[str, Any] = _row_dict(row, drop="id")
    details["path"] = path_from_db(row["path"])
    chash = row["content_hash"]
    track = None
    analyses: list[dict[str, Any]] = []
    same: list[str] = []
    if chash:
        trow = conn.execute("SELECT * FROM tracks WHERE content_hash = ?", (chash,)).fetchone()
        if trow is not None:
            track = _row_dict(trow, drop="content_hash")
            track["genre_tags"] = json.loads(track["genre_tags"]) if track["genre_tags"] else []
        for arow in conn.execute(
            "SELECT * FROM analyses WHERE content_hash = ? ORDER BY id DESC", (chash,)
        ):
            analysis = _analysis(arow)
            assert analysis is not None
            shapes = {
                erow["name"]: json.loads(erow["shape"])
                for erow in conn.execute(
                    "SELECT name, shape FROM embeddings WHERE content_hash = ? AND model_id = ?"
                    " ORDER BY name",
                    (chash, analysis.model_id),
                )
            }
            analyses.append(
                {
                    "model_id": analysis.model_id,
                    "status": analysis.status,
                    "error_code": analysis.error_code,
                    "error": analysis.error,
                    "genres": analysis.genres,
                    "tags": analysis.tags,
                    "analysed_seconds": analysis.analysed_seconds,
                    "created_at": arow["created_at"],
                    "run_id": analysis.run_id,
                    "embeddings": shapes,
                }
            )
        same = sorted(
            (
                path_from_db(r[0])
                for r in conn.execute(
                    "SELECT path FROM files WHERE content_hash = ? AND path IS NOT ?",
                    (chash, db_path),
                )
            ),
            key=os.fsencode,
        )
    run = None
    if row["last_run_id"] is not None:
        rrow = conn.execute("SELECT * FROM runs WHERE id = ?", (row["last_run_id"],)).fetchone()
        if rrow is not None:
            run = _run_dict(rrow)
    details.update(track=track, analyses=analyses, run=run, same_content=same)
    return details


def _row_dict(row: sqlite3.Row, *, drop: str) -> dict[str, Any]:
    # sqlite3.Row iterates over values, not keys
    return {key: value for key, value in zip(row.keys(), row, strict=True) if key != drop}


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "status": row["status"],
        "params": json.loads(row["params"]) if row["params"] else {},
    }


def list_runs(conn: sqlite3.Connection, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Run history, newest first, each with the number of files it last saw by status."""
    sql = "SELECT * FROM runs ORDER BY id DESC" + (" LIMIT ?" if limit else "")
    runs = []
    for row in conn.execute(sql, (limit,) if limit else ()):
        run = _run_dict(row)
        counts = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM files WHERE last_run_id = ? GROUP BY status",
                (row["id"],),
            ).fetchall()
        )
        run["files"] = {str(k): int(v) for k, v in counts.items()}
        runs.append(run)
    return runs
