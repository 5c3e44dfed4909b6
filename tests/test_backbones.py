"""Backbones (MERT, OpenJMLA, local Hugging Face models) on tiny randomly initialised
models of the same architectures, built and saved here in the published layouts."""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
import torch  # noqa: E402

from music_reclass.errors import ModelError, TooShortError  # noqa: E402
from music_reclass.features import extract_many, get_extractor  # noqa: E402
from music_reclass.features.backbones.common import load_tensors  # noqa: E402
from music_reclass.features.backbones.hf import hf_extractor  # noqa: E402
from music_reclass.features.backbones.mert import MertBackbone, mert_extractor  # noqa: E402
from music_reclass.features.backbones.openjmla import (  # noqa: E402
    AudioViT,
    OpenJMLABackbone,
    openjmla_extractor,
)

MERT_SHAPE = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 32, "conv_dim": [8] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
              "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_bias": False, "feat_extract_norm": "group",
              "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2,
              "feat_proj_layer_norm": True, "do_stable_layer_norm": False, "layer_norm_eps": 1e-5,
              "hidden_act": "gelu", "feat_extract_activation": "gelu"}


def _tone(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def make_tiny_mert(folder, *, fmt: str = "safetensors", seed: int = 0, **config_changes):
    """A tiny MERT folder as the hub publishes it; returns the reference HubertModel."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    reference = transformers.HubertModel(transformers.HubertConfig(**MERT_SHAPE)).eval()
    state = OrderedDict()
    for key, value in reference.state_dict().items():  # the published (older) weight-norm names
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        state[key] = value.clone().contiguous()
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"))
    else:
        torch.save(state, folder / "pytorch_model.bin")
    config = {**MERT_SHAPE, "model_type": "mert_model", "architectures": ["MERTModel"],
              "auto_map": {"AutoModel": "modeling_MERT.MERTModel"}, "feature_extractor_cqt": False,
              "deepnorm": False, "attention_relax": -1.0, "sample_rate": 24000, **config_changes}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor",
        "feature_size": 1, "padding_side": "right", "padding_value": 0,
        "return_attention_mask": True, "sampling_rate": 24000}))
    return reference


@pytest.fixture
def mert_dir(tmp_path):
    folder = tmp_path / "MERT-v1-95M"
    make_tiny_mert(folder)
    return folder


def test_mert_matches_the_reference_network(mert_dir, tmp_path):
    reference = make_tiny_mert(tmp_path / "again")
    backbone = MertBackbone(mert_dir)
    assert (backbone.sample_rate, backbone.n_layers, backbone.dim) == (24000, 3, 16)
    window = _tone(2.0, 24000)
    normalised = (window - window.mean()) / np.sqrt(window.var() + 1e-7)
    with torch.inference_mode():
        states = reference(torch.from_numpy(normalised[None]), output_hidden_states=True).hidden_states
    expected = torch.stack([s.mean(dim=1) for s in states], dim=1)[0].numpy()
    assert states[0].shape[1] == 2 * 75 - 1  # 75 frames per second at 24 kHz
    np.testing.assert_allclose(backbone.forward_layers(window[None])[0], expected, atol=1e-5)


def test_mert_extractor_shapes_determinism_and_round_trip(mert_dir, tmp_path):
    ex = mert_extractor(mert_dir)
    y = _tone(7.0, 24000)
    vector = ex.extract_waveform(y, 24000)
    assert vector.shape == (16,) and vector.dtype == np.float32 and ex.dim == 16
    np.testing.assert_array_equal(vector, mert_extractor(mert_dir).extract_waveform(y, 24000))
    bin_dir = tmp_path / "bin"
    make_tiny_mert(bin_dir, fmt="bin")
    np.testing.assert_allclose(mert_extractor(bin_dir).extract_waveform(y, 24000), vector, atol=1e-6)
    assert ex.version.startswith("1+mert-") and ex.sample_rate == 24000
    other = tmp_path / "other"
    make_tiny_mert(other, seed=1)
    assert not np.allclose(mert_extractor(other).extract_waveform(y, 24000), vector)


def test_mert_resamples_to_24k(mert_dir):
    import soxr

    ex = mert_extractor(mert_dir)
    y48 = _tone(3.0, 48000)
    at24 = soxr.resample(y48, 48000, 24000, quality="HQ").astype(np.float32)
    np.testing.assert_allclose(ex.extract_waveform(y48, 48000), ex.extract_waveform(at24, 24000),
                               atol=1e-6)
    y16 = _tone(3.0, 16000)
    assert not np.allclose(ex.extract_waveform(y16, 16000), ex.extract_waveform(y16, 24000))


def test_mert_batching_equals_one_by_one(mert_dir):
    ex = mert_extractor(mert_dir)
    waves = [_tone(s, 24000, seed=i) for i, s in enumerate((2.0, 11.5, 5.0, 6.2))]
    batch = ex.extract_batch(waves, 24000)
    for row, wave in zip(batch, waves, strict=True):
        np.testing.assert_allclose(row, ex.extract_waveform(wave, 24000), atol=2e-5)
    with pytest.raises(TooShortError):
        ex.extract_waveform(np.zeros(1000, np.float32) + 0.1, 24000)


def test_layer_choice_changes_the_vector(mert_dir):
    from music_reclass.features.backbones.common import BackboneExtractor

    everything = mert_extractor(mert_dir)
    last = BackboneExtractor("mert", lambda: MertBackbone(mert_dir), layers=[-1])
    y = _tone(3.0, 24000)
    means = everything.backbone.layer_means([y])[0]
    np.testing.assert_allclose(last.extract_waveform(y, 24000), means[-1], atol=1e-6)
    np.testing.assert_allclose(everything.extract_waveform(y, 24000), means.mean(axis=0), atol=1e-6)
    assert last.version != everything.version


def test_missing_weights_say_where_to_put_them(tmp_path):
    with pytest.raises(ModelError, match=r"MERT weights not found: .*empty lacks config.json, "
                                         r"model.safetensors or pytorch_model.bin"):
        MertBackbone(tmp_path / "empty")
    with pytest.raises(ModelError, match="OpenJMLA weights not found"):
        OpenJMLABackbone(tmp_path / "empty")


def test_unsupported_mert_variants_are_refused(tmp_path):
    make_tiny_mert(tmp_path / "cqt", feature_extractor_cqt=True)
    with pytest.raises(ModelError, match="CQT"):
        MertBackbone(tmp_path / "cqt")
    make_tiny_mert(tmp_path / "deep", deepnorm=True)
    with pytest.raises(ModelError, match="DeepNorm"):
        MertBackbone(tmp_path / "deep")


def test_registry_finds_mert_through_the_environment(mert_dir, monkeypatch, tmp_path):
    import soundfile as sf

    from music_reclass.features import registry

    monkeypatch.setenv("RECLASS_MERT_DIR", str(mert_dir))
    monkeypatch.delitem(registry._INSTANCES, "mert", raising=False)
    ex = get_extractor("mert")
    monkeypatch.delitem(registry._INSTANCES, "mert", raising=False)
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], _tone(4.0, 44100, seed=i), 44100)
    first = extract_many(paths, ex, n_jobs=1)
    second = extract_many(paths, ex, n_jobs=1)
    assert first.X.shape == (2, 16) and not first.errors and second.n_cached == 2
    np.testing.assert_array_equal(first.X, second.X)


def _tiny_vit_state(layout: str, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    vit = AudioViT(dim=32, depth=2, heads=2, hidden=64, patch=(16, 16), in_chans=1, n_tokens=8,
                   cls_token=True)
    for p in vit.parameters():
        torch.nn.init.normal_(p, std=0.2)
    state = vit.state_dict()
    if layout == "timm":
        rename = {"patch_embed.": "patch_embed.proj.", "qkv.": "attn.qkv.", "proj.": "attn.proj.",
                  "fc1.": "mlp.fc1.", "fc2.": "mlp.fc2."}
    else:
        rename = {"patch_embed.": "patch_embed.projection.", "norm1.": "ln1.", "norm2.": "ln2.",
                  "qkv.": "attn.qkv.", "proj.": "attn.proj.", "fc1.": "ffn.layers.0.0.",
                  "fc2.": "ffn.layers.1."}
    out = OrderedDict()
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "blocks":
            tail = ".".join(parts[2:])
            for old, new in rename.items():
                if tail.startswith(old):
                    tail = new + tail[len(old):]
                    break
            key = f"{'blocks' if layout == 'timm' else 'layers'}.{parts[1]}.{tail}"
        elif key.startswith("patch_embed."):
            key = rename["patch_embed."] + key[len("patch_embed."):]
        elif key.startswith("norm.") and layout != "timm":
            key = "ln1." + key[len("norm."):]
        out[("backbone." if layout != "timm" else "") + key] = value.clone()
    return out


def _openjmla_dir(folder, layout: str):
    folder.mkdir(parents=True, exist_ok=True)
    state = _tiny_vit_state(layout)
    if layout == "timm":
        from safetensors.torch import save_file

        save_file(dict(state), str(folder / "encoder.safetensors"))
    else:
        torch.save({"state_dict": state, "meta": {"epoch": 20}}, folder / "epoch_20.pth")
    (folder / "frontend.json").write_text(json.dumps({"n_mels": 32, "heads": 2}))
    return folder


def test_openjmla_reads_both_layouts_and_pools(tmp_path):
    mm = OpenJMLABackbone(_openjmla_dir(tmp_path / "mm", "openmmlab"))
    timm = OpenJMLABackbone(_openjmla_dir(tmp_path / "timm", "timm"))
    assert (mm.n_layers, mm.dim, mm.frames) == (3, 32, 64)
    assert mm.window_seconds == pytest.approx(64 * 160 / 16000)
    y = _tone(3.0, 16000)
    np.testing.assert_allclose(mm.layer_means([y]), timm.layer_means([y]), atol=1e-5)
    ex = openjmla_extractor(tmp_path / "mm")
    vector = ex.extract_waveform(_tone(3.0, 44100), 44100)
    assert vector.shape == (32,) and np.isfinite(vector).all()
    waves = [_tone(s, 16000, seed=i) for i, s in enumerate((1.0, 2.5, 4.1))]
    for row, wave in zip(ex.extract_batch(waves, 16000), waves, strict=True):
        np.testing.assert_allclose(row, ex.extract_waveform(wave, 16000), atol=1e-5)


def test_checkpoint_pickles_are_read_without_running_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": Evil()}, tmp_path / "epoch_20.pth")
    with pytest.raises(ModelError, match="cannot read weights"):
        load_tensors(tmp_path / "epoch_20.pth")


def test_hf_local_model(tmp_path):
    folder = tmp_path / "w2v"
    config = transformers.Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 4),
                                         conv_kernel=(10, 4), num_conv_pos_embeddings=8,
                                         num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(folder)
    ex = hf_extractor(folder)
    y = _tone(12.0, 16000)
    vector = ex.extract_waveform(y, 16000)
    assert vector.shape == (16,) and ex.backbone.n_layers == 3
    np.testing.assert_array_equal(vector, hf_extractor(folder).extract_waveform(y, 16000))
    np.testing.assert_allclose(ex.extract_batch([y, y[:20000]], 16000)[1],
                               ex.extract_waveform(y[:20000], 16000), atol=2e-5)
    from music_reclass.features import registry

    assert registry.get_extractor(f"hf:{folder}").dim == 16
    config_path = folder / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()),
                                       "auto_map": {"AutoModel": "x.Y"}}))
    with pytest.raises(ModelError, match="does not run downloaded code"):
        hf_extractor(folder).extract_waveform(y, 16000)
