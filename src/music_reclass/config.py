"""The configuration file: defaults for every command, in one TOML file.

Where: ``RECLASS_CONFIG``, else ``~/.config/music-reclass/config.toml`` (the platform's
user config folder). A missing file is an empty configuration. Precedence, highest
first: command-line flags, environment variables (``RECLASS_DB``, ``RECLASS_PLEX_URL``,
``RECLASS_PLEX_TOKEN``, ``RECLASS_TOKEN``), the file, the built-in defaults.

Keys (every one optional)::

    [library]
    db = "~/Music/.reclass.sqlite"      # the library database

    [classify]
    jobs = 2                            # worker processes
    taxonomy = "default"                # the embedded model's genres: default | gtzan | FILE
    dask = "local:2"                    # or tcp://host:8786

    [tag]
    min_confidence = 0.5                # omit to follow the model's decisions
    top_k = 3
    mode = "replace"                    # replace | append | fill

    [organise]
    pattern = "{genre}/{artist}/{album}/{filename}"
    copy = true                         # copy rather than move

    [genre_map]                         # your spellings: "their name" = "your name"
    "Hip Hop" = "Hip-Hop"
    "Spoken Word" = ""                  # an empty name (or false) drops the genre

    [genres]                            # what `reclass learn` takes from your tags
    ignore = ["Other"]                  # names that are never genres
    min_tracks = 5                      # fewer tracks: a rare genre
    rare = "drop"                       # rare genres: pool | drop

    [plex]
    url = "http://plex.local:32400"
    token = "..."
    path_map = ["/data/music=/home/me/Music"]

    [serve]
    host = "127.0.0.1"
    port = 8750
    token = "..."
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from music_reclass.errors import ParameterError

__all__ = ["KEYS", "Config", "config_path", "load_config"]

#: every known key: section -> {key: (type, description)}
KEYS: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "library": {"db": (str, "the library database file")},
    "classify": {"jobs": (int, "worker processes"), "taxonomy": (str, "genres of the embedded model"),
                 "dask": (str, "Dask cluster: local:N or a scheduler address"),
                 "cascade": (bool, "run the progressive cascade of the embedded models")},
    "tag": {"min_confidence": ((int, float), "write genres at least this confident"),
            "top_k": (int, "at most this many genres"), "mode": (str, "replace | append | fill")},
    "organise": {"pattern": (str, "target path pattern"), "copy": (bool, "copy rather than move")},
    "genre_map": {},
    "genres": {"ignore": (list, "names that are never genres"),
               "min_tracks": (int, "reclass learn: fewest tracks a genre needs"),
               "rare": (str, "reclass learn: rarer genres are pool | drop"),
               "other": (str, "reclass learn: the pooled genre's name")},
    "plex": {"url": (str, "Plex server URL"), "token": (str, "Plex token"),
             "path_map": (list, "PLEX=LOCAL prefixes"), "section": (str, "music section name")},
    "serve": {"host": (str, "address to listen on"), "port": (int, "port"),
              "token": (str, "token every request must carry")},
}
_SECRETS = {("plex", "token"), ("serve", "token")}


def config_path() -> Path:
    """Where the configuration file is (it may not exist)."""
    override = os.environ.get("RECLASS_CONFIG")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("music-reclass")) / "config.toml"


@dataclass(frozen=True)
class Config:
    """The parsed configuration file."""

    path: Path
    exists: bool
    data: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def get(self, section: str, key: str, default: Any = None) -> Any:
        """A value of the file, or ``default`` when it is not set."""
        return self.data.get(section, {}).get(key, default)

    def genre_map(self) -> dict[str, str]:
        """``[genre_map]``: the owner's spellings (``""``: the genre is dropped; ``false``
        reads as ``""``)."""
        return {str(k): "" if v is False else str(v)
                for k, v in self.data.get("genre_map", {}).items()}

    def shown(self) -> dict[str, dict[str, Any]]:
        """The values for display, secrets hidden."""
        return {section: {key: "***" if (section, key) in _SECRETS else value
                          for key, value in values.items()}
                for section, values in self.data.items()}


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and check the configuration file (a missing file is an empty configuration).

    Raises
    ------
    ParameterError
        The file cannot be read, is not valid TOML, or holds an unknown section or key,
        or a value of the wrong type (the message names the key).
    """
    where = Path(path).expanduser() if path is not None else config_path()
    if not where.exists():
        return Config(where, False, {})
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError(f"cannot read the config file {where}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"the config file {where} is not valid TOML: {exc}") from exc
    _check(where, data)
    if "db" in data.get("library", {}):
        data["library"]["db"] = str(Path(data["library"]["db"]).expanduser())
    return Config(where, True, data)


def _check(path: Path, data: Mapping[str, Any]) -> None:
    where = f"config file {path}"
    for section, values in data.items():
        if section not in KEYS:
            raise ParameterError(f"{where}: unknown section [{section}] (known: "
                                 f"{', '.join(KEYS)})")
        if not isinstance(values, dict):
            raise ParameterError(f"{where}: [{section}] must be a table")
        if section == "genre_map":
            bad = [k for k, v in values.items() if not (isinstance(v, str) or v is False)]
            if bad:
                raise ParameterError(f"{where}: [genre_map] {bad[0]!r} must map to a name "
                                     "(or false)")
            continue
        for key, value in values.items():
            if key not in KEYS[section]:
                raise ParameterError(f"{where}: unknown key {key!r} in [{section}] (known: "
                                     f"{', '.join(KEYS[section])})")
            kind = KEYS[section][key][0]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ParameterError(f"{where}: [{section}] {key} has the wrong type "
                                     f"({type(value).__name__})")
