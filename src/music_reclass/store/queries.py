"""Read-side queries for the front ends: file listings, one file's details, statistics.

Listings are streamed (a generator over one SQL cursor, rows turned into
:class:`FileView` one at a time), so listing or exporting 100,000 files takes bounded
memory. Every listing shows ONE model's results, the one the caller names (the
library's active model): results of different models never mix in one table.

Sorting by path uses SQLite's binary order of the stored text, which is the byte order
of the file names; names that are not UTF-8 (stored as BLOBs) come after all others.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from music_reclass.errors import ParameterError
from music_reclass.store.analyses import AnalysisRow
from music_reclass.store.db import path_from_db, path_to_db
from music_reclass.store.files import under_clause

__all__ = ["FileQuery", "FileView", "count_files", "file_details", "genre_counts", "iter_files"]

SORT_KEYS = {
    "path": "f.path",
    "confidence": "a.top_confidence",
    "genre": "a.top_genre",
    "duration": "t.duration",
    "artist": "t.artist",
    "title": "t.title",
    "album": "t.album",
    "seen": "f.last_seen",
}
STATUSES = ("ok", "error", "missing", "review", "unanalysed")


@dataclass(frozen=True)
class FileQuery:
    """Which files to list (every field optional; all given ones must hold)."""

    model_id: str | None = None
    under: str | None = None
    genre: str | None = None  # top genre of the model, case-insensitive
    status: str | None = None  # ok | error | missing | review | unanalysed
    min_confidence: float | None = None
    max_confidence: float | None = None
    decided: bool | None = None  # True: a decision; False: abstained
    search: str | None = None  # in path, artist, title, album (case-insensitive)
    disagree: bool | None = None  # True: the top genre is none of the file's genre tags
    corrected: bool | None = None  # True: the owner corrected (or accepted) the track
    file_ids: tuple[int, ...] | None = None
    sort: str = "path"
    descending: bool = False
    limit: int | None = None
    offset: int = 0
    with_tags: bool = True  # False: skip each file's tag list (faster tables)



@dataclass
class FileView:
    """One file as the listings show it, with one model's result."""

    id: int
    path: str
    status: str
    error_code: str | None
    error: str | None
    content_hash: str | None
    size: int | None
    duration: float | None
    title: str | None
    artist: str | None
    album: str | None
    genre_tags: list[str]
    model_id: str | None
    genres: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    decided: list[str] | None = None
    abstain_reason: str | None = None
    stage: str | None = None
    missing: bool = False
    correction: list[str] | None = None  # the owner's active correction, if any

    @property
    def top_genre(self) -> str | None:
        return self.genres[0]["label"] if self.genres else None

    @property
    def top_confidence(self) -> float | None:
        return float(self.genres[0]["confidence"]) if self.genres else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "path": self.path, "status": self.status,
            "error_code": self.error_code, "error": self.error,
            "content_hash": self.content_hash, "size": self.size, "duration": self.duration,
            "title": self.title, "artist": self.artist, "album": self.album,
            "genre_tags": self.genre_tags, "model_id": self.model_id, "genres": self.genres,
            "tags": self.tags, "decided": self.decided, "abstain_reason": self.abstain_reason,
            "stage": self.stage, "missing": self.missing, "correction": self.correction,
        }


_COLUMNS = (
    "SELECT f.id, f.path, f.status, f.error_code, f.error, f.content_hash, f.size,"
    " t.duration, t.title, t.artist, t.album, t.genre_tags, a.model_id, a.status AS a_status,"
    " a.genres, {tags} AS tags, a.decided, a.abstain_reason, a.stage,"
    " (SELECT coalesce(c.labels, json_array(c.label)) FROM corrections c"
    "  WHERE c.content_hash = f.content_hash"
    "  AND c.state = 'active' ORDER BY c.id DESC LIMIT 1) AS correction"
)
_TRACKS = " LEFT JOIN tracks t ON t.content_hash = f.content_hash"
_ANALYSES = " JOIN analyses a ON a.content_hash = f.content_hash AND a.model_id = :model"
#: listed for speed at 100,000 files: a query that needs the model's result joins its
#: analyses (not LEFT JOIN), so SQLite can start from their indexes (see schema v3)
#: a filter on the model's analyses that matches fewer than this many starts a page
#: from their index; a broader one walks the files in the page's order instead
SELECTIVE = 2000


