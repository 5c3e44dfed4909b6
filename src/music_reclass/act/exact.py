"""Byte-exact undo of a tag write: the original non-audio bytes, kept and put back.

----------------------------------------------------------------------------- exact undo
A tag write changes only the bytes around the audio payload. Keeping those
bytes (usually a few KiB; more with embedded cover art) lets undo rebuild the
ORIGINAL FILE byte for byte: original head + the current payload + original
tail, checked against the original's SHA-256. Ogg has no single payload span
(the audio is spread over pages whose sequence numbers shift when the header
pages are repacked), so for Ogg the head is every page before the first audio
page, and the audio pages are renumbered back and their CRCs recomputed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from pathlib import Path

from music_reclass.act.payload import container_kind, file_sha256
from music_reclass.audio.containers import (
    iter_iff_chunks,
    iter_mp4_atoms,
    mp3_payload_span,
    ogg_pages,
    skip_id3v2,
)

__all__ = ["EXACT_LIMIT", "capture_exact", "payload_span", "rebuild_exact", "why_not_exact"]

_CHUNK = 1 << 20

EXACT_LIMIT = 16 << 20
"""Largest head + tail (bytes) kept for an exact undo; beyond it undo is tag-level."""


def payload_span(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(start, end)`` byte offsets of the contiguous audio payload, or None.

    None for Ogg (see :func:`ogg_first_audio_page`), MP4 with several ``mdat``
    atoms, and formats without a parser.
    """
    path = Path(path)
    with path.open("rb") as fh:
        kind = container_kind(fh.read(64), path)
    size = path.stat().st_size
    try:
        if kind == "mp3":
            return _mp3_span(path, size)
        if kind == "flac":
            with path.open("rb") as fh:
                offset = skip_id3v2(fh, 0) + 4
                while True:
                    fh.seek(offset)
                    header = fh.read(4)
                    if len(header) < 4:
                        return None
                    offset += 4 + int.from_bytes(header[1:4], "big")
                    if header[0] & 0x80:
                        return (offset, size)
        if kind in ("riff", "aiff"):
            little = kind == "riff" and _read_at(path, 0, 4) == b"RIFF"
            wanted = b"data" if kind == "riff" else b"SSND"
            spans = _iff_chunks(path, size, little_endian=little, wanted=wanted)
            return spans[0] if len(spans) == 1 else None
        if kind == "mp4":
            spans = _mp4_mdats(path, size)
            return spans[0] if len(spans) == 1 else None
    except (struct.error, ValueError, IndexError):
        return None
    return None


