"""Which part of a track is analysed: a bounded-cost excerpt.

The models look at 3 s patches: musicnn cuts its log-mel input (16 kHz, hop 256) into
non-overlapping patches of 187 frames, i.e. :data:`PATCH_SAMPLES` = 187 x 256 = 47,872
samples (2.992 s) per patch. Its front end is centred (``T = 1 + n // 256`` frames), so
:data:`MIN_SAMPLES` = 186 x 256 = 47,616 samples (2.976 s) give exactly one patch; an
uncentred frame count would need 186 x 256 + 512 = 48,128. Shorter audio raises
:class:`~music_reclass.errors.TooShortError`.

Policy (:class:`ExcerptPolicy` defaults):

- a track of at most ``max_seconds`` = 35 s is analysed whole (dataset clips of
  "30 s" vary by +-0.1 s and are analysed whole, as the models were trained on them);
  the read stops at 45 s anyway, in case the announced length was an estimate
  (ADTS AAC, MP3 without a Xing header) or a lie;
- a longer track gives ``n_segments`` = 5 segments of ``segment_seconds`` = 6 s,
  rounded to whole patches (2 patches = 5.984 s each), spread evenly over the middle
  80 % of the track (``skip_fraction`` = 0.1 cut at each end: intros, outros, applause,
  hidden tracks); if the middle is too short to hold them without overlap, over the
  whole track. The excerpt is then 10 patches = 29.92 s at 16 kHz whatever the length,
  and each segment is read by seeking, so a 3-hour file costs about what a
  5-minute one does;
- segments are concatenated back to back; each is exactly a whole number of patches,
  so musicnn's patches never straddle a joint (only the first frame of a patch, centred
  on the joint, sees 16 ms of the previous segment).

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

__all__ = ["Excerpt", "ExcerptPolicy", "load_excerpt", "plan_segments",
           "SR", "HOP_LENGTH", "PATCH_FRAMES", "PATCH_SAMPLES", "MIN_SAMPLES",
           "PATCH_SECONDS", "MIN_SECONDS"]

#: Sample rate the models use.
SR = 16000
#: musicnn's hop length and patch size in frames.
HOP_LENGTH = 256
PATCH_FRAMES = 187
#: Samples per musicnn patch: segments are cut to multiples of this.
PATCH_SAMPLES = PATCH_FRAMES * HOP_LENGTH  # 47,872
#: Fewest samples giving one full patch with musicnn's centred front end.
MIN_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH  # 47,616
PATCH_SECONDS = PATCH_SAMPLES / SR  # 2.992 s
MIN_SECONDS = MIN_SAMPLES / SR  # 2.976 s

_WHOLE_TRACK_GRACE_S = 10.0  # a "short" track is read whole up to max_seconds + this
_SEGMENT_SLACK_S = 0.05  # read a little more than a segment so resampling rounding never leaves it short


@dataclass(frozen=True)
class ExcerptPolicy:
    """How much of a track to analyse (see the module docstring for the reasoning).

    Parameters
    ----------
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

    max_seconds: float = 35.0
    segment_seconds: float = 6.0
    n_segments: int = 5
    skip_fraction: float = 0.1
    silence_peak: float = 1e-4
    silence_rms: float = 1e-5

    def __post_init__(self) -> None:
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
        """Whole musicnn patches in one segment."""
        return max(1, int(round(self.segment_seconds / PATCH_SECONDS)))

    @property
    def segment_length(self) -> float:
        """Length of one segment in seconds (a whole number of patches)."""
        return self.patches_per_segment * PATCH_SECONDS

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
    """

    waveform: np.ndarray
    info: AudioInfo
    segments: tuple[tuple[float, float], ...]
    sr: int = SR
    whole: bool = True

    @property
    def analysed_seconds(self) -> float:
        """Seconds of audio in ``waveform``."""
        return len(self.waveform) / self.sr


def plan_segments(duration: float, *, policy: ExcerptPolicy | None = None
                  ) -> list[tuple[float, float]]:
    """Where to read a track of ``duration`` seconds: ``[(start_s, length_s), ...]``.

    A track up to ``policy.max_seconds`` is one segment ``(0, duration)``.

    Parameters
    ----------
    duration : float >= 0
    policy : ExcerptPolicy, optional

    Returns
    -------
    list of (float, float)
    """
    policy = policy or ExcerptPolicy()
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


def load_excerpt(path: str | os.PathLike, *, sr: int = SR,
                 policy: ExcerptPolicy | None = None) -> Excerpt:
    """Load the part of a track the models analyse (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        Any audio file :func:`~music_reclass.audio.decode.load_audio` reads.
    sr : int
        Output sample rate (the models want 16000).
    policy : ExcerptPolicy, optional
        Defaults to ``ExcerptPolicy()``.

    Returns
    -------
    Excerpt

    Raises
    ------
    TooShortError
        Less than one patch (:data:`MIN_SECONDS`) of audio.
    SilentAudioError
        Digital silence.
    UnreadableFileError, UnsupportedFormatError, CorruptAudioError
        As :func:`~music_reclass.audio.decode.load_audio`.
    """
    policy = policy or ExcerptPolicy()
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ParameterError(f"sr must be a positive integer, got {sr!r}")
    with open_audio(path) as reader:
        try:
            waveform, segments, whole = _read_excerpt(reader, sr, policy)
        except AudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - never a raw decoder exception
            raise CorruptAudioError(f"cannot decode audio: {type(exc).__name__}") from exc
        info = reader.info
    _check_usable(waveform, sr, policy)
    return Excerpt(waveform=waveform, info=info, segments=tuple(segments), sr=sr, whole=whole)


def _read_excerpt(reader: AudioReader, sr: int, policy: ExcerptPolicy
                  ) -> tuple[np.ndarray, list[tuple[float, float]], bool]:
    duration = reader.info.duration
    if not math.isfinite(duration) or duration <= policy.max_seconds:
        # whole track; the read is bounded anyway, in case the length was an estimate
        # (ADTS AAC, MP3 without a Xing header) or unknown
        limit = policy.max_analysed_seconds + _WHOLE_TRACK_GRACE_S
        waveform = reader.read(sr, offset=0.0, duration=limit)
        return waveform, [(0.0, len(waveform) / sr)], True
    patch = _patch_samples(sr)
    pieces, segments = [], []
    for start, length in plan_segments(duration, policy=policy):
        piece = reader.read(sr, offset=start, duration=length + _SEGMENT_SLACK_S)
        wanted = int(round(length / PATCH_SECONDS)) * patch
        usable = min(wanted, len(piece) // patch * patch)  # short: past a truncated end
        if usable:
            pieces.append(piece[:usable])
            segments.append((start, usable / sr))
    if not pieces:
        # the header promised more than the file holds (truncated, or an MP3 length
        # estimate): analyse what decodes from the start, within the same bound
        waveform = reader.read(sr, offset=0.0, duration=policy.max_analysed_seconds)
        return waveform, [(0.0, len(waveform) / sr)], True
    return np.concatenate(pieces), segments, False


def _patch_samples(sr: int) -> int:
    return PATCH_SAMPLES if sr == SR else int(round(PATCH_SECONDS * sr))


def _check_usable(waveform: np.ndarray, sr: int, policy: ExcerptPolicy) -> None:
    needed = MIN_SAMPLES if sr == SR else int(math.ceil(MIN_SECONDS * sr))
    if len(waveform) < needed:
        raise TooShortError(
            f"too short: {len(waveform) / sr:.1f} s, need at least {MIN_SECONDS:.1f} s"
        )
    peak = float(np.max(np.abs(waveform)))
    rms = float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))
    if peak < policy.silence_peak or rms < policy.silence_rms:
        level = 20 * math.log10(peak) if peak > 0 else -math.inf
        raise SilentAudioError(f"digital silence (peak {level:.0f} dBFS)")
