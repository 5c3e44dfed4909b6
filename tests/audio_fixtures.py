"""Write small synthetic audio files of every supported format, for tests.

Everyone's tests may use these (``from audio_fixtures import write_clip``; pytest puts
``tests/`` on ``sys.path``). Every writer takes the destination path *as is*: the
extension is not used to pick the format, so a FLAC can be written to ``song.mp3``.

Signals (:func:`make_signal`):

- ``"sine"``: 440 Hz at amplitude 0.5;
- ``"ramp"``: 440 Hz whose amplitude grows linearly from 0.1 to 0.9 over the clip, so
  the RMS of any short window tells where in the clip it comes from (survives lossy
  codecs; used to check seeking);
- ``"chord"``: A-major triad with a little decay, more music-like;
- ``"noise"``: white noise at amplitude 0.3 (seeded, deterministic);
- ``"silence"``: digital zeros.

Formats (``FORMATS``): wav16, wav24, wavf32, flac, ogg (Vorbis), opus, mp3, aiff, au,
m4a (AAC in MP4, index at the end), m4a-faststart (index first), aac (ADTS), wma (WMA v2 in ASF) are written with PyAV (FFmpeg), and so
is mp3 (LAME, CBR, with a LAME/Info tag like real files). mp3-sf is libsndfile's own MP3
writer (VBR): its Xing seek table is unreliable, so seeks into it land up to ~0.5 s off
with libsndfile; use it for decode/sniff tests, not for seek accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf

RAMP_START = 0.1
RAMP_END = 0.9
SINE_FREQ = 440.0


@dataclass(frozen=True)
class FormatSpec:
    """How to write one format, and what to expect back from it."""

    name: str
    extension: str
    sniffed: str  # what music_reclass.audio.probe.sniff_format should say
    lossy: bool
    rates: tuple[int, ...] = ()  # allowed sample rates; empty = any


FORMATS: dict[str, FormatSpec] = {
    "wav16": FormatSpec("wav16", ".wav", "wav", False),
    "wav24": FormatSpec("wav24", ".wav", "wav", False),
    "wavf32": FormatSpec("wavf32", ".wav", "wav", False),
    "flac": FormatSpec("flac", ".flac", "flac", False),
    "ogg": FormatSpec("ogg", ".ogg", "ogg", True),
    "opus": FormatSpec("opus", ".opus", "opus", True, (8000, 12000, 16000, 24000, 48000)),
    "mp3": FormatSpec("mp3", ".mp3", "mp3", True, (16000, 22050, 24000, 32000, 44100, 48000)),
    "aiff": FormatSpec("aiff", ".aiff", "aiff", False),
    "au": FormatSpec("au", ".au", "au", False),
    "m4a": FormatSpec("m4a", ".m4a", "mp4", True, (8000, 11025, 12000, 16000, 22050, 24000,
                                                   32000, 44100, 48000, 64000, 88200, 96000)),
    "m4a-faststart": FormatSpec("m4a-faststart", ".m4a", "mp4", True, (8000, 11025, 12000,
                                16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)),
    "aac": FormatSpec("aac", ".aac", "aac", True, (8000, 11025, 12000, 16000, 22050, 24000,
                                                   32000, 44100, 48000, 64000, 88200, 96000)),
    "wma": FormatSpec("wma", ".wma", "asf", True, (22050, 32000, 44100, 48000)),
    "mp3-sf": FormatSpec("mp3-sf", ".mp3", "mp3", True, (8000, 11025, 12000, 16000, 22050,
                                                         24000, 32000, 44100, 48000)),
}

_SOUNDFILE_WRITERS = {
    "wav16": ("WAV", "PCM_16"),
    "wav24": ("WAV", "PCM_24"),
    "wavf32": ("WAV", "FLOAT"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "mp3-sf": ("MP3", "MPEG_LAYER_III"),
    "aiff": ("AIFF", "PCM_16"),
    "au": ("AU", "PCM_16"),
}
_PYAV_WRITERS = {  # format name -> (container, codec, sample format)
    "m4a": ("ipod", "aac", "fltp"),
    "m4a-faststart": ("ipod", "aac", "fltp"),
    "aac": ("adts", "aac", "fltp"),
    "wma": ("asf", "wmav2", "fltp"),
    "mp3": ("mp3", "libmp3lame", "fltp"),
}


def make_signal(kind: str = "sine", *, seconds: float = 4.0, sr: int = 22050,
                channels: int = 1, seed: int = 0) -> np.ndarray:
    """A float32 test signal of shape ``(n, channels)``; every channel carries the same content.

    Channel ``c`` is scaled by ``1 - 0.1 * c`` so that a downmix by mean is checkable.
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    if kind == "sine":
        mono = 0.5 * np.sin(2 * np.pi * SINE_FREQ * t)
    elif kind == "ramp":
        envelope = RAMP_START + (RAMP_END - RAMP_START) * t / max(seconds, 1e-9)
        mono = envelope * np.sin(2 * np.pi * SINE_FREQ * t)
    elif kind == "chord":
        mono = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 4
        mono = mono * (0.6 + 0.4 * np.exp(-((t % 1.0) * 3)))
    elif kind == "noise":
        mono = 0.3 * np.random.default_rng(seed).uniform(-1, 1, n)
    elif kind == "silence":
        mono = np.zeros(n)
    else:
        raise ValueError(f"unknown signal kind {kind!r}")
    gains = 1.0 - 0.1 * np.arange(channels)
    return (mono[:, None] * gains[None, :]).astype(np.float32)


