"""The library database's schema, as the ordered list of its migrations.

Migration *n* (0-based) takes the schema from version *n* to *n + 1*; the version lives
in ``PRAGMA user_version``. A migration is SQL text or a function of the connection
(for data that SQL cannot convert, such as float32 vectors to float16). Never edit a
migration that has shipped: append a new one.

Version 1 shipped with music_reclass 0.1.0. Version 2:

- ``vectors`` replaces ``embeddings``: one row per (content, embedding space) holding
  every track-level vector of that space packed in one float16 blob, its layout in
  ``spaces``. The musicnn space keeps the two networks' penultimate layers and tag
  probabilities (what the ``musicnn`` feature extractor and every taxonomy need); the
  753-wide pooling layers are no longer stored. About 1 KB per track instead of 25.
- ``analyses`` gains the decision columns (``decided``, ``abstain_reason``, ``stage``)
  and the top genre and its confidence, indexed, so filters and sorts at 100,000
  tracks need no JSON parsing.
- ``files`` gains ``inode`` (an unchanged file is recognised by size, mtime and inode
  without reading it).
- ``runs`` gains ``summary`` (the counts a run reported, which later runs never erase).
- ``models`` (every model the library used, with a short name) and ``settings``
  (the library's active model...).
- ``corrections`` gains the owner's labels (several genres), the file, what it replaced,
  the model it corrects, its run and its state (a correction can be undone).

Version 3: ``claims``, the contents a live classify run is analysing (so that two
runs on one library never analyse the same content twice).

Version 4: indexes for browsing 100,000 files (by confidence, by genre, the review
queue) and ``file_search``, a trigram full-text index of paths, artists, titles, albums.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import numpy as np

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "split_sql"]

Migration = str | Callable[[sqlite3.Connection], None]


def split_sql(script: str) -> list[str]:
    """The statements of an SQL script, one string each (a migration runs them one by one
    inside its own transaction: ``executescript`` would commit half-way)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements

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


SCHEMA_V2 = """
CREATE TABLE spaces (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE,                 -- e.g. musicnn/MSD_musicnn@...+MTT_musicnn@...
    layout TEXT NOT NULL                          -- JSON [[vector name, length], ...] in blob order
);

-- Every track-level vector of one content in one embedding space, packed (see spaces).
-- A rowid table: rows of a kilobyte would spill to overflow pages in a WITHOUT ROWID one.
CREATE TABLE vectors (
    id           INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL,
    space_id     INTEGER NOT NULL REFERENCES spaces(id),
    dtype        TEXT NOT NULL,                   -- float16 | float32 (little endian)
    data         BLOB NOT NULL,
    UNIQUE (content_hash, space_id)
);

ALTER TABLE analyses ADD COLUMN top_genre TEXT;
ALTER TABLE analyses ADD COLUMN top_confidence REAL;
ALTER TABLE analyses ADD COLUMN decided TEXT;           -- JSON list of genres, NULL: abstained
ALTER TABLE analyses ADD COLUMN abstain_reason TEXT;
ALTER TABLE analyses ADD COLUMN stage TEXT;             -- the cascade stage that decided
CREATE INDEX analyses_model_confidence ON analyses(model_id, top_confidence);

ALTER TABLE files ADD COLUMN inode INTEGER;
CREATE INDEX files_run ON files(last_run_id);
CREATE INDEX files_status ON files(status);

ALTER TABLE runs ADD COLUMN summary TEXT;               -- JSON counts, as the run reported them

CREATE INDEX journal_state ON journal(state);

CREATE TABLE models (
    model_id   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,                    -- short name: default, gtzan, personal, a file stem
    kind       TEXT NOT NULL,                    -- zero-shot | head | deep | cascade
    source     TEXT,                             -- the model file, or the taxonomy of a zero-shot model
    info       TEXT NOT NULL DEFAULT '{}',       -- JSON: classes, features, sidecar summary
    created_at TEXT NOT NULL
);
CREATE INDEX models_name ON models(name);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                           -- JSON
);

-- a person's corrections: the genres they say a content has, with provenance
ALTER TABLE corrections ADD COLUMN labels TEXT;          -- JSON list, the owner's words
ALTER TABLE corrections ADD COLUMN path TEXT;            -- the file it was made on
ALTER TABLE corrections ADD COLUMN replaced TEXT;        -- JSON: what the library said before
ALTER TABLE corrections ADD COLUMN model_id TEXT;        -- whose prediction it corrects
ALTER TABLE corrections ADD COLUMN run_id INTEGER REFERENCES runs(id);
ALTER TABLE corrections ADD COLUMN state TEXT NOT NULL DEFAULT 'active';  -- active | undone
ALTER TABLE corrections ADD COLUMN undone_at TEXT;
CREATE INDEX corrections_content ON corrections(content_hash, state);
"""

