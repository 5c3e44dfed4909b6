"""The prediction pipeline: Prediction, the zero-shot musicnn classifier, load_classifier.

Plumbing tests (batching, splitting, model_id, errors) run against a small
deterministic stand-in for the two musicnn nets, so they are fast and do not
depend on the port; the tests marked "real" use the real networks and skip when
they are not available.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from music_reclass.errors import ModelError, ParameterError, TooShortError
from music_reclass.models.musicnn import PATCH_FRAMES, PATCH_SECONDS
from music_reclass.pipeline import (
    Classifier,
    MusicnnTagClassifier,
    Prediction,
    load_classifier,
)
from music_reclass.taxonomy import VOCABULARIES, load_taxonomy

SR = 16000
DATA = Path(__file__).resolve().parents[1] / "src" / "music_reclass" / "taxonomy" / "data"
LAYER_SIZES = {"taggram": 50, "penultimate": 200, "max_pool": 753, "mean_pool": 753}
#: the layers whose track-level means a prediction keeps (and the library stores)
KEPT = ("taggram", "penultimate")


class PatchwiseNet:
    """Stand-in for a musicnn net: per-patch outputs that depend only on that patch."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.labels = list(VOCABULARIES[name])
        self.version = "stand-in-1"
        rng = np.random.default_rng(seed)
        self.projection = {k: rng.normal(size=(96, n)) for k, n in LAYER_SIZES.items()}
        self.calls = 0
        self.batch_sizes: list[int] = []

    def extract_patches(
        self, patches: np.ndarray, *, batch_size: int = 32
    ) -> dict[str, np.ndarray]:
        assert patches.ndim == 3 and patches.shape[1:] == (PATCH_FRAMES, 96)
        self.calls += 1
        self.batch_sizes.append(batch_size)
        means = patches.mean(axis=1)
        out = {k: means @ p for k, p in self.projection.items()}
        out["taggram"] = 1 / (1 + np.exp(-out["taggram"] / 10.0))
        return out


def stand_in_nets() -> dict[str, PatchwiseNet]:
    return {
        "MSD_musicnn": PatchwiseNet("MSD_musicnn", 1),
        "MTT_musicnn": PatchwiseNet("MTT_musicnn", 2),
    }


def tone(seconds: float, freq: float = 440.0, *, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).normal(scale=0.01, size=t.size)
    return (
        0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t)) + noise
    ).astype(np.float32)


def check_prediction(prediction: Prediction, classes: tuple[str, ...]) -> None:
    labels = [g for g, _ in prediction.genres]
    confidences = np.array([c for _, c in prediction.genres])
    assert sorted(labels) == sorted(classes)
    assert np.all(confidences >= 0) and confidences.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(np.diff(confidences) <= 0)
    tag_scores = [c for _, c in prediction.tags]
    assert tag_scores == sorted(tag_scores, reverse=True)
    assert all(t.split(":")[0] in {"msd", "mtt"} for t, _ in prediction.tags)
    for name, vector in prediction.embeddings.items():
        model, layer = name.split(".")
        assert model in {"msd", "mtt"} and vector.shape == (LAYER_SIZES[layer],), name
        assert vector.dtype == np.float32 and np.all(np.isfinite(vector))


# --------------------------------------------------------------------------- plumbing


def test_prediction_shape_and_content():
    classifier = MusicnnTagClassifier(nets=stand_in_nets())
    prediction = classifier.predict_waveform(tone(10.0))
    check_prediction(prediction, classifier.classes)
    assert prediction.n_patches == 3  # 10 s = 3 whole patches of 2.992 s, tail dropped
    assert prediction.analysed_seconds == pytest.approx(3 * PATCH_SECONDS)
    assert len(prediction.tags) == 10
    assert set(prediction.embeddings) == {f"{m}.{k}" for m in ("msd", "mtt") for k in KEPT}
    assert prediction.top == prediction.genres[0]
    records = prediction.as_records()
    json.dumps(records)
    assert records["genres"][0]["label"] == prediction.genres[0][0]


def test_embeddings_are_patch_means_and_genres_follow_the_taggram():
    nets = stand_in_nets()
    classifier = MusicnnTagClassifier(nets=nets)
    from music_reclass.models.musicnn import log_mel, make_patches

    waveform = tone(7.0, 220.0)
    prediction = classifier.predict_waveform(waveform)
    direct = nets["MSD_musicnn"].extract_patches(make_patches(log_mel(waveform)))
    np.testing.assert_allclose(
        prediction.embeddings["msd.penultimate"], direct["penultimate"].mean(axis=0), rtol=1e-5
    )
    tag_probs = {
        m: prediction.embeddings[f"{m.split('_')[0].lower()}.taggram"] for m in VOCABULARIES
    }
    from_tags = classifier.predict_tags(tag_probs)
    assert [g for g, _ in from_tags.genres] == [g for g, _ in prediction.genres]
    np.testing.assert_allclose(
        [c for _, c in from_tags.genres], [c for _, c in prediction.genres], rtol=1e-6
    )


