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
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from music_reclass.audio.backends import (
    BACKENDS,
    MAX_ABS_SAMPLE,
    PYAV_FORMATS,
    SOUNDFILE_FORMATS,
    PyAVBackend,
    backend_order,
    sanitise,
)
from music_reclass.audio.discover import special_file_kind
from music_reclass.audio.probe import describe_content, sniff_format
from music_reclass.errors import (
    AudioError,
    CorruptAudioError,
    ParameterError,
    UnreadableFileError,
    UnsupportedFormatError,
)

__all__ = ["AudioInfo", "AudioReader", "audio_info", "load_audio", "open_audio",
           "SOUNDFILE_FORMATS", "PYAV_FORMATS", "MAX_ABS_SAMPLE"]

#: libsndfile 1.2's Ogg Vorbis seek lands up to ~0.1 s off on some files (measured
#: against a full decode); FFmpeg's timestamps are right to within ~30 ms, so seeks
#: into Vorbis go through PyAV while whole-file reads stay with libsndfile.
_SEEK_WITH_PYAV = frozenset({"ogg"})
#: Seeks through FFmpeg are exact for MP3, AAC (MP4 and ADTS) and Opus, within ~30 ms
#: for Vorbis and ~10 ms for WMA (ASF timestamps): far below what changes a genre.

_RESAMPLE_MARGIN_S = 0.02  # context read on both sides so soxr's filter has no edge
_MAX_MESSAGE = 160


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


# --- the reader -------------------------------------------------------------------

class AudioReader:
    """An open audio file that can read spans repeatedly (used by :mod:`.excerpt`).

    Use :func:`open_audio` to create one, as a context manager.
    """

    def __init__(self, path: Path, fmt: str):
        self.path = path
        self.format = fmt
        self._order = backend_order(fmt)
        self._backend, self._failures = self._open_first(self._order)
        self._seeker: PyAVBackend | None = None
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
                return BACKENDS[name](self.path, self.format), failures
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
            return sanitise(self._read_native(start, count))
        # resample with some context on both sides, then cut: the span is then identical
        # to the same span of a whole-file decode (no filter ramp at its edges)
        margin = int(_RESAMPLE_MARGIN_S * native)
        before = min(margin, start)
        samples = self._read_native(start - before,
                                    None if count is None else count + before + margin)
        samples = sanitise(samples)
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
                    self._seeker = PyAVBackend(self.path, self.format)
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
                backend = BACKENDS[name](self.path, self.format)
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
