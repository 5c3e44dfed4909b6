"""Digests of a file's AUDIO payload, independent of its tags.

Writing tags rewrites a file's bytes, so its content hash changes; the audio must
not. :func:`audio_digest` hashes only the bytes that carry sound, found by a
small parser per container, so a tag write can be verified ("the audio is
bit-identical to before") and a journal entry can recognise its file later:

========  ==========================================================================
format    what is hashed
========  ==========================================================================
MP3       the bytes after every leading ID3v2 tag and before a trailing APEv2,
          Lyrics3v2 and ID3v1 tag (the MPEG frames, the Xing/LAME frame included)
FLAC      the bytes after the last metadata block (the frames) plus STREAMINFO
Ogg       every logical stream's packets except the comment header (packet 1):
          page headers are excluded because they change when the comments grow
WAV/AIFF  the ``fmt ``/``data`` (WAV) or ``COMM``/``SSND`` (AIFF) chunk bodies
MP4/M4A   the bodies of all ``mdat`` atoms (the sample data) in file order
other     the fully decoded PCM (PyAV's decoders are deterministic)
========  ==========================================================================

The digest is ``"<method>:<sha256 hex>"`` so that digests made by different
methods never compare equal by accident.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

from music_reclass.errors import CorruptAudioError, UnreadableFileError

_CHUNK = 1 << 20


def audio_digest(path: str | os.PathLike) -> str:
    """Digest of the audio payload of ``path``, independent of its tags.

    Parameters
    ----------
    path : str or path-like
        An audio file (MP3, FLAC, Ogg Vorbis/Opus, WAV, AIFF, MP4/M4A, or anything
        PyAV decodes).

    Returns
    -------
    str
        ``"<method>:<hex>"`` where method is ``mp3``, ``flac``, ``ogg``, ``riff``,
        ``aiff``, ``mp4`` or ``pcm``.

    Raises
    ------
    UnreadableFileError
        The file cannot be opened.
    CorruptAudioError
        The container is damaged so no payload can be located or decoded.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise UnreadableFileError(f"{path}: {exc.strerror or exc}") from exc
    kind = _sniff(head, path)
    parser = _PARSERS.get(kind)
    if parser is not None:
        try:
            digest = parser(path)
        except (struct.error, ValueError, IndexError):
            digest = None
        if digest is not None:
            return f"{kind}:{digest}"
    return f"pcm:{_pcm_digest(path)}"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of every byte of ``path`` (used to prove a copy is byte-complete)."""
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            sha.update(block)
    return sha.hexdigest()


# ----------------------------------------------------------------------------- sniffing


def _sniff(head: bytes, path: Path) -> str | None:
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "riff"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"ID3"):
        # ID3v2 in front of FLAC exists in the wild; look behind the tag.
        with path.open("rb") as fh:
            offset = _skip_id3v2(fh, 0)
            fh.seek(offset)
            if fh.read(4) == b"fLaC":
                return "flac"
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mp3"
    return None


def _syncsafe(data: bytes) -> int:
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _skip_id3v2(fh, offset: int) -> int:
    """Offset after every ID3v2 tag starting at ``offset`` (files may hold several)."""
    while True:
        fh.seek(offset)
        header = fh.read(10)
        if len(header) < 10 or not header.startswith(b"ID3"):
            return offset
        size = _syncsafe(header[6:10])
        footer = 10 if header[5] & 0x10 else 0
        offset += 10 + size + footer


# ----------------------------------------------------------------------------- parsers


def _hash_range(fh, start: int, end: int, sha) -> None:
    fh.seek(start)
    remaining = end - start
    while remaining > 0:
        block = fh.read(min(_CHUNK, remaining))
        if not block:
            raise CorruptAudioError("file shorter than its structure says")
        sha.update(block)
        remaining -= len(block)


def _mp3_digest(path: Path) -> str | None:
    span = _mp3_span(path, path.stat().st_size)
    if span is None:
        return None
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        _hash_range(fh, *span, sha)
    return sha.hexdigest()


def _flac_digest(path: Path) -> str | None:
    size = path.stat().st_size
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        offset = _skip_id3v2(fh, 0)
        fh.seek(offset)
        if fh.read(4) != b"fLaC":
            return None
        offset += 4
        while True:
            fh.seek(offset)
            header = fh.read(4)
            if len(header) < 4:
                return None
            last = header[0] & 0x80
            block_type = header[0] & 0x7F
            length = int.from_bytes(header[1:4], "big")
            if block_type == 0:  # STREAMINFO: sample rate, channels, MD5 of the audio
                sha.update(fh.read(length))
            offset += 4 + length
            if last:
                break
        if offset >= size:
            return None
        _hash_range(fh, offset, size, sha)
    return sha.hexdigest()


def _ogg_digest(path: Path) -> str | None:
    """Hash the packets of each logical stream, skipping the comment header."""
    sha = hashlib.sha256()
    packets: dict[int, int] = {}  # serial -> index of the packet being assembled
    partial: dict[int, bytearray] = {}
    audio_packets = 0
    with path.open("rb") as fh:
        while True:
            header = fh.read(27)
            if not header:
                break
            if len(header) < 27 or header[:4] != b"OggS":
                return None
            serial = struct.unpack("<I", header[14:18])[0]
            nsegs = header[26]
            lacing = fh.read(nsegs)
            body = fh.read(sum(lacing))
            if len(lacing) < nsegs or len(body) < sum(lacing):
                return None
            buf = partial.setdefault(serial, bytearray())
            pos = 0
            for lace in lacing:
                buf += body[pos : pos + lace]
                pos += lace
                if lace < 255:  # end of a packet
                    index = packets.get(serial, 0)
                    if index != 1:  # packet 1 is the comment header (Vorbis, Opus, FLAC-in-Ogg)
                        sha.update(struct.pack("<IQ", serial, len(buf)))
                        sha.update(buf)
                        audio_packets += index >= 2
                    packets[serial] = index + 1
                    buf.clear()
    if audio_packets == 0:
        return None
    return sha.hexdigest()


def _iff_digest(path: Path, *, little_endian: bool, wanted: tuple[bytes, ...]) -> str | None:
    size = path.stat().st_size
    fmt = "<I" if little_endian else ">I"
    sha = hashlib.sha256()
    found = set()
    with path.open("rb") as fh:
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id = fh.read(4)
            length = struct.unpack(fmt, fh.read(4))[0]
            body_end = min(offset + 8 + length, size)
            if chunk_id in wanted:
                sha.update(chunk_id)
                _hash_range(fh, offset + 8, body_end, sha)
                found.add(chunk_id)
            offset += 8 + length + (length & 1)
    if len(found) != len(wanted):
        return None
    return sha.hexdigest()


def _riff_digest(path: Path) -> str | None:
    with path.open("rb") as fh:
        little = fh.read(4) == b"RIFF"
    return _iff_digest(path, little_endian=little, wanted=(b"fmt ", b"data"))


def _aiff_digest(path: Path) -> str | None:
    return _iff_digest(path, little_endian=False, wanted=(b"COMM", b"SSND"))


def _mp4_digest(path: Path) -> str | None:
    size = path.stat().st_size
    sha = hashlib.sha256()
    found = False
    with path.open("rb") as fh:
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
                return None
            if atom == b"mdat":
                _hash_range(fh, offset + header, min(offset + length, size), sha)
                found = True
            offset += length
    return sha.hexdigest() if found else None


_PARSERS = {
    "mp3": _mp3_digest,
    "flac": _flac_digest,
    "ogg": _ogg_digest,
    "riff": _riff_digest,
    "aiff": _aiff_digest,
    "mp4": _mp4_digest,
}


# ----------------------------------------------------------------------------- fallback


def _pcm_digest(path: Path) -> str:
    """SHA-256 of every decoded sample (packed as the decoder outputs them)."""
    import av  # imported here: only formats without a container parser need it

    sha = hashlib.sha256()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise CorruptAudioError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            frames = 0
            for frame in container.decode(stream):
                for plane in frame.to_ndarray().reshape(1, -1):
                    sha.update(plane.tobytes())
                frames += 1
    except av.error.FFmpegError as exc:
        raise CorruptAudioError(f"{path}: cannot decode ({exc})") from exc
    if frames == 0:
        raise CorruptAudioError(f"{path}: no audio frames")
    return sha.hexdigest()


def decoded_sample_count(path: str | os.PathLike) -> int:
    """Number of samples per channel PyAV decodes from ``path`` (a full decode).

    Used to check that a rewritten file still decodes completely.

    Raises
    ------
    CorruptAudioError
        The file does not decode.
    """
    import av

    total = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise CorruptAudioError(f"{path}: no audio stream")
            for frame in container.decode(container.streams.audio[0]):
                total += frame.samples
    except av.error.FFmpegError as exc:
        raise CorruptAudioError(f"{path}: cannot decode ({exc})") from exc
    if total == 0:
        raise CorruptAudioError(f"{path}: no audio frames")
    return total


# ----------------------------------------------------------------------------- exact undo
#
# A tag write changes only the bytes around the audio payload. Keeping those
# bytes (usually a few KiB; more with embedded cover art) lets undo rebuild the
# ORIGINAL FILE byte for byte: original head + the current payload + original
# tail, checked against the original's SHA-256. Ogg has no single payload span
# (the audio is spread over pages whose sequence numbers shift when the header
# pages are repacked), so for Ogg the head is every page before the first audio
# page, and the audio pages are renumbered back and their CRCs recomputed.

EXACT_LIMIT = 16 << 20
"""Largest head + tail (bytes) kept for an exact undo; beyond it undo is tag-level."""


def payload_span(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(start, end)`` byte offsets of the contiguous audio payload, or None.

    None for Ogg (see :func:`ogg_first_audio_page`), MP4 with several ``mdat``
    atoms, and formats without a parser.
    """
    path = Path(path)
    with path.open("rb") as fh:
        kind = _sniff(fh.read(64), path)
    size = path.stat().st_size
    try:
        if kind == "mp3":
            return _mp3_span(path, size)
        if kind == "flac":
            with path.open("rb") as fh:
                offset = _skip_id3v2(fh, 0) + 4
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
        start = _skip_id3v2(fh, 0)
        end = size
        # Trailing tags, in the order taggers write them: [APE][Lyrics3][ID3v1].
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
            lyr = fh.read(15)
            if end - start >= 15 and lyr[6:] == b"LYRICS200":
                end -= int(lyr[:6]) + 15
                continue
            break
    return (start, end) if end > start else None