def _needs_analysis(query: FileQuery) -> bool:
    """Whether every listed file must have the model's analysis (so an inner join)."""
    return (query.status == "review" or query.genre is not None or query.decided is not None
            or query.min_confidence is not None or query.max_confidence is not None
            or bool(query.disagree))


def _norm(expr: str) -> str:
    """A genre name compared loosely: case, spaces, hyphens and underscores ignored."""
    return f"replace(replace(replace(lower({expr}), ' ', ''), '-', ''), '_', '')"


#: the file carries genre tags and the model's top genre is none of them
_DISAGREE = (
    "(a.status = 'ok' AND t.genre_tags IS NOT NULL AND t.genre_tags <> '[]'"
    " AND NOT EXISTS (SELECT 1 FROM json_each(t.genre_tags) j"
    f" WHERE {_norm('j.value')} = {_norm('a.top_genre')}))"
)
#: the owner corrected or accepted the track (an active correction of its content)
_CORRECTED = ("EXISTS (SELECT 1 FROM corrections c WHERE c.content_hash = f.content_hash"
              " AND c.state = 'active')")


def _indexed_search(conn: sqlite3.Connection) -> bool:
    """Whether the database has the trigram search index (schema v3 with FTS5)."""
    known = getattr(conn, "_reclass_file_search", None)
    if known is None:
        known = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'file_search'"
                             ).fetchone() is not None
        # a plain sqlite3.Connection takes no attribute: it asks again next time
        with contextlib.suppress(AttributeError):
            conn._reclass_file_search = known  # type: ignore[attr-defined]
    return known


def _uses_index(query: FileQuery, indexed: bool) -> bool:
    """Whether a search goes through the trigram index: 3+ characters (its unit) and no
    NUL (an FTS5 query string cannot hold one)."""
    text = query.search or ""
    return indexed and len(text) >= 3 and "\x00" not in text


def _where(query: FileQuery, args: dict[str, Any], indexed: bool = False) -> list[str]:
    where: list[str] = []
    if query.under is not None:
        where.append(under_clause(query.under, args))
    if query.status in ("ok", "error"):
        where.append("f.status = :status")
        args["status"] = query.status
    elif query.status == "review":
        where.append("a.status = 'ok' AND a.decided IS NULL")
    elif query.status == "unanalysed":
        where.append("a.model_id IS NULL AND f.status = 'ok'")
    elif query.status not in (None, "missing"):
        raise ParameterError(f"status must be one of {', '.join(STATUSES)}, not {query.status!r}")
    if query.genre is not None:
        where.append("a.top_genre = :genre COLLATE NOCASE")
        args["genre"] = query.genre
    if query.min_confidence is not None:
        where.append("a.top_confidence >= :min_conf")
        args["min_conf"] = query.min_confidence
    if query.max_confidence is not None:
        where.append("a.top_confidence <= :max_conf")
        args["max_conf"] = query.max_confidence
    if query.decided is not None:
        where.append("a.status = 'ok' AND a.decided IS " + ("NOT NULL" if query.decided else "NULL"))
    if query.search:
        escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args["search"] = f"%{escaped}%"
        if _uses_index(query, indexed):
            # the trigram index finds substrings of 3+ characters without a scan
            args["phrase"] = '"' + query.search.replace('"', '""') + '"'
            where.append("(f.id IN (SELECT rowid FROM file_search WHERE file_search MATCH"
                         " :phrase) OR (typeof(f.path) = 'blob' AND f.path LIKE :search"
                         " ESCAPE '\\'))")
        else:
            where.append(
                "(f.path LIKE :search ESCAPE '\\' OR t.artist LIKE :search ESCAPE '\\'"
                " OR t.title LIKE :search ESCAPE '\\' OR t.album LIKE :search ESCAPE '\\')"
            )
    if query.disagree is not None:
        where.append(("" if query.disagree else "NOT ") + _DISAGREE)
    if query.corrected is not None:
        where.append(("" if query.corrected else "NOT ") + _CORRECTED)
    if query.file_ids is not None:
        where.append(f"f.id IN ({', '.join(str(int(i)) for i in query.file_ids) or 'NULL'})")
    return where


