"""Reading tags and writing genre tags, with exact before-states for undo.

Formats (all through mutagen):

==============  ===============================================================
MP3             ID3v2.3 / v2.4 (``TCON``), ID3v1 (read; kept in step on write)
FLAC/Ogg/Opus   Vorbis comments, one ``GENRE`` field per value
M4A/MP4         ``©gen`` (``gnre`` is read, mutagen maps it to ``©gen``)
WAV/AIFF        an ``ID3 `` chunk (``TCON``)
==============  ===============================================================

WAV/AIFF chunk layouts
    mutagen reads chunks from the start and stops at the first one it cannot
    parse, but appends a new ``id3 `` chunk at the end of the file: behind
    trailing junk it would write a tag nobody can read back. So before mutagen
    touches a RIFF/FORM file, :func:`_iff_layout` finds where the readable chunks
    end (``insert_at``) and every byte after that point (the "trailer": zero
    padding, a chunk id of four NUL bytes, junk, chunks outside the RIFF size, a
    chunk after an odd-size chunk without its pad byte) is set aside, the ID3
    chunk is written there, and the trailer is put back unchanged after it. The
    RIFF/FORM size field keeps its relation to the file size (``size + growth``).
    An odd-size chunk without its pad byte gets it (a zero byte inserted before
    the tag chunk, otherwise the new chunk would sit at an odd offset) when it
    is the last chunk of the file, or the ``data``/``SSND`` chunk followed by
    chunks it misaligns (the byte realigns them). Layouts where the audio itself is not cleanly delimited are refused
    with the reason: the ``data``/``SSND`` chunk runs past the end of the file,
    the RIFF size ends inside it, an odd-size chunk without pad byte comes
    before it, or an ID3 chunk sits where mutagen cannot reach it (a second tag
    would be made).

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

Every write goes through :func:`music_reclass.library.safe_write.modify_file`
(copy, modify the copy, verify tags + audio digest + decoding, atomic replace).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TCON, ID3NoHeaderError
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from music_reclass.errors import ParameterError, ReclassError
from music_reclass.library import safe_write
from music_reclass.library.db import display_path, path_to_db

log = logging.getLogger(__name__)

ID3V23_SEPARATOR = "; "
MODES = ("replace", "append", "fill")


class TagError(ReclassError):
    """A file's tags cannot be read or written (unsupported, damaged...)."""

    code = "tag-error"


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


# ----------------------------------------------------------------------------- opening


def _open(path: Path):
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


def _split_values(values: Sequence[str]) -> list[str]:
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
        audio, scheme, fmt = _open(path)
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
                genres=_split_values(genres),
                format=fmt,
                year=str(year)[:4] if year else None,
            )
        if scheme == "vorbis":
            year = _first(tags.get("date", []))
            return TrackTags(
                title=_first(tags.get("title", [])),
                artist=_first(tags.get("artist", [])),
                album=_first(tags.get("album", [])),
                genres=_split_values(tags.get("genre", [])),
                format=fmt,
                year=year[:4] if year else None,
            )
        year = _first(tags.get("\xa9day", []))
        return TrackTags(
            title=_first(tags.get("\xa9nam", [])),
            artist=_first(tags.get("\xa9ART", [])),
            album=_first(tags.get("\xa9alb", [])),
            genres=_split_values(tags.get("\xa9gen", [])),
            format=fmt,
            year=year[:4] if year else None,
        )
    except Exception as exc:  # noqa: BLE001 - damaged tags must never crash a run
        message = f"{path}: unreadable tags ({type(exc).__name__}: {exc})"
        log.warning(message)
        return TrackTags(warnings=[message])


# ----------------------------------------------------------------------------- states


def _id3v1_raw(path: Path) -> str | None:
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
    audio, scheme, fmt = _open(path)
    if scheme == "id3":
        if fmt == "mp3":
            try:
                tags = ID3(str(path), load_v1=False)
            except ID3NoHeaderError:
                tags = None
            v1 = _id3v1_raw(path)
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
        return _split_values(values)
    if state["scheme"] == "vorbis":
        return _split_values([v for k, v in state["comments"] if k.lower() == "genre"])
    return _split_values(state.get("gen") or [])


