"""What organising does besides placing the tracks: albums kept together, companions along.

Albums
    With ``group="album"`` (the default) every track of an album (the same album tag in
    the same folder) gets the album's majority genre, so one album never ends up split
    across genre folders. Tracks without an album tag keep their own genre.

Companions
    The files that belong with the music follow it: cover art, cue sheets, lyrics,
    logs, playlists and notes (:data:`COMPANION_EXTENSIONS`). A companion named like a
    track (``song.lrc``, ``song.cue``; or ``song.LICENSE.txt`` beside ``song.hq.ogg``:
    the same name up to its first dot) follows that track and takes its new name. The
    others (``cover.jpg``, ``album.nfo``) belong to the folder: they follow only when all
    the folder's tracks went to one folder (an album); a folder of loose tracks that
    went to several keeps them, rather than a copy of its notes landing in every album.
    They are moved only when every track of their folder moved to one folder and no
    audio file is left behind; otherwise they are copied, so nothing a remaining track
    needs goes missing. Like the tracks, they are journalled and never overwrite.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from music_reclass.audio.discover import AUDIO_EXTENSIONS

__all__ = ["COMPANION_EXTENSIONS", "CompanionMove", "keep_albums_together", "plan_companions"]

COMPANION_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp",  # cover art
    ".cue", ".lrc", ".txt", ".nfo", ".log", ".pdf", ".m3u", ".m3u8",  # sheets, lyrics, notes
    ".md5", ".sfv", ".ffp", ".accurip",  # checksums of a rip
})
GROUPS = ("album", "track")


@dataclass(frozen=True)
class CompanionMove:
    """One companion file to place next to the music."""

    source: Path
    target: Path
    copy: bool


def keep_albums_together(fields: dict[Path, dict]) -> None:
    """Give every track of an album (same album tag, same folder) the album's majority
    genre, in place. Ties go to the genre met first in the album's track order."""
    albums: dict[tuple, list[Path]] = defaultdict(list)
    for path in sorted(fields):
        album = fields[path].get("album")
        key = (path.parent, album.casefold()) if album else (path,)
        albums[key].append(path)
    for tracks in albums.values():
        votes = Counter(fields[p]["genre"] for p in tracks if fields[p].get("genre"))
        if not votes:
            continue
        best = max(votes.values())
        genre = next(fields[p]["genre"] for p in tracks if votes.get(fields[p]["genre"]) == best)
        for path in tracks:
            fields[path]["genre"] = genre


def plan_companions(placed: Sequence[tuple[Path, Path]], *, copy: bool) -> list[CompanionMove]:
    """The companions of the folders whose tracks were placed (see the module docstring)."""
    by_folder: dict[Path, list[tuple[Path, Path]]] = defaultdict(list)
    for source, target in placed:
        by_folder[source.parent].append((source, target))
    plan: list[CompanionMove] = []
    for folder, pairs in sorted(by_folder.items()):
        plan.extend(_folder_companions(folder, pairs, copy=copy))
    return plan


def _folder_companions(folder: Path, pairs: list[tuple[Path, Path]], *, copy: bool,
                       ) -> Iterable[CompanionMove]:
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())
    except OSError:
        return
    by_stem = {source.stem: target for source, target in pairs}
    by_key: dict[str, set[Path]] = defaultdict(set)
    for source, target in pairs:
        for key in _keys(source.stem):
            by_key[key].add(target)
    targets = sorted({target.parent for _, target in pairs})
    audio_left = any(p.suffix.lower() in AUDIO_EXTENSIONS for p in entries)
    keep_here = copy or audio_left or len(targets) > 1
    for entry in entries:
        if entry.suffix.lower() not in COMPANION_EXTENSIONS:
            continue
        track_target = by_stem.get(entry.stem)
        if track_target is not None:  # song.lrc follows song.mp3, renamed like it
            yield CompanionMove(entry, track_target.with_name(track_target.stem + entry.suffix),
                                copy=copy)
            continue
        same_track = sorted({_renamed(entry, target) for key in _keys(entry.stem)
                             for target in by_key.get(key, ())})
        if same_track:  # song.LICENSE.txt follows song.hq.ogg (and song.ogg, where it went)
            for target in same_track:
                yield CompanionMove(entry, target, copy=copy or len(same_track) > 1)
            continue
        if len(targets) == 1:  # the folder is one album: its cover art goes with it
            yield CompanionMove(entry, targets[0] / entry.name, copy=keep_here)


#: a short dot-separated tag at the end of a name (``.hq``, ``.LICENSE``, ``.128k``); a
#: part with a space ("Mr. Brightside") is part of the title, never a tag
_TAG = re.compile(r"\.[A-Za-z0-9_-]{1,12}$")


def _keys(stem: str) -> set[str]:
    """The names a file can be matched by: its stem, and its stem less a trailing tag."""
    return {stem, _TAG.sub("", stem)} - {""}


def _renamed(companion: Path, track_target: Path) -> Path:
    """Where a track's companion goes: beside the track, named after the track's new name
    with the companion's own tag and extension (``song.LICENSE.txt``)."""
    tag = _TAG.search(companion.stem)
    base = _TAG.sub("", track_target.stem) if _TAG.search(track_target.stem) else track_target.stem
    return track_target.with_name(base + (tag.group(0) if tag else "") + companion.suffix)
