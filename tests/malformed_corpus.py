"""A generated corpus of malformed and edge-case inputs for the reliability harness.

``build_corpus(root)`` writes ~390 small files (about 70 MB on disk, plus two
sparse 3-hour WAVs that take almost none) under ``root`` and returns what each one
should give. ``run_corpus(root, items)`` is the reference run: one walk of ``root``
with :func:`~music_reclass.audio.discover.iter_candidates`, then
:func:`~music_reclass.audio.excerpt.load_excerpt` on what discovery calls audio. The
same list serves an end-to-end run of ``reclass classify root``: an item's ``path`` is
what a walk of ``root`` reports (symlinks not resolved) or, for a few folder items
(a folder cycle, ``__MACOSX``), the folder whose files it stands for.

Expectations, per item:

- ``"ok"``: decodes into an excerpt of at least one 3 s patch;
- ``"error"``: an ``AudioError`` at decode time, or an ``"error"`` candidate at discovery
  (``reason_substring`` must appear in the message; ``""`` = any message);
- ``"ignored"``: discovery ignores it (covers, playlists, hidden files...).

The rules behind the expectations (they are policy, not observations):

- a file decodes if its content is audio, whatever its name or extension;
- a cut file is fine as long as what is left holds >= 3 s of audio, except an MP4 whose
  index (moov) sits at the end: without it nothing can be decoded;
- a few damaged bytes in the middle of a stream are skipped (players do the same);
- damaged magic bytes make a file "not audio" (but MP3/ADTS, bare streams of frames
  without a file header, are found after junk: three frames in a row);
- < 2.976 s of audio is "too short", digital silence is "silent";
- NaN/inf samples are zeroed; all-NaN is an error.
"""

from __future__ import annotations

import io
import os
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from audio_fixtures import FORMATS, make_signal, write_clip, write_sparse_wav
from music_reclass.audio.discover import iter_candidates
from music_reclass.audio.excerpt import load_excerpt, plan_segments
from music_reclass.errors import AudioError
from music_reclass.models.musicnn import MUSICNN_INPUT

Expected = Literal["ok", "error", "ignored"]

CLIP_SECONDS = 10.0  # long enough that 70 % of a cut file still holds one 3 s patch
#: decodable clips of ``build_corpus(..., short=True)``: 70 % of 7 s still holds a 3 s
#: patch, 25 % does not, so every expectation stays the same
SHORT_CLIP_SECONDS = 7.0
CLIP_RATE = 22050


@dataclass(frozen=True)
class CorpusItem:
    """One input and what it should give.

    Attributes
    ----------
    path : Path
    expected : {"ok", "error", "ignored"}
    reason_substring : str
        Must appear in the error/ignore reason ("" = anything).
    label : str
        Short description (used as test id).
    """

    path: Path
    expected: Expected
    reason_substring: str
    label: str


@dataclass(frozen=True)
class Outcome:
    """What the audio layer made of one item."""

    kind: Expected
    message: str
    error: AudioError | None = None