def merge_genres(current: Sequence[str], new: Sequence[str], *, mode: str) -> list[str]:
    """The genre list after writing ``new`` over ``current`` in ``mode``.

    ``replace``: ``new``; ``append``: ``current`` then the values of ``new`` not
    already there (case-insensitive); ``fill``: ``new`` only where ``current``
    is empty.
    """
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "replace":
        return _split_values(new)
    if mode == "fill":
        return list(current) if current else _split_values(new)
    return _split_values([*current, *new])


# ----------------------------------------------------------------------------- RIFF/AIFF layout

# fmt -> (container magic, size struct format, chunks the audio needs, chunk
# ids mutagen parses as containers (need >= 4 bytes), ID3 chunk ids)
_IFF = {
    "wav": (b"RIFF", "<", (b"fmt ", b"data"), (b"LIST", b"RIFF"), (b"id3 ", b"ID3 ")),
    "aiff": (b"FORM", ">", (b"COMM", b"SSND"), (b"FORM",), (b"ID3 ",)),
}
_MAX_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class IffLayout:
    """Where a WAV/AIFF file's readable chunks end, and what lies behind them.

    Attributes
    ----------
    size : int
        File size in bytes.
    container_size : int
        The RIFF/FORM size field.
    insert_at : int
        Offset after the last chunk mutagen reads inside the container: a new
        ID3 chunk goes here.
    add_pad : bool
        The chunk ending at ``insert_at`` lacks its pad byte (at the end of the
        file, or the audio chunk before misaligned chunks): a zero byte is
        inserted at ``insert_at - 1``, before the tag chunk.
    trailer : int
        Bytes from ``insert_at`` (``insert_at - 1`` with ``add_pad``) to the end
        of the file, kept unchanged behind the tag chunk.
    """

    size: int
    container_size: int
    insert_at: int
    add_pad: bool
    trailer: int


def _mutagen_accepts(chunk_id: bytes) -> bool:
    """Does mutagen parse a chunk with this id (``_iff.is_valid_chunk_id``)?"""
    try:
        text = chunk_id.decode("ascii").rstrip()
    except UnicodeDecodeError:
        return False
    return 0 < len(text) <= 4 and min(text) >= " " and max(text) <= "~"


def _chunk_fits(fh, offset: int, size: int, endian: str) -> bool:
    """Is there a well-formed chunk header at ``offset`` whose body fits the file?"""
    if offset + 8 > size:
        return False
    fh.seek(offset)
    chunk_id, length = struct.unpack(endian + "4sI", fh.read(8))
    return _mutagen_accepts(chunk_id) and offset + 8 + length <= size


def _name(chunk_id: bytes) -> str:
    return chunk_id.decode("latin-1")