def expected_mono_peak(kind: str, channels: int) -> float:
    """Peak of the mean downmix of :func:`make_signal` (before any codec)."""
    peak = {"sine": 0.5, "ramp": RAMP_END, "noise": 0.3, "silence": 0.0}[kind]
    return peak * float(np.mean(1.0 - 0.1 * np.arange(channels)))


def ramp_rms_at(seconds_into_clip: float, clip_seconds: float) -> float:
    """The RMS a ``"ramp"`` clip has around a given time (sine RMS = amplitude / sqrt 2)."""
    amplitude = RAMP_START + (RAMP_END - RAMP_START) * seconds_into_clip / clip_seconds
    return amplitude / np.sqrt(2)


def write_clip(path: str | Path, fmt: str = "wav16", *, kind: str = "sine",
               seconds: float = 4.0, sr: int = 22050, channels: int = 1,
               data: np.ndarray | None = None) -> Path:
    """Write a synthetic clip in format ``fmt`` to ``path`` (the extension is not consulted).

    Parameters
    ----------
    path : str or Path
        Destination; its folder must exist.
    fmt : str
        A key of :data:`FORMATS`.
    kind, seconds, sr, channels
        The signal (see :func:`make_signal`).
    data : np.ndarray, optional
        Samples ``(n, channels)`` float32 to write instead of a generated signal.

    Returns
    -------
    Path
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {sorted(FORMATS)}")
    spec = FORMATS[fmt]
    if spec.rates and sr not in spec.rates:
        raise ValueError(f"{fmt} cannot be written at {sr} Hz")
    if data is None:
        data = make_signal(kind, seconds=seconds, sr=sr, channels=channels)
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if fmt in _SOUNDFILE_WRITERS:
        container, subtype = _SOUNDFILE_WRITERS[fmt]
        # in blocks: libsndfile 1.2.2's Vorbis encoder crashes (SIGSEGV) when handed
        # minutes of audio in one write call
        with sf.SoundFile(path, "w", sr, data.shape[1], subtype=subtype,
                          format=container) as out:
            for start in range(0, len(data), 1 << 16):
                out.write(data[start: start + (1 << 16)])
    else:
        _write_with_pyav(path, fmt, data, sr)
    return path


def _write_with_pyav(path: Path, fmt: str, data: np.ndarray, sr: int) -> None:
    container_name, codec, sample_format = _PYAV_WRITERS[fmt]
    channels = data.shape[1]
    layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(channels, f"{channels}c")
    # faststart: the index (moov) before the data, as streaming services write it; the
    # default puts it at the end, so a cut download loses the whole file
    options = {"movflags": "faststart"} if fmt == "m4a-faststart" else {}
    with av.open(str(path), mode="w", format=container_name, options=options) as container:
        stream = container.add_stream(codec, rate=sr, layout=layout)
        stream.format = sample_format
        stream.bit_rate = 64000 * min(channels, 2)  # wmav2 refuses to open without one
        block = 1024
        for start in range(0, len(data), block):
            chunk = np.ascontiguousarray(data[start: start + block].T)
            frame = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout=layout)
            frame.sample_rate = sr
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def write_all_formats(folder: str | Path, *, kind: str = "sine", seconds: float = 4.0,
                      sr: int = 44100, channels: int = 2) -> dict[str, Path]:
    """One clip per format in ``folder`` (named ``clip_<fmt><ext>``); returns {fmt: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt, spec in FORMATS.items():
        rate = sr if not spec.rates or sr in spec.rates else max(spec.rates)
        written[fmt] = write_clip(folder / f"clip_{fmt}{spec.extension}", fmt, kind=kind,
                                  seconds=seconds, sr=rate, channels=channels)
    return written


def write_sparse_wav(path: str | Path, *, seconds: float, sr: int = 44100, channels: int = 2,
                     bursts: list[tuple[float, float]] = ()) -> Path:
    """A PCM16 WAV of any length that takes (almost) no disk space.

    A valid header is written, then the file is extended with ``truncate`` (a hole reads
    as zeros, i.e. digital silence). ``bursts`` lists ``(start_s, end_s)`` spans filled
    with the ``"chord"`` signal, written in place so only those blocks use disk.
    """
    path = Path(path)
    n_frames = int(round(seconds * sr))
    block_align = 2 * channels
    data_bytes = n_frames * block_align
    if data_bytes + 36 > 0xFFFFFFFF:
        raise ValueError("too long for a RIFF WAV (4 GiB); use fewer channels or a lower rate")
    header = b"".join([
        b"RIFF", (36 + data_bytes).to_bytes(4, "little"), b"WAVE",
        b"fmt ", (16).to_bytes(4, "little"), (1).to_bytes(2, "little"),
        channels.to_bytes(2, "little"), sr.to_bytes(4, "little"),
        (sr * block_align).to_bytes(4, "little"), block_align.to_bytes(2, "little"),
        (16).to_bytes(2, "little"),
        b"data", data_bytes.to_bytes(4, "little"),
    ])
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + data_bytes)
        for start_s, end_s in bursts:
            burst = make_signal("chord", seconds=end_s - start_s, sr=sr, channels=channels)
            pcm = (np.clip(burst, -1, 1) * 32767).astype("<i2")
            fh.seek(len(header) + int(round(start_s * sr)) * block_align)
            fh.write(pcm.tobytes())
    return path
