"""Track-level vectors, one packed row per (content, embedding space).

An *embedding space* is what produced the vectors, with its version: the two musicnn
networks (``musicnn/MSD_musicnn@...+MTT_musicnn@...``) or a feature extractor
(``gtzan58@1``). Every model reading the same space reads the same row: the zero-shot
classifier under any taxonomy, a head trained on musicnn embeddings, the training of a
new head. A space's *layout* (vector names and lengths, in blob order) is recorded the
first time it is used and every later row must match it, so a model never reads
vectors laid out differently from the ones it was trained on.

Learnt embeddings are stored as little-endian float16 (half the bytes of float32; the
relative rounding error of 5e-4 is far below what changes a genre): 500 musicnn values
take 1,000 bytes per track. Handcrafted features, whose exact values a model scales, are
stored as float32.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from music_reclass.errors import DatabaseError

__all__ = ["Layout", "get_vectors", "iter_vectors", "layout_of", "pack", "put_vectors"]

Layout = tuple[tuple[str, int], ...]

#: Rows fetched per query when reading many contents (SQLite's variable limit is 32766).
_BATCH = 900
#: Largest magnitude stored as float16 (its maximum is 65,504).
_F16_MAX = 65000.0
DTYPES = ("float16", "float32")


def layout_of(vectors: Mapping[str, np.ndarray]) -> Layout:
    """The layout of a set of vectors: names sorted, with their lengths."""
    return tuple((name, int(np.asarray(vectors[name]).size)) for name in sorted(vectors))


def pack(vectors: Mapping[str, np.ndarray], layout: Layout, dtype: str = "float16",
         ) -> tuple[str, bytes]:
    """``(dtype, blob)`` of ``vectors`` in ``layout`` order.

    float16 is used when asked and every value fits it; otherwise float32 (a handcrafted
    feature such as a spectral bandwidth of 77,000 Hz overflows float16).
    """
    flat = np.concatenate([np.asarray(vectors[name], dtype=np.float32).ravel()
                           for name, _ in layout])
    if dtype == "float16" and np.all(np.abs(flat[np.isfinite(flat)]) < _F16_MAX):
        return "float16", flat.astype("<f2").tobytes()
    return "float32", flat.astype("<f4").tobytes()


def _unpack(data: bytes, dtype: str, layout: Layout) -> dict[str, np.ndarray]:
    flat = np.frombuffer(data, dtype="<f2" if dtype == "float16" else "<f4").astype(np.float32)
    out, start = {}, 0
    for name, length in layout:
        out[name] = flat[start : start + length]
        start += length
    return out


def _space(conn: sqlite3.Connection, space: str) -> tuple[int, Layout] | None:
    row = conn.execute("SELECT id, layout FROM spaces WHERE name = ?", (space,)).fetchone()
    if row is None:
        return None
    return int(row[0]), tuple((str(n), int(k)) for n, k in json.loads(row[1]))


def _space_for_write(conn: sqlite3.Connection, space: str, layout: Layout) -> int:
    known = _space(conn, space)
    if known is None:
        cur = conn.execute(
            "INSERT INTO spaces (name, layout) VALUES (?, ?)",
            (space, json.dumps([list(item) for item in layout])),
        )
        return int(cur.lastrowid)
    space_id, stored = known
    if stored != layout:
        raise DatabaseError(
            f"vectors of space {space!r} do not match its stored layout "
            f"({[n for n, _ in layout]} vs {[n for n, _ in stored]}); the model that made them "
            "changed without changing its version"
        )
    return space_id


def put_vectors(
    conn: sqlite3.Connection, content_hash: str, space: str, vectors: Mapping[str, np.ndarray],
    *, dtype: str = "float16",
) -> None:
    """Store (replace) the vectors of one content in ``space``. Call inside a transaction.

    ``dtype`` is what the producer asks for: float16 for learnt embeddings (half the
    bytes), float32 for handcrafted features whose exact values a model scales.
    """
    if not vectors:
        return
    layout = layout_of(vectors)
    space_id = _space_for_write(conn, space, layout)
    stored_dtype, blob = pack(vectors, layout, dtype)
    conn.execute(
        "INSERT OR REPLACE INTO vectors (content_hash, space_id, dtype, data) VALUES (?, ?, ?, ?)",
        (content_hash, space_id, stored_dtype, blob),
    )


def get_vectors(
    conn: sqlite3.Connection, content_hash: str, space: str
) -> dict[str, np.ndarray] | None:
    """The vectors of one content in ``space`` (float32), or None."""
    for _, vectors in iter_vectors(conn, [content_hash], space):
        return vectors
    return None


def iter_vectors(
    conn: sqlite3.Connection, content_hashes: Iterable[str], space: str
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(content_hash, vectors)`` for each given content that has vectors in ``space``.

    Reads in batches of a few hundred keys: memory stays bounded by the caller.
    """
    known = _space(conn, space)
    if known is None:
        return
    space_id, layout = known
    batch: list[str] = []
    for content_hash in content_hashes:
        batch.append(content_hash)
        if len(batch) >= _BATCH:
            yield from _read_batch(conn, batch, space_id, layout)
            batch = []
    if batch:
        yield from _read_batch(conn, batch, space_id, layout)


def _read_batch(
    conn: sqlite3.Connection, batch: Sequence[str], space_id: int, layout: Layout
) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    marks = ", ".join("?" * len(batch))
    rows = conn.execute(
        f"SELECT content_hash, dtype, data FROM vectors WHERE space_id = ?"
        f" AND content_hash IN ({marks})",
        (space_id, *batch),
    ).fetchall()
    for content_hash, dtype, data in rows:
        yield content_hash, _unpack(data, dtype, layout)


def copy_vectors(conn: sqlite3.Connection, old_hash: str, new_hash: str) -> None:
    """Give ``new_hash`` the vectors of ``old_hash`` (a tag write changed the file's bytes,
    not its audio). Call inside a transaction."""
    conn.execute(
        "INSERT OR IGNORE INTO vectors (content_hash, space_id, dtype, data)"
        " SELECT ?, space_id, dtype, data FROM vectors WHERE content_hash = ?",
        (new_hash, old_hash),
    )
