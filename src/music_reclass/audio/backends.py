"""The two decoding backends behind :mod:`music_reclass.audio.decode`: libsndfile and FFmpeg.

Each opens one file, reports its native properties and reads spans of it as mono
float32 at its own rate; :class:`~music_reclass.audio.decode.AudioReader` chooses
between them (:func:`backend_order`), resamples and turns every failure into an
:class:`~music_reclass.errors.AudioError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from music_reclass.errors import CorruptAudioError, SilentAudioError, UnsupportedFormatError

__all__ = ["MAX_ABS_SAMPLE", "PYAV_FORMATS", "SOUNDFILE_FORMATS", "PyAVBackend",
           "SoundfileBackend", "BACKENDS", "backend_order", "sanitise"]

#: Sniffed formats libsndfile can read (tried first, then PyAV, except _PYAV_FIRST).
SOUNDFILE_FORMATS = frozenset({"wav", "rf64", "w64", "flac", "ogg", "opus", "aiff", "au",
                               "caf", "mp3"})
#: MP3 goes to FFmpeg first although libsndfile (mpg123) decodes it 1.2-2.5x faster:
#: mpg123 prints its diagnostics straight to the process's stderr (fd 2: "Note: Illegal
#: Audio-MPEG-Header...", "Warning: Xing stream size off...") on every damaged or cut
#: file, which garbles a command line's output, and it stops early at some corrupted
#: frames where FFmpeg skips them. FFmpeg's seeks (timestamps) were sample-exact on
#: every real MP3 tried. libsndfile remains the fallback.
_PYAV_FIRST = frozenset({"mp3"})
#: Sniffed formats decoded with PyAV only.
PYAV_FORMATS = frozenset({"mp4", "aac", "asf", "wavpack", "ape", "matroska", "speex",
                          "ogg-flac"})


#: Float files may legitimately exceed 1.0 a little; values beyond this are garbage that
#: would overflow float32 power spectra downstream, so they are clipped.
MAX_ABS_SAMPLE = 64.0

_PYAV_PREROLL_S = 0.2
_BLOCK_SAMPLES = 1 << 22  # read/downmix in blocks so a long file never sits whole in RAM

_SUBTYPE_CODECS = {
    "PCM_S8": "pcm_s8", "PCM_U8": "pcm_u8", "PCM_16": "pcm_s16", "PCM_24": "pcm_s24",
    "PCM_32": "pcm_s32", "FLOAT": "pcm_f32", "DOUBLE": "pcm_f64", "ULAW": "ulaw",
    "ALAW": "alaw", "IMA_ADPCM": "adpcm_ima", "MS_ADPCM": "adpcm_ms", "GSM610": "gsm",
    "VORBIS": "vorbis", "OPUS": "opus", "MPEG_LAYER_I": "mp1", "MPEG_LAYER_II": "mp2",
    "MPEG_LAYER_III": "mp3", "ALAC_16": "alac", "ALAC_20": "alac", "ALAC_24": "alac",
    "ALAC_32": "alac",
}
_PYAV_CODECS = {"mp3float": "mp3", "mp2float": "mp2", "mp1float": "mp1", "aac_fixed": "aac"}


class SoundfileBackend:
    name = "soundfile"

    def __init__(self, path: Path, fmt: str):
        self._file = sf.SoundFile(str(path))
        self.native_rate = int(self._file.samplerate)
        self.channels = int(self._file.channels)
        frames = self._file.frames
        # libsndfile reports 2**63-1 frames when it cannot know the length
        self.frames = frames if 0 <= frames < 2**62 else None
        self.codec = _SUBTYPE_CODECS.get(self._file.subtype, self._file.subtype.lower())
        self.duration = self.frames / self.native_rate if self.frames is not None else math.nan

    def read(self, start: int, count: int | None) -> np.ndarray:
        if self.frames is not None and start >= self.frames:
            return np.zeros(0, dtype=np.float32)
        if start:
            self._file.seek(start)
        blocks = []
        remaining = count
        # a block of at most ~4 M samples whatever the channel count (a damaged header
        # may announce hundreds of channels)
        block_frames = max(1024, _BLOCK_SAMPLES // max(self.channels, 1))
        while remaining is None or remaining > 0:
            want = block_frames if remaining is None else min(block_frames, remaining)
            block = self._file.read(want, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            blocks.append(_downmix(block.T))
            if remaining is not None:
                remaining -= len(block)
            if len(block) < want:
                break
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        self._file.close()


class PyAVBackend:
    name = "pyav"

    def __init__(self, path: Path, fmt: str):
        self._path = path
        self._container = av.open(str(path), metadata_errors="ignore")
        try:
            if not self._container.streams.audio:
                raise UnsupportedFormatError("no audio stream in the file")
            self._stream = self._container.streams.audio[0]
            context = self._stream.codec_context
            if context is None or context.codec is None:
                raise CorruptAudioError("audio stream without decoder parameters")
            self.native_rate = int(context.sample_rate or self._stream.rate or 0)
            if self.native_rate <= 0:
                raise CorruptAudioError("audio stream has no sample rate")
            self.channels = int(context.channels or 1)
            self.codec = _PYAV_CODECS.get(context.codec.name, context.codec.name)
            self.duration = self._duration()
            self.frames = (int(round(self.duration * self.native_rate))
                           if math.isfinite(self.duration) else None)
            self._origin = self._first_timestamp()
        except BaseException:
            self._container.close()
            raise

    def _duration(self) -> float:
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / av.time_base
        return math.nan

    def _first_timestamp(self) -> float | None:
        """Time (s) of the first decodable frame: "0 s" for every later seek.

        Streams do not reliably start at pts 0 (encoder delay, ASF preroll, MP3 with a
        LAME tag), and ``stream.start_time`` is not always the first frame's time; a
        full decode starts at the first frame, so seeks must count from there too.
        """
        origin = None
        for packet in self._demux():
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError):
                continue
            if frames:
                frame = frames[0]
                if frame.pts is not None and frame.time_base is not None:
                    origin = float(frame.pts * frame.time_base)
                break
        self._reopen()
        return origin

    def read(self, start: int, count: int | None) -> np.ndarray:
        # inf/NaN from a damaged stream are zeroed later (_sanitise); the per-frame
        # downmix must not warn about them
        with np.errstate(over="ignore", invalid="ignore"):
            return self._read(start, count)

    def _read(self, start: int, count: int | None) -> np.ndarray:
        if start > 0 and self._seek(start):
            try:
                return self._decode(start, count, seeked=True)
            except _SeekMissed:
                self._reopen()
        elif start > 0:
            self._reopen()
        return self._decode(start, count, seeked=False)

    def _seek(self, start: int) -> bool:
        time_base = self._stream.time_base
        if time_base is None or self._origin is None:
            return False
        # land a little early: MDCT codecs (AAC, Vorbis, Opus, WMA) and MP3's bit
        # reservoir need the previous frames to decode the first wanted one correctly
        target = max(start / self.native_rate - _PYAV_PREROLL_S, 0.0) + self._origin
        try:
            self._container.seek(int(target / time_base), stream=self._stream, backward=True)
        except (av.FFmpegError, OSError, ValueError):
            self._reopen()
            return False
        return True

    def _reopen(self) -> None:
        self._container.close()
        self._container = av.open(str(self._path), metadata_errors="ignore")
        self._stream = self._container.streams.audio[0]

    def _decode(self, start: int, count: int | None, *, seeked: bool) -> np.ndarray:
        """Decode from the current position; keep frames [start, start + count)."""
        chunks: list[np.ndarray] = []
        kept = 0
        position = 0  # running frame index when timestamps are missing
        bad_packets = 0
        good_packets = 0
        first = True
        ticks: tuple[int, int] | None = None  # the stream's time base, read once
        for packet in self._demux():
            try:
                frames = packet.decode()
            except (av.FFmpegError, ValueError):
                bad_packets += 1  # damaged packet: skip it, as players do
                if bad_packets > 50 and bad_packets > good_packets:
                    break
                continue
            good_packets += 1
            for frame in frames:
                try:
                    samples = _frame_to_mono(frame)
                except _BadFrame:
                    bad_packets += 1
                    continue
                if frame.sample_rate and frame.sample_rate != self.native_rate:
                    samples = soxr.resample(samples, frame.sample_rate, self.native_rate)
                if ticks is None and frame.time_base is not None:
                    ticks = (frame.time_base.numerator, frame.time_base.denominator)
                frame_start = self._frame_start(frame.pts, ticks)
                if seeked and first and frame_start is None:
                    raise _SeekMissed
                if seeked and first and frame_start > start:
                    raise _SeekMissed  # landed after the target: decode from the start
                first = False
                if frame_start is None:
                    frame_start = position
                position = frame_start + len(samples)
                lo = max(start - frame_start, 0)
                if lo >= len(samples):
                    continue
                piece = samples[lo:]
                if count is not None:
                    piece = piece[: count - kept]
                chunks.append(piece)
                kept += len(piece)
                if count is not None and kept >= count:
                    return np.concatenate(chunks)
        if not chunks and good_packets == 0 and bad_packets:
            raise CorruptAudioError("every audio packet failed to decode")
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    def _demux(self) -> Iterator[av.Packet]:
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.FFmpegError, OSError, ValueError):
                return  # truncated or damaged container: keep what was decoded
            yield packet  # the last, empty one flushes the frames the decoder holds back

    def _frame_start(self, pts: int | None, ticks: tuple[int, int] | None) -> int | None:
        """Index (native rate, from the first frame) of a frame with this timestamp.

        ``ticks`` is the time base as (numerator, denominator): every frame of a
        stream shares it, and ``int / int`` rounds once as ``float(Fraction)`` does,
        so this is the value of ``float(pts * time_base)`` without a Fraction per frame.
        """
        if pts is None or ticks is None or self._origin is None:
            return None
        seconds = pts * ticks[0] / ticks[1]
        return int(round((seconds - self._origin) * self.native_rate))

    def close(self) -> None:
        self._container.close()


class _SeekMissed(Exception):
    """PyAV's seek could not be trusted; decode from the start instead."""


