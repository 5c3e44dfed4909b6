"""The track-level musicnn embedding extractor."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf

from music_reclass.errors import TooShortError
from music_reclass.features import get_extractor

torch = pytest.importorskip("torch")
SR = 16000


@pytest.fixture(scope="module")
def extractor():
    torch.set_num_threads(1)
    return get_extractor("musicnn")


def chord(seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * np.exp(-(t % 1.0))
    return (0.2 * y).astype(np.float32)


def test_layout_names_and_version(extractor):
    from music_reclass.models.musicnn import load_musicnn

    names = extractor.feature_names
    assert extractor.dim == 500 == len(set(names))
    assert names[0] == "msd_penult_000" and names[200] == "mtt_penult_000"
    assert names[400] == "msd_tag_rock"  # MSD's first tag
    assert names[450].startswith("mtt_tag_")
    assert load_musicnn("MSD_musicnn").version in extractor.version
    assert load_musicnn("MTT_musicnn").version in extractor.version


def test_embedding_is_the_patch_mean_of_both_models(extractor):
    from music_reclass.models.musicnn import load_musicnn

    y = chord(9.5)  # three patches
    vector = extractor.extract_waveform(y, SR)
    assert vector.shape == (500,) and vector.dtype == np.float32
    msd = load_musicnn("MSD_musicnn").extract(waveform=y)
    mtt = load_musicnn("MTT_musicnn").extract(waveform=y)
    assert msd["penultimate"].shape[0] == 3
    expected = np.concatenate(
        [
            msd["penultimate"].mean(axis=0),
            mtt["penultimate"].mean(axis=0),
            msd["taggram"].mean(axis=0),
            mtt["taggram"].mean(axis=0),
        ]
    )
    np.testing.assert_allclose(vector, expected, rtol=1e-5, atol=1e-6)
    tags = vector[400:]
    assert np.all((tags >= 0) & (tags <= 1))


def test_other_rates_are_resampled(extractor):
    import soxr

    y44 = chord(4.0, sr=44100)
    at_44k = extractor.extract_waveform(y44, 44100)
    resampled = soxr.resample(y44, 44100, SR, quality="HQ").astype(np.float32)
    np.testing.assert_allclose(at_44k, extractor.extract_waveform(resampled, SR), rtol=1e-6)
    # and it describes the same sound as the chord synthesised at 16 kHz
    assert np.corrcoef(at_44k, extractor.extract_waveform(chord(4.0), SR))[0, 1] > 0.99


def test_too_short_raises(extractor):
    with pytest.raises(TooShortError):
        extractor.extract_waveform(chord(1.0), SR)


def test_extract_reads_the_bounded_excerpt(extractor, tmp_path):
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.models.musicnn import MUSICNN_INPUT

    path = tmp_path / "long.wav"
    sf.write(path, chord(60.0, sr=22050), 22050)
    excerpt = load_excerpt(path, MUSICNN_INPUT)
    assert not excerpt.whole  # a 60 s file is analysed on segments
    np.testing.assert_array_equal(
        extractor.extract(path), extractor.extract_waveform(excerpt.waveform, SR)
    )


def test_pickles_without_models(extractor):
    extractor.extract_waveform(chord(3.5), SR)  # models loaded
    payload = pickle.dumps(extractor)
    assert len(payload) < 10_000
    clone = pickle.loads(payload)
    np.testing.assert_array_equal(
        clone.extract_waveform(chord(3.5), SR), extractor.extract_waveform(chord(3.5), SR)
    )
