"""Plex sync: read a Plex music library, compare its genres, write genres back safely.

A room of its own between ``act/`` (whose journal it writes) and the ``Library``
façade (which hands it the library's tracks, :class:`LibraryTrack`, and is the only
caller of the front ends): it never imports the façade. Over python-plexapi (the
optional ``plex`` extra, imported on first use). Plain typed arguments, dataclass
results::

    settings = resolve_settings(url, token, path_maps)      # args > env > config file
    session = connect(settings)                             # one clear error per failure
    report = plex_status(session, tracks)                   # tracks: list[LibraryTrack]
    report = push_genres(conn, session, tracks, path_maps=settings.path_maps,
                         mode="replace", level="track", dry_run=True)
    pairs = pull_labels(session, tracks, path_maps=settings.path_maps)
    undo_push(conn, run_id)                                 # or act.undo.undo_run(conn, run_id)

Importing this package registers the undo of ``plex-push`` runs with
:func:`music_reclass.act.undo.undo_run` (``reclass undo``): act never imports it.
"""

from __future__ import annotations

from music_reclass.act.undo import register_undo_handler
from music_reclass.plex.connection import MIN_TRACK_GENRES, PlexSession, connect
from music_reclass.plex.errors import (
    NoMusicSectionError,
    NotPlexError,
    PlexAuthError,
    PlexError,
    PlexMissingError,
    PlexServerError,
    PlexSetupError,
    PlexUnreachableError,
    PlexUnsupportedError,
    PlexURLError,
)
from music_reclass.plex.items import ItemState, PlexTrack, list_tracks, read_states
from music_reclass.plex.ledger import PLEX_KINDS, PUSH_KIND, UNDO_KIND
from music_reclass.plex.matching import LibraryTrack, MatchReport, match_tracks
from music_reclass.plex.plan import LEVELS, MODES, GenreChange
from music_reclass.plex.pull import pull_labels
from music_reclass.plex.push import PushReport, push_genres
from music_reclass.plex.settings import PathMap, PlexSettings, parse_path_map, resolve_settings
from music_reclass.plex.status import StatusReport, TrackStatus, plex_status
from music_reclass.plex.undo import (
    latest_push_run,
    push_run,
    settings_for_run,
    undo_handler,
    undo_push,
)

register_undo_handler(PUSH_KIND, undo_handler)

__all__ = [
    "LEVELS",
    "MIN_TRACK_GENRES",
    "MODES",
    "PLEX_KINDS",
    "PUSH_KIND",
    "UNDO_KIND",
    "GenreChange",
    "ItemState",
    "LibraryTrack",
    "MatchReport",
    "NoMusicSectionError",
    "NotPlexError",
    "PathMap",
    "PlexAuthError",
    "PlexError",
    "PlexMissingError",
    "PlexServerError",
    "PlexSession",
    "PlexSettings",
    "PlexSetupError",
    "PlexTrack",
    "PlexURLError",
    "PlexUnreachableError",
    "PlexUnsupportedError",
    "PushReport",
    "StatusReport",
    "TrackStatus",
    "connect",
    "list_tracks",
    "match_tracks",
    "parse_path_map",
    "plex_status",
    "pull_labels",
    "push_genres",
    "read_states",
    "resolve_settings",
    "settings_for_run",
    "latest_push_run",
    "push_run",
    "undo_push",
]
