"""Walking audio containers: ID3v2 tags, RIFF/AIFF chunks, MP4 atoms, Ogg pages.

The one place that knows how the containers reclass reads are laid out. Content
sniffing (:mod:`~music_reclass.audio.probe`), audio-payload digests and exact undo
(:mod:`~music_reclass.act.payload`) and the WAV/AIFF tag layout
(:mod:`~music_reclass.act.iff`) all walk files with these functions. They read headers
only (a few bytes per chunk) and never trust a size field beyond the end of the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

__all__ = [
    "ID3_HEADER",
    "Chunk",
    "id3v2_size",
    "iter_iff_chunks",
    "iter_mp4_atoms",
    "mp3_payload_span",
    "ogg_pages",
    "skip_id3v2",
]

ID3_HEADER = 10

Chunk = tuple[bytes, int, int]
"""``(id, offset of its header, length of its body)``."""


def id3v2_size(head: bytes) -> int | None:
    """Total size of the ID3v2 tag at the start of ``head`` (header and footer included),
    or None when ``head`` does not start with a valid ID3v2 header."""
    if len(head) < ID3_HEADER or not head.startswith(b"ID3"):
        return None
    if head[3] not in (2, 3, 4) or head[4] == 0xFF:
        return None
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):  # sizes are "syncsafe": 7 bits per byte
        return None
    size = 0
    for b in size_bytes:
        size = (size << 7) | b
    footer = 10 if head[5] & 0x10 else 0
    return ID3_HEADER + size + footer


def skip_id3v2(fh: BinaryIO, offset: int = 0, *, max_tags: int = 16) -> int:
    """Offset after every ID3v2 tag starting at ``offset`` (files may hold several)."""
    for _ in range(max_tags):
        fh.seek(offset)
        size = id3v2_size(fh.read(ID3_HEADER))
        if size is None:
            return offset
        offset += size
    return offset


def iter_iff_chunks(fh: BinaryIO, size: int, *, little_endian: bool,
                    start: int = 12) -> Iterator[Chunk]:
    """The chunks of a RIFF/RIFX/AIFF file from ``start`` (after the 12-byte header).

    Chunks are word-aligned (an odd-size chunk has a pad byte); the walk stops at the
    end of the file or at a header cut short.
    """
    fmt = "<4sI" if little_endian else ">4sI"
    offset = start
    while offset + 8 <= size:
        fh.seek(offset)
        header = fh.read(8)
        if len(header) < 8:
            return
        chunk_id, length = struct.unpack(fmt, header)
        yield chunk_id, offset, length
        offset += 8 + length + (length & 1)


def iter_mp4_atoms(fh: BinaryIO, size: int) -> Iterator[tuple[bytes, int, int, int]]:
    """The top-level atoms of an MP4/QuickTime file: ``(type, offset, header, length)``.

    ``length`` includes the header (8 bytes, or 16 for a 64-bit size); an atom of size 0
    runs to the end of the file.

    Raises
    ------
    ValueError
        An atom claims to be shorter than its own header.
    """
    offset = 0
    while offset + 8 <= size:
        fh.seek(offset)
        length, atom = struct.unpack(">I4s", fh.read(8))
        header = 8
        if length == 1:
            length = struct.unpack(">Q", fh.read(8))[0]
            header = 16
        elif length == 0:
            length = size - offset
        if length < header:
            raise ValueError(f"MP4 atom {atom!r} at offset {offset} is shorter than its header")
        yield atom, offset, header, length
        offset += length


def ogg_pages(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(offset, length, lacing values)`` of every page of an Ogg file held in memory.

    Raises
    ------
    ValueError
        Something other than an Ogg page where one should start.
    """
    pages, offset = [], 0
    while offset < len(data):
        if data[offset : offset + 4] != b"OggS":
            raise ValueError("not an Ogg page")
        nsegs = data[offset + 26]
        lacing = data[offset + 27 : offset + 27 + nsegs]
        length = 27 + nsegs + sum(lacing)
        pages.append((offset, length, bytes(lacing)))
        offset += length
    return pages


def mp3_payload_span(fh: BinaryIO, size: int) -> tuple[int, int] | None:
    """``(start, end)`` of an MP3 file's frames: after its ID3v2 tags, before its trailing
    tags (in the order taggers write them: [APE][Lyrics3][ID3v1])."""
    start = skip_id3v2(fh, 0)
    end = size
    for _ in range(4):
        fh.seek(max(end - 128, 0))
        if end - start >= 128 and fh.read(3) == b"TAG":
            end -= 128
            continue
        fh.seek(max(end - 32, 0))
        footer = fh.read(32)
        if end - start >= 32 and footer[:8] == b"APETAGEX":
            flags = struct.unpack("<I", footer[20:24])[0]
            end -= struct.unpack("<I", footer[12:16])[0] + (32 if flags & 0x80000000 else 0)
            continue
        fh.seek(max(end - 15, 0))
        lyrics = fh.read(15)
        if end - start >= 15 and lyrics[6:] == b"LYRICS200":
            end -= int(lyrics[:6]) + 15
            continue
        break
    return (start, end) if end > start else None
