"""The 58 features of the Kaggle GTZAN table (``features_30_sec.csv``).

The table (Andrada Olteanu's "GTZAN Dataset - Music Genre Classification",
Kaggle, 2020) has, for each 30 s GTZAN clip, ``length`` (its sample count at
22050 Hz), the mean and variance over frames of librosa's ``chroma_stft``,
``rms``, spectral centroid, bandwidth and rolloff, zero-crossing rate, and of
the *samples* of the harmonic and percussive waveforms of
``librosa.effects.hpss`` (``harmony``, ``perceptr``), the tempo of
``librosa.beat.beat_track`` and the mean and variance of 20 MFCCs.

Reverse-engineered (see ``scripts/compare_gtzan58.py``): everything is
librosa's defaults at 22050 Hz in float32, with population variance
(``np.var``), as computed by a 2020 librosa (0.8). Two defaults changed since
and are pinned here to reproduce the table:

* centred STFT frames are padded by *reflection* (librosa >= 0.10 pads with
  zeros): without it, every STFT feature is off by 1e-4..2e-3 relative;
* ``effects.hpss`` resynthesised with ``istft`` *without* ``length`` and then
  trimmed/padded with ``fix_length`` (today it passes ``length``), which changes
  the mean of the harmonic/percussive waveforms (~1e-5 absolute);
* the tempo comes from ``beat_track``'s onset envelope, aggregated over mel
  bands by the *median* (``feature.tempo`` alone aggregates by the mean and
  disagrees on about a third of the clips).

With these, all 58 values agree with the published rows to float32 round-off
on GTZAN's own clips.

Longer tracks (more than 31 s: GTZAN clips are 29.9-30.7 s) are reduced to
their central 30 s, so the statistics describe a clip like GTZAN's.
"""

from __future__ import annotations

import warnings
from os import PathLike

import librosa
import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.features.registry import FeatureExtractor, load_centred

__all__ = ["GTZAN58Extractor", "GTZAN58_COLUMNS"]

_MEAN_VAR_FEATURES = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
)
_N_MFCC = 20

#: the feature columns of features_30_sec.csv, in its order (no filename, no label)
GTZAN58_COLUMNS: tuple[str, ...] = (
    "length",
    *(f"{name}_{stat}" for name in _MEAN_VAR_FEATURES for stat in ("mean", "var")),
    "tempo",
    *(f"mfcc{i}_{stat}" for i in range(1, _N_MFCC + 1) for stat in ("mean", "var")),
)

_SR = 22050
#: librosa < 0.10 centred frames by reflection
_PAD = "reflect"


def _hpss_waveforms(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.effects.hpss`` as librosa 0.8 computed it."""
    stft = librosa.stft(y, pad_mode=_PAD)
    harmonic, percussive = librosa.decompose.hpss(stft)
    # 0.8 inverted without ``length`` and then fixed the length (the last,
    # partial frame is reconstructed differently).
    y_harmonic = librosa.util.fix_length(librosa.istft(harmonic, dtype=y.dtype), size=len(y))
    y_percussive = librosa.util.fix_length(librosa.istft(percussive, dtype=y.dtype), size=len(y))
    return y_harmonic, y_percussive


def _tempo(y: np.ndarray, sr: int) -> float:
    """The tempo ``librosa.beat.beat_track(y=y, sr=sr)`` returns (bpm)."""
    envelope = librosa.onset.onset_strength(y=y, sr=sr, aggregate=np.median, pad_mode=_PAD)
    return _tempo_from_envelope(envelope, sr)


def _tempo_from_envelope(envelope: np.ndarray, sr: int) -> float:
    """The tempo (bpm) ``beat_track`` estimates from an onset envelope."""
    return float(np.atleast_1d(librosa.feature.tempo(onset_envelope=envelope, sr=sr))[0])


def gtzan58_features(y: np.ndarray, sr: int) -> dict[str, float]:
    """The 58 named values for a float32 waveform (any rate; the table's is 22050)."""
    with warnings.catch_warnings():
        # silence has no pitch to estimate tuning from: librosa then assumes 0
        warnings.filterwarnings("ignore", message="Trying to estimate tuning", category=UserWarning)
        chroma = librosa.feature.chroma_stft(y=y, sr=sr, pad_mode=_PAD)
    frames = {
        "chroma_stft": chroma,
        "rms": librosa.feature.rms(y=y, pad_mode=_PAD),
        "spectral_centroid": librosa.feature.spectral_centroid(y=y, sr=sr, pad_mode=_PAD),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(y=y, sr=sr, pad_mode=_PAD),
        "rolloff": librosa.feature.spectral_rolloff(y=y, sr=sr, pad_mode=_PAD),
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(y),
    }
    frames["harmony"], frames["perceptr"] = _hpss_waveforms(y)

    values: dict[str, float] = {"length": float(len(y))}
    for name in _MEAN_VAR_FEATURES:
        values[f"{name}_mean"] = float(np.mean(frames[name]))
        values[f"{name}_var"] = float(np.var(frames[name]))
    values["tempo"] = _tempo(y, sr)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=_N_MFCC, pad_mode=_PAD)
    for i in range(_N_MFCC):
        values[f"mfcc{i + 1}_mean"] = float(np.mean(mfcc[i]))
        values[f"mfcc{i + 1}_var"] = float(np.var(mfcc[i]))
    return values


class GTZAN58Extractor(FeatureExtractor):
    """The Kaggle GTZAN table's 58 features, in its column order.

    Parameters
    ----------
    max_duration : float or None
        Files longer than this (seconds) are analysed on their central
        ``clip_duration`` seconds; ``None`` analyses whole files.
    clip_duration : float
        Length of that central clip (GTZAN's 30 s).
    """

    name = "gtzan58"
    #: bump whenever the output of extract() changes
    base_version = "1"
    sample_rate = _SR

    def __init__(self, *, max_duration: float | None = 31.0, clip_duration: float = 30.0):
        if max_duration is not None and max_duration <= 0:
            raise ParameterError(f"max_duration must be positive or None, got {max_duration!r}")
        if clip_duration <= 0:
            raise ParameterError(f"clip_duration must be positive, got {clip_duration!r}")
        if max_duration is not None and clip_duration > max_duration:
            raise ParameterError("clip_duration must not exceed max_duration")
        self.max_duration = max_duration
        self.clip_duration = clip_duration
        version = self.base_version
        if (max_duration, clip_duration) != (31.0, 30.0):
            version += f"+clip={max_duration or 'all'}/{clip_duration}"
        self.version = version

    @property
    def feature_names(self) -> list[str]:
        """Column names of ``features_30_sec.csv`` (without filename and label)."""
        return list(GTZAN58_COLUMNS)

    def load(self, path: str | PathLike) -> tuple[np.ndarray, int]:
        return load_centred(
            path, sr=_SR, max_duration=self.max_duration, clip_duration=self.clip_duration
        )

    def extract_waveform(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The 58 values; audio at another rate is resampled to 22050 Hz first."""
        values = gtzan58_features(*self._prepare(y, sr))
        return self._finish([values[name] for name in GTZAN58_COLUMNS])
