"""Files and tracks: what the library knows about each path and each content.

``files`` has one row per path seen (its latest outcome); ``tracks`` one row per
distinct content (its duration, format and the tags found in it), so a renamed or
copied file is recognised by its content hash and not analysed again.

Every function that records a file's outcome does it in ONE transaction, so a run
killed at any instant leaves each file either fully recorded (track, file, analysis,
vectors) or not at all, and the next run resumes from what was committed.

Paths are stored absolute through :func:`~music_reclass.store.db.path_to_db` (text,
or raw bytes for a name that is not UTF-8); every function here takes and returns
``str`` paths.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.store.analyses import AnalysisRecord, copy_analyses, put_analysis
from music_reclass.store.db import path_from_db, path_to_db, transaction, utcnow
from music_reclass.store.vectors import copy_vectors, put_vectors

__all__ = [
    "FileRow",
    "StoredOutcome",
    "known_file",
    "lookup_file",
    "record_file",
    "record_moved",
    "record_removed",
    "record_retagged",
    "track_duration",
]


@dataclass(frozen=True)
class FileRow:
    """What the ``files`` table knows about one path."""

    path: str
    content_hash: str | None
    size: int | None
    mtime_ns: int | None
    status: str
    inode: int | None = None


@dataclass(frozen=True)
class StoredOutcome:
    """The outcome of one file, ready for :func:`record_file`.

    ``status`` is the file's status (``ok`` or ``error``); ``track`` holds the
    ``tracks`` columns when known (duration, sample_rate, channels, codec, and
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
    inode: int | None = None


def under_clause(under: str, args: dict[str, Any], column: str = "f.path") -> str:
    """SQL matching ``column`` equal to or below the folder ``under`` (named parameters
    added to ``args``); uses the index on paths for text paths."""
    prefix = under.rstrip("/")
    args["under"] = path_to_db(prefix)
    args["under_lo"] = prefix + "/"
    args["under_hi"] = prefix + "0"  # "/" + 1: every path below "prefix/" sorts before it
    args["under_blob"] = os.fsencode(prefix + "/")
    args["under_blob_len"] = len(args["under_blob"])
    return (f"({column} = :under OR ({column} >= :under_lo AND {column} < :under_hi)"
            f" OR (typeof({column}) = 'blob' AND substr({column}, 1, :under_blob_len)"
            " = :under_blob))")


def known_files_under(conn: sqlite3.Connection, roots: Sequence[str]) -> dict[str, FileRow]:
    """Every recorded file (with a content hash) at or below ``roots``, by path: one query
    per root, so a rescan checks each file against memory, not the database."""
    known: dict[str, FileRow] = {}
    for root in roots:
        args: dict[str, Any] = {}
        rows = conn.execute(
            "SELECT path, content_hash, size, mtime_ns, status, inode FROM files"
            f" WHERE content_hash IS NOT NULL AND {under_clause(root, args, 'path')}", args)
        for row in rows:
            path = path_from_db(row[0])
            known[path] = FileRow(path, row[1], row[2], row[3], row[4], row[5])
    return known


def touch_files(conn: sqlite3.Connection, paths: Sequence[str], run_id: int | None) -> None:
    """Mark unchanged files as seen by a run, in one transaction (a rescan writes nothing
    else for them)."""
    now = utcnow()
    with transaction(conn):
        conn.executemany("UPDATE files SET last_seen = ?, last_run_id = ? WHERE path = ?",
                         [(now, run_id, path_to_db(path)) for path in paths])


def lookup_file(conn: sqlite3.Connection, path: str | os.PathLike) -> FileRow | None:
    """The ``files`` row of ``path`` (absolute, resolved), or None."""
    row = conn.execute(
        "SELECT path, content_hash, size, mtime_ns, status, inode FROM files WHERE path = ?",
        (path_to_db(path),),
    ).fetchone()
    if row is None:
        return None
    return FileRow(path_from_db(row[0]), row[1], row[2], row[3], row[4], row[5])


def known_file(conn: sqlite3.Connection, path: str | os.PathLike,
               stat: os.stat_result) -> str | None:
    """The stored content hash of ``path`` when size, mtime and inode still match, else None.

    An unchanged file is recognised without reading a byte of it.
    """
    row = lookup_file(conn, path)
    if row is None or row.content_hash is None:
        return None
    if row.size != stat.st_size or row.mtime_ns != stat.st_mtime_ns:
        return None
    if row.inode is not None and row.inode != stat.st_ino:
        return None
    return row.content_hash


def track_duration(conn: sqlite3.Connection, content_hash: str) -> float | None:
    row = conn.execute(
        "SELECT duration FROM tracks WHERE content_hash = ?", (content_hash,)
    ).fetchone()
    return None if row is None else row[0]


def _upsert_track(conn: sqlite3.Connection, content_hash: str,
                  track: Mapping[str, Any] | None) -> None:
    conn.execute("INSERT OR IGNORE INTO tracks (content_hash) VALUES (?)", (content_hash,))
    if not track:
        return
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
            None if genre_tags is None else json.dumps(list(genre_tags), ensure_ascii=False),
            content_hash,
        ),
    )


