"""Decode any audio file to mono float32 at a chosen sample rate.

Backends, chosen from the *content* of the file (:func:`~music_reclass.audio.probe.sniff_format`):

- libsndfile (``soundfile``) first for WAV/RF64/W64, FLAC, Ogg Vorbis, Opus, AIFF/AIFC,
  Sun AU and CAF; seeks into Ogg Vorbis go through PyAV (libsndfile 1.2's Vorbis seek
  is inexact);
- FFmpeg through PyAV first for MP3 (see ``_PYAV_FIRST``), MP4/M4A (AAC, ALAC), ADTS
  AAC, ASF/WMA, WavPack, APE, Matroska/WebM, Speex and FLAC-in-Ogg;
- the other backend as the fallback whenever the first cannot open a file, fails while
  reading, or stops more than 0.5 s short of the length its header announced.

Every channel layout is downmixed by the mean of the channels, every sample format
becomes float32, resampling uses soxr (HQ). Non-finite samples (NaN, inf in float
files) become 0 and absurd float values are clipped to +-:data:`MAX_ABS_SAMPLE`; a file
whose samples are all non-finite raises :class:`~music_reclass.errors.SilentAudioError`.

``offset``/``duration`` seek: only the requested span is decoded (libsndfile seeks
exactly; with FFmpeg the demuxer seeks to the preceding key point and the frames
before ``offset`` are dropped using their timestamps).

Every failure is one of the :class:`~music_reclass.errors.AudioError` subclasses with a
one-line message; no decoder exception escapes.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from music_reclass.audio.discover import special_file_kind
from music_reclass.audio.probe import describe_content, sniff_format
from music_reclass.errors import (
    AudioError,
    CorruptAudioError,
    ParameterError,
    SilentAudioError,
    UnreadableFileError,
    UnsupportedFormatError,
)

__all__ = ["AudioInfo", "AudioReader", "audio_info", "load_audio", "open_audio",
           "SOUNDFILE_FORMATS", "PYAV_FORMATS", "MAX_ABS_SAMPLE"]

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

#: libsndfile 1.2's Ogg Vorbis seek lands up to ~0.1 s off on some files (measured
#: against a full decode); FFmpeg's timestamps are right to within ~30 ms, so seeks
#: into Vorbis go through PyAV while whole-file reads stay with libsndfile.
_SEEK_WITH_PYAV = frozenset({"ogg"})
#: Seeks through FFmpeg are exact for MP3, AAC (MP4 and ADTS) and Opus, within ~30 ms
#: for Vorbis and ~10 ms for WMA (ASF timestamps): far below what changes a genre.

#: Float files may legitimately exceed 1.0 a little; values beyond this are garbage that
#: would overflow float32 power spectra downstream, so they are clipped.
MAX_ABS_SAMPLE = 64.0

_PYAV_PREROLL_S = 0.2
_RESAMPLE_MARGIN_S = 0.02  # context read on both sides so soxr's filter has no edge
_BLOCK_SAMPLES = 1 << 22  # read/downmix in blocks so a long file never sits whole in RAM
_MAX_MESSAGE = 160

_SUBTYPE_CODECS = {
    "PCM_S8": "pcm_s8", "PCM_U8": "pcm_u8", "PCM_16": "pcm_s16", "PCM_24": "pcm_s24",
    "PCM_32": "pcm_s32", "FLOAT": "pcm_f32", "DOUBLE": "pcm_f64", "ULAW": "ulaw",
    "ALAW": "alaw", "IMA_ADPCM": "adpcm_ima", "MS_ADPCM": "adpcm_ms", "GSM610": "gsm",
    "VORBIS": "vorbis", "OPUS": "opus", "MPEG_LAYER_I": "mp1", "MPEG_LAYER_II": "mp2",
    "MPEG_LAYER_III": "mp3", "ALAC_16": "alac", "ALAC_20": "alac", "ALAC_24": "alac",
    "ALAC_32": "alac",
}
_PYAV_CODECS = {"mp3float": "mp3", "mp2float": "mp2", "mp1float": "mp1", "aac_fixed": "aac"}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, from its headers.

    Attributes
    ----------
    duration : float
        Seconds. For MP3 without a Xing/VBRI header and for ADTS AAC it is the
        decoder's estimate (from the bit rate), so it can be off by a little; NaN when
        the container does not say.
    sample_rate : int
        Native sample rate (Hz).
    channels : int
    codec : str
        e.g. ``"pcm_s16"``, ``"pcm_f32"``, ``"flac"``, ``"vorbis"``, ``"opus"``, ``"mp3"``, ``"aac"``.
    format : str
        Container as sniffed from the content (see :mod:`music_reclass.audio.probe`).
    """

    duration: float
    sample_rate: int
    channels: int
    codec: str
    format: str


