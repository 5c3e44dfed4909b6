"""Feature values on synthetic signals make physical sense."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from music_reclass.errors import TooShortError
from music_reclass.features import get_extractor
from music_reclass.features.fma518 import FMA518Extractor, summarise
from music_reclass.features.gtzan58 import GTZAN58_COLUMNS

SR = 22050


def tone(freq: float, *, seconds: float = 4.0, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def clicks(bpm: float, *, seconds: float = 8.0, sr: int = SR) -> np.ndarray:
    """Short decaying noise bursts on every beat."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    burst = np.random.default_rng(0).standard_normal(int(0.03 * sr)) * np.exp(
        -np.arange(int(0.03 * sr)) / (0.005 * sr)
    )
    for start in np.arange(0, seconds - 0.05, 60.0 / bpm):
        i = int(start * sr)
        y[i : i + len(burst)] += 0.8 * burst.astype(np.float32)
    return y


def gtzan(y: np.ndarray, sr: int = SR) -> dict[str, float]:
    values = get_extractor("gtzan58").extract_waveform(y, sr)
    assert values.dtype == np.float32 and values.shape == (58,)
    return dict(zip(GTZAN58_COLUMNS, values.tolist(), strict=True))


def fma(y: np.ndarray, sr: int = SR, **kwargs) -> dict[tuple[str, str, str], float]:
    extractor = FMA518Extractor(**kwargs)
    values = extractor.extract_waveform(y, sr)
    assert values.dtype == np.float32 and values.shape == (518,)
    return dict(zip(extractor.columns, values.tolist(), strict=True))


# -- gtzan58 -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gtzan_tone():
    return gtzan(tone(1000.0))


def test_gtzan58_tone_centroid_zcr_rms_length(gtzan_tone):
    assert gtzan_tone["length"] == 4 * SR
    assert gtzan_tone["spectral_centroid_mean"] == pytest.approx(1000.0, rel=0.02)
    # a sine crosses zero twice per period
    assert gtzan_tone["zero_crossing_rate_mean"] == pytest.approx(2 * 1000.0 / SR, rel=0.02)
    assert gtzan_tone["rms_mean"] == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert gtzan_tone["rolloff_mean"] == pytest.approx(1000.0, rel=0.05)
    # a steady tone is harmonic, not percussive
    assert gtzan_tone["harmony_var"] > 10 * gtzan_tone["perceptr_var"]


def test_gtzan58_centroid_follows_frequency():
    low, high = gtzan(tone(500.0, seconds=2.0)), gtzan(tone(3000.0, seconds=2.0))
    assert low["spectral_centroid_mean"] == pytest.approx(500.0, rel=0.03)
    assert high["spectral_centroid_mean"] == pytest.approx(3000.0, rel=0.02)


def test_gtzan58_click_track_tempo_and_percussion():
    values = gtzan(clicks(120.0))
    assert values["tempo"] == pytest.approx(120.0, rel=0.03)
    assert values["perceptr_var"] > values["harmony_var"]


def test_gtzan58_resamples_other_rates():
    at_44k = gtzan(tone(1000.0, seconds=2.0, sr=44100), sr=44100)
    assert at_44k["length"] == 2 * SR  # counted at the table's 22050 Hz
    assert at_44k["spectral_centroid_mean"] == pytest.approx(1000.0, rel=0.02)


def test_gtzan58_silence_is_finite():
    values = gtzan(np.zeros(2 * SR, dtype=np.float32))
    assert all(np.isfinite(v) for v in values.values())
    assert values["rms_mean"] == 0.0 and values["zero_crossing_rate_mean"] == 0.0


# -- fma518 --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fma_a440_native():
    return fma(tone(440.0), sample_rate=None)


def test_fma518_tone_at_librosa_default_rate(fma_a440_native):
    values = fma_a440_native
    assert values["spectral_centroid", "mean", "01"] == pytest.approx(440.0, rel=0.03)
    assert values["zcr", "mean", "01"] == pytest.approx(2 * 440.0 / SR, rel=0.03)
    assert values["zcr", "min", "01"] <= values["zcr", "median", "01"] <= values["zcr", "max", "01"]
    assert values["mfcc", "std", "05"] >= 0


@pytest.mark.parametrize("chroma", ["chroma_stft", "chroma_cqt", "chroma_cens"])
def test_fma518_chroma_peaks_at_pitch_class_a(fma_a440_native, chroma):
    means = [fma_a440_native[chroma, "mean", f"{i:02d}"] for i in range(1, 13)]
    assert int(np.argmax(means)) == 9  # C=0 ... A=9: number "10"


