"""Connecting to a Plex Media Server through python-plexapi, with one clear error per failure.

:func:`connect` asks the server for its root (``GET /``: name, version, machine
identifier) and its library sections, and keeps the music ones. Whatever goes
wrong on the way becomes one of :mod:`music_reclass.plex.errors`: unreachable,
wrong token (401), not a Plex server, no music library. python-plexapi is
imported here only, on first use, so the rest of ``reclass`` works without the
optional ``plex`` extra.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from music_reclass.plex.errors import (
    NoMusicSectionError,
    NotPlexError,
    PlexAuthError,
    PlexMissingError,
    PlexServerError,
    PlexUnreachableError,
)
from music_reclass.plex.settings import PlexSettings

#: Plex Media Server keeps genres on tracks (not only albums and artists) from this version.
MIN_TRACK_GENRES = (1, 40)

__all__ = ["MIN_TRACK_GENRES", "PlexSession", "connect", "parse_version", "translate_errors"]


def parse_version(text: str | None) -> tuple[int, ...]:
    """``"1.40.2.8395-c67dce28e"`` -> ``(1, 40, 2, 8395)``; ``()`` when unreadable."""
    if not text:
        return ()
    numbers = re.match(r"^\s*(\d+(?:\.\d+)*)", text)
    return tuple(int(n) for n in numbers.group(1).split(".")) if numbers else ()


@dataclass
class PlexSession:
    """A connected server and its music sections (python-plexapi objects)."""

    server: Any  # plexapi.server.PlexServer
    url: str
    name: str
    version: str
    machine_identifier: str
    sections: tuple[Any, ...]  # plexapi.library.MusicSection, at least one
    token: str = field(default="", repr=False)

    def errors(self):
        """``with session.errors():`` around a server call: see :func:`translate_errors`."""
        return translate_errors(self.url, self.token)

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return parse_version(self.version)

    @property
    def track_genres(self) -> bool:
        """Does this server keep genres per track (Plex Media Server >= 1.40)?"""
        return self.version_tuple >= MIN_TRACK_GENRES

    def item_uri(self, rating_key: int) -> str:
        """A stable name for one item of this server (the journal's ``path`` of a Plex row)."""
        return f"plex://{self.machine_identifier}/library/metadata/{rating_key}"

    def describe(self) -> str:
        return f"{self.name} (Plex Media Server {self.version}) at {self.url}"


def _plexapi():
    try:
        import plexapi.exceptions
        import plexapi.server
        import requests
    except ImportError as exc:
        raise PlexMissingError(
            "python-plexapi is not installed: pip install 'music-reclass[plex]'"
        ) from exc
    return plexapi.server, plexapi.exceptions, requests


def _reason(exc: BaseException) -> str:
    """The innermost useful words of a connection error ("Connection refused", "timed out")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        if isinstance(current, TimeoutError) or "timed out" in str(current).lower():
            return "timed out"
        current = (
            current.__cause__
            or current.__context__
            or (
                current.args[0]
                if current.args and isinstance(current.args[0], BaseException)
                else None
            )
        )
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "timed out", "certificate verify failed", "Temporary failure in name resolution"):  # fmt: skip
        if marker.lower() in text.lower():
            return marker
    return type(exc).__name__


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


@contextmanager
def translate_errors(url: str, token: str = "") -> Iterator[None]:
    """Turn what python-plexapi and requests raise into :mod:`~music_reclass.plex.errors`.

    Wrap every call to the server in it: a server that goes away halfway through
    a run is then the same one-line error as one that was never there.
    """
    _, plex_errors, requests = _plexapi()
    try:
        yield
    except requests.exceptions.SSLError as exc:
        raise PlexUnreachableError(
            f"cannot reach Plex at {url}: TLS failed ({_scrub(_reason(exc), token)}); "
            "try http:// or the server's plex.direct address"
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise PlexUnreachableError(
            f"cannot reach Plex at {url}: {_scrub(_reason(exc), token)}; is the server running "
            "and the address and port (usually 32400) right?"
        ) from None
    except plex_errors.Unauthorized:
        raise PlexAuthError(
            f"Plex at {url} refused the token (401 Unauthorized): check the X-Plex-Token "
            "(README, section Plex, tells where to find it)"
        ) from None
    except (plex_errors.BadRequest, plex_errors.NotFound) as exc:
        # plexapi's message is "(400) bad_request; <url> <body>": the status says it
        status = str(exc).split(";")[0].strip()
        raise PlexServerError(f"Plex at {url} answered {_scrub(status, token)[:100]}") from None


def connect(settings: PlexSettings, *, http_session: Any = None) -> PlexSession:
    """Connect to the server of ``settings`` and find its music sections.

    Parameters
    ----------
    settings : PlexSettings
        URL, token, timeout and (optionally) the name of one music section.
    http_session : requests.Session, optional
        Passed to python-plexapi (default: a new one).

    Returns
    -------
    PlexSession

    Raises
    ------
    PlexUnreachableError, PlexAuthError, NotPlexError, NoMusicSectionError, PlexMissingError
        With a one-line reason; none of them quotes the token.
    """
    server_module, plex_errors, _ = _plexapi()
    url, token = settings.url, settings.token
    try:
        with translate_errors(url, token):
            server = server_module.PlexServer(
                url, token, session=http_session, timeout=settings.timeout
            )
            sections = server.library.sections()
    except (PlexUnreachableError, PlexAuthError):
        raise  # (they are ValueErrors too: keep them from the clause below)
    except (
        plex_errors.PlexApiException,
        PlexServerError,
        ValueError,
        AttributeError,
        TypeError,
    ) as exc:
        # NotFound/BadRequest (another web server), XML parse errors, an empty answer
        raise NotPlexError(
            f"{url} answered, but not as a Plex Media Server does "
            f"({_scrub(type(exc).__name__ + ': ' + str(exc), token)[:200]})"
        ) from None
    if not server.machineIdentifier or not server.version:
        raise NotPlexError(f"{url} answered, but without a Plex server identity")
    return PlexSession(
        server=server,
        url=url,
        name=server.friendlyName or url,
        version=server.version,
        machine_identifier=server.machineIdentifier,
        sections=_music_sections(sections, settings.section, server.friendlyName or url),
        token=token,
    )


def _music_sections(sections: list, wanted: str | None, name: str) -> tuple[Any, ...]:
    music = [s for s in sections if getattr(s, "type", None) == "artist"]
    others = ", ".join(f"{s.title} ({s.type})" for s in sections) or "none"
    if not music:
        raise NoMusicSectionError(
            f"Plex server {name} has no music library (its libraries: {others}); add one in "
            "Plex (type Music) and let it scan"
        )
    if wanted is None:
        return tuple(music)
    chosen = [s for s in music if s.title.casefold() == wanted.casefold()]
    if not chosen:
        titles = ", ".join(s.title for s in music)
        raise NoMusicSectionError(
            f"Plex server {name} has no music library named {wanted!r} (music libraries: {titles})"
        )
    return tuple(chosen)