def _iff_layout(path: Path, fmt: str) -> IffLayout:
    """Walk the chunks of a WAV/AIFF file as mutagen does, and judge the layout.

    Raises
    ------
    TagError
        The layout cannot take an ID3 chunk safely (the message says why).
    """
    magic, endian, needed, containers, id3_ids = _IFF[fmt]
    kind = "WAV" if fmt == "wav" else "AIFF"
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(12)
        if len(header) < 12 or header[:4] != magic:
            raise TagError(f"{path}: not a {magic.decode()} file")
        container = struct.unpack(endian + "I", header[4:8])[0]
        # mutagen reads chunks while they START before the container's padded end
        container_end = 8 + container + (container & 1)
        boundaries = [12]  # offsets where a chunk ends (pad included)
        seen: dict[bytes, tuple[int, int]] = {}  # first chunk of each id: (offset, padded end)
        offset, add_pad, stop = 12, False, None
        while offset < container_end:
            fh.seek(offset)
            head = fh.read(8)
            if len(head) < 8:
                break  # 1-7 bytes of junk, or the end of the file
            chunk_id, length = struct.unpack(endian + "4sI", head)
            if not _mutagen_accepts(chunk_id) or (chunk_id in containers and length < 4):
                break  # junk: a NUL id, random bytes...
            body_end = offset + 8 + length
            if body_end > size:
                stop = (
                    f"its {_name(chunk_id)!r} chunk at offset {offset} claims {length} bytes"
                    f" but the file ends {size - offset - 8} bytes after its header"
                    " (truncated, or still being written)"
                )
                break
            padded = body_end + (length & 1)
            if length & 1 and padded == size + 1:
                add_pad = True  # the last chunk lacks its pad byte at the end of the file
            elif (
                length & 1
                and not _chunk_fits(fh, padded, size, endian)
                and _chunk_fits(fh, body_end, size, endian)
            ):
                if chunk_id == needed[-1] and all(c in seen for c in needed[:-1]):
                    # The audio chunk lacks its pad byte and chunks follow: the
                    # inserted zero byte (before the tag chunk) realigns them.
                    add_pad = True
                else:
                    stop = (
                        f"its {_name(chunk_id)!r} chunk at offset {offset} has an odd size"
                        f" ({length}) but no pad byte, so the chunks after it are misaligned"
                    )
                    break
            seen.setdefault(chunk_id, (offset, padded))
            boundaries.append(padded)
            offset = padded
            if add_pad:
                break
        for chunk_id in needed:
            if chunk_id not in seen:
                reason = stop or (
                    f"it has no readable {_name(chunk_id)!r} chunk (the chunks mutagen"
                    f" can read end at offset {offset})"
                )
                raise TagError(f"{path}: {kind} not tagged: {reason}")
        audio_end = max(seen[c][1] for c in needed)
        if audio_end > container_end:
            raise TagError(
                f"{path}: {kind} not tagged: its {magic.decode()} size field ({container})"
                f" ends inside the audio chunks (which end at offset {audio_end})"
            )
        # The last chunk boundary inside the container: chunks beyond the
        # container's end are not read by mutagen, so they join the trailer.
        insert_at = max(b for b in boundaries if b <= container_end)
        if insert_at != boundaries[-1]:
            add_pad = False  # the unpadded last chunk is in the trailer, left as is
        visible = [c for c, (start, _end) in seen.items() if start < insert_at]
        trailer_start = insert_at - add_pad
        fh.seek(trailer_start)
        trailer = fh.read()
    if not any(c in id3_ids for c in visible):
        for chunk_id in id3_ids:
            at = trailer.find(chunk_id)
            if at >= 0:
                raise TagError(
                    f"{path}: {kind} not tagged: it has an ID3 chunk at offset"
                    f" {trailer_start + at} where mutagen cannot read it (a second tag"
                    " would be written)"
                )
    if container > _MAX_U32 - (1 << 24):  # 16 MiB of room for the tag chunk
        raise TagError(
            f"{path}: {kind} not tagged: its {magic.decode()} size field ({container}) leaves"
            " no room for a tag chunk"
        )
    return IffLayout(size, container, insert_at, add_pad, len(trailer))


@contextlib.contextmanager
def _iff_trailer_set_aside(path: Path, fmt: str) -> Iterator[IffLayout]:
    """Let mutagen change the ID3 chunk of ``path`` (a temp copy) behind the readable chunks.

    On entry the trailer is cut off (and a missing pad byte added), so that
    mutagen's "append at the end" lands at :attr:`IffLayout.insert_at`; on a
    clean exit the trailer is appended unchanged and the RIFF/FORM size field
    set to its original value plus the growth of the file.
    """
    layout = _iff_layout(path, fmt)
    endian = _IFF[fmt][1]
    start = layout.insert_at - layout.add_pad
    with path.open("r+b") as fh:
        fh.seek(start)
        trailer = fh.read()
        fh.truncate(start)
        if layout.add_pad:
            fh.seek(start)
            fh.write(b"\0")
    yield layout
    with path.open("r+b") as fh:
        fh.seek(0, os.SEEK_END)
        fh.write(trailer)
        new_size = fh.tell()
        container = layout.container_size + (new_size - layout.size)
        if not 4 <= container <= _MAX_U32:
            raise TagError(f"{path}: container size {container} out of range after the write")
        fh.seek(4)
        fh.write(struct.pack(endian + "I", container))


# ----------------------------------------------------------------------------- writing


def _mutagen_errors_as_tag_errors(write):
    """Decorator: a mutagen failure while writing becomes a :class:`TagError` for that file."""

    @functools.wraps(write)
    def wrapped(path: Path, *args, **kwargs):
        try:
            return write(path, *args, **kwargs)
        except mutagen.MutagenError as exc:
            raise TagError(f"{display_path(path)}: cannot write tags ({exc})") from exc

    return wrapped