def _iff_chunks(
    path: Path, size: int, *, little_endian: bool, wanted: bytes
) -> list[tuple[int, int]]:
    fmt = "<I" if little_endian else ">I"
    spans = []
    with path.open("rb") as fh:
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id = fh.read(4)
            length = struct.unpack(fmt, fh.read(4))[0]
            if chunk_id == wanted:
                spans.append((offset + 8, min(offset + 8 + length, size)))
            offset += 8 + length + (length & 1)
    return spans


def _mp4_mdats(path: Path, size: int) -> list[tuple[int, int]]:
    spans = []
    with path.open("rb") as fh:
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
                raise ValueError("bad atom")
            if atom == b"mdat":
                spans.append((offset + header, min(offset + length, size)))
            offset += length
    return spans


def _ogg_pages(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(offset, length, header)`` of every page of an Ogg file held in memory."""
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


def _ogg_first_audio_page(data: bytes) -> int | None:
    """Index of the first page that starts with an audio packet (single stream)."""
    packets_done = 0
    serials = set()
    header_packets = 2 if data[28:36] == b"OpusHead" else 3  # Opus: head+tags; Vorbis: +setup
    for index, (offset, _length, lacing) in enumerate(_ogg_pages(data)):
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
    import base64

    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        kind = _sniff(fh.read(64), path)
    if kind == "ogg":
        if size > 64 * EXACT_LIMIT:
            return None
        data = path.read_bytes()
        try:
            first = _ogg_first_audio_page(data)
            pages = _ogg_pages(data)
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


def rebuild_exact(current: str | os.PathLike, exact: dict, out: str | os.PathLike) -> bool:
    """Write the original file (see :func:`capture_exact`) to ``out``.

    Uses the audio payload of ``current`` with the original non-audio bytes.
    Returns True when ``out`` then has the original SHA-256 exactly; False (and
    ``out`` is left unspecified) when it cannot.
    """
    import base64

    current, out = Path(current), Path(out)
    head = base64.b64decode(exact["head"])
    if exact["kind"] == "ogg":
        data = current.read_bytes()
        try:
            first = _ogg_first_audio_page(data)
            pages = _ogg_pages(data)
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
