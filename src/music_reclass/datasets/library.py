"""The user's own, already tagged music as a training set.

Labels come either from the genre tags in the files (``label_from="tags"``) or from a
folder level of the layout (``label_from="folder"``, e.g. ``Music/<Genre>/<Artist>/...``),
normalised through the taxonomy's alias table so that "Hip Hop", "hiphop" and "Rap"
become one label. Artists come from the tags, for artist-aware splits.

Files without a usable label stay in the index with ``label=None`` and are reported
(code ``no-label``) with the reason; splits and folds only use labelled tracks.

Files are found by :func:`music_reclass.audio.discover.iter_candidates`, the walker of
``reclass classify``, so both agree on what is audio: the files it rejects (a file
with an audio extension that is not audio, an unreadable file, a broken symlink...)
are reported as problems (``not-audio`` or ``unreadable``, severity ``error``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from music_reclass.audio.discover import iter_candidates
from music_reclass.audio.tags import read_tags
from music_reclass.datasets.base import Dataset, Problem, Track
from music_reclass.errors import ParameterError
from music_reclass.taxonomy import normalise_genre

__all__ = ["load_library"]


def load_library(
    path: str | os.PathLike,
    *,
    label_from: str = "tags",
    folder_level: int = 0,
    taxonomy: str | None = "default",
    read_artists: bool = True,
) -> Dataset:
    """Index a music folder with labels from its genre tags or its folder names.

    Parameters
    ----------
    path : path-like
        The music folder (searched recursively; hidden files and folders skipped).
    label_from : {"tags", "folder"}
        ``"tags"``: the first genre tag that the taxonomy recognises.
        ``"folder"``: the name of one folder on the file's path.
    folder_level : int
        Which folder names the genre with ``label_from="folder"``: ``0`` is the first
        folder under ``path`` (``path/<Genre>/<Artist>/<Album>/x.mp3``), ``1`` the one
        below it...; ``-1`` is the folder holding the file, ``-2`` its parent...
    taxonomy : str or None
        Taxonomy whose aliases normalise the labels (``"default"``, ``"gtzan"``), or
        ``None`` to keep them as written (whitespace trimmed).
    read_artists : bool
        Read the artist tag (needed by ``split("artist")`` and :meth:`Dataset.group_kfold`).

    Returns
    -------
    Dataset
        Named ``"library"``; track ids are paths relative to ``path``; ``extra`` holds
        ``raw_genres`` (the tag values or folder name) and ``title``, ``album``.
    """
    if label_from not in ("tags", "folder"):
        raise ParameterError(f"label_from must be 'tags' or 'folder', got {label_from!r}")
    if not isinstance(folder_level, int):
        raise ParameterError(f"folder_level must be an integer, got {folder_level!r}")
    root = Path(path)
    if not root.is_dir():
        raise ParameterError(f"music folder not found: {root}")
    normalise = _normaliser(taxonomy)
    problems: list[Problem] = []
    tracks: list[Track] = []
    for file in _audio_files(root, problems):
        rel = file.relative_to(root)
        track_id = rel.as_posix()
        tags = read_tags(file) if (label_from == "tags" or read_artists) else None
        for warning in getattr(tags, "warnings", []) or []:
            problems.append(Problem("unreadable-tags", warning, track_id, file, "warning"))
        if label_from == "tags":
            raw = list(tags.genres) if tags else []
            why_not = "no genre tag"
        else:
            folders = rel.parts[:-1]
            raw = [folders[folder_level]] if -len(folders) <= folder_level < len(folders) else []
            why_not = f"no folder at level {folder_level} above it"
        label = next((g for g in (normalise(r) for r in raw) if g), None)
        if label is None:
            if raw:
                why_not = (f"genre {raw!r} not recognised by taxonomy {taxonomy!r}" if taxonomy
                           else f"empty genre {raw!r}")
            problems.append(Problem("no-label", why_not, track_id, file, "warning"))
        extra: dict[str, Any] = {"raw_genres": raw}
        if tags is not None:
            extra.update(title=tags.title, album=tags.album)
        artist = tags.artist if (tags is not None and read_artists) else None
        tracks.append(Track(track_id, file, label, artist, None, extra))
    if not tracks:
        raise ParameterError(f"no audio files under {root}")
    return Dataset("library", tracks, problems=problems, root=root)


def _audio_files(root: Path, problems: list[Problem]) -> list[Path]:
    """The audio files under ``root``; the files rejected as errors go to ``problems``."""
    found: list[Path] = []
    for candidate in iter_candidates(root):
        if candidate.kind == "audio":
            found.append(candidate.path)
        elif candidate.kind == "error":
            reason = candidate.reason or "unreadable"
            code = "not-audio" if reason.startswith("not audio") else "unreadable"
            track_id = _relative_id(candidate.path, root)
            problems.append(Problem(code, reason, track_id, candidate.path, "error"))
    return found


def _relative_id(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # pragma: no cover - the walker only yields paths below root
        return None


def _normaliser(taxonomy: str | None) -> Callable[[str], str | None]:
    """The label normaliser of ``taxonomy`` (ParameterError now for an unknown one)."""
    if taxonomy is None:
        return lambda name: name.strip() or None

    def normalise(name: str) -> str | None:
        return normalise_genre(name, taxonomy=taxonomy)

    normalise_genre("rock", taxonomy=taxonomy)  # raises ParameterError for an unknown taxonomy now
    return normalise