@_mutagen_errors_as_tag_errors
def _set_genres_in_place(path: Path, genres: list[str]) -> None:
    """Write ``genres`` into ``path`` directly (only ever called on a temp copy)."""
    audio, scheme, fmt = _open(path)
    if scheme == "id3":
        if fmt == "mp3":
            try:
                tags = ID3(str(path))
                version = tags.version[1] if tags.version[0] == 2 else 4
            except ID3NoHeaderError:
                tags, version = ID3(), 4
            tags.delall("TCON")
            if genres:
                tags.add(TCON(encoding=3, text=list(genres)))
            # v1=1: an existing ID3v1 tag is updated to match, none is created.
            tags.save(str(path), v1=1, v2_version=version, v23_sep=ID3V23_SEPARATOR)
            return
        if audio.tags is None:
            audio.add_tags()
            version = 4
        else:
            version = audio.tags.version[1]
        audio.tags.delall("TCON")
        if genres:
            audio.tags.add(TCON(encoding=3, text=list(genres)))
        with _iff_trailer_set_aside(path, fmt):
            audio.save(v2_version=version, v23_sep=ID3V23_SEPARATOR)
        return
    if scheme == "vorbis":
        if audio.tags is None:
            audio.add_tags()
        kept = [(k, v) for k, v in audio.tags if k.lower() != "genre"]
        audio.tags.clear()
        audio.tags.extend(kept + [("GENRE", g) for g in genres])
        audio.save()
        return
    if audio.tags is None:
        audio.add_tags()
    audio.tags.pop("gnre", None)
    if genres:
        audio.tags["\xa9gen"] = list(genres)
    else:
        audio.tags.pop("\xa9gen", None)
    audio.save()


@_mutagen_errors_as_tag_errors
def _restore_in_place(path: Path, state: dict) -> None:
    """Write a :func:`genre_state` back into ``path`` (only ever a temp copy)."""
    audio, scheme, fmt = _open(path)
    if scheme != state["scheme"]:
        raise TagError(f"{path}: tag scheme is {scheme}, the journal recorded {state['scheme']}")
    if scheme == "id3":
        v2 = state["v2"]
        if fmt == "mp3":
            if v2 is None:
                mutagen.id3.delete(str(path), delete_v1=False, delete_v2=True)
            else:
                try:
                    tags = ID3(str(path))
                except ID3NoHeaderError:
                    tags = ID3()
                _restore_tcon(tags, v2)
                tags.save(str(path), v1=1, v2_version=v2["version"], v23_sep=ID3V23_SEPARATOR)
            _restore_id3v1(path, state["v1"])
            return
        if audio.tags is None and v2 is not None:
            audio.add_tags()
        if v2 is not None:
            _restore_tcon(audio.tags, v2)
        with _iff_trailer_set_aside(path, fmt):
            if v2 is None:
                audio.delete()
            else:
                audio.save(v2_version=v2["version"], v23_sep=ID3V23_SEPARATOR)
        return
    if scheme == "vorbis":
        if not state["present"] and fmt == "flac":
            audio.delete()
            return
        if audio.tags is None:
            audio.add_tags()
        audio.tags.clear()
        audio.tags.extend([(k, v) for k, v in state["comments"]])
        audio.save()
        return
    if not state["present"]:
        audio.delete()
        return
    if audio.tags is None:
        audio.add_tags()
    audio.tags.pop("gnre", None)
    if state["gen"] is None:
        audio.tags.pop("\xa9gen", None)
    else:
        audio.tags["\xa9gen"] = list(state["gen"])
    audio.save()


def _restore_tcon(tags: ID3, v2: dict) -> None:
    tags.delall("TCON")
    if v2["tcon"] is not None:
        tags.add(TCON(encoding=v2["tcon"]["encoding"], text=list(v2["tcon"]["text"])))


def _restore_id3v1(path: Path, raw_b64: str | None) -> None:
    current = _id3v1_raw(path)
    if raw_b64 == current:
        return
    raw = base64.b64decode(raw_b64) if raw_b64 else b""
    with path.open("r+b") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        if current is not None:
            end -= 128
            fh.truncate(end)
        fh.seek(end)
        fh.write(raw)


def plan_genres(
    path: str | os.PathLike, genres: Sequence[str], *, mode: str = "replace"
) -> tuple[dict, list[str], list[str]]:
    """``(before_state, before_genres, after_genres)`` for a write; writes nothing."""
    before = genre_state(path)
    current = genres_of_state(before)
    return before, current, merge_genres(current, genres, mode=mode)