#: The per-patch-mean vectors of version 1 that the musicnn space keeps, in blob order.
_MUSICNN_V1_LAYOUT = (("msd.penultimate", 200), ("mtt.penultimate", 200),
                      ("msd.taggram", 50), ("mtt.taggram", 50))


def _v1_space(model_id: str) -> str | None:
    """The embedding space of a version-1 zero-shot model id (its network versions)."""
    parts = model_id.split("/")
    if len(parts) >= 3 and parts[0] == "musicnn-zeroshot":
        return f"musicnn/{parts[2]}"
    return None


def _move_v1_embeddings(conn: sqlite3.Connection) -> None:
    """Repack version 1's per-model ``embeddings`` rows into ``vectors`` (float16)."""
    spaces: dict[str, int] = {}
    rows = conn.execute(
        "SELECT content_hash, model_id, name, dtype, shape, data FROM embeddings"
        " WHERE name IN ('msd.penultimate', 'mtt.penultimate', 'msd.taggram', 'mtt.taggram')"
        " ORDER BY content_hash, model_id"
    )
    grouped: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for content_hash, model_id, name, dtype, _shape, data in rows:
        space = _v1_space(model_id)
        if space is None or dtype != "float32":
            continue
        grouped.setdefault((content_hash, space), {})[name] = np.frombuffer(data, "<f4")
    for (content_hash, space), vectors in grouped.items():
        if any(name not in vectors or len(vectors[name]) != n for name, n in _MUSICNN_V1_LAYOUT):
            continue
        if space not in spaces:
            cur = conn.execute(
                "INSERT INTO spaces (name, layout) VALUES (?, ?)",
                (space, json.dumps([list(item) for item in _MUSICNN_V1_LAYOUT])),
            )
            spaces[space] = int(cur.lastrowid)
        packed = np.concatenate([vectors[name] for name, _ in _MUSICNN_V1_LAYOUT])
        conn.execute(
            "INSERT OR REPLACE INTO vectors (content_hash, space_id, dtype, data)"
            " VALUES (?, ?, 'float16', ?)",
            (content_hash, spaces[space], packed.astype("<f2").tobytes()),
        )
    conn.execute("DROP TABLE embeddings")


def _fill_top_genres(conn: sqlite3.Connection) -> None:
    """Version 1 analyses: the denormalised top genre columns from their JSON."""
    for row_id, genres in conn.execute(
        "SELECT id, genres FROM analyses WHERE status = 'ok'"
    ).fetchall():
        parsed = json.loads(genres) if genres else []
        if parsed:
            conn.execute(
                "UPDATE analyses SET top_genre = ?, top_confidence = ? WHERE id = ?",
                (parsed[0]["label"], float(parsed[0]["confidence"]), row_id),
            )


def _migrate_v2(conn: sqlite3.Connection) -> None:
    for statement in split_sql(SCHEMA_V2):
        conn.execute(statement)
    _move_v1_embeddings(conn)
    _fill_top_genres(conn)


