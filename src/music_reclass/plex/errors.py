"""The errors of the Plex sync, one per thing that can go wrong before any item is touched.

Each is a :class:`~music_reclass.errors.ParameterError` as well (bad or unusable
connection settings), so the command line answers every one of them with one
line and exit status 2. No message ever holds the token.
"""

from __future__ import annotations

from music_reclass.errors import ParameterError, ReclassError


class PlexError(ReclassError):
    """Base class of the Plex sync's errors."""

    code = "plex-error"


class PlexSetupError(PlexError, ParameterError):
    """Connection settings missing or malformed (no URL, no token, a bad path map...)."""

    code = "plex-setup"


class PlexURLError(PlexSetupError):
    """The server address is not an ``http://`` or ``https://`` URL with a host."""

    code = "plex-bad-url"


class PlexUnreachableError(PlexSetupError):
    """Nothing answers at the address (refused, timed out, unknown host, TLS failure)."""

    code = "plex-unreachable"


class PlexAuthError(PlexSetupError):
    """The server refused the token (HTTP 401)."""

    code = "plex-unauthorized"


class PlexServerError(PlexSetupError):
    """The server answered a request with an error (HTTP 400, 404, 500...) mid-run."""

    code = "plex-server-error"


class NotPlexError(PlexSetupError):
    """Something answers at the address, but not as a Plex Media Server does."""

    code = "plex-not-plex"


class NoMusicSectionError(PlexSetupError):
    """The server has no music library (or none with the requested name)."""

    code = "plex-no-music"


class PlexUnsupportedError(PlexSetupError):
    """The server cannot do what was asked (per-track genres before Plex Media Server 1.40)."""

    code = "plex-unsupported"


class PlexMissingError(PlexSetupError):
    """python-plexapi is not installed (the optional ``plex`` extra)."""

    code = "plex-missing"