def _sql(query: FileQuery, args: dict[str, Any], *, count: bool = False,
         ids_only: bool = False, files_first: bool = False, indexed: bool = False) -> str:
    """The listing (or ``count``, or only the ids of a page) of ``query``.

    ``files_first`` makes SQLite walk the files in the page's order and stop at the
    page (a ``CROSS JOIN`` fixes the join order), instead of reading every analysis the
    filter matches and sorting them.
    """
    where = _where(query, args, indexed)
    args["model"] = query.model_id
    inner = _needs_analysis(query)
    analyses = (" LEFT" if not inner else " CROSS" if files_first else "") + _ANALYSES
    if count or ids_only:  # read only the tables the filters (and the sort) use
        t_sort = ids_only and SORT_KEYS.get(query.sort, "").startswith("t.")
        scan = query.search and not _uses_index(query, indexed)
        tracks = _TRACKS if scan or query.disagree is not None or t_sort else ""
        uses_a = inner or any("a." in clause for clause in where)
        sql = ("SELECT count(*)" if count else "SELECT f.id") + " FROM files f" + tracks
        sql += analyses if uses_a or ids_only and query.sort in ("confidence", "genre") else ""
    else:
        sql = (_COLUMNS.format(tags="a.tags" if query.with_tags else "NULL")
               + " FROM files f" + _TRACKS + analyses)
    if where:
        sql += " WHERE " + " AND ".join(where)
    if count:
        return sql
    if query.sort not in SORT_KEYS:
        raise ParameterError(f"sort must be one of {', '.join(SORT_KEYS)}, not {query.sort!r}")
    direction = "DESC" if query.descending else "ASC"
    sql += f" ORDER BY {SORT_KEYS[query.sort]} {direction}"
    if query.sort != "path":
        sql += f", f.path {direction}"
    return sql


def _files_first(conn: sqlite3.Connection, query: FileQuery) -> bool:
    """Whether a page is found faster by walking the files in path order.

    True unless the page is sorted by the model's result, or its filters on the model's
    analyses are selective (fewer than :data:`SELECTIVE` analyses match: counted on
    their index, at most that many read).
    """
    if query.sort in ("confidence", "genre"):
        return False
    args: dict[str, Any] = {"model": query.model_id}
    conds = ["a.model_id = :model"]
    if query.genre is not None:
        conds.append("lower(a.top_genre) = lower(:genre)")
        args["genre"] = query.genre
    if query.status == "review" or query.decided is not None:
        conds.append("a.status = 'ok' AND a.decided IS "
                     + ("NOT NULL" if query.decided else "NULL"))
    for key, op in (("min_confidence", ">="), ("max_confidence", "<=")):
        if getattr(query, key) is not None:
            conds.append(f"a.top_confidence {op} :{key}")
            args[key] = getattr(query, key)
    if len(conds) == 1:
        return True
    sql = (f"SELECT count(*) FROM (SELECT 1 FROM analyses a WHERE {' AND '.join(conds)}"
           f" LIMIT {SELECTIVE})")
    return int(conn.execute(sql, args).fetchone()[0]) >= SELECTIVE


