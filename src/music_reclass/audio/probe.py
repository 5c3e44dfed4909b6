"""Identify audio files by their content (magic bytes), never by their extension.

:func:`sniff_format` reads at most a few KB (after seeking past an ID3v2 tag, which
may hold megabytes of cover art) and names the container/codec family:

========== ===============================================================
name       what it is
========== ===============================================================
mp3        MPEG-1/2/2.5 audio (layer I/II/III), bare or behind ID3v2 tags
flac       native FLAC (``fLaC``)
ogg        Ogg Vorbis
opus       Ogg Opus
ogg-flac   FLAC in Ogg
speex      Ogg Speex
wav        RIFF/RIFX WAVE
rf64       RF64 / BW64 (WAVE over 4 GiB)
w64        Sony Wave64
aiff       AIFF and AIFF-C
au         Sun/NeXT ``.snd`` (GTZAN ships ``.au`` files)
mp4        ISO-BMFF/QuickTime with an audio brand (m4a, m4b, mp4, mov...)
aac        ADTS AAC stream
wavpack    WavPack (``wvpk``)
ape        Monkey's Audio (``MAC ``)
asf        ASF (WMA)
matroska   Matroska/WebM (``.mka``, ``.webm``)
caf        Apple Core Audio Format
========== ===============================================================

:func:`describe_content` says what a non-audio file looks like ("a PNG image",
"HTML text"...), for error messages such as ``not audio: looks like a PNG image``.
"""

from __future__ import annotations

import os
import struct

from music_reclass.audio.containers import id3v2_size

__all__ = ["sniff_format", "describe_content", "describe_bytes", "sniff_bytes", "HEAD_BYTES",
           "confirm_frame_stream"]

#: How much of the file (after any ID3v2 tags) the sniffer looks at.
HEAD_BYTES = 4096

_MAX_ID3_TAGS = 4  # some taggers stack tags; more than a few means garbage

# MPEG audio tables: bitrates in kbit/s by [version family][layer], sample rates by version
_MPEG_BITRATES = {
    # MPEG-1
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    # MPEG-2 and 2.5
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)

_W64_RIFF = bytes.fromhex("72696666 2e91cf11 a5d628db 04c10000".replace(" ", ""))
_W64_WAVE = bytes.fromhex("77617665 f3acd311 8cd100c0 4f8edb8a".replace(" ", ""))
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif",
                 b"avis", b"jp2 ", b"jpx ", b"crx "}


def sniff_format(path: str | os.PathLike) -> str | None:
    """Name the audio format of a file from its content, or ``None`` if it is not audio.

    Parameters
    ----------
    path : str or os.PathLike
        A regular file. Opening it may raise ``OSError`` (permission, missing file...);
        callers that must not block should check it is a regular file first (a fifo
        blocks on open).

    Returns
    -------
    str or None
        One of the names in this module's docstring, or ``None``.
    """
    with open(path, "rb") as fh:
        return _sniff_open_file(fh)


