"""``gtzan53``: the Kaggle GTZAN table's features that are cheap to compute.

The 58 columns of ``features_30_sec.csv`` (see :mod:`.gtzan58`) minus five:
``length`` (a sample count: constant on GTZAN, meaningless on other music) and the
mean and variance of the harmonic and percussive waveforms (``harmony_*``,
``perceptr_*``), whose median-filtering source separation costs about 90 % of the
58-feature time. What is left (chroma, RMS, spectral centroid, bandwidth and
rolloff, zero-crossing rate, tempo, 20 MFCCs) is computed from *one* shared STFT
here, instead of one per feature as the table's code did: the values are the same
(each librosa feature accepts the spectrogram in place of the audio; checked
against :func:`~.gtzan58.gtzan58_features` to 1e-5 relative in the tests), about
four times faster.

Because the columns are the table's, a head can be trained on the 1000 published
rows (``../shared/gtzan-features``) and applied to any audio.
"""

from __future__ import annotations

import warnings
from os import PathLike

import librosa
import numpy as np

from music_reclass.features.gtzan58 import _PAD, GTZAN58_COLUMNS, _tempo_from_envelope
from music_reclass.features.registry import FeatureExtractor, load_centred

__all__ = ["GTZAN53_COLUMNS", "GTZANSpectralExtractor", "gtzan53_features"]

_DROPPED = ("length", "harmony_mean", "harmony_var", "perceptr_mean", "perceptr_var")
#: the columns, in the table's order
GTZAN53_COLUMNS: tuple[str, ...] = tuple(c for c in GTZAN58_COLUMNS if c not in _DROPPED)
_SR = 22050
_N_MFCC = 20


def gtzan53_features(y: np.ndarray, sr: int) -> dict[str, float]:
    """The 53 named values of a float32 waveform (any rate; the table's is 22050)."""
    magnitude = np.abs(librosa.stft(y, pad_mode=_PAD))  # n_fft 2048, hop 512: the defaults
    power = magnitude**2
    with warnings.catch_warnings():
        # silence has no pitch to estimate tuning from: librosa then assumes 0
        warnings.filterwarnings("ignore", message="Trying to estimate tuning", category=UserWarning)
        chroma = librosa.feature.chroma_stft(S=power, sr=sr)
    frames = {
        "chroma_stft": chroma,
        "rms": librosa.feature.rms(y=y, pad_mode=_PAD),  # from frames of y, as the table's
        "spectral_centroid": librosa.feature.spectral_centroid(S=magnitude, sr=sr),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(S=magnitude, sr=sr),
        "rolloff": librosa.feature.spectral_rolloff(S=magnitude, sr=sr),
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(y),
    }
    values: dict[str, float] = {}
    for name, array in frames.items():
        values[f"{name}_mean"] = float(np.mean(array))
        values[f"{name}_var"] = float(np.var(array))
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr))
    # beat_track's onset envelope: log-mel (the same one), median over bands
    envelope = librosa.onset.onset_strength(S=log_mel, sr=sr, aggregate=np.median)
    values["tempo"] = _tempo_from_envelope(envelope, sr)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=_N_MFCC)
    for i in range(_N_MFCC):
        values[f"mfcc{i + 1}_mean"] = float(np.mean(mfcc[i]))
        values[f"mfcc{i + 1}_var"] = float(np.var(mfcc[i]))
    return values


class GTZANSpectralExtractor(FeatureExtractor):
    """53 of the Kaggle GTZAN table's features, in its column order (no HPSS, no length).

    Audio is read like :class:`~.gtzan58.GTZAN58Extractor` reads it: 22050 Hz mono,
    files longer than 31 s reduced to their central 30 s.
    """

    name = "gtzan53"
    version = "1"
    sample_rate = _SR

    @property
    def feature_names(self) -> list[str]:
        return list(GTZAN53_COLUMNS)

    def load(self, path: str | PathLike) -> tuple[np.ndarray, int]:
        return load_centred(path, sr=_SR, max_duration=31.0, clip_duration=30.0)

    def extract_waveform(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The 53 values; audio at another rate is resampled to 22050 Hz first."""
        values = gtzan53_features(*self._prepare(y, sr))
        return self._finish([values[name] for name in GTZAN53_COLUMNS])
