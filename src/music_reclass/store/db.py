"""The SQLite library database: connection, versioned schema and migrations.

The database is the only state ``reclass`` keeps about a library. It runs in WAL
mode with ``synchronous=FULL``: every commit is on disk before the call returns, so a
crash (Ctrl-C, kill -9, power loss) leaves it consistent, and a journal row written
before a file is changed survives a power cut that the changed file survives too.
Every logical change is one transaction.

Errors: every SQLite error met while writing (a full disk, a write lock held by another
program beyond the busy timeout, an I/O error) leaves :func:`transaction` as a one-line
:class:`~music_reclass.errors.DatabaseError` (see :func:`database_error`), with the
transaction rolled back.

Paths: SQLite text is UTF-8, but a POSIX file name is any bytes. :func:`path_to_db`
stores a path that is valid UTF-8 as text and any other as its raw bytes (a BLOB in
the same column); :func:`path_from_db` turns either back into ``str`` (with
``surrogateescape``, like ``os.fsdecode``), so such names round-trip exactly.

Schema versions live in ``PRAGMA user_version``; the migrations are in
:mod:`music_reclass.store.schema`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from music_reclass import faults
from music_reclass.errors import DatabaseError, MissingDatabaseError
from music_reclass.store.schema import MIGRATIONS, SCHEMA_VERSION, split_sql


def utcnow() -> str:
    """ISO-8601 UTC timestamp with seconds, as stored in every ``*_at`` column."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path: str | os.PathLike, *, create: bool = True,
            migrate: bool = True) -> sqlite3.Connection:
    """Open the library database at ``path``, creating and migrating it as needed.

    Parameters
    ----------
    path : str or Path
        Database file.
    create : bool
        Create the file (and its parent folders) when it does not exist. When False a
        missing database raises :class:`MissingDatabaseError`: a mistyped ``--db`` must
        not silently answer with an empty library.
    migrate : bool
        Apply pending migrations (default). A database written by a newer version
        of music_reclass is refused rather than misread.

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (``isolation_level=None``): use :func:`transaction`. A
        database that cannot be written (read-only file or mount) is opened read-only:
        queries work, writes raise :class:`DatabaseError` through :func:`transaction`.

    Raises
    ------
    DatabaseError
        ``path`` is a folder, lies under a file, cannot be created, is not a database,
        or has a newer schema.
    """
    path = Path(path)
    shown = display_path(path)
    if path.is_dir():
        raise DatabaseError(f"{shown} is a folder, not a library database file")
    if not path.exists():
        if not create:
            raise MissingDatabaseError(
                f"no library database at {shown} (check --db / RECLASS_DB, "
                "or create one with `reclass classify FOLDER`)"
            )
        _make_parent(path)
    conn = _open(path)
    try:
        _configure(conn)
        faults.point("db-connected", conn=conn)
        if migrate:
            _migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if _kind(exc) is None and not isinstance(exc, sqlite3.OperationalError):
            raise DatabaseError(f"{shown}: not a usable music_reclass database ({exc})") from exc
        raise database_error(exc, path) from exc
    except DatabaseError:
        conn.close()
        raise
    return conn


#: SQLite messages (lower case, start) -> (error code, what it means for the user)
_KINDS = (
    ("database or disk is full", "database-full",
     "is full (no space left on its disk): free some space and run the command again"),
    ("database is locked", "database-locked",
     "is locked by another program for longer than the busy timeout: close it (or wait for "
     "it) and run the command again"),
    ("database table is locked", "database-locked",
     "is locked by another program: run the command again"),
    ("disk i/o error", "database-io-error",
     "cannot be read or written (I/O error): check its disk"),
    ("attempt to write a readonly database", "database-read-only", "is read-only"),
    ("unable to open database file", "database-unopenable",
     "cannot be opened (its folder may be missing or not writable)"),
    ("file is not a database", "database-not-a-database", "is not a library database"),
    ("database disk image is malformed", "database-corrupt",
     "is damaged (run `sqlite3 FILE 'PRAGMA integrity_check'`)"),
)


def _kind(exc: BaseException) -> tuple[str, str] | None:
    text = str(exc).lower()
    for start, code, meaning in _KINDS:
        if text.startswith(start):
            return code, meaning
    return None


def _disk_full(where: str | os.PathLike) -> bool:
    """Is the filesystem of ``where`` (nearly) full? SQLite reports a full disk met while
    creating its -wal or -shm file as a mere "disk I/O error"."""
    try:
        st = os.statvfs(Path(where).parent)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < (64 << 10)


