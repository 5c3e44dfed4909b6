"""The :class:`Library` façade's base: its database, connections and models.

A :class:`LibraryBase` holds the path of one library database and opens one SQLite
connection per thread on first use (a web server calls it from many threads; SQLite
connections must not be shared between threads mid-transaction). It keeps no other
state: everything is in the database, so several processes can use one library.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

from music_reclass.errors import ReclassError
from music_reclass.paths import default_db_path
from music_reclass.store.db import connect, is_readonly

__all__ = ["CancelToken", "LibraryBase"]


class CancelToken:
    """A thread-safe "please stop" flag for long jobs (``cancel=token`` on any job).

    A job polls it between files; the files done so far stay done and recorded.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        return self._event.is_set()


class LibraryBase:
    """One library database; connections are opened lazily, one per thread.

    Parameters
    ----------
    db_path : str or Path, optional
        The database file (default: ``RECLASS_DB`` or the platform's data folder).
    """

    def __init__(self, db_path: str | os.PathLike | None = None) -> None:
        self.path = Path(db_path) if db_path is not None else default_db_path()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r})"

    def __enter__(self) -> LibraryBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def exists(self) -> bool:
        """Whether the database file exists (only :meth:`classify` creates it)."""
        return self.path.is_file()

    def connection(self, *, create: bool = False) -> sqlite3.Connection:
        """This thread's connection, opened (and migrated) on first use.

        Raises
        ------
        MissingDatabaseError
            No database at :attr:`path` and ``create`` is False.
        DatabaseError
            The file is not a usable library database.
        """
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, create=create)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def writable_connection(self, *, create: bool = False) -> sqlite3.Connection:
        """This thread's connection, refusing a read-only database up front."""
        conn = self.connection(create=create)
        if is_readonly(conn):
            raise ReclassError(f"the library database {self.path} is read-only")
        return conn

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.ProgrammingError):  # already closed
                conn.close()
        self._local = threading.local()