def test_fma518_reproduces_fma_sr_quirk_at_44k():
    # FMA called spectral_centroid without sr, so librosa assumed 22050 Hz: on
    # 44.1 kHz audio the published centroid is half the true frequency.
    values = fma(tone(2000.0, seconds=3.0, sr=44100), sr=44100)
    assert values["spectral_centroid", "mean", "01"] == pytest.approx(1000.0, rel=0.03)
    assert values["zcr", "mean", "01"] == pytest.approx(2 * 2000.0 / 44100, rel=0.03)


def test_fma518_silence_is_finite_with_fma_constant_statistics():
    values = fma(np.zeros(2 * SR, dtype=np.float32), sample_rate=None)
    assert all(np.isfinite(v) for v in values.values())
    assert values["zcr", "skew", "01"] == 0.0
    assert values["zcr", "kurtosis", "01"] == -3.0


def test_summarise_matches_numpy_and_scipy():
    from scipy import stats

    rng = np.random.default_rng(1)
    data = rng.gamma(2.0, size=(3, 500))
    summary = summarise(data)
    np.testing.assert_allclose(summary["mean"], data.mean(axis=1))
    np.testing.assert_allclose(summary["std"], data.std(axis=1))
    np.testing.assert_allclose(summary["skew"], stats.skew(data, axis=1))
    np.testing.assert_allclose(summary["kurtosis"], stats.kurtosis(data, axis=1))
    np.testing.assert_allclose(summary["median"], np.median(data, axis=1))
    assert np.all(summary["skew"] > 0.5)  # a gamma(2) is right-skewed


# -- from files ----------------------------------------------------------------------


def test_extract_from_file_equals_extract_waveform(tmp_path):
    y = tone(660.0, seconds=2.0)
    path = tmp_path / "tone.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    extractor = get_extractor("gtzan58")
    np.testing.assert_allclose(
        extractor.extract(path), extractor.extract_waveform(y, SR), rtol=1e-6
    )


def test_long_file_is_cropped_to_its_central_clip(tmp_path):
    # 40 s: first and last 5 s loud noise, middle 30 s a quiet tone
    noise = np.random.default_rng(2).uniform(-0.9, 0.9, 5 * SR).astype(np.float32)
    y = np.concatenate([noise, tone(1000.0, seconds=30.0, amplitude=0.1), noise])
    path = tmp_path / "long.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    values = dict(zip(GTZAN58_COLUMNS, get_extractor("gtzan58").extract(path), strict=True))
    assert values["length"] == 30 * SR
    assert values["spectral_centroid_mean"] == pytest.approx(1000.0, rel=0.05)


def test_too_short_file_raises(tmp_path):
    path = tmp_path / "blip.wav"
    sf.write(path, tone(440.0, seconds=0.05), SR)
    with pytest.raises(TooShortError):
        get_extractor("gtzan58").extract(path)


def test_fma518_and_gtzan58_agree_where_their_definitions_coincide():
    # At 22050 Hz both compute MFCC, centroid, rolloff, ZCR and chroma_stft from the
    # same reflect-padded 2048/512 STFT, so their means must agree.
    rng = np.random.default_rng(3)
    y = tone(330.0, seconds=3.0) + 0.05 * rng.standard_normal(3 * SR).astype(np.float32)
    g, f = gtzan(y), fma(y, sample_rate=None)
    pairs = {
        "spectral_centroid_mean": ("spectral_centroid", "mean", "01"),
        "spectral_bandwidth_mean": ("spectral_bandwidth", "mean", "01"),
        "rolloff_mean": ("spectral_rolloff", "mean", "01"),
        "zero_crossing_rate_mean": ("zcr", "mean", "01"),
        **{f"mfcc{i}_mean": ("mfcc", "mean", f"{i:02d}") for i in range(1, 21)},
    }
    for gtzan_name, fma_column in pairs.items():
        assert f[fma_column] == pytest.approx(g[gtzan_name], rel=1e-4, abs=1e-4), gtzan_name
    assert f["mfcc", "std", "03"] ** 2 == pytest.approx(g["mfcc3_var"], rel=1e-3)
    chroma = np.mean([f["chroma_stft", "mean", f"{i:02d}"] for i in range(1, 13)])
    assert chroma == pytest.approx(g["chroma_stft_mean"], rel=1e-4)