def _page(conn: sqlite3.Connection, query: FileQuery) -> Iterator[sqlite3.Row]:
    """The rows of one page: first its file ids (narrow rows, sorted and cut to the
    page), then everything about those files only."""
    args: dict[str, Any] = {}
    sql = _sql(query, args, ids_only=True, files_first=_files_first(conn, query),
               indexed=bool(query.search) and _indexed_search(conn))
    args.update(limit=int(query.limit or 0), offset=int(query.offset))
    ids = [int(row[0]) for row in conn.execute(sql + " LIMIT :limit OFFSET :offset", args)]
    if not ids:
        return
    args = {"model": query.model_id}
    full = _sql(FileQuery(model_id=query.model_id, file_ids=tuple(ids)), args)
    rows = {int(row["id"]): row for row in conn.execute(full, args)}
    yield from (rows[i] for i in ids if i in rows)


def _view(row: sqlite3.Row) -> FileView:
    ok = row["a_status"] == "ok"
    return FileView(
        id=int(row["id"]),
        path=path_from_db(row["path"]),
        status=row["status"],
        error_code=row["error_code"],
        error=row["error"],
        content_hash=row["content_hash"],
        size=row["size"],
        duration=row["duration"],
        title=row["title"],
        artist=row["artist"],
        album=row["album"],
        genre_tags=json.loads(row["genre_tags"]) if row["genre_tags"] else [],
        model_id=row["model_id"],
        genres=json.loads(row["genres"]) if ok and row["genres"] else [],
        tags=json.loads(row["tags"]) if ok and row["tags"] else [],
        decided=json.loads(row["decided"]) if ok and row["decided"] else None,
        abstain_reason=row["abstain_reason"] if ok else None,
        stage=row["stage"] if ok else None,
        correction=json.loads(row["correction"]) if row["correction"] else None,
    )


def iter_files(conn: sqlite3.Connection, query: FileQuery,
               *, check_missing: bool = True) -> Iterator[FileView]:
    """Stream the files matching ``query``, one :class:`FileView` at a time.

    ``check_missing`` looks on disk for each listed file (one ``lstat``) and sets
    ``missing``; status ``missing`` keeps only those (paging then applies after it).
    """
    args: dict[str, Any] = {}
    only_missing = query.status == "missing"
    if not only_missing and query.limit is not None:
        rows: Iterator[sqlite3.Row] = _page(conn, query)
    else:
        rows = conn.execute(_sql(query, args, indexed=bool(query.search) and _indexed_search(conn)), args)
    skipped = 0
    yielded = 0
    for row in rows:
        view = _view(row)
        if check_missing or only_missing:
            view.missing = not os.path.lexists(view.path)
        if only_missing:
            if not view.missing:
                continue
            if skipped < query.offset:
                skipped += 1
                continue
            if query.limit is not None and yielded >= query.limit:
                return
        yielded += 1
        yield view


def count_files(conn: sqlite3.Connection, query: FileQuery) -> int:
    """How many files match ``query`` (status ``missing`` is counted on disk)."""
    if query.status == "missing":
        plain = FileQuery(**{**query.__dict__, "limit": None, "offset": 0})
        return sum(1 for _ in iter_files(conn, plain))
    args: dict[str, Any] = {}
    sql = _sql(query, args, count=True, indexed=bool(query.search) and _indexed_search(conn))
    return int(conn.execute(sql, args).fetchone()[0])


def genre_counts(conn: sqlite3.Connection, model_id: str, *,
                 under: str | None = None) -> list[tuple[str, int, float]]:
    """``(genre, files, mean confidence)`` of the model's top genres, most files first."""
    args: dict[str, Any] = {"model": model_id}
    where = ["a.status = 'ok'"]
    if under is not None:
        where.append(under_clause(under, args))
    rows = conn.execute(
        "SELECT a.top_genre, count(*), avg(a.top_confidence) FROM files f"
        " JOIN analyses a ON a.content_hash = f.content_hash AND a.model_id = :model"
        f" WHERE {' AND '.join(where)} GROUP BY a.top_genre ORDER BY count(*) DESC, a.top_genre",
        args,
    )
    return [(str(g), int(n), float(c or 0.0)) for g, n, c in rows]


