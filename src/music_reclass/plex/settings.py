"""Where the Plex connection comes from: arguments, environment variables, the config file.

Precedence, highest first: the arguments (command-line flags), the environment
(``RECLASS_PLEX_URL``, ``RECLASS_PLEX_TOKEN``), then the ``[plex]`` table of the
configuration file (:mod:`music_reclass.config`: ``RECLASS_CONFIG``, else
``~/.config/music-reclass/config.toml`` on Linux)::

    [plex]
    url = "http://192.168.1.10:32400"
    token = "..."                       # or leave it to RECLASS_PLEX_TOKEN
    path_map = ["/data/music=/home/me/Music"]
    section = "Music"                   # optional: one music library by name

The token is kept out of every ``repr`` and message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from music_reclass.config import config_path, load_config
from music_reclass.plex.errors import PlexSetupError, PlexURLError

ENV_URL = "RECLASS_PLEX_URL"
ENV_TOKEN = "RECLASS_PLEX_TOKEN"

__all__ = [
    "ENV_TOKEN",
    "ENV_URL",
    "PathMap",
    "PlexSettings",
    "check_url",
    "plex_config",
    "parse_path_map",
    "resolve_settings",
]


@dataclass(frozen=True)
class PathMap:
    """Plex sees a file under ``plex_prefix``; this machine sees it under ``local_prefix``.

    Prefixes match whole path components: ``/data/music`` maps
    ``/data/music/a.mp3`` but not ``/data/musicals/b.mp3``. Windows paths
    (``D:\\Music``) are compared with ``/`` separators.
    """

    plex_prefix: str
    local_prefix: str

    def apply(self, plex_path: str) -> str | None:
        """The local path of ``plex_path``, or None when it is not under ``plex_prefix``."""
        path = _slashes(plex_path)
        prefix = _slashes(self.plex_prefix).rstrip("/")
        if path == prefix:
            rest = ""
        elif path.startswith(prefix + "/") or (not prefix and path.startswith("/")):
            rest = path[len(prefix) :]
        else:
            return None
        return self.local_prefix.rstrip("/") + rest if rest else self.local_prefix

    def __str__(self) -> str:
        return f"{self.plex_prefix}={self.local_prefix}"


def _slashes(path: str) -> str:
    """``D:\\Music\\a.mp3`` -> ``D:/Music/a.mp3`` (a Plex server on Windows)."""
    return path.replace("\\", "/") if "\\" in path else path


def parse_path_map(text: str) -> PathMap:
    """Parse ``PLEX_PREFIX=LOCAL_PREFIX`` (split at the first ``=``).

    The local side is made absolute (``~`` expanded, symbolic links resolved) the
    way the library stores its paths.

    Raises
    ------
    PlexSetupError
        No ``=``, or an empty side.
    """
    plex, sep, local = str(text).partition("=")
    if not sep or not plex.strip() or not local.strip():
        raise PlexSetupError(
            f"--path-map wants PLEX_PREFIX=LOCAL_PREFIX (e.g. /data/music=/home/me/Music), "
            f"got {text!r}"
        )
    local_path = os.path.realpath(os.path.expanduser(local.strip()))
    return PathMap(plex.strip(), local_path)


def check_url(url: str) -> str:
    """``url`` as the server's base URL (no trailing slash), or a clear error.

    Raises
    ------
    PlexURLError
        Not ``http``/``https``, no host, a bad port, or a query/fragment part
        (a token pasted into the URL is refused rather than stored in run records).
    """
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise PlexURLError(
            f"malformed Plex URL ({exc}); expected e.g. http://192.168.1.10:32400"
        ) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        shown = f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else repr(text[:40])
        raise PlexURLError(
            f"the Plex URL must start with http:// or https:// and name a host, got {shown}; "
            "expected e.g. http://192.168.1.10:32400"
        )
    if parts.query or parts.fragment:
        raise PlexURLError(
            "the Plex URL must not carry a query (?...) or fragment (#...), just e.g. "
            "http://192.168.1.10:32400: pass the token with --token or RECLASS_PLEX_TOKEN"
        )
    del port
    return text.rstrip("/")


@dataclass(frozen=True)
class PlexSettings:
    """Everything needed to reach one Plex server and map its paths."""

    url: str
    token: str = field(repr=False)
    path_maps: tuple[PathMap, ...] = ()
    section: str | None = None
    timeout: float = 30.0


def plex_config() -> Mapping:
    """The ``[plex]`` table of the configuration file (``{}`` without one).

    Raises
    ------
    ParameterError
        The file is not valid TOML or holds an unknown key or a value of the wrong type.
    """
    return load_config().data.get("plex", {})


def _config_maps(value: object) -> list[str]:
    """``path_map`` of the config: a list of ``"PLEX_PREFIX=LOCAL_PREFIX"`` strings."""
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise PlexSetupError(
        f'{config_path()}: [plex] path_map must be a list of "PLEX_PREFIX=LOCAL_PREFIX" strings'
    )


def resolve_settings(
    url: str | None = None,
    token: str | None = None,
    path_maps: Sequence[str] | None = None,
    section: str | None = None,
    *,
    timeout: float = 30.0,
    config: Mapping | None = None,
    env: Mapping[str, str] | None = None,
    need_token: bool = True,
) -> PlexSettings:
    """Combine arguments, environment and config into :class:`PlexSettings`.

    Parameters
    ----------
    url, token, section : str, optional
        Given explicitly (command-line flags); None falls back to env, then config.
    path_maps : sequence of str, optional
        ``PLEX_PREFIX=LOCAL_PREFIX`` strings; when None (not given), the config's.
    config : mapping, optional
        The ``[plex]`` table (default: :func:`plex_config`).
    env : mapping, optional
        Environment (default: ``os.environ``).
    need_token : bool
        Raise when no token is found (every server call needs one).

    Raises
    ------
    PlexSetupError, PlexURLError
        No URL, no token, a malformed URL or path map.
    """
    env = os.environ if env is None else env
    config = plex_config() if config is None else config
    url = url or env.get(ENV_URL) or config.get("url")
    token = token or env.get(ENV_TOKEN) or config.get("token")
    if not url:
        raise PlexSetupError(
            f"no Plex server URL: pass --url, set {ENV_URL}, or set url under [plex] in "
            f"{config_path()}"
        )
    if need_token and not token:
        raise PlexSetupError(
            f"no Plex token: pass --token, set {ENV_TOKEN}, or set token under [plex] in "
            f"{config_path()} (README: 'Plex' tells where to find it)"
        )
    maps_text = list(path_maps) if path_maps else _config_maps(config.get("path_map"))
    maps = tuple(parse_path_map(text) for text in maps_text)
    return PlexSettings(
        url=check_url(str(url)),
        token=str(token or ""),
        path_maps=maps,
        section=section or config.get("section"),
        timeout=float(timeout),
    )
