"""On-disk cache of feature vectors, one ``.npy`` per (extractor, version, content).

Layout: ``<root>/<name>/<version>/<hash[:2]>/<hash>.npy`` where ``root`` is
``paths.cache_dir() / "features"`` by default and ``hash`` is the audio
layer's content hash, so a renamed or moved file is still a hit and an edited
one is a miss. Different extractor versions live in different folders and never
mix. Files are written to a temporary name and renamed into place
(``os.replace``), so concurrent writers and crashes leave either a whole file
or none; a file that is unreadable or has the wrong shape is deleted and
treated as a miss.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from os import PathLike
from pathlib import Path

import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.features.registry import FeatureExtractor

__all__ = ["FeatureCache"]

_SAFE = re.compile(r"[^A-Za-z0-9._+=-]")
_HEX = re.compile(r"^[0-9A-Za-z_-]{8,}$")


def _safe_component(text: str) -> str:
    """A path component from a name or version (no separators, no ``..``)."""
    cleaned = _SAFE.sub("_", text)
    if not cleaned or set(cleaned) == {"."}:
        raise ParameterError(f"cannot use {text!r} in a cache path")
    return cleaned


class FeatureCache:
    """Feature vectors stored by (extractor name, extractor version, content hash).

    Parameters
    ----------
    root : str or PathLike, optional
        Folder of the cache; default ``paths.cache_dir() / "features"``.
    """

    def __init__(self, root: str | PathLike | None = None):
        if root is None:
            from music_reclass import paths

            root = paths.cache_dir() / "features"
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    def path_for(self, extractor: FeatureExtractor, key: str) -> Path:
        """Where the vector of content ``key`` for ``extractor`` is stored."""
        if not isinstance(key, str) or not _HEX.match(key):
            raise ParameterError(f"invalid cache key {key!r}")
        return (
            self.root
            / _safe_component(extractor.name)
            / _safe_component(extractor.version)
            / key[:2]
            / f"{key}.npy"
        )

    def load(self, extractor: FeatureExtractor, key: str) -> np.ndarray | None:
        """The cached vector, or ``None`` on a miss.

        A file that cannot be read, or holds anything but a finite float32
        vector of ``extractor.dim`` values, is removed and counts as a miss.
        """
        path = self.path_for(extractor, key)
        try:
            vector = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            self._discard(path)
            return None
        if (
            vector.shape != (extractor.dim,)
            or vector.dtype != np.float32
            or not np.all(np.isfinite(vector))
        ):
            self._discard(path)
            return None
        return vector

    def store(self, extractor: FeatureExtractor, key: str, vector: np.ndarray) -> Path:
        """Write ``vector`` atomically; return its path."""
        vector = np.asarray(vector)
        if vector.shape != (extractor.dim,):
            raise ParameterError(
                f"{extractor.name} vectors have {extractor.dim} values, got shape {vector.shape}"
            )
        path = self.path_for(extractor, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, vector.astype(np.float32), allow_pickle=False)
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        return path

    def clear(self, extractor: FeatureExtractor | None = None) -> int:
        """Delete the cached vectors of one extractor version (or all); return how many."""
        base = self.root
        if extractor is not None:
            base = base / _safe_component(extractor.name) / _safe_component(extractor.version)
        count = 0
        for path in base.rglob("*.npy"):
            self._discard(path)
            count += 1
        return count

    @staticmethod
    def _discard(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()