def write_genres(
    path: str | os.PathLike,
    genres: Sequence[str],
    *,
    mode: str = "replace",
    dry_run: bool = False,
    expected_before: dict | None = None,
) -> TagChange:
    """Write genre tags to ``path`` safely (copy, modify, verify, atomic replace).

    Parameters
    ----------
    path : str or path-like
        The audio file.
    genres : sequence of str
        Genre names, best first.
    mode : {"replace", "append", "fill"}
        See :func:`merge_genres`.
    dry_run : bool
        Compute the change without writing.
    expected_before : dict, optional
        The :func:`genre_state` the caller planned (and journalled) the change
        from. When the file's tags differ from it now, nothing is written.

    Returns
    -------
    TagChange
        ``before``/``after`` states; ``after == before`` when nothing changed
        (and then nothing was written).

    Raises
    ------
    TagError
        Unsupported format, unreadable tags, a WAV/AIFF chunk layout that
        cannot take a tag safely (the message says why; see the module notes),
        or the verification failed, or the tags are not ``expected_before``.
        The original file is then untouched.
    """
    path = Path(path)
    before, current, wanted = plan_genres(path, genres, mode=mode)
    if expected_before is not None and before != expected_before:
        raise TagError(f"{display_path(path)}: tags changed since planning; not written")
    if wanted == current:
        return TagChange(path, before, before, current, current)
    if before["format"] in _IFF:
        _iff_layout(path, before["format"])  # refuse an unsafe layout before copying
    if dry_run:
        return TagChange(path, before, {"planned": wanted}, current, wanted)

    def verify(tmp: Path) -> None:
        got = genres_of_state(genre_state(tmp))
        if got != wanted:
            raise TagError(f"{path}: wrote genres {wanted!r} but read back {got!r}")

    def modify(tmp: Path) -> None:
        # The copy is what replaces the original (modify_file refuses if the original
        # changes after the copy): check the state the change was planned from on it.
        if expected_before is not None and genre_state(tmp) != expected_before:
            raise TagError(f"{display_path(path)}: tags changed since planning; not written")
        _set_genres_in_place(tmp, wanted)

    safe_write.modify_file(path, modify, verify=verify)
    after = genre_state(path)
    return TagChange(path, before, after, current, genres_of_state(after))


def restore_genre_state(path: str | os.PathLike, state: dict) -> None:
    """Put ``state`` (from :func:`genre_state`) back into ``path`` exactly.

    Raises
    ------
    TagError
        The restored file's state would not compare equal to ``state`` (the
        original is then untouched).
    """
    path = Path(path)

    def verify(tmp: Path) -> None:
        got = genre_state(tmp)
        if got != state:
            raise TagError(f"{path}: restored tags differ from the journal ({got!r} != {state!r})")

    safe_write.modify_file(path, lambda tmp: _restore_in_place(tmp, state), verify=verify)


# ----------------------------------------------------------------------------- library runs


@dataclass
class TagRunSummary:
    """What ``reclass tag`` did (or would do, with ``dry_run``)."""

    run_id: int | None
    changes: list[TagChange] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _clean_label(label: str) -> str:
    return " ".join(str(label).replace("\x00", " ").split())


def display_genre(canonical: str) -> str:
    """How a canonical genre key is written into tags: ``"hip-hop"`` -> ``"Hip-Hop"``.

    The taxonomy's keys are lower case; players show tag text as is, so each
    word is capitalised (``"soul/r&b"`` -> ``"Soul/R&B"``).
    """
    return _clean_label(canonical).title().replace("'S", "'s").replace("'N'", "'n'")


def _default_normaliser():
    """``taxonomy.normalise_genre`` then :func:`display_genre`; None drops a label."""
    from music_reclass.taxonomy import normalise_genre

    def normalise(name: str) -> str | None:
        canonical = normalise_genre(_clean_label(name))
        return display_genre(canonical) if canonical else None

    return normalise