class _Corpus:
    def __init__(self, root: Path, *, clip_seconds: float = CLIP_SECONDS):
        self.root = root
        self.clip_seconds = clip_seconds
        self.items: list[CorpusItem] = []

    def add(self, relpath: str, expected: Expected, reason: str, label: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        self.items.append(CorpusItem(path, expected, reason, label))
        return path

    def file(self, relpath: str, data: bytes, expected: Expected, reason: str,
             label: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self.add(relpath, expected, reason, label)


def build_corpus(root: str | os.PathLike, *, short: bool = False) -> list[CorpusItem]:
    """Write the corpus under ``root`` (created; must be empty) and return its items.

    Parameters
    ----------
    root : path
        Folder to write into (created; must be empty).
    short : bool
        Make the decodable base clips (and every copy, cut or damaged version of them)
        ``SHORT_CLIP_SECONDS`` long instead of ``CLIP_SECONDS``: the same items with the
        same expectations, about half the audio to analyse (for end-to-end runs through
        the real model).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise ValueError(f"{root} is not empty")
    corpus = _Corpus(root, clip_seconds=SHORT_CLIP_SECONDS if short else CLIP_SECONDS)
    bases = _valid_clips(corpus)
    _wrong_extensions(corpus, bases)
    _truncations(corpus, bases)
    _corruptions(corpus, bases)
    _header_damage(corpus, bases)
    _not_audio(corpus)
    _empty_and_header_only(corpus, bases)
    _signals(corpus)
    _layouts(corpus)
    _long_files(corpus)
    _names(corpus, bases)
    _filesystem(corpus, bases)
    _companions(corpus, bases)
    return corpus.items


def run_corpus(root: str | os.PathLike, items: list[CorpusItem]) -> dict[Path, Outcome]:
    """Walk ``root`` once, as a classify run does, and give each item its outcome.

    Every candidate is attributed to the item with the same path or to the item that is
    a folder above it; for an item reached by several candidates the worst wins (error,
    then ok, then ignored); an item nothing was found for is "ignored". Audio candidates
    go through :func:`~music_reclass.audio.excerpt.load_excerpt`. Only
    :class:`~music_reclass.errors.AudioError` is caught: anything else propagates (a bug
    the harness must see).

    Raises
    ------
    LookupError
        A file was found that belongs to no item (the corpus is out of date).
    """
    by_path = {item.path: item for item in items}
    found: dict[Path, list[Outcome]] = {item.path: [] for item in items}
    for candidate in iter_candidates([root]):
        owner = _owner(candidate.path, by_path)
        if owner is None:
            raise LookupError(f"{candidate.path!r} belongs to no corpus item")
        found[owner].append(outcome_of(candidate))
    rank = {"error": 0, "ok": 1, "ignored": 2}
    return {
        path: (min(outcomes, key=lambda outcome: rank[outcome.kind]) if outcomes
               else Outcome("ignored", "nothing found"))
        for path, outcomes in found.items()
    }


def outcome_of(candidate) -> Outcome:
    """The outcome of one discovered candidate (decoding it if it is audio)."""
    if candidate.kind in ("ignored", "error"):
        return Outcome(candidate.kind, candidate.reason or "")
    try:
        load_excerpt(candidate.path, MUSICNN_INPUT)
    except AudioError as exc:
        return Outcome("error", str(exc), exc)
    return Outcome("ok", "")


def _owner(path: Path, by_path: dict[Path, CorpusItem]) -> Path | None:
    for candidate_path in (path, *path.parents):
        if candidate_path in by_path:
            return candidate_path
    return None


# --- generators ---------------------------------------------------------------------

_TRUNCATABLE = ("wav16", "flac", "ogg", "opus", "mp3", "m4a", "m4a-faststart", "aac",
                "aiff", "au", "wma")


def _rate_for(fmt: str) -> int:
    rates = FORMATS[fmt].rates
    return CLIP_RATE if not rates or CLIP_RATE in rates else 48000


def _valid_clips(corpus: _Corpus) -> dict[str, Path]:
    bases = {}
    for fmt, spec in FORMATS.items():
        # uncompressed PCM in mono keeps the corpus small; the rest in stereo
        channels = 1 if fmt in ("wav16", "wav24", "wavf32", "aiff", "au") else 2
        bases[fmt] = write_clip(corpus.add(f"valid/{fmt}{spec.extension}", "ok", "",
                                           f"valid {fmt}"),
                                fmt, kind="chord", seconds=corpus.clip_seconds, sr=_rate_for(fmt),
                                channels=channels)
    return bases


def _wrong_extensions(corpus: _Corpus, bases: dict[str, Path]) -> None:
    # content decides: a FLAC named .mp3, an MP3 with no extension, an Opus named .xyz
    wrong = {".mp3": ".flac", ".flac": ".mp3", ".wav": ".ogg", ".ogg": ".m4a",
             ".opus": ".wav", ".m4a": ".mp3", ".aiff": ".wav", ".au": ".mp3",
             ".aac": ".m4a", ".wma": ".mp3"}
    for fmt, base in bases.items():
        ext = FORMATS[fmt].extension
        for new_ext in (wrong.get(ext, ".wav"), "", ".dat"):
            name = f"wrong_ext/{fmt}_as{new_ext or '_noext'}{new_ext}"
            corpus.file(name, base.read_bytes(), "ok", "", f"{fmt} named {new_ext or 'no ext'}")
    # double extensions as real folders have them
    corpus.file("wrong_ext/song.flac.mp3", bases["flac"].read_bytes(), "ok", "",
                "double extension")
    corpus.file("wrong_ext/SONG.MP3", bases["mp3"].read_bytes(), "ok", "", "upper-case ext")


def _truncations(corpus: _Corpus, bases: dict[str, Path]) -> None:
    for fmt in _TRUNCATABLE:
        data = bases[fmt].read_bytes()
        ext = FORMATS[fmt].extension
        moov_at_end = fmt == "m4a"
        for fraction in (0.1, 0.25, 0.7, 0.85, 0.95):
            cut = data[: int(len(data) * fraction)]
            # about clip_seconds x fraction of audio is left (less for Ogg, whose first
            # 4 KB are codec headers): 0.7 x 7 s holds a 3 s patch, 0.25 x 10 s does not
            if moov_at_end:
                expected, reason = "error", ""
            elif fraction >= 0.7:
                expected, reason = "ok", ""
            else:
                expected, reason = "error", ""
            corpus.file(f"truncated/{fmt}_{int(fraction * 100)}pct{ext}", cut, expected,
                        reason, f"{fmt} cut at {fraction:.0%}")
        # cut inside the header
        for n_bytes in (3, 16):
            corpus.file(f"truncated/{fmt}_{n_bytes}bytes{ext}", data[:n_bytes], "error", "",
                        f"{fmt} cut to {n_bytes} bytes")


def _corruptions(corpus: _Corpus, bases: dict[str, Path]) -> None:
    rng = np.random.default_rng(1234)
    for fmt in _TRUNCATABLE:
        data = bases[fmt].read_bytes()
        ext = FORMATS[fmt].extension
        for fraction in (0.35, 0.55, 0.75):
            damaged = bytearray(data)
            at = int(len(data) * fraction)
            damaged[at: at + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
            corpus.file(f"corrupted/{fmt}_noise_at_{int(fraction * 100)}pct{ext}",
                        bytes(damaged), "ok", "", f"{fmt} 64 random bytes at {fraction:.0%}")
        zeroed = bytearray(data)
        at = len(data) // 2
        zeroed[at: at + 4096] = bytes(4096)
        corpus.file(f"corrupted/{fmt}_zero_block{ext}", bytes(zeroed), "ok", "",
                    f"{fmt} 4 KB zeroed mid-file")
        # magic bytes destroyed: no longer recognisable as audio, except a bare stream
        # of MPEG/ADTS frames, which has no file header: its later frames are found
        broken = bytearray(data)
        magic_at = 4 if FORMATS[fmt].sniffed == "mp4" else 0  # MP4: "ftyp" follows a size
        broken[magic_at: magic_at + 4] = b"XXXX"
        frame_stream = FORMATS[fmt].sniffed in ("mp3", "aac")
        corpus.file(f"corrupted/{fmt}_bad_magic{ext}", bytes(broken),
                    "ok" if frame_stream else "error", "" if frame_stream else "not audio",
                    f"{fmt} magic bytes overwritten")


def _wav_header(*, channels: int = 1, rate: int = 22050, bits: int = 16, data_bytes: int = 0,
                fmt_tag: int = 1) -> bytes:
    block = channels * bits // 8
    return b"".join([
        b"RIFF", struct.pack("<I", 36 + data_bytes), b"WAVE",
        b"fmt ", struct.pack("<IHHIIHH", 16, fmt_tag, channels, rate, rate * block, block, bits),
        b"data", struct.pack("<I", data_bytes),
    ])


def _header_damage(corpus: _Corpus, bases: dict[str, Path]) -> None:
    pcm = (make_signal("chord", seconds=5, sr=22050)[:, 0] * 20000).astype("<i2").tobytes()
    cases = {
        "rate_zero": (_wav_header(rate=0, data_bytes=len(pcm)), "error"),
        "channels_zero": (_wav_header(channels=0, data_bytes=len(pcm)), "error"),
        "bits_zero": (_wav_header(bits=0, data_bytes=len(pcm)), "error"),
        "unknown_codec_tag": (_wav_header(fmt_tag=0x1234, data_bytes=len(pcm)), "error"),
        # a data size larger than the file (as a crashed recorder leaves it): readable
        "data_size_too_big": (_wav_header(data_bytes=0x7FFFFFF0), "ok"),
        "data_size_zero_but_data": (_wav_header(data_bytes=0), "error"),
    }
    for name, (header, expected) in cases.items():
        corpus.file(f"header_damage/wav_{name}.wav", header + pcm, expected, "",
                    f"wav header {name}")
    flac = bytearray(bases["flac"].read_bytes())
    flac[8:42] = bytes(34)  # STREAMINFO zeroed: no rate, no channels
    corpus.file("header_damage/flac_streaminfo_zeroed.flac", bytes(flac), "error", "",
                "flac STREAMINFO zeroed")
    ogg = bytearray(bases["ogg"].read_bytes())
    ogg[28:35] = b"\x01garbag"  # Vorbis identification packet destroyed
    corpus.file("header_damage/ogg_bad_id_packet.ogg", bytes(ogg), "error", "not audio",
                "ogg id packet destroyed")
    mp3 = bases["mp3"].read_bytes()
    # an ID3 tag whose size points past the end of the file
    corpus.file("header_damage/mp3_id3_size_huge.mp3",
                b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + mp3[10:], "error", "not audio",
                "ID3 size beyond EOF")
    # ID3 tag followed by a FLAC stream (some taggers do this): decodes
    corpus.file("header_damage/flac_behind_id3.flac",
                b"ID3\x03\x00\x00\x00\x00\x00\x10" + bytes(16) + bases["flac"].read_bytes(),
                "ok", "", "FLAC behind an ID3 tag")
    # megabytes of cover art in the ID3 tag before the MP3 frames
    body = mp3[_id3_total(mp3):]
    art = 2 * 1024 * 1024
    size = bytes([(art >> 21) & 0x7F, (art >> 14) & 0x7F, (art >> 7) & 0x7F, art & 0x7F])
    corpus.file("header_damage/mp3_2mb_id3.mp3", b"ID3\x03\x00\x00" + size + bytes(art) + body,
                "ok", "", "2 MB ID3 tag")
    # junk (zeros) before the first MP3 frame
    corpus.file("header_damage/mp3_leading_zeros.mp3", bytes(1000) + body, "ok", "",
                "zeros before first frame")


def _id3_total(data: bytes) -> int:
    if data[:3] != b"ID3":
        return 0
    size = 0
    for b in data[6:10]:
        size = (size << 7) | b
    return 10 + size


def _png_bytes() -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello " * 100)
    return buffer.getvalue()


NOT_AUDIO: dict[str, tuple[bytes, str]] = {
    "text": (b"Track list\n1. Intro\n2. Song\n" * 20, "a text file"),
    "html": (b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
             b"<body>Not found</body></html>", "an HTML page"),
    "png": (_png_bytes(), "a PNG image"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(2000) + b"\xff\xd9",
             "a JPEG image"),
    "gif": (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "a GIF image"),
    "pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n", "a PDF"),
    "zip": (_zip_bytes(), "a ZIP archive"),
    "zeros": (bytes(8192), "all zero bytes"),
    "random": (np.random.default_rng(7).integers(0, 256, 8192, dtype=np.uint8).tobytes(),
               "unrecognised binary data"),
    "json": (b'{"title": "song", "genre": "rock"}\n', "JSON"),
    "elf": (b"\x7fELF\x02\x01\x01" + bytes(500), "an executable"),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40), "a WebP image"),
    "midi": (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x60MTrk" + bytes(20), "a MIDI file"),
    "utf16_text": (("Liste des pistes\r\n" * 10).encode("utf-16"), "a text file"),
}


def _not_audio(corpus: _Corpus) -> None:
    for kind, (data, looks_like) in NOT_AUDIO.items():
        for ext in (".mp3", ".flac", ".wav", ".m4a"):
            corpus.file(f"not_audio/{kind}{ext}", data, "error", f"not audio: looks like {looks_like}",
                        f"{kind} named {ext}")
        # with no claim to be audio it is simply ignored
        corpus.file(f"not_audio/{kind}.bin", data, "ignored", "not audio", f"{kind} named .bin")


def _empty_and_header_only(corpus: _Corpus, bases: dict[str, Path]) -> None:
    for ext in (".mp3", ".flac", ".wav", ".ogg", ".m4a", ".opus"):
        corpus.file(f"empty/empty{ext}", b"", "error", "empty file", f"empty {ext}")
    corpus.file("empty/empty_no_extension", b"", "ignored", "empty", "empty, no extension")
    corpus.file("empty/empty.txt", b"", "ignored", "", "empty .txt")
    corpus.file("header_only/wav_no_frames.wav", _wav_header(data_bytes=0), "error", "",
                "wav with no frames")
    corpus.file("header_only/id3_only.mp3", b"ID3\x03\x00\x00\x00\x00\x01\x00" + bytes(128),
                "error", "not audio", "ID3 tag only")
    flac = bases["flac"].read_bytes()
    corpus.file("header_only/flac_streaminfo_only.flac", flac[:42], "error", "",
                "flac STREAMINFO only")
    ogg = bases["ogg"].read_bytes()
    first_page_end = ogg.find(b"OggS", 4)
    corpus.file("header_only/ogg_first_page.ogg", ogg[:first_page_end], "error", "",
                "ogg first page only")
    m4a = bases["m4a"].read_bytes()
    corpus.file("header_only/m4a_ftyp_only.m4a", m4a[: struct.unpack(">I", m4a[:4])[0]],
                "error", "", "m4a ftyp box only")


def _write_wav(path: Path, data: np.ndarray, rate: int, subtype: str = "PCM_16",
               container: str = "WAV") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(data, dtype=np.float32)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with sf.SoundFile(path, "w", rate, channels, subtype=subtype, format=container) as out:
        for start in range(0, len(data), 1 << 16):  # see audio_fixtures.write_clip
            out.write(data[start: start + (1 << 16)])


def _signals(corpus: _Corpus) -> None:
    chord = make_signal("chord", seconds=5.0, sr=22050)
    cases: list[tuple[str, np.ndarray, int, str, Expected, str]] = [
        ("one_sample.wav", chord[:1], 22050, "PCM_16", "error", "too short"),
        ("ten_ms.wav", chord[:220], 22050, "PCM_16", "error", "too short"),
        ("one_second.flac", chord[:22050], 22050, "PCM_16", "error", "too short: 1.0 s"),
        ("2_9_seconds.wav", chord[: int(2.9 * 22050)], 22050, "PCM_16", "error", "too short"),
        ("3_0_seconds.wav", chord[: 3 * 22050], 22050, "PCM_16", "ok", ""),
        ("silence.wav", np.zeros((5 * 22050, 1), np.float32), 22050, "PCM_16", "error",
         "silence"),
        ("silence.flac", np.zeros((5 * 22050, 2), np.float32), 22050, "PCM_24", "error",
         "silence"),
        ("dither_only.wav",  # +-1 LSB of 16-bit: silence in practice
         (np.random.default_rng(3).integers(-1, 2, (5 * 22050, 1)) / 32768).astype(np.float32),
         22050, "PCM_16", "error", "silence"),
        ("quiet_minus_50dB.wav", chord * 10 ** (-50 / 20), 22050, "PCM_24", "ok", ""),
        ("clipped_square.wav", np.sign(chord) * 1.0, 22050, "PCM_16", "ok", ""),
    ]
    for name, data, rate, subtype, expected, reason in cases:
        path = corpus.add(f"signals/{name}", expected, reason, name)
        _write_wav(path, data, rate, subtype, "FLAC" if name.endswith(".flac") else "WAV")
    nan_some = chord.copy()
    nan_some[::100] = np.nan
    inf_some = chord.copy()
    inf_some[::333] = np.inf
    inf_some[1::333] = -np.inf
    huge = chord * 1e30
    all_nan = np.full_like(chord, np.nan)
    nan_then_silence = np.zeros_like(chord)
    nan_then_silence[:1000] = np.nan
    for name, data, expected, reason in [
        ("float_some_nan.wav", nan_some, "ok", ""),
        ("float_some_inf.wav", inf_some, "ok", ""),
        ("float_huge_values.wav", huge, "ok", ""),
        ("float_all_nan.wav", all_nan, "error", "NaN"),
        ("float_nan_and_zeros.wav", nan_then_silence, "error", "silence"),
    ]:
        path = corpus.add(f"signals/{name}", expected, reason, name)
        _write_wav(path, data, 22050, "FLOAT")
    path = corpus.add("signals/float64_nan.wav", "ok", "", "float64 with NaN")
    _write_wav(path, nan_some, 22050, "DOUBLE")


def _layouts(corpus: _Corpus) -> None:
    specs = [  # (name, seconds, rate, channels, container, subtype)
        ("8ch.wav", 4, 22050, 8, "WAV", "PCM_16"),
        ("6ch.flac", 4, 48000, 6, "FLAC", "PCM_24"),
        ("3ch.ogg", 4, 22050, 3, "OGG", "VORBIS"),
        ("192k.wav", 3.5, 192000, 2, "WAV", "PCM_24"),
        ("96k_24bit.flac", 4, 96000, 2, "FLAC", "PCM_24"),
        ("8k.wav", 4, 8000, 1, "WAV", "PCM_16"),
        ("11025.au", 4, 11025, 1, "AU", "PCM_16"),
        ("u8.wav", 4, 22050, 1, "WAV", "PCM_U8"),
        ("int32.wav", 4, 22050, 2, "WAV", "PCM_32"),
        ("float64.wav", 4, 22050, 2, "WAV", "DOUBLE"),
        ("ulaw.wav", 4, 22050, 1, "WAV", "ULAW"),
        ("alaw.au", 4, 22050, 1, "AU", "ALAW"),
        ("ima_adpcm.wav", 4, 22050, 1, "WAV", "IMA_ADPCM"),
        ("ms_adpcm.wav", 4, 22050, 2, "WAV", "MS_ADPCM"),
        ("wavex_float.wav", 4, 44100, 2, "WAVEX", "FLOAT"),
        ("rf64.wav", 4, 44100, 2, "RF64", "PCM_16"),
        ("w64.w64", 4, 44100, 2, "W64", "PCM_16"),
        ("aifc_float.aifc", 4, 44100, 2, "AIFF", "FLOAT"),
        ("caf.caf", 4, 44100, 2, "CAF", "PCM_16"),
        ("odd_rate_12345.wav", 4, 12345, 1, "WAV", "PCM_16"),
        ("opus_mono_16k.opus", 4, 16000, 1, "OGG", "OPUS"),
        ("flac_8bit.flac", 4, 22050, 1, "FLAC", "PCM_S8"),
    ]
    for name, seconds, rate, channels, container, subtype in specs:
        path = corpus.add(f"layouts/{name}", "ok", "", name)
        data = make_signal("chord", seconds=seconds, sr=rate, channels=channels)
        _write_wav(path, data, rate, subtype, container)
    for fmt, rate, channels in (("m4a", 8000, 1), ("m4a", 96000, 2), ("mp3", 16000, 1),
                                ("aac", 48000, 6), ("wma", 22050, 1)):
        path = corpus.add(f"layouts/{fmt}_{rate}_{channels}ch{FORMATS[fmt].extension}", "ok",
                          "", f"{fmt} {rate} Hz {channels} ch")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, fmt, kind="chord", seconds=4, sr=rate, channels=channels)


def _long_files(corpus: _Corpus) -> None:
    hours = 3 * 3600.0
    bursts = [(start, start + length) for start, length in plan_segments(hours, policy=MUSICNN_INPUT.policy)]
    path = corpus.add("long/three_hours_sparse.wav", "ok", "", "3 h sparse WAV with music")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_sparse_wav(path, seconds=hours, sr=44100, channels=2, bursts=bursts)
    path = corpus.add("long/three_hours_silent.wav", "error", "silence", "3 h sparse silence")
    write_sparse_wav(path, seconds=hours, sr=44100, channels=2)
    # header claims 3 hours, the file holds 5 s (an interrupted recording)
    data = (make_signal("chord", seconds=5, sr=22050)[:, 0] * 20000).astype("<i2").tobytes()
    corpus.file("long/claims_3h_holds_5s.wav",
                _wav_header(data_bytes=int(hours * 22050) * 2) + data, "ok", "",
                "header says 3 h, 5 s present")


def _names(corpus: _Corpus, bases: dict[str, Path]) -> None:
    mp3 = bases["mp3"].read_bytes()
    flac = bases["flac"].read_bytes()
    names = [
        unicodedata.normalize("NFC", "Beyoncé – Café.mp3"),
        unicodedata.normalize("NFD", "Björk – Jóga.mp3"),
        "🎵🎸 emoji 🥁.mp3",
        "موسيقى عربية.mp3",  # right-to-left
        "שיר עברי.mp3",
        "音楽のテスト.mp3",
        "Ünïcödé ñame.mp3",
        "line\nbreak.mp3",
        "tab\tname.mp3",
        "quote's \"double\".mp3",
        "-leading-dash.mp3",
        "--help.mp3",
        " leading and trailing space .mp3",
        "semi;colon & ampersand $(echo hi) `tick`.mp3",
        "back\\slash.mp3",
        "glob*?[chars].mp3",
        "percent %s %d {braces}.mp3",
        "CON.mp3",
        "dots...in...name.mp3",
        "x" * 240 + ".mp3",  # 244 bytes
        "é" * 125 + ".mp3",  # 254 bytes in UTF-8
    ]
    for name in names:
        corpus.file(f"names/{name}", mp3, "ok", "", f"name {name[:24]!r}")
    # a leading dot hides a file (Unix convention), whatever follows
    corpus.file("names/...dots.mp3", mp3, "ignored", "hidden", "name starting with dots")
    # not valid UTF-8 (Latin-1 bytes from an old archive): Python keeps it as surrogates
    raw = os.fsdecode(b"names/caf\xe9 latin1.flac")
    corpus.file(raw, flac, "ok", "", "non-UTF-8 name")
    # deep nesting
    deep = "/".join(f"level{i}" for i in range(30))
    corpus.file(f"names/{deep}/deep.flac", flac, "ok", "", "30 folders deep")


def _filesystem(corpus: _Corpus, bases: dict[str, Path]) -> None:
    root = corpus.root
    wav = bases["wav16"].read_bytes()
    folder = root / "filesystem"
    folder.mkdir(parents=True, exist_ok=True)
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    # no read permission: root reads it anyway, so then it is simply fine
    locked = corpus.file("filesystem/no_permission.wav", wav, "ok" if is_root else "error",
                         "" if is_root else "permission denied", "chmod 000 file")
    locked.chmod(0)
    locked_dir = folder / "locked_folder"
    locked_dir.mkdir()
    (locked_dir / "inside.wav").write_bytes(wav)
    if is_root:
        corpus.add("filesystem/locked_folder/inside.wav", "ok", "", "file in chmod 000 folder")
    else:
        corpus.add("filesystem/locked_folder", "error", "permission denied", "chmod 000 folder")
    locked_dir.chmod(0)
    # symlinks
    (folder / "broken_link.mp3").symlink_to(folder / "does_not_exist.mp3")
    corpus.add("filesystem/broken_link.mp3", "error", "broken symlink", "broken symlink")
    (folder / "self_loop.mp3").symlink_to("self_loop.mp3")
    corpus.add("filesystem/self_loop.mp3", "error", "symlink loop", "symlink to itself")
    (folder / "ping.flac").symlink_to("pong.flac")
    (folder / "pong.flac").symlink_to("ping.flac")
    corpus.add("filesystem/ping.flac", "error", "symlink loop", "two-link loop a")
    corpus.add("filesystem/pong.flac", "error", "symlink loop", "two-link loop b")
    corpus.file("filesystem/real.wav", wav, "ok", "", "link target")
    (folder / "good_link.wav").symlink_to("real.wav")
    corpus.add("filesystem/good_link.wav", "ok", "", "symlink to a good file")
    cycle = folder / "cycle"
    cycle.mkdir()
    corpus.file("filesystem/cycle/song.wav", wav, "ok", "", "file in a folder with a cycle")
    (cycle / "again").symlink_to(".")
    corpus.add("filesystem/cycle/again", "error", "symlink loop", "folder links to itself")
    (cycle / "up").symlink_to("..")
    corpus.add("filesystem/cycle/up", "error", "symlink loop", "folder links to its parent")
    # a fifo must never be opened (it would block)
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.mp3")
        corpus.add("filesystem/pipe.mp3", "error", "fifo", "fifo named .mp3")
    # a folder named like a file; what it holds is found as usual
    album = folder / "album.mp3"
    album.mkdir()
    corpus.file("filesystem/album.mp3/track.wav", wav, "ok", "", "file in folder named .mp3")
    (folder / "empty_folder.flac").mkdir()
    corpus.add("filesystem/empty_folder.flac", "ignored", "", "empty folder named .flac")


def _companions(corpus: _Corpus, bases: dict[str, Path]) -> None:
    png = NOT_AUDIO["png"][0]
    jpeg = NOT_AUDIO["jpeg"][0]
    files = {
        "cover.jpg": jpeg, "folder.png": png, "back.gif": NOT_AUDIO["gif"][0],
        "scan.webp": NOT_AUDIO["webp"][0], "scan.bmp": b"BM" + bytes(100),
        "playlist.m3u": b"#EXTM3U\n#EXTINF:123,Artist - Song\nsong.mp3\n",
        "playlist.m3u8": "#EXTM3U\nchanson é.mp3\n".encode(),
        "playlist.pls": b"[playlist]\nFile1=song.mp3\n", "album.cue": b'FILE "a.wav" WAVE\n',
        "rip.log": b"EAC extraction logfile\n", "info.nfo": b"release info\n",
        "readme.txt": b"hello\n", "booklet.pdf": NOT_AUDIO["pdf"][0],
        "checksums.sfv": b"song.mp3 DEADBEEF\n", "checksums.md5": b"d41d8cd9  song.mp3\n",
        "Thumbs.db": bytes(512), "desktop.ini": b"[.ShellClassInfo]\n",
        "lyrics.lrc": b"[00:01.00]la la\n",
    }
    for name, data in files.items():
        corpus.file(f"companions/{name}", data, "ignored", "", f"companion {name}")
    # hidden files, including macOS AppleDouble shadows with an audio extension
    corpus.file("companions/.DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(100), "ignored",
                "hidden", ".DS_Store")
    corpus.file("companions/._song.mp3", b"\x00\x05\x16\x07" + bytes(200), "ignored",
                "hidden", "AppleDouble ._song.mp3")
    corpus.file("companions/.hidden_song.flac", bases["flac"].read_bytes(), "ignored",
                "hidden", "hidden audio file")
    macosx = corpus.root / "companions" / "__MACOSX"
    macosx.mkdir()
    (macosx / "._track.mp3").write_bytes(b"\x00\x05\x16\x07" + bytes(200))
    corpus.add("companions/__MACOSX", "ignored", "system folder", "__MACOSX folder")
    # an audio file with an image extension is not opened: it is a companion
    corpus.file("companions/actually_audio.jpg", bases["mp3"].read_bytes(), "ignored", "",
                "MP3 named .jpg")