SCHEMA_V3 = """
-- Contents a live classify run is analysing with a model: another run on the same
-- library waits for their analysis instead of analysing them too. A claim is void once
-- its run has ended (status not running) or its process is gone (pid, start time).
CREATE TABLE claims (
    content_hash TEXT NOT NULL,
    model_id     TEXT NOT NULL,
    run_id       INTEGER NOT NULL REFERENCES runs(id),
    pid          INTEGER,
    pid_start    INTEGER,
    claimed_at   TEXT NOT NULL,
    PRIMARY KEY (content_hash, model_id)
) WITHOUT ROWID;
CREATE INDEX claims_run ON claims(run_id);
"""



#: Version 4: for browsing 100,000 files (the web UI's filtered, sorted pages): indexes of
#: one model's analyses by confidence, by genre (case-insensitive, as filters compare) and
#: of its abstentions (the review queue); and ``file_search``, a trigram full-text index
#: of each file's path, artist, title and album (substring search without a scan), kept
#: in step with ``files`` and ``tracks`` by triggers.
SCHEMA_V4 = """
CREATE INDEX IF NOT EXISTS analyses_model_confidence ON analyses(model_id, top_confidence);
CREATE INDEX IF NOT EXISTS analyses_model_lower_genre ON analyses(model_id, lower(top_genre), top_confidence);
CREATE INDEX IF NOT EXISTS analyses_model_review ON analyses(model_id, top_confidence)
    WHERE status = 'ok' AND decided IS NULL;
"""

#: the text ``file_search`` indexes for the files row ``{f}`` (paths that are not UTF-8
#: are left out: they are searched by the plain LIKE)
_SEARCH_TEXT = (
    "(CASE WHEN typeof({f}.path) = 'text' THEN {f}.path ELSE '' END) || char(10) ||"
    " coalesce((SELECT coalesce(t.artist, '') || char(10) || coalesce(t.title, '') || char(10)"
    " || coalesce(t.album, '') FROM tracks t WHERE t.content_hash = {f}.content_hash), '')"
)
SEARCH_V4 = f"""
CREATE VIRTUAL TABLE file_search USING fts5(text, tokenize = 'trigram');
INSERT INTO file_search (rowid, text) SELECT f.id, {_SEARCH_TEXT.format(f="f")} FROM files f;
CREATE TRIGGER file_search_insert AFTER INSERT ON files BEGIN
    INSERT INTO file_search (rowid, text) VALUES (new.id, {_SEARCH_TEXT.format(f="new")});
END;
CREATE TRIGGER file_search_update AFTER UPDATE OF path, content_hash ON files BEGIN
    DELETE FROM file_search WHERE rowid = old.id;
    INSERT INTO file_search (rowid, text) VALUES (new.id, {_SEARCH_TEXT.format(f="new")});
END;
CREATE TRIGGER file_search_delete AFTER DELETE ON files BEGIN
    DELETE FROM file_search WHERE rowid = old.id;
END;
CREATE TRIGGER file_search_track AFTER UPDATE OF artist, title, album ON tracks BEGIN
    DELETE FROM file_search WHERE rowid IN
        (SELECT id FROM files WHERE content_hash = new.content_hash);
    INSERT INTO file_search (rowid, text) SELECT f.id, {_SEARCH_TEXT.format(f="f")}
        FROM files f WHERE f.content_hash = new.content_hash;
END;
"""


def _migrate_v4(conn: sqlite3.Connection) -> None:
    for statement in split_sql(SCHEMA_V4):
        conn.execute(statement)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x, tokenize = 'trigram')")
        conn.execute("DROP TABLE temp.fts5_probe")
    except sqlite3.OperationalError:  # an SQLite without FTS5 trigram: search scans
        return
    for statement in split_sql(SEARCH_V4):
        conn.execute(statement)


MIGRATIONS: list[Migration] = [SCHEMA_V1, _migrate_v2, SCHEMA_V3, _migrate_v4]
"""Migration i (0-based) takes the schema from version i to i+1."""

SCHEMA_VERSION = len(MIGRATIONS)
