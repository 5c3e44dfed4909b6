"""Recognising unchanged files on a rescan, without reading them.

When a run starts, the library's rows under its folders are read in one query; each
file the walk meets is then checked against them by size, mtime and inode (its own
stat, which the walk already has), and its resolved path is built from its folder's,
resolved once per folder. An unchanged file is neither sniffed nor hashed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from music_reclass.store.files import FileRow, known_files_under

__all__ = ["KnownFiles"]

#: folders whose resolved path is remembered (a walk visits them in order)
_FOLDER_CACHE = 10000


class KnownFiles:
    """The stored rows of the files under some folders, by resolved path."""

    def __init__(self) -> None:
        self.rows: dict[str, FileRow] = {}
        self._folders: dict[str, str] = {}

    def load(self, conn: sqlite3.Connection, paths: Sequence[str | os.PathLike]) -> None:
        self.rows = known_files_under(conn, [os.path.realpath(p) for p in paths])

    def get(self, path: str) -> FileRow | None:
        return self.rows.get(path)

    def unchanged(self, path: str, info: os.stat_result) -> FileRow | None:
        """The stored row of ``path`` when size, mtime and inode still match it."""
        row = self.rows.get(path)
        if row is None or row.size != info.st_size or row.mtime_ns != info.st_mtime_ns:
            return None
        if row.inode is not None and row.inode != info.st_ino:
            return None
        return row

    def known_audio(self, path: Path, info: os.stat_result, is_link: bool) -> bool:
        """For the walk: an unchanged file recorded as audio needs no sniffing."""
        row = self.unchanged(self.real_path(path, is_link), info)
        return row is not None and row.status == "ok"

    def real_path(self, path: Path, is_link: bool) -> str:
        """The resolved path (the library's key), resolving each folder only once."""
        if is_link:
            return os.path.realpath(path)
        folder = str(path.parent)
        real = self._folders.get(folder)
        if real is None:
            if len(self._folders) > _FOLDER_CACHE:
                self._folders.clear()
            real = self._folders[folder] = os.path.realpath(folder)
        return os.path.join(real, path.name)