def status_counts(conn: sqlite3.Connection, model_id: str | None) -> dict[str, int]:
    """Files by status, plus analysed / unanalysed / review counts for the model."""
    counts = {str(s): int(n) for s, n in conn.execute(
        "SELECT status, count(*) FROM files GROUP BY status")}
    row = conn.execute(
        "SELECT count(a.model_id), sum(a.status = 'ok' AND a.decided IS NULL)"
        " FROM files f LEFT JOIN analyses a ON a.content_hash = f.content_hash"
        " AND a.model_id = ? WHERE f.status = 'ok'",
        (model_id,),
    ).fetchone()
    counts["analysed"] = int(row[0] or 0)
    counts["review"] = int(row[1] or 0)
    counts["unanalysed"] = counts.get("ok", 0) - counts["analysed"]
    return counts


def file_id(conn: sqlite3.Connection, path: str | os.PathLike) -> int | None:
    row = conn.execute("SELECT id FROM files WHERE path = ?", (path_to_db(path),)).fetchone()
    return None if row is None else int(row[0])


def file_details(conn: sqlite3.Connection, path: str | os.PathLike) -> dict[str, Any] | None:
    """Everything stored about one file (by absolute path), or None if unknown.

    Returns the ``files`` columns, ``track`` (the ``tracks`` row), ``analyses`` (every
    model's outcome, newest first, each with the vector spaces stored for the content),
    ``run`` (the run that last saw the file), ``same_content`` (other paths with the same
    bytes) and ``journal`` (the changes made to the file, newest first).
    """
    db_path = path_to_db(path)
    row = conn.execute("SELECT * FROM files WHERE path = ?", (db_path,)).fetchone()
    if row is None:
        return None
    details: dict[str, Any] = dict(zip(row.keys(), row, strict=True))
    details["path"] = path_from_db(row["path"])
    chash = row["content_hash"]
    details.update(track=None, analyses=[], same_content=[], vectors=[])
    if chash:
        details.update(_content_details(conn, chash, db_path))
    run = None
    if row["last_run_id"] is not None:
        rrow = conn.execute("SELECT id, kind, started_at, finished_at, status FROM runs"
                            " WHERE id = ?", (row["last_run_id"],)).fetchone()
        run = None if rrow is None else dict(zip(rrow.keys(), rrow, strict=True))
    details["run"] = run
    details["journal"] = [
        {"id": j["id"], "run_id": j["run_id"], "action": j["action"], "state": j["state"],
         "created_at": j["created_at"], "undone_at": j["undone_at"],
         "after": json.loads(j["after"]) if j["after"] else None}
        for j in conn.execute(
            "SELECT * FROM journal WHERE path = ? OR new_path = ? ORDER BY id DESC LIMIT 50",
            (db_path, db_path))
    ]
    return details


def _content_details(conn: sqlite3.Connection, chash: str, db_path: Any) -> dict[str, Any]:
    trow = conn.execute("SELECT * FROM tracks WHERE content_hash = ?", (chash,)).fetchone()
    track = None
    if trow is not None:
        track = {k: v for k, v in zip(trow.keys(), trow, strict=True) if k != "content_hash"}
        track["genre_tags"] = json.loads(track["genre_tags"]) if track["genre_tags"] else []
    analyses = []
    for arow in conn.execute(
        "SELECT * FROM analyses WHERE content_hash = ? ORDER BY created_at DESC, id DESC", (chash,)
    ):
        analysis = AnalysisRow.from_row(arow)
        analyses.append({**analysis.__dict__})
    vectors = [
        {"space": name, "length": sum(n for _, n in json.loads(layout))}
        for name, layout in conn.execute(
            "SELECT s.name, s.layout FROM vectors v JOIN spaces s ON s.id = v.space_id"
            " WHERE v.content_hash = ? ORDER BY s.name", (chash,))
    ]
    same = sorted(
        (path_from_db(r[0]) for r in conn.execute(
            "SELECT path FROM files WHERE content_hash = ? AND path IS NOT ?", (chash, db_path))),
        key=os.fsencode,
    )
    return {"track": track, "analyses": analyses, "same_content": same, "vectors": vectors}