def _upsert_file(conn: sqlite3.Connection, outcome: StoredOutcome, run_id: int | None) -> None:
    now = utcnow()
    conn.execute(
        "INSERT INTO files (path, content_hash, size, mtime_ns, inode, first_seen, last_seen,"
        " status, error_code, error, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(path) DO UPDATE SET content_hash = excluded.content_hash,"
        " size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,"
        " last_seen = excluded.last_seen, status = excluded.status,"
        " error_code = excluded.error_code, error = excluded.error,"
        " last_run_id = excluded.last_run_id",
        (path_to_db(outcome.path), outcome.content_hash, outcome.size, outcome.mtime_ns,
         outcome.inode, now, now, outcome.status, outcome.error_code, outcome.error, run_id),
    )


def _stale(conn: sqlite3.Connection, outcome: StoredOutcome) -> bool:
    """Would ``outcome`` overwrite a row that describes the file as it is now with one
    that does not? That happens when the file changed while a run analysed it (``tag``
    rewrote it during ``classify --force``): the run's hash is of the old bytes, and
    writing it would make the next ``tag`` skip the file as "changed since it was
    analysed". The content's analysis is still stored (it is keyed by that content)."""
    if outcome.size is None or outcome.mtime_ns is None:
        return False
    try:
        st = os.stat(outcome.path)
    except OSError:
        return False
    now = (st.st_size, st.st_mtime_ns, st.st_ino)
    if now == (outcome.size, outcome.mtime_ns, outcome.inode or st.st_ino):
        return False
    row = lookup_file(conn, outcome.path)
    return row is not None and (row.size, row.mtime_ns, row.inode or st.st_ino) == now


def record_file(
    conn: sqlite3.Connection,
    outcome: StoredOutcome,
    *,
    run_id: int | None,
    analysis: AnalysisRecord | None = None,
    vectors: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    vector_dtype: str | Mapping[str, str] = "float16",
) -> None:
    """Record one file's outcome, its track, analysis and vectors in one transaction.

    The ``files`` row is not written when the file changed since the run read it and
    the row already describes its new bytes (see :func:`_stale`).

    Parameters
    ----------
    outcome : StoredOutcome
        The file row to upsert (by path).
    run_id : int or None
        The run that saw the file.
    analysis : AnalysisRecord, optional
        Written (replaced) for ``outcome.content_hash`` when given.
    vectors : mapping of space name to {vector name: array}, optional
        Track-level vectors to store for the content.
    vector_dtype : {"float16", "float32"} or mapping of space name to it
        How they are stored (see :func:`~music_reclass.store.vectors.put_vectors`); a
        mapping for a model whose vectors span several spaces (learnt embeddings and
        handcrafted features), float16 for a space it does not name.
    """
    with transaction(conn):
        if outcome.content_hash is not None:
            _upsert_track(conn, outcome.content_hash, outcome.track)
        if outcome.content_hash is None or not _stale(conn, outcome):
            _upsert_file(conn, outcome, run_id)
        if outcome.content_hash is None:
            return
        if analysis is not None:
            put_analysis(conn, outcome.content_hash, analysis, run_id=run_id)
        for space, arrays in (vectors or {}).items():
            dtype = (vector_dtype if isinstance(vector_dtype, str)
                     else vector_dtype.get(space, "float16"))
            put_vectors(conn, outcome.content_hash, space, arrays, dtype=dtype)


