"""What learning from a library reads: its tracks' tags, reclass's own tag writes, and
the stored embeddings of many tracks at once.

- :func:`library_tracks`: one row per content a file of the library holds (status ok),
  with the artist, album and genre tags read from it.
- :func:`tag_history`: the done journal rows of tag runs and the moves and copies of
  files, so that genres reclass wrote are never taken for the owner's.
- :func:`vector_matrix`: the vectors of many contents in one embedding space as one
  float32 matrix, in the order a feature extractor lays them out (bounded extra memory:
  read in batches straight into the matrix).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from music_reclass.errors import DatabaseError
from music_reclass.store.db import path_from_db

__all__ = ["JournalWrite", "TrackRow", "library_tracks", "tag_history", "vector_matrix"]

_BATCH = 900


@dataclass(frozen=True)
class TrackRow:
    """One content of the library, with one of its files and the tags read from it."""

    content_hash: str
    path: str
    artist: str | None
    album: str | None
    genre_tags: list[str]


@dataclass(frozen=True)
class JournalWrite:
    """A done journal row that wrote tags (``tag``) or moved a file (``move``/``copy``)."""

    id: int
    action: str
    path: str
    new_path: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def library_tracks(conn: sqlite3.Connection) -> Iterator[TrackRow]:
    """Every content a file of the library holds (first file by id), with its tags."""
    seen: set[str] = set()
    rows = conn.execute(
        "SELECT f.path, f.content_hash, t.artist, t.album, t.genre_tags FROM files f"
        " JOIN tracks t ON t.content_hash = f.content_hash WHERE f.status = 'ok'"
        " ORDER BY f.id")
    for path, content_hash, artist, album, genre_tags in rows:
        if content_hash in seen:
            continue
        seen.add(content_hash)
        tags = _json(genre_tags) if genre_tags not in (None, "", "[]") else []
        yield TrackRow(content_hash, path_from_db(path), artist, album,
                       [str(t) for t in tags] if isinstance(tags, list) else [])


def tag_history(conn: sqlite3.Connection) -> list[JournalWrite]:
    """The done rows of tag runs, and every done move and copy, oldest first.

    An undo run's ``tag`` rows restore the owner's tags: they are not reclass's words
    (and the rows they undid are no longer ``done``), so only ``tag`` runs count.
    """
    rows = conn.execute(
        "SELECT j.id, j.action, j.path, j.new_path, j.before, j.after FROM journal j"
        " JOIN runs r ON r.id = j.run_id WHERE j.state = 'done' AND"
        " ((j.action = 'tag' AND r.kind = 'tag') OR j.action IN ('move', 'copy'))"
        " ORDER BY j.id")
    return [JournalWrite(int(row[0]), row[1], path_from_db(row[2]),
                         None if row[3] is None else path_from_db(row[3]),
                         _json(row[4]), _json(row[5])) for row in rows]


def _space_layout(conn: sqlite3.Connection, space: str) -> tuple[int, list[tuple[str, int]]] | None:
    row = conn.execute("SELECT id, layout FROM spaces WHERE name = ?", (space,)).fetchone()
    if row is None:
        return None
    return int(row[0]), [(str(name), int(length)) for name, length in json.loads(row[1])]


def _positions(stored: list[tuple[str, int]], order: Sequence[tuple[str, int]], space: str
               ) -> np.ndarray:
    """Where each value of ``order`` sits in a stored blob."""
    offsets, start = {}, 0
    for name, length in stored:
        offsets[name] = (start, length)
        start += length
    parts = []
    for name, length in order:
        if name not in offsets or offsets[name][1] != length:
            raise DatabaseError(f"the vectors of space {space!r} lack {name!r} ({length} values)")
        parts.append(np.arange(offsets[name][0], offsets[name][0] + length))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def vector_matrix(conn: sqlite3.Connection, content_hashes: Sequence[str], space: str,
                  order: Sequence[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix, found)``: row i holds content i's vectors laid out as ``order``.

    Parameters
    ----------
    content_hashes : sequence of str
    space : str
        The embedding space (e.g. the musicnn extractor's ``space``).
    order : sequence of (name, length)
        The vectors to concatenate, in feature order.

    Returns
    -------
    matrix : np.ndarray [shape=(n, sum of lengths)], float32
        Zeros where a content has no vectors.
    found : np.ndarray [shape=(n,)], bool
        Which contents had vectors in ``space``.

    Raises
    ------
    DatabaseError
        The space's stored layout lacks a vector of ``order``.
    """
    width = int(sum(length for _, length in order))
    matrix = np.zeros((len(content_hashes), width), dtype=np.float32)
    found = np.zeros(len(content_hashes), dtype=bool)
    known = _space_layout(conn, space)
    if known is None:
        return matrix, found
    space_id, stored = known
    positions = _positions(stored, order, space)
    total = sum(length for _, length in stored)
    row_of = {content: i for i, content in enumerate(content_hashes)}
    for start in range(0, len(content_hashes), _BATCH):
        batch = list(content_hashes[start : start + _BATCH])
        marks = ", ".join("?" * len(batch))
        rows: dict[str, list[tuple[int, bytes]]] = {"float16": [], "float32": []}
        for content, dtype, data in conn.execute(
                f"SELECT content_hash, dtype, data FROM vectors WHERE space_id = ?"
                f" AND content_hash IN ({marks})", (space_id, *batch)):
            rows["float16" if dtype == "float16" else "float32"].append((row_of[content], data))
        for dtype, items in rows.items():  # one decode per batch and dtype
            if not items:
                continue
            where = np.array([row for row, _ in items])
            flat = np.frombuffer(b"".join(data for _, data in items),
                                 dtype="<f2" if dtype == "float16" else "<f4")
            matrix[where] = flat.reshape(len(items), total)[:, positions]
            found[where] = True
    return matrix, found