def _read_at(path: Path, offset: int, n: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(n)


def _mp3_span(path: Path, size: int) -> tuple[int, int] | None:
    with path.open("rb") as fh:
        return mp3_payload_span(fh, size)


def _iff_chunks(
    path: Path, size: int, *, little_endian: bool, wanted: bytes
) -> list[tuple[int, int]]:
    with path.open("rb") as fh:
        return [(offset + 8, min(offset + 8 + length, size))
                for chunk_id, offset, length in iter_iff_chunks(fh, size,
                                                                little_endian=little_endian)
                if chunk_id == wanted]


def _mp4_mdats(path: Path, size: int) -> list[tuple[int, int]]:
    with path.open("rb") as fh:
        return [(offset + header, min(offset + length, size))
                for atom, offset, header, length in iter_mp4_atoms(fh, size) if atom == b"mdat"]


def _ogg_first_audio_page(data: bytes) -> int | None:
    """Index of the first page that starts with an audio packet (single stream)."""
    packets_done = 0
    serials = set()
    header_packets = 2 if data[28:36] == b"OpusHead" else 3  # Opus: head+tags; Vorbis: +setup
    for index, (offset, _length, lacing) in enumerate(ogg_pages(data)):
        serials.add(data[offset + 14 : offset + 18])
        if len(serials) > 1:
            return None  # chained/multiplexed Ogg: no exact undo
        fresh = not (data[offset + 5] & 0x01)  # not a continuation of a packet
        if packets_done >= header_packets and fresh:
            return index
        packets_done += sum(1 for lace in lacing if lace < 255)
    return None


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _make_ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if r & 0x80000000 else (r << 1) & 0xFFFFFFFF
        table.append(r)
    return table


_OGG_CRC_TABLE = _make_ogg_crc_table()


def capture_exact(path: str | os.PathLike) -> dict | None:
    """What :func:`rebuild_exact` needs to restore ``path`` byte for byte later.

    Returns a JSON-able dict (``kind``, ``head``/``tail`` base64, ``sha256``,
    ``size``), or None when the format has no payload span or the non-audio
    bytes exceed :data:`EXACT_LIMIT`.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        kind = container_kind(fh.read(64), path)
    if kind == "ogg":
        if size > 64 * EXACT_LIMIT:
            return None
        data = path.read_bytes()
        try:
            first = _ogg_first_audio_page(data)
            pages = ogg_pages(data)
        except (ValueError, IndexError):
            return None
        if first is None or pages[first][0] > EXACT_LIMIT:
            return None
        head_end = pages[first][0]
        seq = struct.unpack("<I", data[head_end + 18 : head_end + 22])[0]
        return {
            "kind": "ogg",
            "head": base64.b64encode(data[:head_end]).decode("ascii"),
            "first_audio_seq": seq,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": size,
        }
    span = payload_span(path)
    if span is None:
        return None
    start, end = span
    if start + (size - end) > EXACT_LIMIT:
        return None
    with path.open("rb") as fh:
        head = fh.read(start)
        fh.seek(end)
        tail = fh.read()
    return {
        "kind": "span",
        "head": base64.b64encode(head).decode("ascii"),
        "tail": base64.b64encode(tail).decode("ascii"),
        "sha256": file_sha256(path),
        "size": size,
    }


def why_not_exact(path: str | os.PathLike) -> str:
    """Why :func:`capture_exact` keeps nothing for ``path`` (one line, for undo's report)."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        kind = container_kind(fh.read(64), path)
    if kind == "ogg":
        return "this Ogg file's layout (several streams, or a large header) is not kept"
    span = payload_span(path)
    if span is None:
        return "this file's audio is not one contiguous span"
    non_audio = span[0] + size - span[1]
    if non_audio > EXACT_LIMIT:
        return (f"its {non_audio / 2**20:.1f} MiB of non-audio data (cover art...) is over "
                f"the {EXACT_LIMIT >> 20} MiB kept for a byte-exact undo")
    return "its original bytes were not kept"


def rebuild_exact(current: str | os.PathLike, exact: dict, out: str | os.PathLike) -> bool:
    """Write the original file (see :func:`capture_exact`) to ``out``.

    Uses the audio payload of ``current`` with the original non-audio bytes.
    Returns True when ``out`` then has the original SHA-256 exactly; False (and
    ``out`` is left unspecified) when it cannot.
    """
    current, out = Path(current), Path(out)
    head = base64.b64decode(exact["head"])
    if exact["kind"] == "ogg":
        data = current.read_bytes()
        try:
            first = _ogg_first_audio_page(data)
            pages = ogg_pages(data)
        except (ValueError, IndexError):
            return False
        if first is None:
            return False
        sha = hashlib.sha256(head)
        with out.open("wb") as fh:
            fh.write(head)
            seq = exact["first_audio_seq"]
            for offset, length, _lacing in pages[first:]:
                page = bytearray(data[offset : offset + length])
                if struct.unpack("<I", page[18:22])[0] != seq:  # renumber: new CRC
                    page[18:22] = struct.pack("<I", seq)
                    page[22:26] = b"\0\0\0\0"
                    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
                fh.write(page)
                sha.update(page)
                seq += 1
        return sha.hexdigest() == exact["sha256"]
    span = payload_span(current)
    if span is None:
        return False
    tail = base64.b64decode(exact["tail"])
    start, end = span
    if len(head) + (end - start) + len(tail) != exact["size"]:
        return False
    sha = hashlib.sha256(head)
    with current.open("rb") as src, out.open("wb") as fh:
        fh.write(head)
        src.seek(start)
        remaining = end - start
        while remaining > 0:
            block = src.read(min(_CHUNK, remaining))
            if not block:
                return False
            fh.write(block)
            sha.update(block)
            remaining -= len(block)
        fh.write(tail)
        sha.update(tail)
    return sha.hexdigest() == exact["sha256"]