# ----------------------------------------------------------------------------- acting on files


def record_retagged(
    conn: sqlite3.Connection,
    path: Path,
    new_hash: str,
    *,
    old_hash: str | None,
    run_id: int | None,
    genres: list[str] | None = None,
) -> None:
    """After a tag write: the file's new hash, size and mtime; analyses and vectors follow
    the content (same audio). Call inside a transaction."""
    st = path.stat()
    if old_hash and old_hash != new_hash:
        conn.execute(
            "INSERT OR IGNORE INTO tracks (content_hash, duration, sample_rate, channels, codec,"
            " title, artist, album, genre_tags) SELECT ?, duration, sample_rate, channels, codec,"
            " title, artist, album, genre_tags FROM tracks WHERE content_hash = ?",
            (new_hash, old_hash),
        )
        copy_analyses(conn, old_hash, new_hash)
        copy_vectors(conn, old_hash, new_hash)
    conn.execute("INSERT OR IGNORE INTO tracks (content_hash) VALUES (?)", (new_hash,))
    if genres is not None:
        conn.execute(
            "UPDATE tracks SET genre_tags = ? WHERE content_hash = ?",
            (json.dumps(genres, ensure_ascii=False), new_hash),
        )
    conn.execute(
        "UPDATE files SET content_hash = ?, size = ?, mtime_ns = ?, inode = ?, last_seen = ?,"
        " last_run_id = ? WHERE path = ?",
        (new_hash, st.st_size, st.st_mtime_ns, st.st_ino, utcnow(), run_id, path_to_db(path)),
    )


def record_moved(conn: sqlite3.Connection, src: Path, dst: Path, *, copy: bool,
                 run_id: int | None) -> None:
    """After a move or copy: the files row follows the file (or is duplicated).
    Call inside a transaction."""
    st = dst.stat()
    if copy:
        conn.execute(
            "INSERT OR REPLACE INTO files (path, content_hash, size, mtime_ns, inode, first_seen,"
            " last_seen, status, error_code, error, last_run_id) SELECT ?, content_hash, size,"
            " ?, ?, ?, ?, status, error_code, error, ? FROM files WHERE path = ?",
            (path_to_db(dst), st.st_mtime_ns, st.st_ino, utcnow(), utcnow(), run_id,
             path_to_db(src)),
        )
    else:
        conn.execute("DELETE FROM files WHERE path = ?", (path_to_db(dst),))
        conn.execute(
            "UPDATE files SET path = ?, inode = ?, last_seen = ?, last_run_id = ? WHERE path = ?",
            (path_to_db(dst), st.st_ino, utcnow(), run_id, path_to_db(src)),
        )


def record_removed(conn: sqlite3.Connection, path: Path) -> None:
    """The file at ``path`` is gone (an organise copy removed by undo). In a transaction."""
    conn.execute("DELETE FROM files WHERE path = ?", (path_to_db(path),))


def content_hash_of(conn: sqlite3.Connection, path: str | os.PathLike) -> str | None:
    """The content hash stored for ``path``, or None."""
    row = lookup_file(conn, path)
    return None if row is None else row.content_hash


def forget_file(conn: sqlite3.Connection, path: str | os.PathLike) -> None:
    """Remove a path from the library (it is gone from disk). Call inside a transaction."""
    conn.execute("DELETE FROM files WHERE path = ?", (path_to_db(path),))


def forget_orphans(conn: sqlite3.Connection) -> None:
    """Drop the tracks, analyses and vectors of contents no file has any more (after a
    prune, or the old bytes of re-tagged files). Call inside a transaction."""
    for table in ("vectors", "analyses", "tracks"):
        conn.execute(
            f"DELETE FROM {table} WHERE content_hash NOT IN"
            " (SELECT content_hash FROM files WHERE content_hash IS NOT NULL)"
        )
