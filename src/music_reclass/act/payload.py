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

from music_reclass.audio.containers import (
    iter_iff_chunks,
    iter_mp4_atoms,
    mp3_payload_span,
    skip_id3v2,
)
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
    kind = container_kind(head, path)
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


def container_kind(head: bytes, path: Path) -> str | None:
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
            fh.seek(skip_id3v2(fh, 0))
            if fh.read(4) == b"fLaC":
                return "flac"
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mp3"
    return None


# ----------------------------------------------------------------------------- parsers


def hash_range(fh, start: int, end: int, sha) -> None:
    fh.seek(start)
    remaining = end - start
    while remaining > 0:
        block = fh.read(min(_CHUNK, remaining))
        if not block:
            raise CorruptAudioError("file shorter than its structure says")
        sha.update(block)
        remaining -= len(block)


def _mp3_digest(path: Path) -> str | None:
    with path.open("rb") as fh:
        span = mp3_payload_span(fh, path.stat().st_size)
    if span is None:
        return None
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        hash_range(fh, *span, sha)
    return sha.hexdigest()


def _flac_digest(path: Path) -> str | None:
    size = path.stat().st_size
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        offset = skip_id3v2(fh, 0)
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
        hash_range(fh, offset, size, sha)
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
    sha = hashlib.sha256()
    found = set()
    with path.open("rb") as fh:
        for chunk_id, offset, length in list(iter_iff_chunks(fh, size, little_endian=little_endian)):
            if chunk_id in wanted:
                sha.update(chunk_id)
                hash_range(fh, offset + 8, min(offset + 8 + length, size), sha)
                found.add(chunk_id)
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
    with path.open("rb") as fh:
        mdats = [(offset + header, min(offset + length, size))
                 for atom, offset, header, length in iter_mp4_atoms(fh, size) if atom == b"mdat"]
        for start, end in mdats:
            hash_range(fh, start, end, sha)
    return sha.hexdigest() if mdats else None


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
