"""The user's own, already tagged music as a training set.

Labels come either from the genre tags in the files (``label_from="tags"``) or from a
folder level of the layout (``label_from="folder"``, e.g. ``Music/<Genre>/<Artist>/...``),
normalised through the taxonomy's alias table so that "Hip Hop", "hiphop" and "Rap"
become one label. Artists come from the tags, for artist-aware splits.

Files without a usable label stay in the index with ``label=None`` and are reported
(code ``no-label``) with the reason; splits and folds only use labelled tracks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from music_reclass.datasets.base import Dataset, Problem, Track
from music_reclass.errors import ParameterError

__all__ = ["AUDIO_SUFFIXES", "load_library"]

#: File name endings indexed as audio (content is checked by :meth:`Dataset.validate`).
AUDIO_SUFFIXES = frozenset({
    ".mp3", ".mp2", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".m4b", ".mp4", ".aac",
    ".wav", ".wave", ".aif", ".aiff", ".aifc", ".au", ".snd", ".wma", ".wv", ".ape", ".mka",
})


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
    normalise, normaliser_note = _normaliser(taxonomy)
    problems: list[Problem] = [] if normaliser_note is None else [
        Problem("taxonomy", normaliser_note, severity="warning")]
    tracks: list[Track] = []
    for file in _audio_files(root):
        rel = file.relative_to(root)
        track_id = rel.as_posix()
        tags = _read_tags(file) if (label_from == "tags" or read_artists) else None
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


def _audio_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES:
                found.append(Path(folder) / name)
    return found


def _normaliser(taxonomy: str | None) -> tuple[Callable[[str], str | None], str | None]:
    """The label normaliser, and a note when the taxonomy module is unavailable."""
    if taxonomy is None:
        return (lambda name: name.strip() or None), None
    try:
        from music_reclass.taxonomy import normalise_genre
    except ImportError as exc:  # the taxonomy layer is optional for this module
        note = (f"genre normalisation unavailable ({exc}); labels kept as written, "
                "lower-cased")
        return (lambda name: " ".join(name.split()).casefold() or None), note

    def normalise(name: str) -> str | None:
        return normalise_genre(name, taxonomy=taxonomy)

    normalise_genre("rock", taxonomy=taxonomy)  # raises ParameterError for an unknown taxonomy now
    return normalise, None


def _read_tags(path: Path):
    """``read_tags`` of the library layer, or a minimal mutagen read if it is absent."""
    try:
        from music_reclass.library.tags import read_tags
    except ImportError:
        return _minimal_tags(path)
    return read_tags(path)


class _MinimalTags:
    def __init__(self, title=None, artist=None, album=None, genres=(), warnings=()):
        self.title, self.artist, self.album = title, artist, album
        self.genres, self.warnings = list(genres), list(warnings)


def _minimal_tags(path: Path) -> _MinimalTags:
    import mutagen

    try:
        audio = mutagen.File(path, easy=True)
    except Exception as exc:  # noqa: BLE001 - damaged tags must not stop indexing
        return _MinimalTags(warnings=[f"{path}: unreadable tags ({exc})"])
    tags = getattr(audio, "tags", None) or {}

    def first(key: str) -> str | None:
        values = tags.get(key) or []
        return str(values[0]).strip() or None if values else None

    return _MinimalTags(first("title"), first("artist"), first("album"),
                        [str(g).strip() for g in tags.get("genre", []) if str(g).strip()])