def _one_line(text: str) -> str:
    """Collapse a decoder message to one short line (paths may contain newlines)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 3] + "..."


def _decoder_message(exc: BaseException) -> str:
    """The decoder's own reason, without the file name it usually embeds."""
    if isinstance(exc, sf.LibsndfileError):
        return _one_line(exc.error_string or "libsndfile error")
    if isinstance(exc, av.FFmpegError):
        return _one_line(exc.strerror or type(exc).__name__)
    return _one_line(f"{type(exc).__name__}: {exc}")


# --- backends ---------------------------------------------------------------------

class _SoundfileBackend:
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


class _PyAVBackend:
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


_BACKENDS = {"soundfile": _SoundfileBackend, "pyav": _PyAVBackend}


def _backend_order(fmt: str) -> tuple[str, ...]:
    if fmt in _PYAV_FIRST:
        return ("pyav", "soundfile")
    if fmt in SOUNDFILE_FORMATS:
        return ("soundfile", "pyav")
    return ("pyav",)


# --- the reader -------------------------------------------------------------------

class AudioReader:
    """An open audio file that can read spans repeatedly (used by :mod:`.excerpt`).

    Use :func:`open_audio` to create one, as a context manager.
    """

    def __init__(self, path: Path, fmt: str):
        self.path = path
        self.format = fmt
        self._order = _backend_order(fmt)
        self._backend, self._failures = self._open_first(self._order)
        self._seeker: _PyAVBackend | None = None
        self.info = AudioInfo(
            duration=float(self._backend.duration),
            sample_rate=self._backend.native_rate,
            channels=self._backend.channels,
            codec=self._backend.codec,
            format=fmt,
        )

    def _open_first(self, names: tuple[str, ...]):
        failures: list[BaseException] = []
        for name in names:
            try:
                return _BACKENDS[name](self.path, self.format), failures
            except AudioError as exc:
                failures.append(exc)
            except OSError as exc:
                if isinstance(exc, PermissionError | FileNotFoundError | IsADirectoryError):
                    raise _unreadable(exc) from exc
                failures.append(exc)
            except Exception as exc:  # noqa: BLE001 - any decoder failure -> next backend
                failures.append(exc)
        raise _open_failure(self.format, failures)

    def read(self, sr: int, *, offset: float = 0.0, duration: float | None = None) -> np.ndarray:
        """Mono float32 at ``sr`` Hz of the span [offset, offset + duration) in seconds."""
        native = self.info.sample_rate
        start = int(round(offset * native))
        count = None if duration is None else max(int(round(duration * native)), 0)
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        if sr == native:
            return _sanitise(self._read_native(start, count))
        # resample with some context on both sides, then cut: the span is then identical
        # to the same span of a whole-file decode (no filter ramp at its edges)
        margin = int(_RESAMPLE_MARGIN_S * native)
        before = min(margin, start)
        samples = self._read_native(start - before,
                                    None if count is None else count + before + margin)
        samples = _sanitise(samples)
        if len(samples) == 0:
            return samples
        resampled = soxr.resample(samples, native, sr, quality="HQ").astype(np.float32,
                                                                             copy=False)
        lead = int(round(before * sr / native))
        available = len(samples) - before
        if count is not None:
            available = min(available, count)
        return resampled[lead: lead + int(round(available * sr / native))]

    def _read_native(self, start: int, count: int | None) -> np.ndarray:
        if start > 0 and self.format in _SEEK_WITH_PYAV and self._backend.name != "pyav":
            with contextlib.suppress(Exception):
                if self._seeker is None:
                    self._seeker = _PyAVBackend(self.path, self.format)
                return self._seeker.read(start, count)
            # PyAV failed on this file: libsndfile's approximate seek is better than nothing
        try:
            samples = self._backend.read(start, count)
        except AudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - retry once with the other backend
            retried = self._read_with_fallback(start, count)
            if retried is None:
                raise CorruptAudioError(
                    f"cannot decode {self.format} audio: {_decoder_message(exc)}"
                ) from exc
            return retried
        if self._backend.name == "soundfile" and self._came_up_short(start, count, len(samples)):
            # libsndfile stops at some damaged frames and returns less than the header
            # promised; FFmpeg skips bad frames and may get further
            retried = self._read_with_fallback(start, count)
            if retried is not None and len(retried) > len(samples):
                return retried
        return samples

    def _came_up_short(self, start: int, count: int | None, got: int) -> bool:
        frames = self._backend.frames
        if frames is None:
            return False
        expected = max(frames - start, 0) if count is None else min(count, frames - start)
        return expected - got > self.info.sample_rate // 2  # more than 0.5 s missing

    def _read_with_fallback(self, start: int, count: int | None) -> np.ndarray | None:
        for name in self._order:
            if name == self._backend.name:
                continue
            try:
                backend = _BACKENDS[name](self.path, self.format)
            except Exception:  # noqa: BLE001, S112 - this backend cannot open it either
                continue
            try:
                return backend.read(start, count)
            except Exception:  # noqa: BLE001, S112
                continue
            finally:
                backend.close()
        return None

    def close(self) -> None:
        for backend in (self._backend, self._seeker):
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.close()

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _sanitise(samples: np.ndarray) -> np.ndarray:
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