def describe_content(path: str | os.PathLike) -> str:
    """Say in a few words what a (non-audio) file looks like, e.g. ``"a PNG image"``."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    return describe_bytes(head)


def sniff_bytes(head: bytes) -> str | None:
    """Like :func:`sniff_format` on the first bytes of a file (ID3v2 tags not skipped)."""
    return _sniff_head(head)


#: consecutive frames that make a bare MPEG/ADTS stream certain (no tag, no magic number)
CONFIRM_FRAMES = 8


def confirm_frame_stream(path: str | os.PathLike) -> bool:
    """Whether a file sniffed as bare MPEG audio or ADTS AAC (no ID3 tag, no magic number)
    really is: :data:`CONFIRM_FRAMES` consecutive valid frames from its first one.

    Two matching frame headers happen by chance in about one random file in a few
    hundred; eight do not. Used for files whose name does not claim audio, so random
    bytes are passed over rather than failing to decode.
    """
    with open(path, "rb") as fh:
        head = fh.read(16 * HEAD_BYTES)
    if head[:3] == b"ID3":
        return True
    leading_zeros = len(head) - len(head.lstrip(b"\x00"))
    return _find_mpeg_stream(head[leading_zeros:], max_skip=0, frames=CONFIRM_FRAMES) is not None


def _sniff_open_file(fh) -> str | None:
    head = fh.read(HEAD_BYTES)
    skipped = 0
    while head[:3] == b"ID3" and skipped < _MAX_ID3_TAGS:
        tag_size = id3v2_size(head)
        if tag_size is None:
            return None
        fh.seek(fh.tell() - len(head) + tag_size)
        head = fh.read(HEAD_BYTES)
        skipped += 1
    if skipped:
        # behind ID3 tags: usually MP3, sometimes FLAC or ADTS AAC. Padding between the
        # tag and the first frame is allowed, so search for a frame sync too.
        return _sniff_head(head) or _find_mpeg_stream(head)
    return _sniff_head(head)


def _sniff_head(head: bytes) -> str | None:
    if len(head) < 4:
        return None
    magic4 = head[:4]
    if magic4 == b"fLaC":
        return "flac"
    if magic4 == b"OggS":
        return _sniff_ogg(head)
    if magic4 in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "wav"
    if magic4 in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "rf64"
    if head[:16] == _W64_RIFF and head[24:40] == _W64_WAVE:
        return "w64"
    if magic4 == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if magic4 in (b".snd", b"dns."):
        return "au"
    if head[4:8] == b"ftyp":
        return None if head[8:12] in _IMAGE_BRANDS else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free") and _looks_like_quicktime(head):
        return "mp4"
    if magic4 == b"wvpk":
        return "wavpack"
    if magic4 == b"MAC ":
        return "ape"
    if head[:16] == _ASF_GUID:
        return "asf"
    if magic4 == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if magic4 == b"caff":
        return "caf"
    # bare MPEG audio / ADTS: two frames at the start (after any zero padding), or
    # three in a row further in (junk before the first frame: a damaged tag, a cut
    # download resumed mid-frame); three make a chance match in other data negligible
    leading_zeros = len(head) - len(head.lstrip(b"\x00"))
    return (_find_mpeg_stream(head[leading_zeros:], max_skip=0)
            or _find_mpeg_stream(head, frames=3))


def _looks_like_quicktime(head: bytes) -> bool:
    # a QuickTime file without ftyp starts with a plausible atom size
    size = struct.unpack(">I", head[:4])[0]
    return size in (0, 1) or size >= 8


def _sniff_ogg(head: bytes) -> str | None:
    # first page: 27-byte header, segment table, then the codec's identification packet
    if len(head) < 28 or head[4] != 0:
        return None
    n_segments = head[26]
    packet = head[27 + n_segments: 27 + n_segments + 16]
    if packet.startswith(b"\x01vorbis"):
        return "ogg"
    if packet.startswith(b"OpusHead"):
        return "opus"
    if packet.startswith(b"\x7fFLAC"):
        return "ogg-flac"
    if packet.startswith(b"Speex   "):
        return "speex"
    return None  # theora video, skeleton-first files, garbage: not something we decode


def _find_mpeg_stream(head: bytes, *, max_skip: int | None = None, frames: int = 2
                      ) -> str | None:
    """Find two consecutive valid MPEG-audio (or ADTS) frame headers in ``head``.

    A single 0xFFE sync is common in random data, so the header it starts must be
    valid and be followed, exactly one computed frame length later, by another
    header with the same version, layer and sample rate.
    """
    limit = len(head) - 4 if max_skip is None else min(max_skip + 1, len(head) - 3)
    start = 0
    while start < limit:
        pos = head.find(b"\xff", start, limit)
        if pos < 0:
            return None
        kind = _frames_at(head, pos, frames)
        if kind:
            return kind
        start = pos + 1
    return None


def _frames_at(head: bytes, pos: int, frames: int) -> str | None:
    """``frames`` consecutive matching frame headers starting at ``pos``, or None."""
    first = _frame_header(head, pos)
    if first is None:
        return None
    kind, length, key = first
    nxt = pos + length
    for _ in range(frames - 1):
        if nxt + 4 > len(head):
            # no room for the next header: accept only a file that ends exactly here
            return kind if nxt == len(head) and len(head) < HEAD_BYTES else None
        following = _frame_header(head, nxt)
        if following is None or following[0] != kind or following[2] != key:
            return None
        nxt += following[1]
    return kind


def _frame_header(head: bytes, pos: int) -> tuple[str, int, tuple] | None:
    """Decode an MPEG-audio or ADTS header at ``pos``: (kind, frame length, identity)."""
    if pos + 4 > len(head):
        return None
    b0, b1, b2, b3 = head[pos: pos + 4]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return None
    version_bits = (b1 >> 3) & 0x3
    layer_bits = (b1 >> 1) & 0x3
    if layer_bits == 0:
        return _adts_header(head, pos)
    if version_bits == 1:  # reserved
        return None
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 0x3
    if bitrate_index in (0, 15) or rate_index == 3:  # free-format or invalid
        return None
    layer = 4 - layer_bits
    family = 1 if version_bits == 3 else 2
    bitrate = _MPEG_BITRATES[(family, layer)][bitrate_index] * 1000
    sample_rate = _MPEG_RATES[version_bits][rate_index]
    padding = (b2 >> 1) & 0x1
    if layer == 1:
        length = (12 * bitrate // sample_rate + padding) * 4
    elif layer == 3 and family == 2:
        length = 72 * bitrate // sample_rate + padding
    else:
        length = 144 * bitrate // sample_rate + padding
    if (b3 & 0x3) == 2:  # reserved emphasis
        return None
    return "mp3", length, (version_bits, layer_bits, rate_index)


def _adts_header(head: bytes, pos: int) -> tuple[str, int, tuple] | None:
    if pos + 7 > len(head):
        return None
    b1, b2, b3, b4, b5 = head[pos + 1: pos + 6]
    rate_index = (b2 >> 2) & 0xF
    if rate_index >= len(_ADTS_RATES) or (b2 >> 6) == 3:  # invalid rate / reserved profile
        return None
    length = ((b3 & 0x3) << 11) | (b4 << 3) | (b5 >> 5)
    if length < 7:
        return None
    return "aac", length, (b1 & 0x8, rate_index)


# --- what does a non-audio file look like? ---------------------------------------

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"BM", 0, "a BMP image"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"%PDF", 0, "a PDF document"),
    (b"PK\x03\x04", 0, "a ZIP archive"),
    (b"PK\x05\x06", 0, "a ZIP archive"),
    (b"Rar!", 0, "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"\x1f\x8b", 0, "a gzip file"),
    (b"BZh", 0, "a bzip2 file"),
    (b"\xfd7zXZ\x00", 0, "an xz file"),
    (b"\x7fELF", 0, "an executable (ELF)"),
    (b"MZ", 0, "an executable (Windows)"),
    (b"SQLite format 3\x00", 0, "an SQLite database"),
    (b"MThd", 0, "a MIDI file (notes, not audio)"),
    (b"\x00\x00\x01\x00", 0, "an icon image"),
    (b"ID3", 0, "an ID3 tag with no audio after it"),
)


def describe_bytes(head: bytes) -> str:
    """Say what the first bytes of a non-audio file look like."""
    if not head:
        return "an empty file"
    for magic, offset, name in _SIGNATURES:
        if head[offset: offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI video"
    if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS:
        return "a HEIF/AVIF image"
    if head[:4] == b"OggS":
        return "an Ogg file without a supported audio stream"
    if not head.strip(b"\x00"):
        return "all zero bytes"
    text = _as_text(head)
    if text is not None:
        lowered = text.lstrip("\ufeff \t\r\n").lower()
        if lowered.startswith(("<!doctype html", "<html")) or "<html" in lowered[:512]:
            return "an HTML page"
        if lowered.startswith("<?xml") or lowered.startswith("<svg"):
            return "an XML/SVG document"
        if lowered.startswith(("{", "[")):
            return "JSON or other text"
        if lowered.startswith("#extm3u"):
            return "an M3U playlist"
        if lowered.startswith("[playlist]"):
            return "a PLS playlist"
        return "a text file"
    return "unrecognised binary data"


def _as_text(head: bytes) -> str | None:
    sample = head[: HEAD_BYTES - 4]  # may cut a multi-byte character at the end
    for encoding in ("utf-8", "utf-16"):
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" and not sample.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        if text and printable / len(text) > 0.95:
            return text
    return None
