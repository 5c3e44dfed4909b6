"""Feature extractor registry, names, order and dimensions."""

from __future__ import annotations

import numpy as np
import pytest

from music_reclass.errors import ParameterError
from music_reclass.features import (
    FeatureExtractor,
    available_extractors,
    fma518_columns,
    get_extractor,
    register_extractor,
)
from music_reclass.features.fma518 import FEATURE_SIZES, STATISTICS, FMA518Extractor
from music_reclass.features.gtzan58 import GTZAN58Extractor

SORTED_STATISTICS = ["kurtosis", "max", "mean", "median", "min", "skew", "std"]


def test_builtin_extractors_are_available():
    names = available_extractors()
    assert {"fma518", "gtzan58", "musicnn"} <= set(names)
    assert names == sorted(names)


def test_unknown_extractor_raises_parameter_error():
    with pytest.raises(ParameterError, match="unknown feature extractor"):
        get_extractor("no-such-extractor")


def test_get_extractor_returns_one_shared_instance():
    assert get_extractor("gtzan58") is get_extractor("gtzan58")
    assert isinstance(get_extractor("fma518"), FMA518Extractor)


class _Constant(FeatureExtractor):
    name = "test-constant"
    version = "1"
    sample_rate = 8000

    @property
    def feature_names(self):
        return ["a", "b"]

    def load(self, path):
        raise NotImplementedError

    def extract_waveform(self, y, sr):
        return self._finish([1.0, 2.0])


def test_register_extractor_and_refuse_duplicates():
    register_extractor("test-constant", _Constant, overwrite=True)
    extractor = get_extractor("test-constant")
    assert isinstance(extractor, _Constant)
    assert extractor.dim == 2
    assert "test-constant" in available_extractors()
    with pytest.raises(ParameterError, match="already registered"):
        register_extractor("test-constant", _Constant)
    with pytest.raises(ParameterError):
        register_extractor("gtzan58", _Constant)


def test_fma518_columns_follow_fma_sorted_order():
    columns = fma518_columns()
    tuples = list(columns)
    assert len(tuples) == 518 == len(set(tuples))
    assert columns.names == ["feature", "statistics", "number"]
    # FMA sorts its MultiIndex lexicographically on all three levels
    assert tuples == sorted(tuples)
    assert tuples[0] == ("chroma_cens", "kurtosis", "01")
    assert tuples[-1] == ("zcr", "std", "01")
    features = list(dict.fromkeys(t[0] for t in tuples))
    assert features == [
        "chroma_cens", "chroma_cqt", "chroma_stft", "mfcc", "rmse", "spectral_bandwidth",
        "spectral_centroid", "spectral_contrast", "spectral_rolloff", "tonnetz", "zcr",
    ]  # fmt: skip
    mfcc_stats = list(dict.fromkeys(t[1] for t in tuples if t[0] == "mfcc"))
    assert mfcc_stats == SORTED_STATISTICS
    mfcc_numbers = [t[2] for t in tuples if t[:2] == ("mfcc", "mean")]
    assert mfcc_numbers == [f"{i:02d}" for i in range(1, 21)]
    assert mfcc_numbers[0] == "01" and mfcc_numbers[-1] == "20"
    for feature, size in FEATURE_SIZES.items():
        assert sum(t[0] == feature for t in tuples) == size * len(STATISTICS)


def test_fma518_extractor_metadata():
    extractor = get_extractor("fma518")
    assert extractor.dim == 518
    assert extractor.feature_names[0] == "chroma_cens/kurtosis/01"
    assert extractor.feature_names == ["/".join(t) for t in fma518_columns()]
    assert extractor.sample_rate == 44100
    assert isinstance(extractor.version, str) and extractor.version


def test_non_default_settings_get_their_own_version():
    default = FMA518Extractor()
    native = FMA518Extractor(sample_rate=None)
    assert native.version != default.version
    assert GTZAN58Extractor(max_duration=None).version != GTZAN58Extractor().version
    with pytest.raises(ParameterError):
        FMA518Extractor(sample_rate=-1)
    with pytest.raises(ParameterError):
        GTZAN58Extractor(max_duration=10.0, clip_duration=30.0)


def test_gtzan58_names_and_dim():
    extractor = get_extractor("gtzan58")
    names = extractor.feature_names
    assert extractor.dim == 58 == len(set(names))
    assert names[:3] == ["length", "chroma_stft_mean", "chroma_stft_var"]
    assert names[16] == "perceptr_var" and names[17] == "tempo"
    assert names[18:20] == ["mfcc1_mean", "mfcc1_var"] and names[-1] == "mfcc20_var"
    assert "filename" not in names and "label" not in names


def test_bad_waveforms_raise_parameter_error():
    extractor = get_extractor("gtzan58")
    with pytest.raises(ParameterError, match="mono"):
        extractor.extract_waveform(np.zeros((2, 22050), dtype=np.float32), 22050)
    with pytest.raises(ParameterError, match="float"):
        extractor.extract_waveform(np.zeros(22050, dtype=np.int16), 22050)
    with pytest.raises(ParameterError, match="sr"):
        extractor.extract_waveform(np.zeros(22050, dtype=np.float32), 0)
    with pytest.raises(ParameterError, match="NaN"):
        extractor.extract_waveform(np.full(22050, np.nan, dtype=np.float32), 22050)