def predicted_genres(
    conn,
    content_hash: str,
    *,
    min_confidence: float,
    top_k: int | None = None,
    model_id: str | None = None,
    normalise=None,
) -> list[tuple[str, float]]:
    """The latest ok analysis' genres with confidence >= ``min_confidence``, best first.

    Names go through ``normalise`` (None drops a label); duplicates after
    normalisation keep their best confidence.
    """
    sql = "SELECT genres FROM analyses WHERE content_hash = ? AND status = 'ok'"
    args: list = [content_hash]
    if model_id:
        sql += " AND model_id = ?"
        args.append(model_id)
    row = conn.execute(sql + " ORDER BY created_at DESC, id DESC LIMIT 1", args).fetchone()
    if row is None or not row[0]:
        return []
    import json

    out: list[tuple[str, float]] = []
    for item in json.loads(row[0]):
        confidence = float(item.get("confidence", 0.0))
        if confidence < min_confidence:
            continue
        name = (normalise or _clean_label)(item["label"])
        if name and name.casefold() not in {n.casefold() for n, _ in out}:
            out.append((name, confidence))
    out.sort(key=lambda pair: -pair[1])
    return out[:top_k] if top_k else out


class NothingAnalysedError(ReclassError):
    """No file under the given paths has a successful classify analysis.

    ``audio_found`` is False when there is no audio file under the paths at all
    (e.g. a folder already organised away): nothing to do rather than a mistake.
    """

    code = "nothing-analysed"

    def __init__(self, message: str, *, audio_found: bool = True) -> None:
        super().__init__(message)
        self.audio_found = audio_found


@dataclass(frozen=True)
class AnalysedFile:
    """A file to act on: found by walking the given paths, known to the library."""

    given: Path  # as reached under the given paths (may be, or lie under, a symlink)
    path: Path  # resolved: the ``files.path`` key (classify stores resolved paths)
    content_hash: str
    size: int | None


def analysed_files(conn, paths: Sequence[str | os.PathLike]) -> list[AnalysedFile]:
    """The analysed audio files under ``paths`` (walked like classify walks them).

    Every audio file found under ``paths`` (symlinked files and folders
    followed) is resolved and looked up in ``files`` (status ok); files never
    analysed are left out. A file reached twice is listed once.

    Raises
    ------
    ParameterError
        A path does not exist.
    """
    from music_reclass.audio.discover import iter_candidates

    for given in paths:
        if not os.path.exists(given):
            raise ParameterError(f"no such file or folder: {display_path(given)}")
    found: dict[Path, AnalysedFile] = {}
    for candidate in iter_candidates(list(paths)):
        if candidate.kind != "audio":
            continue
        resolved = Path(os.path.realpath(candidate.path))
        if resolved in found:
            # Reached both through a symlinked file and as itself: keep the file itself
            # (organise does not move a file reached only through a link to it).
            if found[resolved].given.is_symlink() and not candidate.path.is_symlink():
                found[resolved] = replace(found[resolved], given=candidate.path)
            continue
        row = conn.execute(
            "SELECT content_hash, size FROM files WHERE path = ? AND status = 'ok'",
            (path_to_db(resolved),),
        ).fetchone()
        if row is not None:
            found[resolved] = AnalysedFile(candidate.path, resolved, row[0], row[1])
    return list(found.values())


def require_analysed(found: Sequence[AnalysedFile], paths: Sequence[str | os.PathLike]) -> None:
    """Raise :class:`NothingAnalysedError` when ``found`` is empty (before any run starts)."""
    from music_reclass.audio.discover import iter_candidates

    if found:
        return
    shown = " ".join(display_path(p) for p in paths)
    if not any(c.kind == "audio" for c in iter_candidates(list(paths))):
        raise NothingAnalysedError(f"no audio files under {shown}", audio_found=False)
    raise NothingAnalysedError(
        f"nothing analysed under {shown}: run `reclass classify {shown}` first"
    )


