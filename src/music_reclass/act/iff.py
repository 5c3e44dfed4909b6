"""WAV/AIFF chunk layouts: where an ID3 chunk can be written safely.

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
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from music_reclass.errors import TagError

__all__ = ["IFF_FORMATS", "IffLayout", "iff_layout", "trailer_set_aside"]

# fmt -> (container magic, size struct format, chunks the audio needs, chunk
# ids mutagen parses as containers (need >= 4 bytes), ID3 chunk ids)
IFF_FORMATS = {
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


def iff_layout(path: Path, fmt: str) -> IffLayout:
    """Walk the chunks of a WAV/AIFF file as mutagen does, and judge the layout.

    Raises
    ------
    TagError
        The layout cannot take an ID3 chunk safely (the message says why).
    """
    magic, endian, needed, containers, id3_ids = IFF_FORMATS[fmt]
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
def trailer_set_aside(path: Path, fmt: str) -> Iterator[IffLayout]:
    """Let mutagen change the ID3 chunk of ``path`` (a temp copy) behind the readable chunks.

    On entry the trailer is cut off (and a missing pad byte added), so that
    mutagen's "append at the end" lands at :attr:`IffLayout.insert_at`; on a
    clean exit the trailer is appended unchanged and the RIFF/FORM size field
    set to its original value plus the growth of the file.
    """
    layout = iff_layout(path, fmt)
    endian = IFF_FORMATS[fmt][1]
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
