"""Parity of the PyTorch musicnn port with the ORIGINAL musicnn 0.1.0 (TensorFlow).

The references in ../shared/musicnn-reference were produced by the unmodified PyPI
musicnn 0.1.0 (TF 2.21 in v1 mode, NumPy 1.26, librosa 0.8.1) on 13 inputs x 2 models.

Tolerances (measured maxima over all 26 files, from log-mel / from waveform, in brackets):
taggram 1e-5 (4.0e-6 / 4.4e-6), logits 1e-4 (3.6e-5), penultimate 5e-5 (1.6e-5),
mean_pool 3e-4 (7.4e-5), max_pool 3e-3 (5.3e-4 / 1.05e-3; values reach ~130, so this is
~1e-5 relative). The waveform path also goes through our log-mel, whose float16 rounding
step flips a few dozen of ~2 million values by one float16 step (max 4.2e-4).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from music_reclass.models.musicnn import load_musicnn, log_mel

pytestmark = pytest.mark.shared

SIGNALS = (
    "chirp50-7k_a0.1_15s",
    "noise_std0.1_10s",
    "real_TRWJAZW128F42760DD_test",
    "real_blues.00000",
    "real_classical.00000",
    "real_hiphop.00000",
    "real_joram-moments_of_clarity-08-solipsism-59",
    "real_metal.00000",
    "real_pop.00000",
    "silence_5s",
    "sine440_a0.05_10s",
    "synth_music_peak0.1_30s",
    "synth_music_peak0.9_30s",
)
MODELS = ("MSD_musicnn", "MTT_musicnn")
CASES = [(signal, model) for signal in SIGNALS for model in MODELS]
TOLERANCES = {
    "taggram": 1e-5,
    "logits": 1e-4,
    "penultimate": 5e-5,
    "mean_pool": 3e-4,
    "max_pool": 3e-3,
}


@cache
def _reference(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


@cache
def _our_log_mel(path: Path) -> np.ndarray:
    return log_mel(_reference(path)["waveform"])


@cache
def _ported(path: Path, model: str, source: str) -> dict[str, np.ndarray]:
    """Outputs from the reference log-mel, or from the waveform through our log-mel
    (``extract(waveform=w)`` is ``extract(logmel=log_mel(w))``, checked bit for bit in
    test_musicnn.py; computing the log-mel once keeps this file fast)."""
    reference = _reference(path)
    net = load_musicnn(model)
    if source == "logmel":
        return net.extract(logmel=reference["logmel"])
    return net.extract(logmel=_our_log_mel(path))


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The test machine is shared: one thread per test process avoids oversubscription."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _case_path(shared_dir: Path, signal: str, model: str) -> Path:
    path = shared_dir / "musicnn-reference" / f"{signal}__{model}.npz"
    if not path.is_file():
        pytest.skip(f"{path.name} not in {path.parent}")
    return path


def test_reference_folder_holds_exactly_the_tested_files(shared_dir: Path) -> None:
    found = {path.name for path in (shared_dir / "musicnn-reference").glob("*.npz")}
    assert found == {f"{signal}__{model}.npz" for signal, model in CASES}


@pytest.mark.parametrize(("signal", "model"), CASES)
def test_log_mel_matches_original(shared_dir: Path, signal: str, model: str) -> None:
    path = _case_path(shared_dir, signal, model)
    reference = _reference(path)
    ours = _our_log_mel(path)
    assert ours.shape == reference["logmel"].shape
    assert ours.dtype == np.float32
    difference = np.abs(ours - reference["logmel"])
    # differences only where float16 rounding of the mel power lands on the other side
    assert difference.max() <= 1e-3
    assert np.mean(difference > 1e-5) <= 1e-4


@pytest.mark.parametrize("source", ["logmel", "waveform"])
@pytest.mark.parametrize(("signal", "model"), CASES)
def test_outputs_match_original(shared_dir: Path, signal: str, model: str, source: str) -> None:
    path = _case_path(shared_dir, signal, model)
    reference = _reference(path)
    ours = _ported(path, model, source)
    assert np.array_equal(ours["taggram"].shape, reference["taggram"].shape)
    assert len(reference["patch_starts"]) == len(ours["taggram"])
    for key, tolerance in TOLERANCES.items():
        assert ours[key].shape == reference[key].shape, key
        error = float(np.abs(ours[key] - reference[key]).max())
        assert error <= tolerance, f"{key}: max |diff| {error:.2e} > {tolerance:.0e}"


@pytest.mark.parametrize("source", ["logmel", "waveform"])
@pytest.mark.parametrize(("signal", "model"), CASES)
def test_top5_tags_match_original(shared_dir: Path, signal: str, model: str, source: str) -> None:
    path = _case_path(shared_dir, signal, model)
    reference = _reference(path)
    ours = _ported(path, model, source)
    net = load_musicnn(model)
    assert list(net.labels) == [str(label) for label in reference["labels"]]
    expected = [net.labels[i] for i in np.argsort(-reference["tags_mean"])[:5]]
    got = [net.labels[i] for i in np.argsort(-ours["taggram"].mean(axis=0))[:5]]
    assert got == expected
