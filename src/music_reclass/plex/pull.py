"""``reclass plex pull``: Plex's genres as labels for learning.

For a library whose genres live only in Plex (edited there, never written to
the files), the matched tracks' Plex genres are the owner's labels. Each
matched track gets its own genres where the server keeps per-track genres and
the track has some; else (``fallback``) its album's, else its album artist's.
Tracks with no genre anywhere are left out. Nothing is written to Plex.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from music_reclass.plex.connection import PlexSession
from music_reclass.plex.items import read_states
from music_reclass.plex.matching import DURATION_TOLERANCE, LibraryTrack, Match
from music_reclass.plex.settings import PathMap
from music_reclass.plex.status import read_and_match

__all__ = ["pull_labels"]


def _genres_from(
    session: PlexSession, matches: Sequence[Match], key_of: Callable[[Match], int | None]
) -> dict[int, tuple[str, ...]]:
    """Genres of each match's item (track, album or artist) by the match's track key."""
    keys = {key_of(m) for m in matches} - {None}
    states = read_states(session, keys)  # type: ignore[arg-type]
    found = {}
    for match in matches:
        state = states.get(key_of(match) or -1)
        if state is not None and state.genres:
            found[match.plex.rating_key] = state.genres
    return found


def pull_labels(
    session: PlexSession,
    library: Sequence[LibraryTrack],
    *,
    path_maps: Sequence[PathMap] = (),
    duration_tolerance: float = DURATION_TOLERANCE,
    fallback: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[tuple[str, list[str]]]:
    """Plex's genres of the matched tracks, as ``(library path, [genres])`` pairs.

    Parameters
    ----------
    session : PlexSession
    library : sequence of LibraryTrack
        Only ``path``, ``duration``, ``title`` and ``artist`` are used (matching).
    path_maps : sequence of PathMap
    duration_tolerance : float
    fallback : bool
        Use the album's (then the artist's) genres for a track without its own.
    on_progress, cancel : callable, optional
        While Plex's tracks are read.

    Returns
    -------
    list of (str, list of str)
        Sorted by path; Plex's spelling of the genres, track's own order.
    """
    matches = read_and_match(
        session,
        library,
        path_maps=path_maps,
        duration_tolerance=duration_tolerance,
        on_progress=on_progress,
        cancel=cancel,
    ).matched
    genres: dict[int, tuple[str, ...]] = {}
    if session.track_genres:
        genres = _genres_from(session, matches, lambda m: m.plex.rating_key)
    if fallback:
        for key_of in (lambda m: m.plex.album_key, lambda m: m.plex.artist_key):
            left = [m for m in matches if m.plex.rating_key not in genres]
            if left:
                genres.update(_genres_from(session, left, key_of))
    pairs = [
        (m.library.path, list(genres[m.plex.rating_key]))
        for m in matches
        if m.plex.rating_key in genres
    ]
    return sorted(pairs, key=lambda pair: os.fsencode(pair[0]))