def _unreadable(exc: OSError) -> UnreadableFileError:
    reasons = {PermissionError: "permission denied", FileNotFoundError: "file not found",
               IsADirectoryError: "is a directory"}
    for kind, reason in reasons.items():
        if isinstance(exc, kind):
            return UnreadableFileError(reason)
    return UnreadableFileError(_one_line(f"cannot read: {exc.strerror or exc}"))


def _open_failure(fmt: str, failures: list[BaseException]) -> AudioError:
    for failure in failures:
        if isinstance(failure, UnsupportedFormatError):
            return failure
    for failure in failures:
        if isinstance(failure, av.DecoderNotFoundError):
            return UnsupportedFormatError(f"no decoder for this {fmt} audio")
    for failure in failures:
        if isinstance(failure, AudioError):
            return failure
    reason = _decoder_message(failures[-1]) if failures else "no backend"
    return CorruptAudioError(f"cannot decode {fmt} audio: {reason}")


def _check_file(path: Path) -> None:
    """Refuse what is not a non-empty regular file, without opening it (fifos block)."""
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        if os.path.islink(path):
            raise UnreadableFileError("broken symlink") from exc
        raise UnreadableFileError("file not found") from exc
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise UnreadableFileError("symlink loop") from exc
        raise _unreadable(exc) from exc
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFileError("is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFileError(f"not a regular file ({special_file_kind(info.st_mode)})")
    if info.st_size == 0:
        raise CorruptAudioError("empty file")


def open_audio(path: str | os.PathLike) -> AudioReader:
    """Open an audio file for (repeated) reading; see :class:`AudioReader`.

    Raises
    ------
    UnreadableFileError, UnsupportedFormatError, CorruptAudioError
    """
    path = Path(path)
    _check_file(path)
    try:
        fmt = sniff_format(path)
        if fmt is None:
            raise UnsupportedFormatError(f"not audio: looks like {describe_content(path)}")
        return AudioReader(path, fmt)
    except AudioError:
        raise
    except OSError as exc:
        raise _unreadable(exc) from exc
    except Exception as exc:  # noqa: BLE001 - the promise: no raw decoder exception
        raise CorruptAudioError(f"cannot open audio: {_decoder_message(exc)}") from exc


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Duration, native rate, channels, codec and container of an audio file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    AudioInfo

    Raises
    ------
    UnreadableFileError, UnsupportedFormatError, CorruptAudioError
    """
    with open_audio(path) as reader:
        return reader.info


def load_audio(path: str | os.PathLike, *, sr: int, offset: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """Decode a file (or a span of it) to mono float32 at ``sr`` Hz.

    Parameters
    ----------
    path : str or os.PathLike
        Any supported audio file; the format is found from the content.
    sr : int > 0
        Target sample rate.
    offset : float >= 0
        Start reading this many seconds into the file (seeks; nothing before is decoded).
    duration : float > 0 or None
        Read at most this many seconds; ``None`` reads to the end.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]
        Channels averaged, resampled with soxr. Empty if ``offset`` is past the end.

    Raises
    ------
    ParameterError
        Bad ``sr``, ``offset`` or ``duration``.
    UnreadableFileError, UnsupportedFormatError, CorruptAudioError, SilentAudioError
        The file cannot be turned into audio (one-line message).
    """
    _check_read_parameters(sr, offset, duration)
    with open_audio(path) as reader:
        try:
            samples = reader.read(sr, offset=offset, duration=duration)
        except AudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. MemoryError on absurd headers
            raise CorruptAudioError(f"cannot decode audio: {_decoder_message(exc)}") from exc
    if offset == 0 and len(samples) == 0:
        raise CorruptAudioError("no audio data in the file")
    return samples


def _check_read_parameters(sr: int, offset: float, duration: float | None) -> None:
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer, got {sr!r}")
    if not (isinstance(offset, int | float) and math.isfinite(offset) and offset >= 0):
        raise ParameterError(f"offset must be a finite number >= 0, got {offset!r}")
    if duration is not None and not (
        isinstance(duration, int | float) and math.isfinite(duration) and duration > 0
    ):
        raise ParameterError(f"duration must be a positive number or None, got {duration!r}")
