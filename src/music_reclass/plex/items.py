"""Reading a Plex music library: its tracks, and the genres and lock of any item.

Two kinds of reads, both through python-plexapi:

- :func:`list_tracks`: every track of the music sections, page by page
  (``GET /library/sections/N/all?type=10``). A listing carries titles,
  durations and file paths, but not reliably the genres or the lock of a field.
- :func:`fetch_items` / :func:`read_states`: full items, many per request
  (``GET /library/metadata/K1,K2,...``), with their ``Genre`` tags and their
  ``<Field name="genre" locked="1"/>``.

python-plexapi reloads a partial object whenever an attribute reads as None
or empty (one request per track and attribute); every object read here is
switched off from that (``_autoReload = False``): what the server did not
send is simply absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from music_reclass.plex.connection import PlexSession

#: Tracks per listing request, and items per ``/library/metadata/K1,K2,...`` request.
PAGE_SIZE = 500
CHUNK_SIZE = 100

__all__ = [
    "ItemState",
    "PlexTrack",
    "fetch_items",
    "list_tracks",
    "read_states",
    "state_of",
]


@dataclass(frozen=True)
class PlexTrack:
    """One track as Plex lists it."""

    rating_key: int
    section_key: int
    title: str
    artist: str | None  # the track's own artist when Plex has one, else the album artist
    album_artist: str | None
    album: str | None
    album_key: int | None
    artist_key: int | None
    duration: float | None  # seconds
    files: tuple[str, ...]

    def display(self) -> str:
        return f"{self.artist or '?'} - {self.title}"


@dataclass(frozen=True)
class ItemState:
    """The genres of one Plex item (track, album or artist) and whether the field is locked."""

    rating_key: int
    type: str
    title: str
    section_key: int | None
    genres: tuple[str, ...]
    locked: bool

    def journal(self) -> dict:
        """The before/after state a journal row keeps."""
        return {"genres": list(self.genres), "locked": self.locked}


def _quiet(item: Any) -> Any:
    item._autoReload = False  # see the module docstring: no hidden request per attribute
    return item


def _track(item: Any, section_key: int) -> PlexTrack:
    _quiet(item)
    files = tuple(
        part.file for media in (item.media or []) for part in (media.parts or []) if part.file
    )
    return PlexTrack(
        rating_key=int(item.ratingKey),
        section_key=int(item.librarySectionID or section_key),
        title=item.title or "",
        artist=item.originalTitle or item.grandparentTitle,
        album_artist=item.grandparentTitle,
        album=item.parentTitle,
        album_key=item.parentRatingKey,
        artist_key=item.grandparentRatingKey,
        duration=None if item.duration is None else item.duration / 1000.0,
        files=files,
    )


def list_tracks(
    session: PlexSession,
    *,
    page_size: int = PAGE_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> list[PlexTrack]:
    """Every track of the session's music sections.

    Parameters
    ----------
    session : PlexSession
    page_size : int
        Tracks per request.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each page.
    cancel : callable, optional
        Checked before each page; when it returns True, the tracks read so far are returned.

    Raises
    ------
    PlexUnreachableError, PlexAuthError
        The server went away or stopped accepting the token.
    """
    tracks: list[PlexTrack] = []
    with session.errors():
        totals = [
            (section, int(section.totalViewSize(libtype="track", includeCollections=False) or 0))
            for section in session.sections
        ]
        grand_total = sum(total for _, total in totals)
        for section, total in totals:
            start = 0
            while start < total:
                if cancel is not None and cancel():
                    return tracks
                page = section.search(
                    libtype="track",
                    container_start=start,
                    container_size=page_size,
                    maxresults=page_size,
                )
                if not page:
                    break  # the library shrank while we read it
                tracks.extend(_track(item, section.key) for item in page)
                start += len(page)
                if on_progress is not None:
                    on_progress(len(tracks), grand_total)
    return tracks


def _chunks(keys: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(keys), size):
        yield list(keys[start : start + size])


def fetch_items(
    session: PlexSession, keys: Iterable[int], *, chunk_size: int = CHUNK_SIZE
) -> dict[int, Any]:
    """Full python-plexapi objects (Track, Album, Artist) by rating key.

    Keys the server no longer knows are absent from the result.
    """
    wanted = list(dict.fromkeys(int(k) for k in keys))
    found: dict[int, Any] = {}
    with session.errors():
        for chunk in _chunks(wanted, chunk_size):
            try:
                items = session.server.fetchItems(chunk)
            except _not_found():
                items = _one_by_one(session, chunk)
            for item in items:
                _quiet(item)
                found[int(item.ratingKey)] = item
    return found


def _not_found() -> type[Exception]:
    from plexapi.exceptions import NotFound

    return NotFound


def _one_by_one(session: PlexSession, keys: list[int]) -> list[Any]:
    """A chunk answered 404 as a whole (every key gone): ask for each, keep those still there."""
    items = []
    for key in keys:
        try:
            items.extend(session.server.fetchItems([key]))
        except _not_found():
            continue
    return items


def state_of(item: Any) -> ItemState:
    """The :class:`ItemState` of a full python-plexapi item."""
    _quiet(item)
    genres = tuple(dict.fromkeys(g.tag for g in (item.genres or []) if g.tag))
    return ItemState(
        rating_key=int(item.ratingKey),
        type=item.type,
        title=item.title or "",
        section_key=item.librarySectionID,
        genres=genres,
        locked=any(f.name == "genre" and f.locked for f in (item.fields or [])),
    )


def read_states(
    session: PlexSession, keys: Iterable[int], *, chunk_size: int = CHUNK_SIZE
) -> dict[int, ItemState]:
    """The genres and lock of each item by rating key (absent: no longer on the server)."""
    items = fetch_items(session, keys, chunk_size=chunk_size)
    with session.errors():
        return {key: state_of(item) for key, item in items.items()}
