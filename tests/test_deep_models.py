"""Deep models: networks, augmentation, adaptive batches, model files, classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deep_fixtures import clip
from music_reclass.errors import ModelError, ParameterError, TooShortError
from music_reclass.models.artifact import sidecar_path
from music_reclass.models.deep.artifact import is_deep_model, load_deep_model, save_deep_model
from music_reclass.models.deep.augment import AugmentConfig, WaveAugmenter, mixup, spec_augment
from music_reclass.models.deep.device import BatchSizer, choose_device
from music_reclass.models.deep.frontend import PATCH_SAMPLES, input_spec, track_patches
from music_reclass.models.deep.nets import build_network, default_architecture


def _save(tmp_path, model="cnn", classes=("a", "b", "c"), seed=0):
    torch.manual_seed(seed)
    arch = default_architecture(model, len(classes))
    net = build_network(arch).eval()
    path = tmp_path / f"{model}.safetensors"
    save_deep_model(net.state_dict(), {"classes": list(classes), "architecture": arch,
                                       "input": input_spec(), "model_type": model}, path)
    return path, net


def test_cnn_shapes_and_parameter_count():
    net = build_network(default_architecture("cnn", 10)).eval()
    out = net(torch.randn(3, 187, 96))
    assert out.shape == (3, 10)
    assert sum(p.numel() for p in net.parameters()) < 200_000
    with pytest.raises(ParameterError):
        default_architecture("cnn", 10, no_such_option=1)
    with pytest.raises(ParameterError):
        default_architecture("resnet", 10)


@pytest.mark.parametrize("unfreeze", [0, 1, 2])
def test_musicnn_finetune_trains_only_what_it_unfreezes(unfreeze):
    torch.manual_seed(0)
    net = build_network(default_architecture("musicnn-finetune", 3, unfreeze=unfreeze))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1)
    net.train()
    loss = torch.nn.functional.cross_entropy(net(torch.randn(4, 187, 96)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    opt.step()
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert {"classifier.weight", "classifier.bias"} <= changed
    assert not any(k.startswith(("musicnn.timbral", "musicnn.temporal", "musicnn.input_bn"))
                   for k in changed)  # the front end is always frozen
    assert any(k.startswith("musicnn.dense") for k in changed) == (unfreeze >= 1)
    assert any(k.startswith("musicnn.midend") for k in changed) == (unfreeze == 2)


def test_musicnn_finetune_starts_from_the_shipped_weights():
    from music_reclass.models.musicnn import load_musicnn

    net = build_network(default_architecture("musicnn-finetune", 3)).eval()
    shipped = load_musicnn("MSD_musicnn")
    patches = track_patches(clip("drone", 1))
    ours = net.embed(torch.from_numpy(patches)).detach().numpy()
    theirs = shipped.extract_patches(patches)["penultimate"]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_track_patches_cut_and_refuse_short_audio():
    assert track_patches(np.zeros(PATCH_SAMPLES, np.float32) + 0.1).shape == (1, 187, 96)
    assert track_patches(clip("noise", 0, seconds=7.0)).shape == (2, 187, 96)
    with pytest.raises(TooShortError):
        track_patches(np.zeros(PATCH_SAMPLES - 1, np.float32))


def test_wave_augmenter_is_seeded_and_keeps_length():
    aug = WaveAugmenter(AugmentConfig(gain_p=1, pitch_p=1, stretch_p=1, background_p=1))
    crop = clip("drone", 0, seconds=3.5)
    a = aug(crop, np.random.default_rng(3), PATCH_SAMPLES, other=clip("noise", 1, seconds=3.5))
    b = aug(crop, np.random.default_rng(3), PATCH_SAMPLES, other=clip("noise", 1, seconds=3.5))
    c = aug(crop, np.random.default_rng(4), PATCH_SAMPLES, other=clip("noise", 1, seconds=3.5))
    assert a.shape == (PATCH_SAMPLES,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    plain = WaveAugmenter(AugmentConfig.none())(crop, np.random.default_rng(0), PATCH_SAMPLES)
    assert plain.shape == (PATCH_SAMPLES,) and np.isin(plain, crop).all()


def test_spec_augment_and_mixup():
    gen = torch.Generator().manual_seed(0)
    batch = torch.randn(8, 187, 96) + 5
    masked = spec_augment(batch, gen, max_time=30, max_freq=20)
    assert masked.shape == batch.shape and not torch.equal(masked, batch)
    assert torch.equal(batch, batch.clone())  # input untouched
    targets = torch.nn.functional.one_hot(torch.arange(8) % 3, 3).float()
    mixed, mixed_targets = mixup(batch, targets, 0.2, np.random.default_rng(0))
    torch.testing.assert_close(mixed_targets.sum(dim=1), torch.ones(8))
    assert (mixed_targets.max(dim=1).values >= 0.5).all()  # the original dominates
    same, same_t = mixup(batch, targets, 0.0, np.random.default_rng(0))
    assert same is batch and same_t is targets


def test_batch_sizer_halves_on_out_of_memory_and_finishes():
    sizer = BatchSizer(torch.device("cpu"), size=32)
    seen = []

    def step(start, stop):
        if stop - start > 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        seen.extend(range(start, stop))
        return stop - start

    results = sizer.run(step, 50)
    assert seen == list(range(50)) and sum(results) == 50
    assert sizer.size == 4 and len(sizer.history) == 3
    with pytest.raises(ValueError):
        BatchSizer(torch.device("cpu")).run(lambda a, b: (_ for _ in ()).throw(ValueError("x")), 3)


def test_batch_sizer_gives_up_only_below_one_example():
    sizer = BatchSizer(torch.device("cpu"), size=2)
    with pytest.raises(torch.OutOfMemoryError):
        sizer.run(lambda a, b: (_ for _ in ()).throw(torch.OutOfMemoryError("out of memory")), 4)
    assert sizer.size == 1


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    assert choose_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError):
            choose_device("cuda")
    with pytest.raises(ParameterError):
        choose_device("tpu")


def test_model_file_round_trip_and_tamper_detection(tmp_path):
    path, net = _save(tmp_path)
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["kind"] == "deep" and meta["serialization"] == "safetensors"
    assert meta["input"]["sample_rate"] == 16000 and meta["classes"] == ["a", "b", "c"]
    assert is_deep_model(path)
    loaded = load_deep_model(path).network()
    x = torch.randn(2, 187, 96)
    torch.testing.assert_close(loaded(x), net(x))
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_deep_model(path)
    sidecar_path(path).unlink()
    assert not is_deep_model(path)
    with pytest.raises(ModelError, match="sidecar missing"):
        load_deep_model(path)


@pytest.mark.parametrize("model", ["cnn", "musicnn-finetune"])
def test_classifier_probabilities_are_the_networks(tmp_path, model):
    from music_reclass.pipeline import load_classifier

    path, net = _save(tmp_path, model=model, seed=3)
    wave = clip("drone", 2, seconds=7.0)
    with torch.inference_mode():
        probs = torch.softmax(net(torch.from_numpy(track_patches(wave))), 1).mean(0).numpy()
    got = dict(load_classifier(str(path), trusted=False).predict_waveform(wave).genres)
    np.testing.assert_allclose([got[c] for c in ("a", "b", "c")], probs, atol=1e-5)


def test_deep_classifier_pools_patches_and_batches(tmp_path):
    from music_reclass.pipeline import load_classifier
    from music_reclass.pipeline.deep import DeepClassifier

    path, net = _save(tmp_path)
    trusted = load_classifier(str(path))  # calibrated and decided: the network inside
    assert isinstance(trusted.base, DeepClassifier) and trusted.model_id.startswith("cnn@")
    clf = load_classifier(str(path), trusted=False)  # the network's own probabilities
    assert isinstance(clf, DeepClassifier)
    assert clf.classes == ("a", "b", "c") and clf.model_id.startswith("cnn@")
    assert clf.input.sample_rate == 16000 and clf.input.mode == "excerpt"
    waves = [clip("drone", 0, seconds=7.0), clip("noise", 1, seconds=4.0)]
    together = clf.predict_batch(waves)
    alone = [clf.predict_waveform(w) for w in waves]
    for a, b in zip(together, alone, strict=True):
        assert [g for g, _ in a.genres] == [g for g, _ in b.genres]
        np.testing.assert_allclose([p for _, p in a.genres], [p for _, p in b.genres], atol=1e-6)
    assert together[0].n_patches == 2 and together[1].n_patches == 1
    assert sum(p for _, p in together[0].genres) == pytest.approx(1.0, abs=1e-6)
    with torch.inference_mode():
        probs = torch.softmax(net(torch.from_numpy(track_patches(waves[0]))), 1).mean(0)
    expected = dict(zip(("a", "b", "c"), probs.numpy(), strict=True))
    for genre, p in together[0].genres:
        assert p == pytest.approx(float(expected[genre]), abs=1e-5)
    with pytest.raises(TooShortError):
        clf.predict_batch([np.zeros(1000, np.float32)])
    import pickle

    clone = pickle.loads(pickle.dumps(clf))
    assert clone._net is None and clone.predict_waveform(waves[1]).genres == alone[1].genres


def test_classifier_refuses_a_tampered_model(tmp_path):
    from music_reclass.pipeline import load_classifier

    path, _ = _save(tmp_path)
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    clf = load_classifier(str(path))
    with pytest.raises(ModelError):
        clf.ensure_loaded()


@pytest.mark.parametrize("unfreeze", [0, 1, 2])
def test_musicnn_finetune_trunk_and_tail_are_the_network(unfreeze):
    torch.manual_seed(0)
    net = build_network(default_architecture("musicnn-finetune", 3, unfreeze=unfreeze)).eval()
    x = torch.from_numpy(track_patches(clip("noise", 3, seconds=7.0)))
    with torch.no_grad():
        whole = net(x)
        torch.testing.assert_close(net.tail(net.trunk(x)), whole)
        torch.testing.assert_close(net.head(net.embed(x)), whole)
    assert net.cacheable == (unfreeze < 2)
    assert not net.trunk(x).requires_grad
    pretrained = {id(p) for p in net.pretrained_parameters()}
    assert all(n.startswith("musicnn.") for n, p in net.named_parameters() if id(p) in pretrained)
    assert bool(pretrained) == (unfreeze > 0)


def test_optimizer_gives_pretrained_layers_a_lower_rate():
    from music_reclass.models.deep.loop import TrainConfig, _optimizer, _set_lr

    net = build_network(default_architecture("musicnn-finetune", 3, unfreeze=1))
    optimizer = _optimizer(net, TrainConfig(lr=1e-3, backbone_lr_scale=0.1))
    _set_lr(optimizer, 1e-3)
    pretrained = {id(p) for p in net.pretrained_parameters()}
    rates = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert set(rates) == {id(p) for p in net.parameters() if p.requires_grad}
    assert sorted(rates[i] for i in pretrained) == pytest.approx([1e-4] * len(pretrained))
    assert rates[id(net.classifier.weight)] == pytest.approx(1e-3)


def test_small_datasets_get_more_crops_per_epoch():
    from music_reclass.models.deep.loop import TrainConfig

    config = TrainConfig(crops_per_track=4, min_epoch_examples=256)
    assert config.crops_for(33) == 8 and config.crops_for(1000) == 4
    assert TrainConfig(min_epoch_examples=0).crops_for(5) == 4
    with pytest.raises(ParameterError):
        TrainConfig(backbone_lr_scale=2.0)


def test_bank_holds_the_trunk_of_each_augmented_crop():
    from music_reclass.models.deep.augment import AugmentConfig, WaveAugmenter
    from music_reclass.models.deep.examples import BANK_EPOCH, BankSource, make_examples
    from music_reclass.models.deep.loop import TrainConfig

    torch.manual_seed(0)
    net = build_network(default_architecture("musicnn-finetune", 3, unfreeze=1))
    train = [(clip(kind, i, seconds=4.0), k) for k, kind in enumerate(("drone", "noise", "clicks"))
             for i in range(2)]
    valid = [(clip("drone", 9, seconds=7.0), 1)]
    config = TrainConfig(bank_crops=2, batch_size=4, min_epoch_examples=30,
                         augment=AugmentConfig(spec_masks=False))
    augmenter = WaveAugmenter(config.augment)
    source = BankSource(train, config, augmenter, valid)
    assert source.prepare(net, torch.device("cpu"), None)
    assert source.bank.features.shape == (12, 1506) and len(source.bank) == 12
    plan = np.tile(np.arange(6), 2)
    patches, labels = make_examples(train, plan, 7, 8, 0, BANK_EPOCH, augmenter)
    with torch.no_grad():
        torch.testing.assert_close(source.bank.features[7], net.trunk(torch.from_numpy(patches))[0],
                                   rtol=1e-4, atol=1e-4)
    assert source.bank.labels[7] == labels[0] == train[1][1]
    epoch_plan = source.plan(0)  # 3 shuffled passes over the 12 rows reach 30 examples
    assert len(epoch_plan) == 36 and np.bincount(epoch_plan).tolist() == [3] * 12
    assert not np.array_equal(epoch_plan, source.plan(1))
    probs = source.valid_probs(net)
    with torch.no_grad():
        expected = torch.softmax(net(torch.from_numpy(track_patches(valid[0][0]))), 1).mean(0)
    np.testing.assert_allclose(probs[0], expected.numpy(), atol=1e-5)
    assert not BankSource(train, config, augmenter).prepare(net, torch.device("cpu"), lambda: True)


def test_deep_classifier_stores_its_own_vectors_and_answers_from_them(tmp_path):
    from music_reclass.pipeline import load_classifier

    path, _ = _save(tmp_path)
    clf = load_classifier(str(path), top_k=2, trusted=False)
    assert clf.embedding_space == f"deep/{clf.model_id}" and clf.kind == "deep"
    prediction = clf.predict_waveform(clip("drone", 4, seconds=7.0))
    vectors = prediction.vectors[clf.embedding_space]
    assert set(vectors) == {"deep.cnn", "deep.cnn.probs"} and vectors["deep.cnn"].shape == (256,)
    stored = {k: v.astype(np.float16) for k, v in vectors.items()}  # as the library keeps them
    answer = clf.predict_vectors(stored)
    assert [g for g, _ in answer.genres] == [g for g, _ in prediction.genres] and len(answer.genres) == 2
    np.testing.assert_allclose([p for _, p in answer.genres], [p for _, p in prediction.genres],
                               atol=2e-3)
    assert answer.vectors == {} and answer.n_patches == 0
    with pytest.raises(ModelError, match="lack"):
        clf.predict_vectors({"deep.cnn": vectors["deep.cnn"]})
    with pytest.raises(ModelError, match="shape"):
        clf.predict_vectors({"deep.cnn.probs": np.ones(5, np.float32)})


def test_load_classifier_dispatches_on_the_sidecar_kind(tmp_path):
    from music_reclass.pipeline import load_classifier

    path, _ = _save(tmp_path)
    meta = json.loads(sidecar_path(path).read_text())
    sidecar_path(path).write_text(json.dumps({**meta, "kind": "cascade"}))
    with pytest.raises(ModelError, match="unknown model kind 'cascade'"):
        load_classifier(str(path))
    sidecar_path(path).write_text(json.dumps({**meta, "input": {**meta["input"], "sample_rate": 22050}}))
    with pytest.raises(ModelError, match="22050"):
        load_classifier(str(path))
