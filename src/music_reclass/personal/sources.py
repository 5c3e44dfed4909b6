"""Each track's genre sources: its file's tags, what reclass wrote there, corrections.

The journal says which genres reclass tag runs wrote into which file (and where organise
moved or copied it since); :func:`reclass_writes` replays it, :func:`track_sources`
joins that with the library's tracks and the owner's corrections into the
:class:`~music_reclass.personal.labels.TrackSource` list that labelling reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from music_reclass.personal.labels import TrackSource
from music_reclass.taxonomy import genre_key

__all__ = ["Written", "reclass_writes", "track_sources"]


@dataclass
class Written:
    """What reclass wrote into one file: the genres it added, and what was there first."""

    added: list[str] = field(default_factory=list)
    before: list[str] | None = None


def _genres(genres_of_state: Callable[[dict], list[str]], state: Any) -> list[str]:
    """Genre values of a journalled tag state (a planned row holds ``{"genres": [...]}``)."""
    if not isinstance(state, dict):
        return []
    if "scheme" not in state:
        values = state.get("genres")
        return [str(v) for v in values] if isinstance(values, list) else []
    try:
        return list(genres_of_state(state))
    except (KeyError, TypeError, ValueError):  # a state this version cannot read
        return []


def reclass_writes(history: Iterable[Any], genres_of_state: Callable[[dict], list[str]]
                   ) -> dict[str, Written]:
    """``{path now: Written}`` from the journal's done rows, oldest first.

    Parameters
    ----------
    history : iterable of JournalWrite
        Done ``tag`` rows of tag runs and done ``move``/``copy`` rows (see
        :func:`music_reclass.store.labels.tag_history`).
    genres_of_state : callable
        Reads the genres of a journalled tag state.
    """
    by_path: dict[str, Written] = {}
    for entry in history:
        if entry.action == "tag":
            before = _genres(genres_of_state, (entry.before or {}).get("state"))
            after = _genres(genres_of_state, entry.after)
            written = by_path.setdefault(entry.path, Written())
            if written.before is None:
                written.before = before
            had = {genre_key(g) for g in before}
            written.added += [g for g in after if genre_key(g) not in had]
        elif entry.new_path is not None and entry.path in by_path:
            if entry.action == "move":
                by_path[entry.new_path] = by_path.pop(entry.path)
            else:  # a copy carries the same tags
                found = by_path[entry.path]
                by_path[entry.new_path] = Written(list(found.added), found.before)
    return by_path


def track_sources(tracks: Iterable[Any], writes: Mapping[str, Written],
                  corrections: Mapping[str, Sequence[str]]) -> list[TrackSource]:
    """One :class:`TrackSource` per track of the library.

    Parameters
    ----------
    tracks : iterable of TrackRow
        The library's contents with one path each (:func:`store.labels.library_tracks`).
    writes : mapping
        :func:`reclass_writes`.
    corrections : mapping
        ``{content hash: the owner's genres}``.
    """
    out = []
    for track in tracks:
        written = writes.get(track.path)
        out.append(TrackSource(
            content_hash=track.content_hash, path=track.path, artist=track.artist,
            album=track.album, tags=list(track.genre_tags),
            reclass_added=list(written.added) if written else [],
            before_reclass=written.before if written else None,
            correction=corrections.get(track.content_hash)))
    return out