@pytest.mark.parametrize("max_batch_patches", [1, 4, 64])
def test_batch_equals_one_by_one(max_batch_patches):
    nets = stand_in_nets()
    classifier = MusicnnTagClassifier(nets=nets, max_batch_patches=max_batch_patches)
    waveforms = [tone(3.5, 330.0, seed=1), tone(12.3, 550.0, seed=2), tone(6.1, 880.0, seed=3)]
    single = [classifier.predict_waveform(w) for w in waveforms]
    calls_before = nets["MSD_musicnn"].calls
    batched = classifier.predict_batch(waveforms)
    assert [p.n_patches for p in batched] == [1, 4, 2]
    assert nets["MSD_musicnn"].calls - calls_before == 1  # all tracks' patches at once
    assert nets["MSD_musicnn"].batch_sizes[-1] == max_batch_patches
    for one, many in zip(single, batched, strict=True):
        assert one.genres[0][0] == many.genres[0][0]
        one_scores, many_scores = dict(one.genres), dict(many.genres)
        np.testing.assert_allclose(
            [one_scores[g] for g in classifier.classes],
            [many_scores[g] for g in classifier.classes],
            rtol=1e-4,
            atol=1e-7,
        )
        for name in one.embeddings:
            np.testing.assert_allclose(one.embeddings[name], many.embeddings[name], rtol=1e-5)
    assert classifier.predict_batch([]) == []


def test_too_short_and_malformed_waveforms():
    classifier = MusicnnTagClassifier(nets=stand_in_nets())
    with pytest.raises(TooShortError):
        classifier.predict_waveform(tone(2.5))
    with pytest.raises(TooShortError):
        classifier.predict_waveform(np.zeros(1, dtype=np.float32))
    with pytest.raises(TooShortError):
        classifier.predict_batch([tone(5.0), tone(1.0)])
    with pytest.raises(ParameterError, match="mono"):
        classifier.predict_waveform(np.zeros((2, 48000), dtype=np.float32))
    bad = tone(5.0)
    bad[10] = np.nan
    with pytest.raises(ParameterError, match="finite"):
        classifier.predict_waveform(bad)


def test_top_k_and_top_tags():
    classifier = MusicnnTagClassifier("gtzan", nets=stand_in_nets(), top_k=3, top_tags=None)
    prediction = classifier.predict_waveform(tone(4.0))
    assert len(prediction.genres) == 3 and len(prediction.tags) == 100
    assert sum(c for _, c in prediction.genres) < 1.0 + 1e-9
    with pytest.raises(ParameterError, match="top_k"):
        MusicnnTagClassifier(nets=stand_in_nets(), top_k=0)


def test_classifier_protocol_and_classes():
    classifier = MusicnnTagClassifier("gtzan", nets=stand_in_nets())
    assert isinstance(classifier, Classifier)
    assert classifier.classes == load_taxonomy("gtzan").genres


def test_model_id_changes_with_the_mapping(tmp_path):
    default = MusicnnTagClassifier(nets=stand_in_nets())
    gtzan = MusicnnTagClassifier("gtzan", nets=stand_in_nets())
    assert default.model_id != gtzan.model_id
    assert "MSD_musicnn@stand-in-1" in default.model_id

    document = json.loads((DATA / "default.json").read_text(encoding="utf-8"))
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps(document), encoding="utf-8")
    assert MusicnnTagClassifier(copy, nets=stand_in_nets()).model_id == default.model_id

    document["genres"]["rock"]["tags"]["MSD_musicnn"]["hard rock"] = 0.7
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document), encoding="utf-8")
    assert MusicnnTagClassifier(edited, nets=stand_in_nets()).model_id != default.model_id

    nets = stand_in_nets()
    nets["MTT_musicnn"].version = "stand-in-2"
    assert MusicnnTagClassifier(nets=nets).model_id != default.model_id


def test_nets_with_other_labels_are_refused():
    nets = stand_in_nets()
    nets["MSD_musicnn"].labels = list(reversed(nets["MSD_musicnn"].labels))
    with pytest.raises(ModelError, match="MSD_musicnn"):
        MusicnnTagClassifier(nets=nets)