def tag_library(
    conn,
    paths: Sequence[str | os.PathLike],
    *,
    min_confidence: float,
    top_k: int | None = 3,
    mode: str = "replace",
    dry_run: bool = False,
    model_id: str | None = None,
    normalise=None,
    echo=None,
) -> TagRunSummary:
    """Write the predicted genres of the analysed files under ``paths``.

    Every write is journalled (planned before, done after; see
    :mod:`~music_reclass.library.journal`), the files rows get the new content
    hash and the analyses follow it.

    Parameters
    ----------
    conn : sqlite3.Connection
        The library database.
    paths : sequence of path-like
        Files or folders; only files a classify run analysed are considered.
    min_confidence : float
        Genres below it are not written.
    top_k : int, optional
        At most this many genres.
    mode : {"replace", "append", "fill"}
        See :func:`merge_genres`.
    dry_run : bool
        Print and return the changes; write nothing (not even the DB).
    model_id : str, optional
        Use this model's analyses (default: the latest of any model).
    normalise : callable, optional
        Genre name normaliser (default ``taxonomy.normalise_genre``).
    echo : callable, optional
        Called with one line per change/problem.
    """
    from music_reclass.library import journal
    from music_reclass.library.payload import audio_digest, capture_exact

    if not 0.0 <= min_confidence <= 1.0:
        raise ParameterError(f"min_confidence must be in [0, 1], not {min_confidence}")
    if top_k is not None and top_k < 1:
        raise ParameterError(f"top_k must be >= 1, not {top_k}")
    merge_genres([], [], mode=mode)  # validates mode
    echo = echo or (lambda line: None)
    normalise = normalise or _default_normaliser()
    summary = TagRunSummary(run_id=None)
    if not dry_run:
        for message in journal.repair_interrupted(conn):
            echo(f"repaired: {message}")
    rows = analysed_files(conn, paths)  # after repair: it may have moved rows
    require_analysed(rows, paths)
    if not dry_run:
        safe_write.cleanup_stale_temps({r.path.parent for r in rows})
        summary.run_id = journal.start_act_run(
            conn,
            "tag",
            {
                "paths": [display_path(p) for p in paths],
                "min_confidence": min_confidence,
                "top_k": top_k,
                "mode": mode,
                "model_id": model_id,
            },
        )
    for row in rows:
        path = row.path
        shown = display_path(path)
        try:
            if (
                not path.is_file()
                or path.stat().st_size != row.size
                or journal.content_hash(path) != row.content_hash
            ):
                summary.skipped.append(f"{shown}: changed or missing since it was analysed")
                continue
            genres = [
                g
                for g, _ in predicted_genres(
                    conn,
                    row.content_hash,
                    min_confidence=min_confidence,
                    top_k=top_k,
                    model_id=model_id,
                    normalise=normalise,
                )
            ]
            if not genres:
                summary.skipped.append(f"{shown}: no genre with confidence >= {min_confidence}")
                continue
            before, current, wanted = plan_genres(path, genres, mode=mode)
            if wanted == current:
                summary.unchanged.append(path)
                continue
            if before["format"] in _IFF:  # refuse an unsafe WAV/AIFF layout (dry run too)
                _iff_layout(path, before["format"])
            if dry_run:
                change = TagChange(path, before, {"planned": wanted}, current, wanted)
                summary.changes.append(change)
                echo(change.describe())
                continue
            entry = journal.plan(
                conn,
                summary.run_id,
                action="tag",
                path=path,
                before={"state": before, "exact": capture_exact(path)},
                after={"genres": wanted},
                digest=audio_digest(path),
            )
            try:
                change = write_genres(path, genres, mode=mode, expected_before=before)
            except BaseException as exc:
                if not isinstance(exc, Exception):
                    raise  # KeyboardInterrupt: repair settles the planned row next time
                journal.set_failed(conn, entry, f"{type(exc).__name__}: {exc}")
                raise
            from music_reclass.library import db as libdb

            with libdb.transaction(conn):
                journal.record_retag(
                    conn,
                    path,
                    old_hash=row.content_hash,
                    run_id=summary.run_id,
                    genres=change.after_genres,
                )
                journal.set_done(conn, entry, after=change.after)
            safe_write.fault_point("done")
            summary.changes.append(change)
            echo(change.describe())
        except (ReclassError, OSError) as exc:
            summary.failed.append(f"{shown}: {exc}")
            echo(f"failed: {shown}: {exc}")
        except Exception as exc:  # noqa: BLE001 - one odd file must not abort the run
            summary.failed.append(f"{shown}: unexpected {type(exc).__name__}: {exc}")
            echo(f"failed: {shown}: unexpected {type(exc).__name__}: {exc}")
    if summary.run_id is not None:
        from music_reclass.library import db as libdb

        with libdb.transaction(conn):
            libdb.finish_run(conn, summary.run_id, "done" if summary.ok else "failed")
    return summary
