"""The owner's genre settings in the config file: a genre map and the rare-genre rule.

What the ``[genre_map]`` and ``[genres]`` tables of the config file
(``RECLASS_CONFIG``, else ``~/.config/music-reclass/config.toml`` or the platform's
config folder; read by :mod:`music_reclass.config`) mean for learning::

    [genre_map]                 # your spelling = the label you want
    "Hip Hop" = "Hip-Hop"       # one spelling for a genre
    "Rap" = "Hip-Hop"           # merge two genres
    "Misc" = false              # never a training label ("" works too)

    [genres]
    ignore = ["Other", "Unknown"]   # more names that are never labels
    min_tracks = 5                  # `reclass learn`'s default for --min-tracks
    rare = "pool"                   # genres with fewer tracks: pool | drop
    other = "Other"                 # the name of the pooled genre

Names are matched by
:func:`~music_reclass.taxonomy.genre_key` (case, spacing and punctuation ignored).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from music_reclass.config import load_config
from music_reclass.errors import ParameterError
from music_reclass.taxonomy import genre_key

__all__ = ["RARE_ACTIONS", "GenreConfig", "read_genre_config"]

RARE_ACTIONS = ("drop", "pool")
#: how many mapping steps a name may take ("Rap" -> "Hip Hop" -> "Hip-Hop")
_MAX_STEPS = 8


@dataclass(frozen=True)
class GenreConfig:
    """The genre settings of one config file (all empty when there is none).

    Attributes
    ----------
    path : Path or None
        The file read (None: no config file).
    mapping : dict
        ``{key of a spelling: the label it becomes}``; None means "ignore this name".
    ignore : frozenset of str
        Keys of names that are never labels.
    min_tracks : int or None
    rare : str or None
        ``"drop"`` or ``"pool"``.
    other : str
        The pooled genre's name.
    """

    path: Path | None = None
    mapping: dict[str, str | None] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()
    min_tracks: int | None = None
    rare: str | None = None
    other: str = "Other"

    def resolve(self, name: str) -> str | None:
        """The label ``name`` becomes: itself, its mapped target, or None (ignored).

        Raises
        ------
        ParameterError
            The map loops ("A" -> "B" -> "A").
        """
        current, seen = name, []
        for _ in range(_MAX_STEPS):
            key = genre_key(current)
            if key in self.ignore:
                return None
            if key not in self.mapping:
                return current
            seen.append(current)
            target = self.mapping[key]
            if target is None:
                return None
            if genre_key(target) == key:
                return target
            current = target
        raise ParameterError(f"the genre map of {self.path} loops: {' -> '.join(seen)}")

    def summary(self) -> dict[str, Any]:
        """What was read, JSON-able (for the model's sidecar)."""
        return {"path": None if self.path is None else str(self.path),
                "mapped": len(self.mapping), "ignored": sorted(self.ignore),
                "min_tracks": self.min_tracks, "rare": self.rare, "other": self.other}


def read_genre_config(path: str | os.PathLike | None = None) -> GenreConfig:
    """The genre tables of the config file (no file: empty settings).

    The file is read and checked by :func:`music_reclass.config.load_config`, the one
    reader of the config file; this gives its ``[genre_map]`` and ``[genres]`` meaning.

    Parameters
    ----------
    path : path-like, optional
        The file, which must exist (default: ``RECLASS_CONFIG``, else the platform's
        config folder; absent, no settings).

    Raises
    ------
    ParameterError
        A named file missing, TOML that does not parse, an unknown key, or values of
        the wrong type.
    """
    config = load_config(path)
    if not config.exists:
        if path is not None:  # a file asked for by name must be there
            raise ParameterError(f"config file not found: {config.path}")
        return GenreConfig()
    file = config.path
    genres = dict(config.data.get("genres", {}))
    return GenreConfig(
        path=file, mapping=_mapping(config.genre_map()),
        ignore=frozenset(genre_key(_text(v, "genres.ignore", file))
                         for v in genres.get("ignore", [])),
        min_tracks=_min_tracks(genres.get("min_tracks"), file),
        rare=_rare(genres.get("rare"), file),
        other=_text(genres.get("other", "Other"), "genres.other", file).strip() or "Other",
    )


def _mapping(table: dict[str, str]) -> dict[str, str | None]:
    """Keys of the owner's spellings -> the label (None: never a label)."""
    out: dict[str, str | None] = {genre_key(source): " ".join(target.split()) or None
                                  for source, target in table.items()}
    out.pop("", None)
    return out


def _text(value: Any, where: str, file: Path) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"{file}: {where} must be text, not {value!r}")
    return value


def _min_tracks(value: Any, file: Path) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{file}: genres.min_tracks must be a whole number >= 1")
    return value


def _rare(value: Any, file: Path) -> str | None:
    if value is None:
        return None
    if value not in RARE_ACTIONS:
        raise ParameterError(f"{file}: genres.rare must be one of {', '.join(RARE_ACTIONS)}")
    return str(value)