def test_load_classifier_arguments(tmp_path):
    with pytest.raises(ModelError):
        load_classifier("jazz")  # not the built-in model: a model file, missing
    with pytest.raises(ParameterError, match="taxonomy"):
        load_classifier(tmp_path / "model.json", taxonomy="gtzan")
    with pytest.raises(ModelError):
        load_classifier(tmp_path / "missing-model.json")


# --------------------------------------------------------------------------- real networks


@pytest.fixture(scope="module")
def real_nets() -> dict:
    import torch

    from music_reclass.models import musicnn

    torch.set_num_threads(1)
    return {name: musicnn.load_musicnn(name) for name in ("MSD_musicnn", "MTT_musicnn")}


def test_real_networks_give_a_valid_prediction_on_synthetic_audio(real_nets):
    classifier = MusicnnTagClassifier(nets=real_nets)
    waveform = tone(7.0, 330.0) + tone(7.0, 495.0, seed=5)
    prediction = classifier.predict_waveform(waveform)
    check_prediction(prediction, classifier.classes)
    assert prediction.n_patches == 2
    assert set(prediction.embeddings) == {f"{m}.{k}" for m in ("msd", "mtt") for k in KEPT}
    taggram = prediction.embeddings["msd.taggram"]
    assert np.all((taggram > 0) & (taggram < 1))
    batched = classifier.predict_batch([waveform, tone(4.0, 220.0)])
    np.testing.assert_allclose(
        batched[0].embeddings["mtt.penultimate"],
        prediction.embeddings["mtt.penultimate"],
        rtol=1e-4,
        atol=1e-5,
    )


REFERENCE_TOP = {  # GTZAN clip -> genres that must be among the top-n (gtzan taxonomy)
    "classical.00000": ({"classical"}, 1),
    "pop.00000": ({"pop"}, 1),
    "metal.00000": ({"metal"}, 2),
    "blues.00000": ({"blues"}, 2),
    "hiphop.00000": ({"hiphop"}, 3),  # decoding-sensitive: disco/pop cues are close
}


@pytest.mark.shared
def test_pipeline_reproduces_the_original_musicnn_tags_and_genres(shared_dir, real_nets):
    reference_dir = shared_dir / "musicnn-reference"
    classifier = MusicnnTagClassifier("gtzan", nets=real_nets)
    taxonomy = classifier.taxonomy
    checked = 0
    for msd_file in sorted(reference_dir.glob("real_*__MSD_musicnn.npz")):
        msd = np.load(msd_file)
        mtt = np.load(str(msd_file).replace("MSD_musicnn", "MTT_musicnn"))
        prediction = classifier.predict_waveform(msd["waveform"])
        assert prediction.n_patches == len(msd["taggram"])
        np.testing.assert_allclose(
            prediction.embeddings["msd.taggram"], msd["tags_mean"], atol=1e-3
        )
        np.testing.assert_allclose(
            prediction.embeddings["mtt.taggram"], mtt["tags_mean"], atol=1e-3
        )
        expected = taxonomy.score(
            {"MSD_musicnn": msd["tags_mean"], "MTT_musicnn": mtt["tags_mean"]}
        )
        got = dict(prediction.genres)
        np.testing.assert_allclose([got[g] for g in taxonomy.genres], expected, atol=5e-3)
        clip = msd_file.name.removeprefix("real_").split("__")[0]
        if clip in REFERENCE_TOP:
            wanted, n = REFERENCE_TOP[clip]
            top = {g for g, _ in prediction.genres[:n]}
            assert wanted <= top, (clip, prediction.genres[:3])
            checked += 1
    assert checked == len(REFERENCE_TOP)


@pytest.mark.shared
def test_predict_file_on_gtzan_dev_clips(shared_dir, real_nets):
    classifier = MusicnnTagClassifier("gtzan", nets=real_nets)
    root = shared_dir / "audio" / "gtzan-dev"
    for clip, (wanted, n) in REFERENCE_TOP.items():
        genre = clip.split(".")[0]
        prediction = classifier.predict_file(root / genre / f"{clip}.wav")
        check_prediction(prediction, classifier.classes)
        assert prediction.analysed_seconds >= PATCH_SECONDS
        assert wanted <= {g for g, _ in prediction.genres[:n]}, (clip, prediction.genres[:3])


# --------------------------------------------------------------------------- trained models