class _BadFrame(Exception):
    """A decoded frame whose buffers do not match its own description."""


_MAX_CHANNELS = 64


def _check_frame(frame: av.AudioFrame) -> tuple[int, list]:
    """Channel count and planes of a frame that is safe to copy out, or raise :class:`_BadFrame`.

    A damaged AAC packet can decode to a frame announcing, say, 38 channels with 45
    planes; PyAV's ``to_ndarray`` then reads unallocated memory and the process dies
    (SIGSEGV, found by fuzzing). Such frames are dropped like undecodable packets.
    """
    channels = frame.layout.nb_channels
    planes = frame.planes
    sample_format = frame.format
    is_planar = sample_format.is_planar
    expected_planes = channels if is_planar else 1
    if not 1 <= channels <= _MAX_CHANNELS or len(planes) != expected_planes:
        raise _BadFrame
    samples = frame.samples
    per_plane = samples * sample_format.bytes * (1 if is_planar else channels)
    if samples < 0 or any(plane.buffer_size < per_plane for plane in planes):
        raise _BadFrame
    return channels, planes


_HALF = np.float32(0.5)


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """Any PyAV frame (planar/packed, int/float) -> mono float32."""
    channels, planes = _check_frame(frame)
    if frame.format.name == "fltp" and channels <= 2:
        # MP3, AAC, Vorbis, WMA decode to planar float: read the planes in place
        # (to_ndarray stacks them first); the same arithmetic as _downmix, bit for bit
        n = frame.samples
        left = np.frombuffer(planes[0], dtype=np.float32, count=n)
        if channels == 1:
            return left.copy()
        right = np.frombuffer(planes[1], dtype=np.float32, count=n)
        return left * _HALF + right * _HALF  # the caller silences inf/NaN warnings
    array = frame.to_ndarray()
    if not frame.format.is_planar:
        array = array.reshape(-1, channels).T
    if array.dtype == np.uint8:
        array = (array.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / float(2 ** (8 * array.dtype.itemsize - 1))
    else:
        array = array.astype(np.float32, copy=False)
    return _downmix(array)


def _downmix(channels_first: np.ndarray) -> np.ndarray:
    """Mean of the channels, float32.

    Each channel is scaled before summing, so float values near the float32 limit
    (damaged float files) do not overflow; inf and NaN stay as they are, for
    :func:`_sanitise` (numpy's warnings about them are expected, hence silenced).
    """
    if channels_first.shape[0] == 1:
        return channels_first[0].astype(np.float32, copy=True)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = channels_first * np.float32(1.0 / channels_first.shape[0])
        return scaled.sum(axis=0, dtype=np.float32)


BACKENDS = {"soundfile": SoundfileBackend, "pyav": PyAVBackend}


def backend_order(fmt: str) -> tuple[str, ...]:
    if fmt in _PYAV_FIRST:
        return ("pyav", "soundfile")
    if fmt in SOUNDFILE_FORMATS:
        return ("soundfile", "pyav")
    return ("pyav",)


def sanitise(samples: np.ndarray) -> np.ndarray:
    """Zero NaN/inf samples and clip absurd values (see the module docstring)."""
    finite = np.isfinite(samples)
    if not finite.all():
        if not finite.any():
            raise SilentAudioError("all samples are NaN or infinite")
        samples = np.where(finite, samples, np.float32(0.0))
    peak = np.max(np.abs(samples)) if len(samples) else 0.0
    if peak > MAX_ABS_SAMPLE:
        samples = np.clip(samples, -MAX_ABS_SAMPLE, MAX_ABS_SAMPLE)
    return samples.astype(np.float32, copy=False)
