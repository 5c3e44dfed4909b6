"""Making a file system change survive a power cut: the one place that fsyncs folders.

Used by everything that writes atomically (a temporary file renamed into place): acting
on music files (:mod:`music_reclass.act.safe_write`) and training checkpoints.
"""

from __future__ import annotations

import os

__all__ = ["fsync_dir"]


def fsync_dir(directory: str | os.PathLike) -> None:
    """fsync a directory so that a rename/create in it survives power loss."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not supported here (e.g. Windows): best effort
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