@pytest.fixture
def trained_model_file(tmp_path, real_nets) -> Path:
    """A tiny logistic-regression head on the real musicnn embedding, saved with its sidecar."""
    from music_reclass import features
    from music_reclass.models import artifact, heads

    extractor = features.get_extractor("musicnn")
    low = np.stack(
        [
            extractor.extract_waveform(tone(3.5, f, seed=i), SR)
            for i, f in enumerate((110, 130, 150))
        ]
    )
    high = np.stack(
        [
            extractor.extract_waveform(tone(3.5, f, seed=i), SR)
            for i, f in enumerate((1800, 2200, 2600))
        ]
    )
    head = heads.fit_head(
        heads.make_head("logreg"), np.vstack([low, high]), np.array(["low"] * 3 + ["high"] * 3)
    )
    meta = {
        "name": "tiny-test-model",
        "feature": {
            "name": extractor.name,
            "version": extractor.version,
            "dim": extractor.dim,
            "sample_rate": SR,
        },
    }
    path = tmp_path / "genres.joblib"
    artifact.save_model(artifact.ModelArtifact(head, meta), path)
    return path


def test_trained_model_file_is_a_classifier(trained_model_file):
    classifier = load_classifier(trained_model_file)
    assert isinstance(classifier, Classifier)
    assert set(classifier.classes) == {"low", "high"}
    assert classifier.model_id.startswith("tiny-test-model@")
    low, high = classifier.predict_batch([tone(4.0, 120.0, seed=7), tone(4.0, 2400.0, seed=8)])
    for prediction in (low, high):
        assert sum(c for _, c in prediction.genres) == pytest.approx(1.0)
        # the musicnn features are stored as the zero-shot model's vectors (one space)
        assert set(prediction.vectors) == {classifier.embedding_space}
        assert prediction.embeddings["msd.penultimate"].shape == (200,)
    assert low.top[0] == "low" and high.top[0] == "high"
    single = classifier.predict_waveform(tone(4.0, 120.0, seed=7))
    assert single.genres[0][1] == pytest.approx(low.genres[0][1], rel=1e-4)
    # answered from the stored vectors alone (float16-rounded): the same genres
    stored = {k: v.astype(np.float16).astype(np.float32) for k, v in low.embeddings.items()}
    again = classifier.predict_vectors(stored)
    assert again.top[0] == "low" and again.genres[0][1] == pytest.approx(low.genres[0][1], abs=1e-2)
    zero_shot = load_classifier(None)
    assert zero_shot.embedding_space == classifier.embedding_space
    assert classifier.input == zero_shot.input


def test_trained_model_with_changed_features_or_file_is_refused(trained_model_file):
    from music_reclass.errors import FeatureMismatchError

    sidecar = trained_model_file.with_name(trained_model_file.name + ".json")
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    meta["feature"]["version"] = "0-other"
    sidecar.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(FeatureMismatchError):
        load_classifier(trained_model_file)
    meta["feature"]["name"] = "no-such-extractor"
    sidecar.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match="no-such-extractor"):
        load_classifier(trained_model_file)
    trained_model_file.write_bytes(trained_model_file.read_bytes() + b"x")
    with pytest.raises(ModelError, match="sha256"):
        load_classifier(trained_model_file)


# --------------------------------------------------------------------------- undecodable names


def _classify_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "1000"}
    return subprocess.run([sys.executable, "-m", "music_reclass.cli.main", "classify", *args],
                          env=env, capture_output=True, timeout=300)


def test_classify_a_file_name_that_is_not_utf8(tmp_path):
    """A latin-1 name is classified, recorded and printed in every output format."""
    import soundfile as sf

    folder = tmp_path / "music"
    folder.mkdir()
    name = os.fsdecode(os.fsencode(folder) + b"/caf\xe9.wav")
    sf.write(folder / "plain.wav", tone(4.0, 330.0), SR)  # soundfile cannot open such names
    os.rename(folder / "plain.wav", name)
    db_path = str(tmp_path / "lib.sqlite")
    done = _classify_cli(str(folder), "--db", db_path, "--jobs", "0", "--json")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    (record,) = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert record["path"] == name and record["status"] == "ok"  # \udce9 round-trips
    done = _classify_cli(str(folder), "--db", db_path, "--jobs", "0", "--csv")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    rows = list(csv.reader(io.StringIO(done.stdout.decode("utf-8"))))  # valid UTF-8
    assert rows[1][:2] == [os.fsencode(name).decode("utf-8", "backslashreplace"), "ok"]
    done = _classify_cli(str(folder), "--db", db_path, "--jobs", "0")
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert "caf\\xe9.wav" in done.stdout.decode("utf-8")
