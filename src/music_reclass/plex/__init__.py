"""Plex sync: read a Plex music library, compare its genres, write genres back safely.

Over python-plexapi (the optional ``plex`` extra, imported on first use).
Library-level API, with plain typed arguments and dataclass results::

    settings = resolve_settings(url, token, path_maps)      # args > env > config file
    session = connect(settings)                             # one clear error per failure
    report = plex_status(session, library)                  # library: list[LibraryTrack]
    report = push_genres(conn, session, library, path_maps=settings.path_maps,
                         mode="replace", level="track", dry_run=True)
    pairs = pull_labels(session, library, path_maps=settings.path_maps)
    undo_push(conn, run_id)                                 # or journal.undo_run(conn, run_id)

Importing this package registers the undo of ``plex-push`` runs with
:func:`music_reclass.library.journal.undo_run` (``reclass undo``).
"""

from __future__ import annotations

from music_reclass.library import journal
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
from music_reclass.plex.ledger import PUSH_KIND, UNDO_KIND
from music_reclass.plex.matching import LibraryTrack, MatchReport, match_tracks
from music_reclass.plex.plan import LEVELS, MODES, GenreChange
from music_reclass.plex.pull import pull_labels
from music_reclass.plex.push import PushReport, push_genres
from music_reclass.plex.settings import PathMap, PlexSettings, parse_path_map, resolve_settings
from music_reclass.plex.status import StatusReport, TrackStatus, plex_status
from music_reclass.plex.undo import undo_handler, undo_push

journal.register_undo_handler(PUSH_KIND, undo_handler)

__all__ = [
    "LEVELS",
    "MIN_TRACK_GENRES",
    "MODES",
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
    "undo_push",
]
