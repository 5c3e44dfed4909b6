"""Reading the tags of an audio file: title, artist, album, year and genres (mutagen).

Formats: ID3 (MP3, and the ``ID3 `` chunk of WAV/AIFF), Vorbis comments (FLAC, Ogg,
Opus) and MP4 atoms. Multiple genre values are split on ``";"`` (never on ``"/"``, which
genres such as "R&B/Soul" contain) and de-duplicated case-insensitively.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from music_reclass.errors import TagError

log = logging.getLogger(__name__)

__all__ = ["TrackTags", "open_tags", "read_tags", "split_values"]


@dataclass(frozen=True)
class TrackTags:
    """The tags ``reclass`` reads from a file."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genres: list[str] = field(default_factory=list)
    format: str | None = None
    year: str | None = None
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- opening


def open_tags(path: Path):
    """The mutagen object for ``path`` and its scheme ("id3", "vorbis", "mp4")."""
    try:
        audio = mutagen.File(str(path))
    except mutagen.MutagenError as exc:
        raise TagError(f"{path}: cannot read tags ({exc})") from exc
    except OSError as exc:
        raise TagError(f"{path}: {exc.strerror or exc}") from exc
    if audio is None:
        raise TagError(f"{path}: not a file whose tags reclass can write")
    if isinstance(audio, MP3):
        return audio, "id3", "mp3"
    if isinstance(audio, WAVE | AIFF):
        return audio, "id3", "wav" if isinstance(audio, WAVE) else "aiff"
    if isinstance(audio, FLAC):
        return audio, "vorbis", "flac"
    if isinstance(audio, OggOpus):
        return audio, "vorbis", "opus"
    if isinstance(audio, OggVorbis):
        return audio, "vorbis", "ogg"
    if isinstance(audio, MP4):
        return audio, "mp4", "m4a"
    raise TagError(f"{path}: unsupported tag format ({type(audio).__name__})")


# ----------------------------------------------------------------------------- reading


def split_values(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        for part in str(value).split(";"):
            part = part.strip().strip("\x00").strip()
            if part and part.casefold() not in {g.casefold() for g in out}:
                out.append(part)
    return out


def _first(values) -> str | None:
    if not values:
        return None
    text = str(values[0]).strip().strip("\x00")
    return text or None


def read_tags(path: str | os.PathLike) -> TrackTags:
    """Read title, artist, album, year and genres of ``path``.

    Never raises for a damaged or unsupported file: returns an empty
    :class:`TrackTags` whose ``warnings`` say why (and logs a warning).
    """
    path = Path(path)
    try:
        audio, scheme, fmt = open_tags(path)
        tags = audio.tags
        if tags is None:
            return TrackTags(format=fmt)
        if scheme == "id3":
            text = {key: tags[key].text if key in tags else [] for key in ("TIT2", "TPE1", "TALB")}
            genres = [g for frame in tags.getall("TCON") for g in frame.genres]
            year = _first(tags["TDRC"].text) if "TDRC" in tags else None
            return TrackTags(
                title=_first(text["TIT2"]),
                artist=_first(text["TPE1"]),
                album=_first(text["TALB"]),
                genres=split_values(genres),
                format=fmt,
                year=str(year)[:4] if year else None,
            )
        if scheme == "vorbis":
            year = _first(tags.get("date", []))
            return TrackTags(
                title=_first(tags.get("title", [])),
                artist=_first(tags.get("artist", [])),
                album=_first(tags.get("album", [])),
                genres=split_values(tags.get("genre", [])),
                format=fmt,
                year=year[:4] if year else None,
            )
        year = _first(tags.get("\xa9day", []))
        return TrackTags(
            title=_first(tags.get("\xa9nam", [])),
            artist=_first(tags.get("\xa9ART", [])),
            album=_first(tags.get("\xa9alb", [])),
            genres=split_values(tags.get("\xa9gen", [])),
            format=fmt,
            year=year[:4] if year else None,
        )
    except Exception as exc:  # noqa: BLE001 - damaged tags must never crash a run
        message = f"{path}: unreadable tags ({type(exc).__name__}: {exc})"
        log.warning(message)
        return TrackTags(warnings=[message])
