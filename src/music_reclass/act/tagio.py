"""The exact genre state of a file: what a genre write changes, and what undo restores.

Formats (all through mutagen):

==============  ===============================================================
MP3             ID3v2.3 / v2.4 (``TCON``), ID3v1 (read; kept in step on write)
FLAC/Ogg/Opus   Vorbis comments, one ``GENRE`` field per value
M4A/MP4         ``©gen`` (``gnre`` is read, mutagen maps it to ``©gen``)
WAV/AIFF        an ``ID3 `` chunk (``TCON``)
==============  ===============================================================

Multiple genres
    ID3v2.4 stores them as null-separated values of one ``TCON`` frame. ID3v2.3
    has no multi-value text frames: values are joined with ``"; "``
    (:data:`ID3V23_SEPARATOR`; Picard's default is ``"/"``, which breaks genres
    like "R&B/Soul"), and reading splits on ``";"`` (never on ``"/"``). An existing
    tag keeps its ID3 version; a new ID3 tag is v2.4.

Exact restore
    :func:`genre_state` captures everything a genre write can change as JSON:
    for ID3 the v2 version, the raw ``TCON`` text list and encoding (or its
    absence, or the absence of the whole v2 tag) and the raw 128 bytes of an
    ID3v1 tag; for Vorbis comments the whole ordered list of fields; for MP4
    the ``©gen`` values. :func:`restore_genre_state` writes it back and verifies
    that the file's state then compares equal. Known limit: MP4 ``gnre``
    (numeric genre) comes back as the equivalent ``©gen`` text.

Every write goes through :func:`music_reclass.act.safe_write.modify_file`
(copy, modify the copy, verify tags + audio digest + decoding, atomic replace).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutagen.id3 import ID3, TCON, ID3NoHeaderError

from music_reclass.audio.tags import open_tags, split_values
from music_reclass.errors import ParameterError
from music_reclass.store.db import display_path

__all__ = ["ID3V23_SEPARATOR", "MODES", "TagChange", "genre_state",
           "genres_of_state", "merge_genres", "other_metadata", "writable_id3_version"]

ID3V23_SEPARATOR = "; "
MODES = ("replace", "append", "fill")


@dataclass(frozen=True)
class TagChange:
    """A genre write: before/after states (JSON-able, see :func:`genre_state`)."""

    path: Path
    before: dict
    after: dict
    before_genres: list[str]
    after_genres: list[str]

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        """``"path: GENRE 'Rock' -> 'Jazz; Blues'"`` (the dry-run line)."""
        return f"{display_path(self.path)}: GENRE {_quote(self.before_genres)} -> {_quote(self.after_genres)}"


def _quote(genres: Sequence[str]) -> str:
    return "(none)" if not genres else repr("; ".join(genres))

# ----------------------------------------------------------------------------- states


def id3v1_raw(path: Path) -> str | None:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() < 128:
            return None
        fh.seek(-128, os.SEEK_END)
        raw = fh.read(128)
    return base64.b64encode(raw).decode("ascii") if raw.startswith(b"TAG") else None


def genre_state(path: str | os.PathLike) -> dict:
    """Everything a genre write can change in ``path``, as JSON-able data.

    Two files whose states compare equal have the same genre tags, in the same
    form (ID3 version, encoding, field order, ID3v1 bytes).

    Raises
    ------
    TagError
        The format is unsupported or its tags are unreadable.
    """
    path = Path(path)
    audio, scheme, fmt = open_tags(path)
    if scheme == "id3":
        if fmt == "mp3":
            try:
                tags = ID3(str(path), load_v1=False)
            except ID3NoHeaderError:
                tags = None
            v1 = id3v1_raw(path)
        else:
            tags, v1 = audio.tags, None
        v2 = None
        if tags is not None:
            frame = tags.get("TCON")
            v2 = {
                "version": int(tags.version[1]),
                "tcon": None
                if frame is None
                else {"encoding": int(frame.encoding), "text": [str(t) for t in frame.text]},
            }
        return {"scheme": "id3", "format": fmt, "v2": v2, "v1": v1}
    if scheme == "vorbis":
        tags = audio.tags
        return {
            "scheme": "vorbis",
            "format": fmt,
            "present": tags is not None,
            "comments": [] if tags is None else [[k, v] for k, v in tags],
        }
    tags = audio.tags
    return {
        "scheme": "mp4",
        "format": fmt,
        "present": tags is not None,
        "gen": None if tags is None or "\xa9gen" not in tags else list(tags["\xa9gen"]),
    }


def genres_of_state(state: dict) -> list[str]:
    """The genre values a state (from :func:`genre_state`) holds."""
    if state["scheme"] == "id3":
        values: list[str] = []
        v2 = state.get("v2")
        if v2 and v2.get("tcon"):
            values = TCON(encoding=3, text=v2["tcon"]["text"]).genres
        elif state.get("v1"):
            raw = base64.b64decode(state["v1"])
            from mutagen._constants import GENRES

            if raw[127] < len(GENRES):
                values = [GENRES[raw[127]]]
        return split_values(values)
    if state["scheme"] == "vorbis":
        return split_values([v for k, v in state["comments"] if k.lower() == "genre"])
    return split_values(state.get("gen") or [])


def writable_id3_version(version: int) -> int:
    """The ID3v2 version a write keeps: 3 or 4 as found; ID3v2.2 (read-only in mutagen and
    most players' legacy) is written as ID3v2.3, its closest successor."""
    return 4 if version >= 4 else 3


def other_metadata(path: str | os.PathLike) -> str:
    """A digest of every tag value of ``path`` EXCEPT its genres (and the ID3v1 genre byte).

    Equal before and after a genre-only restore proves that the restore kept everything
    the owner changed since (titles, cover art, comments...).

    Raises
    ------
    TagError
        The format is unsupported or its tags are unreadable.
    """
    path = Path(path)
    audio, scheme, fmt = open_tags(path)
    parts: list[str] = [scheme]
    tags = audio.tags
    if scheme == "id3":
        if fmt == "mp3":
            try:
                tags = ID3(str(path), load_v1=False)
            except ID3NoHeaderError:
                tags = None
            raw = id3v1_raw(path)
            parts.append(repr(base64.b64decode(raw)[:127]) if raw else "no-v1")
        if tags is not None:
            parts += sorted(f"{key}={frame!r}" for key, frame in tags.items()
                            if not key.startswith("TCON"))
    elif scheme == "vorbis":
        parts += [f"{k}={v}" for k, v in (tags or []) if k.lower() != "genre"]
        parts += [f"picture:{pic.type}:{pic.mime}:{hashlib.sha256(pic.data).hexdigest()}"
                  for pic in getattr(audio, "pictures", [])]
    elif tags is not None:
        parts += sorted(f"{key}={value!r}" for key, value in tags.items()
                        if key not in ("\xa9gen", "gnre"))
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def merge_genres(current: Sequence[str], new: Sequence[str], *, mode: str) -> list[str]:
    """The genre list after writing ``new`` over ``current`` in ``mode``.

    ``replace``: ``new``; ``append``: ``current`` then the values of ``new`` not
    already there (case-insensitive); ``fill``: ``new`` only where ``current``
    is empty.
    """
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "replace":
        return split_values(new)
    if mode == "fill":
        return list(current) if current else split_values(new)
    return split_values([*current, *new])

