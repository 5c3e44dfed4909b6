"""Matching Plex tracks to the library's files.

1. **By path.** Plex's file path, through the path maps (Plex in Docker sees
   ``/data/music``, this machine ``/home/me/Music``), equals a library path.
   Without a map that applies, Plex's path is taken as is (same machine).
2. **By tags**, for the tracks left: same title and artist (compared by
   :func:`text_key`: case, accents, punctuation and spacing ignored; the
   artist may be Plex's track artist or album artist) and durations within
   ``duration_tolerance`` seconds. Only a one-to-one pairing counts: a Plex
   track with several candidate files, or a file claimed by several Plex
   tracks, is reported as ambiguous and left alone.

Files already matched by path are not candidates for step 2; a library track
without a duration is never matched by tags.
"""

from __future__ import annotations

import os
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from music_reclass.plex.items import PlexTrack
from music_reclass.plex.settings import PathMap

#: Seconds two durations may differ by and still be one recording (encoders pad and trim).
DURATION_TOLERANCE = 2.0

__all__ = [
    "Ambiguous",
    "LibraryTrack",
    "Match",
    "MatchReport",
    "local_path",
    "match_tracks",
    "text_key",
]


@dataclass(frozen=True)
class LibraryTrack:
    """One file of the library, as the library façade hands it to the Plex sync.

    Attributes
    ----------
    path : str
        The file's path as the library stores it (absolute, resolved).
    duration : float or None
        Seconds.
    title, artist, album : str or None
        The file's own tags.
    predicted : tuple of (str, float)
        The model's genres with confidences, best first.
    decided : tuple of str
        The genres decided for the file (what a push writes), best first;
        empty when nothing was decided (the model abstained, say).
    undecided : str or None
        Why nothing was decided (``"abstained: ..."``), when ``decided`` is empty.
    """

    path: str
    duration: float | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    predicted: tuple[tuple[str, float], ...] = ()
    decided: tuple[str, ...] = ()
    undecided: str | None = None


@dataclass(frozen=True)
class Match:
    plex: PlexTrack
    library: LibraryTrack
    method: str  # "path" | "tags"


@dataclass(frozen=True)
class Ambiguous:
    plex: PlexTrack
    candidates: tuple[str, ...]  # library paths
    reason: str


@dataclass
class MatchReport:
    """Every Plex track is in exactly one of ``matched``, ``ambiguous``, ``unmatched``."""

    matched: list[Match] = field(default_factory=list)
    ambiguous: list[Ambiguous] = field(default_factory=list)
    unmatched: list[PlexTrack] = field(default_factory=list)
    library_only: list[str] = field(default_factory=list)  # library paths no Plex track matched

    def count(self, method: str) -> int:
        return sum(1 for m in self.matched if m.method == method)


def text_key(text: str | None) -> str:
    """``"Beyoncé & Jay-Z"`` -> ``"beyonceandjayz"``: the comparison key of titles and artists."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    plain = plain.replace("&", " and ").replace("+", " and ")
    return "".join(c for c in plain if c.isalnum())


def local_path(plex_file: str, path_maps: Sequence[PathMap]) -> str:
    """Where this machine sees ``plex_file``: the longest matching map's, else the path itself."""
    for path_map in sorted(path_maps, key=lambda m: len(m.plex_prefix), reverse=True):
        mapped = path_map.apply(plex_file)
        if mapped is not None:
            return os.path.normpath(mapped)
    return os.path.normpath(plex_file) if plex_file else plex_file


def _tag_key(title: str | None, artist: str | None) -> tuple[str, str] | None:
    title_key, artist_key = text_key(title), text_key(artist)
    return (title_key, artist_key) if title_key and artist_key else None


def match_tracks(
    plex_tracks: Iterable[PlexTrack],
    library: Iterable[LibraryTrack],
    *,
    path_maps: Sequence[PathMap] = (),
    duration_tolerance: float = DURATION_TOLERANCE,
) -> MatchReport:
    """Pair Plex tracks with library files (see the module docstring).

    Parameters
    ----------
    plex_tracks : iterable of PlexTrack
    library : iterable of LibraryTrack
    path_maps : sequence of PathMap
        Plex prefix -> local prefix; the longest matching prefix wins.
    duration_tolerance : float
        Seconds, for matching by tags.

    Returns
    -------
    MatchReport
    """
    by_path: dict[str, LibraryTrack] = {}
    for record in library:
        by_path.setdefault(os.path.normpath(record.path), record)
    report = MatchReport()
    claimed: set[str] = set()
    leftover: list[PlexTrack] = []
    for track in plex_tracks:
        found = next(
            (by_path[p] for p in (local_path(f, path_maps) for f in track.files) if p in by_path),
            None,
        )
        if found is None:
            leftover.append(track)
            continue
        report.matched.append(Match(track, found, "path"))
        claimed.add(os.path.normpath(found.path))
    _match_by_tags(report, leftover, by_path, claimed, duration_tolerance)
    matched_paths = {os.path.normpath(m.library.path) for m in report.matched}
    report.library_only = sorted(
        (r.path for p, r in by_path.items() if p not in matched_paths), key=os.fsencode
    )
    return report


def _match_by_tags(
    report: MatchReport,
    leftover: list[PlexTrack],
    by_path: dict[str, LibraryTrack],
    claimed: set[str],
    tolerance: float,
) -> None:
    index: dict[tuple[str, str], list[LibraryTrack]] = defaultdict(list)
    for path, record in by_path.items():
        key = _tag_key(record.title, record.artist)
        if key is not None and record.duration is not None and path not in claimed:
            index[key].append(record)
    candidates: dict[int, list[LibraryTrack]] = {}
    claims: dict[str, int] = defaultdict(int)
    for track in leftover:
        found: dict[str, LibraryTrack] = {}
        if track.duration is not None:
            for artist in {track.artist, track.album_artist}:
                key = _tag_key(track.title, artist)
                for record in index.get(key, []) if key else []:
                    if abs(record.duration - track.duration) <= tolerance:
                        found[record.path] = record
        candidates[track.rating_key] = list(found.values())
        for path in found:
            claims[path] += 1
    for track in leftover:
        found_records = candidates[track.rating_key]
        if not found_records:
            report.unmatched.append(track)
        elif len(found_records) > 1:
            report.ambiguous.append(
                Ambiguous(
                    track,
                    tuple(sorted(r.path for r in found_records)),
                    f"{len(found_records)} library files have this title, artist and duration",
                )
            )
        elif claims[found_records[0].path] > 1:
            report.ambiguous.append(
                Ambiguous(
                    track,
                    (found_records[0].path,),
                    f"{claims[found_records[0].path]} Plex tracks match this one file",
                )
            )
        else:
            report.matched.append(Match(track, found_records[0], "tags"))
