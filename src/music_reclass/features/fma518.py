"""FMA's 518 librosa features, computed as FMA's ``features.py`` computes them.

The FMA dataset (Defferrard et al., 2017) publishes ``features.csv``: for every
track, 74 frame-wise librosa features (chroma_cens, chroma_cqt, chroma_stft: 12
each; tonnetz: 6; mfcc: 20; rmse, zcr, spectral centroid, bandwidth, rolloff:
1 each; spectral contrast: 7) summarised by 7 statistics (mean, std, skew,
kurtosis, median, min, max): 518 columns. A model trained on that table can be
applied to the vectors made here, which follow FMA's code line by line
(github.com/mdeff/fma, ``features.py``, ``compute_features``), written against
today's librosa with the arguments that keep the behaviour of librosa 0.5 (2017)
FMA ran with:

* STFT and CQT frames are centred with *reflect* padding (librosa >= 0.10 pads
  with zeros by default);
* ``chroma_cqt``/``chroma_cens`` get ``bins_per_octave=12`` (today's default,
  36, would misread FMA's 12-bin-per-octave CQT);
* ``rmse`` is ``sqrt(mean(|S|**2))`` over the 1025 STFT bins, as librosa 0.5's
  ``rmse(S=...)`` computed it (today's ``rms(S=...)`` uses a Parseval scaling);
* the spectral centroid, bandwidth, rolloff, contrast and ``chroma_stft`` are
  called *without* ``sr``, as in FMA, so librosa takes 22050 Hz: on 44.1 kHz
  audio the centroid, bandwidth and rolloff are half the true frequency and the
  contrast bands sit an octave higher. That is what FMA's table contains, so it
  is reproduced, not fixed;
* skewness and kurtosis of a constant row are 0 and -3 (what scipy returned in
  2017; today's scipy returns NaN).

Differences that remain: the CQT's resampling filters (``soxr_hq`` now,
resampy's ``kaiser_fast`` then) and mp3 decoders differ slightly, so chroma_cqt,
chroma_cens and tonnetz are close to, but not bit-identical with, FMA's.

FMA decoded each file at its own rate (``librosa.load(sr=None)``; most FMA mp3s
are 44.1 kHz). This extractor decodes at 44.1 kHz by default so that every
file is analysed the same way; ``sample_rate=None`` keeps each file's own rate
as FMA did. FMA analysed full tracks; longer than ``max_duration`` (10 min by
default) only the central ``max_duration`` seconds are analysed, to bound cost.
"""

from __future__ import annotations

import warnings
from os import PathLike

import librosa
import numpy as np
import pandas as pd
from scipy import stats

from music_reclass.errors import ParameterError
from music_reclass.features.registry import FeatureExtractor, load_centred

__all__ = ["FMA518Extractor", "FEATURE_SIZES", "STATISTICS", "fma518_columns"]

#: features and their sizes, in the order of FMA's ``columns()``
FEATURE_SIZES: dict[str, int] = {
    "chroma_stft": 12,
    "chroma_cqt": 12,
    "chroma_cens": 12,
    "tonnetz": 6,
    "mfcc": 20,
    "rmse": 1,
    "zcr": 1,
    "spectral_centroid": 1,
    "spectral_bandwidth": 1,
    "spectral_contrast": 7,
    "spectral_rolloff": 1,
}
#: statistics in the order FMA computes them (the table itself is sorted)
STATISTICS: tuple[str, ...] = ("mean", "std", "skew", "kurtosis", "median", "min", "max")

_N_FFT = 2048
_HOP = 512
_N_OCTAVES = 7
_BINS_PER_OCTAVE = 12
#: librosa's default rate, which FMA's calls without ``sr`` silently used
_LIBROSA_DEFAULT_SR = 22050


def fma518_columns() -> pd.MultiIndex:
    """The 518 columns of FMA's ``features.csv``, in its order.

    Levels ``("feature", "statistics", "number")``; numbers are zero-padded
    strings ``"01"``, ``"02"``... As FMA's ``columns()`` does, the index is
    sorted lexicographically on all three levels, so features *and* statistics
    are in alphabetical order: ``("chroma_cens", "kurtosis", "01")`` first,
    ``("zcr", "std", "01")`` last.
    """
    tuples = [
        (feature, statistic, f"{i + 1:02d}")
        for feature, size in FEATURE_SIZES.items()
        for statistic in STATISTICS
        for i in range(size)
    ]
    index = pd.MultiIndex.from_tuples(tuples, names=("feature", "statistics", "number"))
    return index.sort_values()


def summarise(values: np.ndarray) -> dict[str, np.ndarray]:
    """FMA's seven statistics of each row of a ``[n_features, n_frames]`` array."""
    values = np.asarray(values)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # scipy warns (and returns NaN) on constant rows: handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        skew = np.asarray(stats.skew(values, axis=1))
        kurtosis = np.asarray(stats.kurtosis(values, axis=1))
    # scipy < 1.9 returned 0 and -3 (m4/m2**2 - 3 with 0/0 taken as 0) for constant
    # rows, and FMA's table holds those; today's scipy gives NaN.
    skew = np.where(np.isfinite(skew), skew, 0.0)
    kurtosis = np.where(np.isfinite(kurtosis), kurtosis, -3.0)
    return {
        "mean": np.mean(values, axis=1),
        "std": np.std(values, axis=1),
        "skew": skew,
        "kurtosis": kurtosis,
        "median": np.median(values, axis=1),
        "min": np.min(values, axis=1),
        "max": np.max(values, axis=1),
    }


