"""The SQLite library database: connection, versioned schema and migrations.

The database is the only state ``reclass`` keeps about a library. It runs in WAL
mode with ``synchronous=FULL``: every commit is on disk before the call returns, so a
crash (Ctrl-C, kill -9, power loss) leaves it consistent, and a journal row written
before a file is changed survives a power cut that the changed file survives too.
Every logical change is one transaction.

Paths: SQLite text is UTF-8, but a POSIX file name is any bytes. :func:`path_to_db`
stores a path that is valid UTF-8 as text and any other as its raw bytes (a BLOB in
the same column); :func:`path_from_db` turns either back into ``str`` (with
``surrogateescape``, like ``os.fsdecode``), so such names round-trip exactly.

Schema versions live in ``PRAGMA user_version``. :data:`MIGRATIONS` is an ordered
list; migration *n* takes the schema from version *n-1* to *n*. Never edit a
migration that has shipped: append a new one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from music_reclass.errors import ReclassError

SCHEMA_V1 = """
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,                    -- classify | tag | organise | undo
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL DEFAULT 'running',  -- running | done | failed | interrupted
    params      TEXT NOT NULL DEFAULT '{}'        -- JSON: the command's options
);

-- One row per distinct audio content (the file's bytes), so a renamed or copied
-- file is recognised and not analysed again.
CREATE TABLE tracks (
    content_hash TEXT PRIMARY KEY,
    duration     REAL,
    sample_rate  INTEGER,
    channels     INTEGER,
    codec        TEXT,
    title        TEXT,
    artist       TEXT,
    album        TEXT,
    genre_tags   TEXT                             -- JSON list of the genre tags found in the file
);

-- One row per path seen; the latest outcome for that path.
CREATE TABLE files (
    id           INTEGER PRIMARY KEY,
    path         TEXT NOT NULL UNIQUE,
    content_hash TEXT REFERENCES tracks(content_hash),
    size         INTEGER,
    mtime_ns     INTEGER,
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    status       TEXT NOT NULL,                   -- ok | error | skipped
    error_code   TEXT,
    error        TEXT,
    last_run_id  INTEGER REFERENCES runs(id)
);
CREATE INDEX files_hash ON files(content_hash);

-- The outcome of one model on one content. model_id names model AND its version,
-- so that a new model version analyses again and an old one never mixes in.
CREATE TABLE analyses (
    id               INTEGER PRIMARY KEY,
    content_hash     TEXT NOT NULL,
    model_id         TEXT NOT NULL,
    status           TEXT NOT NULL,               -- ok | error
    error_code       TEXT,
    error            TEXT,
    genres           TEXT,                        -- JSON [{"label", "confidence"}], best first
    tags             TEXT,                        -- JSON [{"label", "confidence"}], best first
    analysed_seconds REAL,
    created_at       TEXT NOT NULL,
    run_id           INTEGER REFERENCES runs(id),
    UNIQUE (content_hash, model_id)
);

CREATE TABLE embeddings (
    content_hash TEXT NOT NULL,
    model_id     TEXT NOT NULL,
    name         TEXT NOT NULL,                   -- penultimate | max_pool | mean_pool | taggram ...
    dtype        TEXT NOT NULL,
    shape        TEXT NOT NULL,                   -- JSON list
    data         BLOB NOT NULL,
    PRIMARY KEY (content_hash, model_id, name)
);

-- Every change made to a user's files, with what is needed to undo it.
CREATE TABLE journal (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    action       TEXT NOT NULL,                   -- tag | move | copy
    path         TEXT NOT NULL,
    new_path     TEXT,
    before       TEXT,                            -- JSON: old tag values, or null
    after        TEXT,                            -- JSON: new tag values, or null
    audio_digest TEXT,                            -- digest of the audio payload before the change
    state        TEXT NOT NULL,                   -- planned | done | failed | undone
    error        TEXT,
    created_at   TEXT NOT NULL,
    undone_at    TEXT
);
CREATE INDEX journal_run ON journal(run_id);

-- A person's corrections of predictions: future training data.
CREATE TABLE corrections (
    id           INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL,
    label        TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT 'user',
    created_at   TEXT NOT NULL
);
"""

MIGRATIONS: list[str] = [SCHEMA_V1]
"""Migration i (0-based) takes the schema from version i to i+1."""

SCHEMA_VERSION = len(MIGRATIONS)


class DatabaseError(ReclassError):
    """The library database is unusable (newer schema, not a database...)."""

    code = "database-error"


def utcnow() -> str:
    """ISO-8601 UTC timestamp with seconds, as stored in every ``*_at`` column."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path: str | Path, *, migrate: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) the library database at ``path`` and migrate it.

    Parameters
    ----------
    path : str or Path
        Database file. Parent directories are created.
    migrate : bool
        Apply pending migrations (default). A database written by a newer version
        of music_reclass is refused rather than misread.

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (``isolation_level=None``): use :func:`transaction`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss,
        # and the journal's write-ahead promise needs them. One fsync per file is
        # cheap next to decoding or rewriting the file.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        if migrate:
            _migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(f"{path}: not a usable music_reclass database ({exc})") from exc
    return conn


def path_to_db(path: str | os.PathLike) -> str | bytes:
    """The value stored for ``path``: text when it is valid UTF-8, else raw bytes."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes in the file name
        return os.fsencode(text)
    return text


def path_from_db(value: str | bytes) -> str:
    """Inverse of :func:`path_to_db`."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def display_path(path: str | os.PathLike) -> str:
    """``path`` as printable text: undecodable bytes shown as ``\\xNN`` escapes."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection) -> None:
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"database schema v{current} is newer than this music_reclass (v{SCHEMA_VERSION}); "
            "upgrade music_reclass"
        )
    for version in range(current, SCHEMA_VERSION):
        # executescript commits any open transaction, so wrap it explicitly: a crash
        # mid-migration rolls back to the previous version.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _split_sql(script: str) -> list[str]:
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``with transaction(conn):`` runs the block as one atomic write transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def start_run(conn: sqlite3.Connection, kind: str, params: dict) -> int:
    """Record the start of a run of ``kind`` and return its id."""
    cur = conn.execute(
        "INSERT INTO runs (kind, started_at, params) VALUES (?, ?, ?)",
        (kind, utcnow(), json.dumps(params, sort_keys=True, default=str)),
    )
    return int(cur.lastrowid)


def finish_run(conn: sqlite3.Connection, run_id: int, status: str = "done") -> None:
    conn.execute(
        "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?", (utcnow(), status, run_id)
    )