def database_error(exc: sqlite3.Error, where: str | os.PathLike | sqlite3.Connection | None
                   = None) -> DatabaseError:
    """``exc`` (an error of SQLite) as a one-line :class:`DatabaseError` for a person.

    "database or disk is full", "database is locked" (beyond the busy timeout), I/O
    errors and the like each say what happened and what to do; ``code`` says which
    (``database-full``, ``database-locked``, ``database-io-error``...).
    """
    if isinstance(where, sqlite3.Connection):
        try:
            where = database_file(where)
        except sqlite3.Error:
            where = None
    name = "the library database" + (f" {display_path(where)}" if where else "")
    kind = _kind(exc)
    if kind is not None and kind[0] == "database-io-error" and where and _disk_full(where):
        kind = _kind(sqlite3.OperationalError("database or disk is full"))  # SQLite's ENOSPC
    if kind is None:
        error = DatabaseError(f"{name}: {' '.join(str(exc).split())}")
    else:
        error = DatabaseError(f"{name} {kind[1]}")
        error.code = kind[0]
    return error


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise DatabaseError(
            f"cannot create {display_path(path)}: a part of its folder path is a file"
        ) from exc
    except OSError as exc:
        raise DatabaseError(
            f"cannot create {display_path(path)}: {exc.strerror or exc}"
        ) from exc


def _open(path: Path) -> sqlite3.Connection:
    """A connection, read-write when the file and its folder allow it, else read-only."""
    writable = os.access(path.parent, os.W_OK) and (
        not path.exists() or os.access(path, os.W_OK))
    if writable:
        try:
            return _sqlite(str(path), uri=False)
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"cannot open {display_path(path)}: {exc}") from exc
    if not path.exists():
        raise DatabaseError(f"cannot create {display_path(path)}: its folder is read-only")
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    conn = _sqlite(uri, uri=True)
    try:  # a WAL database in a read-only folder cannot make its -shm file: read as immutable
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = _sqlite(uri + "&immutable=1", uri=True)
    return conn


class LibraryConnection(sqlite3.Connection):
    """A connection that knows whether it was opened read-only."""

    readonly: bool = False


def _sqlite(target: str, *, uri: bool) -> LibraryConnection:
    conn = sqlite3.connect(target, isolation_level=None, timeout=30.0, uri=uri,
                           check_same_thread=False, factory=LibraryConnection)
    conn.readonly = uri and "mode=ro" in target
    conn.row_factory = sqlite3.Row
    return conn


def _configure(conn: sqlite3.Connection) -> None:
    if is_readonly(conn):
        return
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss,
    # and the journal's write-ahead promise needs them. One fsync per file is
    # cheap next to decoding or rewriting the file.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")


def is_readonly(conn: sqlite3.Connection) -> bool:
    """Whether ``conn`` was opened read-only (a read-only file or mount)."""
    return bool(getattr(conn, "readonly", False))


def database_file(conn: sqlite3.Connection) -> str | None:
    """The file behind ``conn`` (None for an in-memory database)."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return file or None
    return None


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
    if current < SCHEMA_VERSION and is_readonly(conn):
        raise DatabaseError(
            f"{display_path(database_file(conn) or '?')} is read-only and has schema "
            f"v{current}: open it once where it can be written to upgrade it to v{SCHEMA_VERSION}"
        )
    for version in range(current, SCHEMA_VERSION):
        # executescript commits any open transaction, so wrap it explicitly: a crash
        # mid-migration rolls back to the previous version.
        conn.execute("BEGIN IMMEDIATE")
        if schema_version(conn) > version:  # another process migrated it meanwhile
            conn.execute("ROLLBACK")
            continue
        try:
            migration = MIGRATIONS[version]
            if callable(migration):
                migration(conn)
            else:
                for statement in split_sql(migration):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``with transaction(conn):`` runs the block as one atomic write transaction.

    Raises
    ------
    DatabaseError
        The database is read-only.
    """
    if is_readonly(conn):
        raise DatabaseError(
            f"the library database {display_path(database_file(conn) or '?')} is read-only"
        )
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise database_error(exc, conn) from exc
    try:
        yield conn
        faults.point("db-commit", conn=conn)
        conn.execute("COMMIT")
    except BaseException as exc:
        _rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise database_error(exc, conn) from exc
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction (SQLite may have done it already)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # unusable: the caller's error says why
            conn.execute("ROLLBACK")
