"""Where music_reclass keeps its state on the user's machine."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "music-reclass"


def data_dir() -> Path:
    """Directory for the library database and caches.

    ``RECLASS_DATA_DIR`` overrides the platform default
    (``~/.local/share/music-reclass`` on Linux).
    """
    override = os.environ.get("RECLASS_DATA_DIR")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    """The default SQLite library database (``RECLASS_DB`` overrides it)."""
    override = os.environ.get("RECLASS_DB")
    return Path(override) if override else data_dir() / "library.sqlite"


def cache_dir() -> Path:
    """Directory for the feature cache."""
    override = os.environ.get("RECLASS_CACHE_DIR")
    path = Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path
