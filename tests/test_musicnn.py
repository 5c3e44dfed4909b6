"""Unit tests of the musicnn port: front end, network, wrapper, weights, converter.

No shared data needed; audio is synthesised here. Parity with the original TensorFlow
model is in test_musicnn_parity.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from music_reclass.errors import AudioError, ModelError, ParameterError, TooShortError
from music_reclass.models.musicnn import (
    MODEL_NAMES,
    N_FRAMES,
    N_MELS,
    SR,
    load_musicnn,
    log_mel,
    make_patches,
    mel_filterbank,
)
from music_reclass.models.musicnn.model import MIN_SAMPLES, WEIGHTS_DIR

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "convert_musicnn_weights.py"
OUTPUT_DIMS = {"taggram": 50, "logits": 50, "penultimate": 200, "max_pool": 753, "mean_pool": 753}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The test machine is shared: one thread per test process avoids oversubscription."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def music_like(rng: np.random.Generator) -> np.ndarray:
    """10 s of decaying harmonic notes over noise: varied content in every patch."""
    t = np.arange(10 * SR) / SR
    signal = 0.01 * rng.standard_normal(t.size)
    for start, f0 in zip(np.arange(0, 10, 0.5), rng.uniform(110, 880, 20), strict=True):
        envelope = np.where(t >= start, np.exp(-(t - start) * 3), 0.0)
        for harmonic in range(1, 5):
            signal += envelope * np.sin(2 * np.pi * f0 * harmonic * t) * 0.2 / harmonic
    return (signal / np.abs(signal).max() * 0.5).astype(np.float32)


def _load_script():
    spec = importlib.util.spec_from_file_location("convert_musicnn_weights", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ log-mel front end
def test_log_mel_shape_and_dtype(music_like: np.ndarray) -> None:
    for n in (1000, 47616, 160000, 160255):
        out = log_mel(music_like[:n])
        assert out.shape == (1 + n // 256, N_MELS)
        assert out.dtype == np.float32


def test_log_mel_sine_energy_in_the_right_band() -> None:
    import librosa

    centres = librosa.mel_frequencies(N_MELS + 2, fmin=0.0, fmax=SR / 2, htk=False)[1:-1]
    for frequency in (250.0, 1000.0, 3000.0):
        t = np.arange(2 * SR) / SR
        sine = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
        band = int(np.argmax(log_mel(sine)[5:-5].mean(axis=0)))
        nearest = int(np.argmin(np.abs(centres - frequency)))
        assert abs(band - nearest) <= 1, (frequency, band, nearest)


def test_log_mel_of_silence_is_zero() -> None:
    assert not log_mel(np.zeros(SR, dtype=np.float32)).any()


def test_mel_filterbank_equals_librosa_slaney() -> None:
    import librosa

    expected = librosa.filters.mel(sr=SR, n_fft=512, n_mels=N_MELS)
    assert mel_filterbank().shape == (N_MELS, 257)
    np.testing.assert_allclose(mel_filterbank(), expected, atol=1e-7, rtol=1e-6)


def test_log_mel_matches_librosa_with_reflect_padding(music_like: np.ndarray) -> None:
    import librosa

    mel = librosa.feature.melspectrogram(
        y=music_like, sr=SR, n_fft=512, hop_length=256, n_mels=N_MELS, pad_mode="reflect"
    ).T
    expected = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    difference = np.abs(log_mel(music_like) - expected)
    # only float16 rounding ties may differ, by one float16 step
    assert difference.max() < 1e-3
    assert np.mean(difference > 1e-5) < 1e-3


def test_log_mel_edges_use_reflect_not_zero_padding(music_like: np.ndarray) -> None:
    import librosa

    zero_padded = librosa.feature.melspectrogram(
        y=music_like, sr=SR, n_fft=512, hop_length=256, n_mels=N_MELS, pad_mode="constant"
    ).T
    ours = log_mel(music_like)
    expected_zero = np.log10(10000 * zero_padded.astype(np.float16).astype(np.float32) + 1)
    assert np.abs(ours[0] - expected_zero[0]).max() > 1e-2


def test_log_mel_loud_audio_does_not_overflow() -> None:
    t = np.arange(SR) / SR
    loud = np.sin(2 * np.pi * 440 * t).astype(
        np.float32
    )  # mel power >> 6.55 (float16 * 1e4 overflows)
    out = log_mel(loud)
    assert np.isfinite(out).all()
    assert out.max() > np.log10(10000 * 6.55 + 1)


@pytest.mark.parametrize(
    ("waveform", "sr"),
    [
        (np.zeros(SR, dtype=np.float32), 22050),
        (np.zeros((2, SR), dtype=np.float32), SR),
        (np.array([0.0, np.nan, 0.0] * 1000, dtype=np.float32), SR),
        (np.zeros(1, dtype=np.float32), SR),
        (np.zeros(SR, dtype=np.int16), SR),
    ],
)
def test_log_mel_rejects_bad_input(waveform: np.ndarray, sr: int) -> None:
    with pytest.raises(ParameterError):
        log_mel(waveform, sr=sr)


# ------------------------------------------------------------------ patches
def test_make_patches_back_to_back_tail_dropped(rng: np.random.Generator) -> None:
    logmel = rng.random((3 * N_FRAMES + 50, N_MELS), dtype=np.float32)
    patches = make_patches(logmel)
    assert patches.shape == (3, N_FRAMES, N_MELS)
    for index in range(3):
        np.testing.assert_array_equal(
            patches[index], logmel[index * N_FRAMES : (index + 1) * N_FRAMES]
        )


def test_make_patches_too_short() -> None:
    with pytest.raises(TooShortError):
        make_patches(np.zeros((N_FRAMES - 1, N_MELS), dtype=np.float32))
    with pytest.raises(ParameterError):
        make_patches(np.zeros((400, 95), dtype=np.float32))


# ------------------------------------------------------------------ loading and weights
def test_load_is_cached_and_describes_the_model() -> None:
    for name in MODEL_NAMES:
        net = load_musicnn(name)
        assert net is load_musicnn(name)
        assert net.name == name
        assert len(net.labels) == 50 and len(set(net.labels)) == 50
        assert net.version.startswith("musicnn-0.1.0-torch-")
        assert not net.network.training
    assert load_musicnn("MSD_musicnn").labels[:3] == ("rock", "pop", "alternative")
    assert load_musicnn("MTT_musicnn").labels[:3] == ("guitar", "classical", "slow")


def test_unknown_model_name() -> None:
    with pytest.raises(ParameterError):
        load_musicnn("MSD_vgg")


def test_shipped_weights_match_their_sidecars() -> None:
    for name in MODEL_NAMES:
        sidecar = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        weights = WEIGHTS_DIR / f"{name}.safetensors"
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == sidecar["safetensors_sha256"]
        assert len(sidecar["source"]["wheel_sha256"]) == 64
        assert isinstance(sidecar["converter_version"], int)
        assert 1e6 < weights.stat().st_size < 5e6  # inference variables only, no Adam slots
    license_text = (WEIGHTS_DIR / "LICENSE.musicnn.md").read_text()
    assert "ISC" in license_text and "Universitat Pompeu Fabra" in license_text


def test_safetensors_hold_only_float32_inference_tensors() -> None:
    from safetensors.numpy import load_file

    tensors = load_file(str(WEIGHTS_DIR / "MSD_musicnn.safetensors"))
    assert all(value.dtype == np.float32 for value in tensors.values())
    assert not any("Adam" in key for key in tensors)
    assert tensors["timbral_74.conv.weight"].shape == (204, 1, 7, 38)
    assert tensors["timbral_77.conv.weight"].shape == (204, 1, 7, 67)
    assert tensors["temporal_128.conv.weight"].shape == (51, 1, 128, 1)
    assert tensors["midend_1.conv.weight"].shape == (64, 561, 7)
    assert tensors["dense.linear.weight"].shape == (200, 1506)
    assert tensors["pool_bn.running_var"].shape == (1506,)


@pytest.fixture
def weights_copy(tmp_path: Path) -> Path:
    target = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, target)
    return target


def test_damaged_weights_raise_model_error(weights_copy: Path) -> None:
    path = weights_copy / "MTT_musicnn.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_musicnn("MTT_musicnn", weights_dir=weights_copy)


def test_missing_weights_raise_model_error(weights_copy: Path) -> None:
    (weights_copy / "MSD_musicnn.safetensors").unlink()
    with pytest.raises(ModelError):
        load_musicnn("MSD_musicnn", weights_dir=weights_copy)
    (weights_copy / "MTT_musicnn.json").write_text("{not json")
    with pytest.raises(ModelError):
        load_musicnn("MTT_musicnn", weights_dir=weights_copy)


# ------------------------------------------------------------------ extraction
def test_extract_shapes_and_ranges(music_like: np.ndarray) -> None:
    net = load_musicnn("MSD_musicnn")
    out = net.extract(waveform=music_like)
    n_patches = (1 + music_like.size // 256) // N_FRAMES
    assert n_patches == 3
    for key, dim in OUTPUT_DIMS.items():
        assert out[key].shape == (n_patches, dim), key
        assert out[key].dtype == np.float32
        assert np.isfinite(out[key]).all()
    np.testing.assert_allclose(
        out["taggram"], 1 / (1 + np.exp(-out["logits"].astype(np.float64))), atol=1e-6
    )
    assert (out["max_pool"] >= out["mean_pool"] - 1e-5).all()


def test_extract_same_result_from_waveform_logmel_and_patches(music_like: np.ndarray) -> None:
    net = load_musicnn("MTT_musicnn")
    logmel = log_mel(music_like)
    from_waveform = net.extract(waveform=music_like)
    from_logmel = net.extract(logmel=logmel)
    from_patches = net.extract(patches=make_patches(logmel))
    for key in OUTPUT_DIMS:
        np.testing.assert_array_equal(from_waveform[key], from_logmel[key])
        np.testing.assert_array_equal(from_logmel[key], from_patches[key])


def test_extract_is_deterministic(music_like: np.ndarray) -> None:
    net = load_musicnn("MSD_musicnn")
    first = net.extract(waveform=music_like)
    second = net.extract(waveform=music_like)
    for key in OUTPUT_DIMS:
        np.testing.assert_array_equal(first[key], second[key])


def test_patches_are_independent(music_like: np.ndarray) -> None:
    """Each patch gets its own features (the PyPI extractor repeated patch 0's)."""
    net = load_musicnn("MSD_musicnn")
    patches = make_patches(log_mel(music_like))
    together = net.extract_patches(patches, batch_size=8)
    one_by_one = net.extract_patches(patches, batch_size=1)
    reversed_order = net.extract_patches(patches[::-1].copy())
    # batching changes matmul blocking, hence float rounding, nothing more
    for key in OUTPUT_DIMS:
        np.testing.assert_allclose(together[key], one_by_one[key], atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(together[key], reversed_order[key][::-1], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(together["taggram"], one_by_one["taggram"], atol=1e-6)
    assert np.abs(together["penultimate"][1] - together["penultimate"][0]).max() > 1e-2


def test_extract_too_short_is_a_clear_error() -> None:
    net = load_musicnn("MSD_musicnn")
    short = np.zeros(MIN_SAMPLES - 1, dtype=np.float32)
    with pytest.raises(TooShortError) as info:
        net.extract(waveform=short)
    assert isinstance(info.value, AudioError) and info.value.code == "too-short"
    with pytest.raises(TooShortError):
        net.extract(logmel=np.zeros((N_FRAMES - 1, N_MELS), dtype=np.float32))
    assert net.extract(waveform=np.zeros(MIN_SAMPLES, dtype=np.float32))["taggram"].shape == (1, 50)


def test_extract_needs_exactly_one_input(music_like: np.ndarray) -> None:
    net = load_musicnn("MSD_musicnn")
    with pytest.raises(ParameterError):
        net.extract()
    with pytest.raises(ParameterError):
        net.extract(waveform=music_like, logmel=log_mel(music_like))
    with pytest.raises(ParameterError):
        net.extract(patches=np.zeros((2, 100, N_MELS), dtype=np.float32))
    with pytest.raises(ParameterError):
        net.extract_patches(np.zeros((1, N_FRAMES, N_MELS), dtype=np.float32), batch_size=0)


# ------------------------------------------------------------------ network internals
def test_fast_path_equals_reference_path(music_like: np.ndarray, rng: np.random.Generator) -> None:
    """The FFT/matmul front end agrees with plain TF-style convolutions."""
    net = load_musicnn("MTT_musicnn").network
    patches = make_patches(log_mel(music_like))
    noise = rng.uniform(0, 5, (2, N_FRAMES, N_MELS)).astype(np.float32)
    batch = torch.from_numpy(np.concatenate([patches, noise]))
    with torch.inference_mode():
        fast, reference = net(batch), net.forward_reference(batch)
    assert (fast["taggram"] - reference["taggram"]).abs().max() < 1e-5
    assert (fast["penultimate"] - reference["penultimate"]).abs().max() < 5e-5
    assert (fast["mean_pool"] - reference["mean_pool"]).abs().max() < 3e-4
    assert (fast["max_pool"] - reference["max_pool"]).abs().max() < 3e-3


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_temporal_padding_is_tf_same_extra_pad_at_the_end() -> None:
    """TF 'same' puts the odd pad of an even kernel at the end, like torch's 'same'."""
    net = load_musicnn("MSD_musicnn").network
    block = net.temporal_64
    x = torch.zeros(1, 1, N_FRAMES, N_MELS)
    x[0, 0, 100, 10] = 1.0  # an impulse
    padded = F.pad(x, (0, 0, 31, 32))
    ours = F.conv2d(padded, block.conv.weight, block.conv.bias)
    same = F.conv2d(x, block.conv.weight, block.conv.bias, padding="same")
    torch.testing.assert_close(ours, same)
    # the impulse at t=100 meets kernel tap j at output t = 100 - j + 31
    weight = block.conv.weight[:, 0, :, 0]
    torch.testing.assert_close(ours[0, :, 100 + 31 - 5, 10] - block.conv.bias, weight[:, 5])


# ------------------------------------------------------------------ converter
def test_converter_crc32c_and_layouts() -> None:
    convert = _load_script()
    assert convert.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    kernel = np.arange(7 * 38 * 204, dtype=np.float32).reshape(7, 38, 1, 204)
    dense = np.arange(1506 * 200, dtype=np.float32).reshape(1506, 200)
    midend = np.arange(7 * 561 * 64, dtype=np.float32).reshape(7, 561, 1, 64)
    out = convert.tf_to_torch(
        {
            "conv2d/kernel": kernel,
            "dense/kernel": dense,
            "conv2d_5/kernel": midend,
            "batch_normalization_9/moving_variance": np.ones(1506, dtype=np.float32),
        }
    )
    assert out["timbral_74.conv.weight"][5, 0, 3, 7] == kernel[3, 7, 0, 5]
    assert out["dense.linear.weight"][9, 100] == dense[100, 9]
    assert out["midend_1.conv.weight"][2, 300, 6] == midend[6, 300, 0, 2]
    assert out["pool_bn.running_var"].shape == (1506,)


def test_converter_reads_a_tensor_bundle_index() -> None:
    """A hand-built one-block SSTable with one BundleEntryProto parses back."""
    convert = _load_script()
    data = np.arange(6, dtype="<f4").tobytes()
    shape = bytes([0x12, 0x02, 0x08, 0x02, 0x12, 0x02, 0x08, 0x03])  # dims 2, 3
    crc = convert.masked_crc32c(data)
    entry = bytes([0x08, 0x01, 0x12, len(shape)]) + shape + bytes([0x28, len(data), 0x35])
    entry += crc.to_bytes(4, "little")
    key = b"layer/kernel"
    block = bytes([0, len(key), len(entry)]) + key + entry
    block += (0).to_bytes(4, "little") + (1).to_bytes(4, "little")  # restarts [0], count 1
    data_block = block + b"\x00\x00\x00\x00\x00"  # compression byte + crc
    index_entry = bytes([0, 1, 2]) + b"m" + bytes([0, len(block)])
    index_block = index_entry + (0).to_bytes(4, "little") + (1).to_bytes(4, "little")
    index_offset = len(data_block)
    footer = bytes([0, 0, index_offset, len(index_block)])
    footer += b"\x00" * (40 - len(footer)) + convert.SSTABLE_MAGIC.to_bytes(8, "little")
    table = data_block + index_block + b"\x00\x00\x00\x00\x00" + footer
    tensors = convert.read_checkpoint(table, data, ["layer/kernel"])
    np.testing.assert_array_equal(
        tensors["layer/kernel"], np.arange(6, dtype=np.float32).reshape(2, 3)
    )
    with pytest.raises(ValueError, match="crc32c"):
        convert.read_checkpoint(table, data[:-1] + b"\x01", ["layer/kernel"])


@pytest.mark.parametrize("amplitude", [12.0, 50.0, 64.0])
def test_log_mel_saturates_on_very_loud_float_audio(amplitude):
    # Float WAVs can hold peaks far past full scale; float16 rounding of the mel power
    # must not turn them into inf (the tags of every patch would become NaN).
    from music_reclass.models.musicnn import log_mel

    t = np.arange(16000 * 4) / 16000
    loud = (amplitude * np.sign(np.sin(2 * np.pi * 220 * t))).astype(np.float32)
    logmel = log_mel(loud)
    assert np.isfinite(logmel).all()
    assert logmel.max() == pytest.approx(np.log10(10000 * 65504.0 + 1), rel=1e-6)