def frame_features(x: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """FMA's 11 frame-wise features of a float32 waveform, ``name -> [size, n_frames]``."""
    with warnings.catch_warnings():
        # silence has no pitch to estimate tuning from: librosa then assumes 0
        warnings.filterwarnings("ignore", message="Trying to estimate tuning", category=UserWarning)
        return _frame_features(x, sr)


def _frame_features(x: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    features: dict[str, np.ndarray] = {}
    features["zcr"] = librosa.feature.zero_crossing_rate(x, frame_length=_N_FFT, hop_length=_HOP)

    # librosa 0.5 estimated tuning on a reflect-padded STFT; cqt() no longer lets
    # us choose that padding, so estimate it here and pass it in.
    tuning = librosa.estimate_tuning(
        y=x, sr=sr, bins_per_octave=_BINS_PER_OCTAVE, pad_mode="reflect"
    )
    cqt = np.abs(
        librosa.cqt(
            x,
            sr=sr,
            hop_length=_HOP,
            bins_per_octave=_BINS_PER_OCTAVE,
            n_bins=_N_OCTAVES * _BINS_PER_OCTAVE,
            tuning=tuning,
            pad_mode="reflect",
        )
    )
    chroma_args = {"n_chroma": 12, "n_octaves": _N_OCTAVES, "bins_per_octave": _BINS_PER_OCTAVE}
    features["chroma_cqt"] = librosa.feature.chroma_cqt(C=cqt, **chroma_args)
    features["chroma_cens"] = librosa.feature.chroma_cens(C=cqt, **chroma_args)
    features["tonnetz"] = librosa.feature.tonnetz(chroma=features["chroma_cens"])
    del cqt

    stft = np.abs(librosa.stft(x, n_fft=_N_FFT, hop_length=_HOP, pad_mode="reflect"))
    power = stft**2
    # The calls below leave sr at librosa's default on purpose: FMA's did.
    features["chroma_stft"] = librosa.feature.chroma_stft(
        S=power, sr=_LIBROSA_DEFAULT_SR, n_chroma=12
    )
    features["rmse"] = np.sqrt(np.mean(power, axis=0, keepdims=True))
    features["spectral_centroid"] = librosa.feature.spectral_centroid(
        S=stft, sr=_LIBROSA_DEFAULT_SR
    )
    features["spectral_bandwidth"] = librosa.feature.spectral_bandwidth(
        S=stft, sr=_LIBROSA_DEFAULT_SR
    )
    features["spectral_contrast"] = librosa.feature.spectral_contrast(
        S=stft, sr=_LIBROSA_DEFAULT_SR, n_bands=6
    )
    features["spectral_rolloff"] = librosa.feature.spectral_rolloff(S=stft, sr=_LIBROSA_DEFAULT_SR)
    # ... but the mel filterbank was given the true rate.
    mel = librosa.feature.melspectrogram(sr=sr, S=power)
    features["mfcc"] = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    return features


class FMA518Extractor(FeatureExtractor):
    """FMA's ``features.csv`` vector (518 values, in :func:`fma518_columns` order).

    Parameters
    ----------
    sample_rate : int or None
        Decoding rate (default 44100, FMA's usual rate); ``None`` keeps each
        file's own rate, exactly as FMA did.
    max_duration : float or None
        Tracks longer than this (seconds) are analysed on their central
        ``max_duration`` seconds; ``None`` analyses everything.
    """

    name = "fma518"
    #: bump whenever the output of extract() changes
    base_version = "1"

    def __init__(self, *, sample_rate: int | None = 44100, max_duration: float | None = 600.0):
        if sample_rate is not None and sample_rate <= 0:
            raise ParameterError(f"sample_rate must be positive or None, got {sample_rate!r}")
        if max_duration is not None and max_duration <= 0:
            raise ParameterError(f"max_duration must be positive or None, got {max_duration!r}")
        self.sample_rate = sample_rate
        self.max_duration = max_duration
        self._columns = fma518_columns()
        self._names = ["/".join(column) for column in self._columns]
        # (feature, statistic) -> positions of numbers "01", "02"... in the output
        self._positions = {
            key: np.array([i for i, column in enumerate(self._columns) if column[:2] == key])
            for key in {column[:2] for column in self._columns}
        }
        self.version = self._make_version()

    def _make_version(self) -> str:
        # Non-default settings change the output: give them their own cache space.
        version = self.base_version
        if self.sample_rate != 44100:
            version += f"+sr={self.sample_rate or 'native'}"
        if self.max_duration != 600.0:
            version += f"+max={self.max_duration or 'all'}"
        return version

    @property
    def columns(self) -> pd.MultiIndex:
        """FMA's column index for the output vector."""
        return self._columns

    @property
    def feature_names(self) -> list[str]:
        """``"feature/statistics/number"``, e.g. ``"mfcc/mean/01"``, in FMA's order."""
        return list(self._names)

    def load(self, path: str | PathLike) -> tuple[np.ndarray, int]:
        return load_centred(
            path,
            sr=self.sample_rate,
            max_duration=self.max_duration,
            clip_duration=self.max_duration,
        )

    def extract_frame_features(self, y: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        """The frame-wise features before summarising (for inspection and tests).

        Audio at another rate than ``sample_rate`` (when that is set) is resampled first.
        """
        return frame_features(*self._prepare(y, sr))

    def extract_waveform(self, y: np.ndarray, sr: int) -> np.ndarray:
        frames = self.extract_frame_features(y, sr)
        vector = np.full(len(self._columns), np.nan, dtype=np.float32)
        for feature, matrix in frames.items():
            for statistic, row in summarise(matrix).items():
                vector[self._positions[feature, statistic]] = row
        return self._finish(vector)
