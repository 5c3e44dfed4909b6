"""The owner's genre settings in the config file: a genre map and the rare-genre rule.

A small reader for the ``[genre_map]`` and ``[genres]`` tables of the config file
(``RECLASS_CONFIG``, else ``~/.config/music-reclass/config.toml`` or the platform's
config folder). The project's general config loader will take this over; until then
this module reads only these two tables and ignores the rest of the file::

    [genre_map]                 # your spelling = the label you want
    "Hip Hop" = "Hip-Hop"       # one spelling for a genre
    "Rap" = "Hip-Hop"           # merge two genres
    "Misc" = false              # never a training label ("" works too)

    [genres]
    ignore = ["Other", "Unknown"]   # more names that are never labels
    min_tracks = 5                  # `reclass learn`'s default for --min-tracks
    rare = "pool"                   # genres with fewer tracks: pool | drop
    other = "Other"                 # the name of the pooled genre

``[genres.map]`` is read like ``[genre_map]``. Names are matched by
:func:`~music_reclass.taxonomy.genre_key` (case, spacing and punctuation ignored).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from music_reclass.errors import ParameterError
from music_reclass.taxonomy import genre_key

__all__ = ["CONFIG_ENV", "RARE_ACTIONS", "GenreConfig", "config_path", "read_genre_config"]

CONFIG_ENV = "RECLASS_CONFIG"
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


def config_path() -> Path:
    """``RECLASS_CONFIG``, else ``config.toml`` in the platform's config folder."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("music-reclass")) / "config.toml"


def read_genre_config(path: str | os.PathLike | None = None) -> GenreConfig:
    """Read the genre tables of the config file (an absent default file is no error).

    Parameters
    ----------
    path : path-like, optional
        The file (default :func:`config_path`). A file named explicitly, or by
        ``RECLASS_CONFIG``, must exist.

    Raises
    ------
    ParameterError
        A named file missing, TOML that does not parse, or values of the wrong type.
    """
    named = path is not None or bool(os.environ.get(CONFIG_ENV))
    file = Path(path).expanduser() if path is not None else config_path()
    if not file.is_file():
        if named:
            raise ParameterError(f"config file not found: {file}")
        return GenreConfig()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read the config file {file}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"config file {file} is not valid TOML: {exc}") from exc
    genres = _table(data, "genres", file)
    mapping = _mapping({**_table(genres, "map", file), **_table(data, "genre_map", file)}, file)
    return GenreConfig(
        path=file, mapping=mapping,
        ignore=frozenset(genre_key(_text(v, "genres.ignore", file))
                         for v in _list(genres.get("ignore", []), "genres.ignore", file)),
        min_tracks=_min_tracks(genres.get("min_tracks"), file),
        rare=_rare(genres.get("rare"), file),
        other=_text(genres.get("other", "Other"), "genres.other", file).strip() or "Other",
    )


def _table(data: dict[str, Any], key: str, file: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ParameterError(f"{file}: [{key}] must be a table")
    return value


def _mapping(table: dict[str, Any], file: Path) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for source, target in table.items():
        if target is False or (isinstance(target, str) and not target.strip()):
            out[genre_key(source)] = None
        elif isinstance(target, str):
            out[genre_key(source)] = " ".join(target.split())
        else:
            raise ParameterError(f"{file}: genre_map {source!r} must name a genre (or be false)")
    out.pop("", None)
    return out


def _list(value: Any, where: str, file: Path) -> list[Any]:
    if not isinstance(value, list):
        raise ParameterError(f"{file}: {where} must be a list of names")
    return value


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
