"""Which part of a track is analysed: a bounded-cost excerpt, in the model's patches.

The model, not this layer, says what it needs (:class:`AudioInput`): its sample rate,
the length of one input patch and the shortest audio it can analyse. For musicnn
(``music_reclass.models.musicnn.MUSICNN_INPUT``) that is 16 kHz, patches of 187 log-mel
frames of 256 samples (2.992 s), and at least 2.976 s (its front end is centred);
a 24 kHz backbone brings its own.

Policy (:class:`ExcerptPolicy` defaults):

- a track of at most ``max_seconds`` = 35 s is analysed whole (dataset clips of
  "30 s" vary by +-0.1 s and are analysed whole, as the models were trained on them);
  the read stops at 45 s anyway, in case the announced length was an estimate
  (ADTS AAC, MP3 without a Xing header) or a lie;
- a longer track gives ``n_segments`` = 5 segments of ``segment_seconds`` = 6 s,
  rounded to whole patches (for musicnn 2 patches = 5.984 s each), spread evenly over
  the middle 80 % of the track (``skip_fraction`` = 0.1 cut at each end: intros,
  outros, applause, hidden tracks); if the middle is too short to hold them without
  overlap, over the whole track. The excerpt is then about 30 s whatever the length,
  and each segment is read by seeking, so a 3-hour file costs about what a
  5-minute one does;
- segments are concatenated back to back; each is exactly a whole number of patches,
  so a model's patches never straddle a joint.

Too short: less than ``min_seconds`` raises :class:`~music_reclass.errors.TooShortError`.
Silence: an excerpt whose peak is below ``silence_peak`` = 1e-4 (-80 dBFS, the level
of 16-bit dither) or whose RMS is below ``silence_rms`` = 1e-5 (-100 dBFS) raises
:class:`~music_reclass.errors.SilentAudioError`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from music_reclass.audio.decode import AudioInfo, AudioReader, open_audio
from music_reclass.errors import (
    AudioError,
    CorruptAudioError,
    ParameterError,
    SilentAudioError,
    TooShortError,
)

__all__ = ["AudioInput", "Excerpt", "ExcerptPolicy", "load_excerpt", "plan_segments"]

_WHOLE_TRACK_GRACE_S = 10.0  # a "short" track is read whole up to max_seconds + this
_SEGMENT_SLACK_S = 0.05  # read a little more than a segment so resampling rounding never leaves it short


@dataclass(frozen=True)
class ExcerptPolicy:
    """How much of a track to analyse (see the module docstring for the reasoning).

    Parameters
    ----------
    patch_seconds : float
        Length of one model input patch: segments are whole patches.
    min_seconds : float, optional
        Shortest audio the model can analyse (default: one patch).
    max_seconds : float
        Tracks up to this long are analysed whole.
    segment_seconds : float
        Length of each segment of a longer track, rounded to whole patches (at least one).
    n_segments : int
        Number of segments of a longer track.
    skip_fraction : float in [0, 0.5)
        Fraction of the track left out at each end when placing segments.
    silence_peak, silence_rms : float
        Below either level (linear, full scale = 1) the excerpt is digital silence.
    """

    patch_seconds: float
    min_seconds: float | None = None
    max_seconds: float = 35.0
    segment_seconds: float = 6.0
    n_segments: int = 5
    skip_fraction: float = 0.1
    silence_peak: float = 1e-4
    silence_rms: float = 1e-5

    def __post_init__(self) -> None:
        if not (self.patch_seconds > 0 and math.isfinite(self.patch_seconds)):
            raise ParameterError(f"patch_seconds must be > 0, got {self.patch_seconds!r}")
        if self.min_seconds is not None and not 0 < self.min_seconds <= self.patch_seconds:
            raise ParameterError(
                f"min_seconds must be in (0, patch_seconds], got {self.min_seconds!r}")
        if not (self.segment_seconds > 0 and math.isfinite(self.segment_seconds)):
            raise ParameterError(f"segment_seconds must be > 0, got {self.segment_seconds!r}")
        if not (isinstance(self.n_segments, int) and self.n_segments >= 1):
            raise ParameterError(f"n_segments must be an integer >= 1, got {self.n_segments!r}")
        if not 0 <= self.skip_fraction < 0.5:
            raise ParameterError(f"skip_fraction must be in [0, 0.5), got {self.skip_fraction!r}")
        if self.silence_peak < 0 or self.silence_rms < 0:
            raise ParameterError("silence thresholds must be >= 0")
        if not self.max_seconds >= self.n_segments * self.segment_length:
            raise ParameterError(
                f"max_seconds ({self.max_seconds}) must be at least n_segments x segment "
                f"length ({self.n_segments} x {self.segment_length:.3f} s): a track just "
                "longer than max_seconds must be able to hold every segment"
            )

    @property
    def patches_per_segment(self) -> int:
        """Whole model patches in one segment."""
        return max(1, int(round(self.segment_seconds / self.patch_seconds)))

    @property
    def segment_length(self) -> float:
        """Length of one segment in seconds (a whole number of patches)."""
        return self.patches_per_segment * self.patch_seconds

    @property
    def shortest(self) -> float:
        """Shortest analysable audio in seconds."""
        return self.patch_seconds if self.min_seconds is None else self.min_seconds

    def patch_samples(self, sr: int) -> int:
        """Samples of one patch at ``sr``."""
        return int(round(self.patch_seconds * sr))

    def min_samples(self, sr: int) -> int:
        """Fewest samples at ``sr`` that the model can analyse."""
        return int(math.ceil(self.shortest * sr - 1e-6))

    @property
    def max_analysed_seconds(self) -> float:
        """Upper bound of audio analysed per track."""
        return max(self.max_seconds, self.n_segments * self.segment_length)


@dataclass(frozen=True)
class Excerpt:
    """The audio analysed for one track.

    Attributes
    ----------
    waveform : np.ndarray [shape=(n,), dtype=float32]
        Mono audio at ``sr``: the whole track, or its segments back to back.
    info : AudioInfo
        The file's native properties.
    segments : tuple of (start_s, duration_s)
        Where each piece of ``waveform`` comes from in the track, in order.
    sr : int
        Sample rate of ``waveform``.
    whole : bool
        True if the track was read whole (from the start), False if it is segments.
    decoded_duration : float or None
        The track's length as decoded, in seconds, when a read reached the end of its
        audio stream (the whole track read, or a segment cut short by the end); None
        when every read stopped before the end. Unlike ``info.duration`` (the header's
        word) it cannot be forged: a header claiming 432 hours for 7 s of audio is
        caught here.
    """

    waveform: np.ndarray
    info: AudioInfo
    segments: tuple[tuple[float, float], ...]
    sr: int
    whole: bool = True
    decoded_duration: float | None = None

    @property
    def analysed_seconds(self) -> float:
        """Seconds of audio in ``waveform``."""
        return len(self.waveform) / self.sr


def plan_segments(duration: float, *, policy: ExcerptPolicy) -> list[tuple[float, float]]:
    """Where to read a track of ``duration`` seconds: ``[(start_s, length_s), ...]``.

    A track up to ``policy.max_seconds`` is one segment ``(0, duration)``.

    Parameters
    ----------
    duration : float >= 0
    policy : ExcerptPolicy

    Returns
    -------
    list of (float, float)
    """
    if not (math.isfinite(duration) and duration >= 0):
        raise ParameterError(f"duration must be a finite number >= 0, got {duration!r}")
    if duration <= policy.max_seconds:
        return [(0.0, float(duration))]
    length = policy.segment_length
    first = policy.skip_fraction * duration
    last = (1.0 - policy.skip_fraction) * duration
    if last - first < policy.n_segments * length:
        first, last = 0.0, duration  # fits: max_seconds >= n_segments x length
    starts = np.linspace(first, last - length, policy.n_segments)
    return [(float(start), length) for start in starts]


@dataclass(frozen=True)
class AudioInput:
    """What audio a model wants, declared by the model.

    Parameters
    ----------
    sample_rate : int
        The rate the model's input is decoded at.
    policy : ExcerptPolicy or None
        How much of a track, in the model's patches. None: the model reads each file
        itself (a handcrafted-feature model reads audio its own way).
    """

    sample_rate: int
    policy: ExcerptPolicy | None

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) \
                or self.sample_rate <= 0:
            raise ParameterError(f"sample_rate must be a positive integer, got {self.sample_rate!r}")

    @property
    def mode(self) -> str:
        """``"excerpt"`` (the runner decodes an excerpt for the model) or ``"file"``."""
        return "file" if self.policy is None else "excerpt"


def load_excerpt(path: str | os.PathLike, audio_input: AudioInput) -> Excerpt:
    """Load the part of a track a model analyses (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        Any audio file :func:`~music_reclass.audio.decode.load_audio` reads.
    audio_input : AudioInput
        The model's input: sample rate and excerpt policy.

    Returns
    -------
    Excerpt

    Raises
    ------
    TooShortError
        Less audio than the model can analyse.
    SilentAudioError
        Digital silence.
    UnreadableFileError, UnsupportedFormatError, CorruptAudioError
        As :func:`~music_reclass.audio.decode.load_audio`.
    ParameterError
        A model that reads files itself (``audio_input.policy`` is None).
    """
    policy, sr = audio_input.policy, audio_input.sample_rate
    if policy is None:
        raise ParameterError("this model reads audio files itself: it takes no excerpt")
    with open_audio(path) as reader:
        try:
            waveform, segments, whole, decoded = _read_excerpt(reader, sr, policy)
        except AudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - never a raw decoder exception
            raise CorruptAudioError(f"cannot decode audio: {type(exc).__name__}") from exc
        info = reader.info
    _check_usable(waveform, sr, policy)
    return Excerpt(waveform=waveform, info=info, segments=tuple(segments), sr=sr, whole=whole,
                   decoded_duration=decoded)


def _ended(samples: int, sr: int, asked: float) -> bool:
    """Did a read of ``asked`` seconds return less: the stream ended (a sample of slack
    for resampling rounding)?"""
    return samples < int(asked * sr) - 1


def _read_excerpt(reader: AudioReader, sr: int, policy: ExcerptPolicy
                  ) -> tuple[np.ndarray, list[tuple[float, float]], bool, float | None]:
    duration = reader.info.duration
    if not math.isfinite(duration) or duration <= policy.max_seconds:
        # whole track; the read is bounded anyway, in case the length was an estimate
        # (ADTS AAC, MP3 without a Xing header) or unknown
        limit = policy.max_analysed_seconds + _WHOLE_TRACK_GRACE_S
        waveform = reader.read(sr, offset=0.0, duration=limit)
        decoded = len(waveform) / sr if _ended(len(waveform), sr, limit) else None
        return waveform, [(0.0, len(waveform) / sr)], True, decoded
    patch = policy.patch_samples(sr)
    pieces, segments, decoded = [], [], None
    for start, length in plan_segments(duration, policy=policy):
        piece = reader.read(sr, offset=start, duration=length + _SEGMENT_SLACK_S)
        if decoded is None and len(piece) and _ended(len(piece), sr, length + _SEGMENT_SLACK_S):
            decoded = start + len(piece) / sr  # the stream ended inside this segment
        wanted = int(round(length / policy.patch_seconds)) * patch
        usable = min(wanted, len(piece) // patch * patch)  # short: past a truncated end
        if usable:
            pieces.append(piece[:usable])
            segments.append((start, usable / sr))
    if not pieces:
        # the header promised more than the file holds (truncated, or an MP3 length
        # estimate, or a forged header): analyse what decodes from the start, within
        # the same bound
        bound = policy.max_analysed_seconds
        waveform = reader.read(sr, offset=0.0, duration=bound)
        decoded = len(waveform) / sr if _ended(len(waveform), sr, bound) else None
        return waveform, [(0.0, len(waveform) / sr)], True, decoded
    return np.concatenate(pieces), segments, False, decoded


def _check_usable(waveform: np.ndarray, sr: int, policy: ExcerptPolicy) -> None:
    if len(waveform) < policy.min_samples(sr):
        raise TooShortError(
            f"too short: {len(waveform) / sr:.1f} s, need at least {policy.shortest:.1f} s"
        )
    peak = float(np.max(np.abs(waveform)))
    rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))
    if peak < policy.silence_peak or rms < policy.silence_rms:
        level = 20 * math.log10(peak) if peak > 0 else -math.inf
        raise SilentAudioError(f"digital silence (peak {level:.0f} dBFS)")
