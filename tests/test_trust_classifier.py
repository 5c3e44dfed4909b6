"""Calibrated, decided predictions: TrustedClassifier, trust parameters in sidecars and
as package data, and load_classifier's default."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from music_reclass.pipeline import MusicnnTagClassifier, Prediction, load_classifier
from music_reclass.taxonomy import load_taxonomy
from music_reclass.trust.calibration import fit_calibration, log_scores
from music_reclass.trust.classifier import (
    UNCALIBRATED_MIN_CONFIDENCE,
    TrustedClassifier,
    load_trusted_classifier,
)
from music_reclass.trust.conformal import ConformalSets
from music_reclass.trust.model import (
    LOG_PROBABILITIES,
    TAXONOMY_EVIDENCE,
    TrustModel,
    read_trust,
    shipped_trust,
    write_trust,
)
from music_reclass.trust.policy import DecisionPolicy
from music_reclass.trust.vocabulary import EvidenceOOV
from trust_fixtures import stand_in_nets, tone


def synthetic_trust(classes, *, min_confidence=0.3, oov_threshold=float("inf")) -> TrustModel:
    rng = np.random.default_rng(0)
    scores = np.log(rng.uniform(0.01, 1.0, size=(200, len(classes))))
    labels = [classes[i] for i in scores.argmax(axis=1)]
    calibration = fit_calibration(scores, labels, classes, background=True)
    policy = DecisionPolicy(min_confidence, ConformalSets(0.2, 0.9, 200), oov_threshold)
    return TrustModel(TAXONOMY_EVIDENCE, calibration, EvidenceOOV(), policy)


@pytest.fixture
def zero_shot():
    base = MusicnnTagClassifier("gtzan", nets=stand_in_nets())
    return TrustedClassifier(base, synthetic_trust(base.classes)), base


def test_predictions_are_calibrated_and_decided(zero_shot):
    trusted, base = zero_shot
    assert trusted.model_id.startswith(base.model_id + "/trust@")
    raw = base.predict_waveform(tone(10.0))
    prediction = trusted.predict_waveform(tone(10.0))
    assert isinstance(prediction, Prediction)
    assert sum(p for _, p in prediction.genres) == pytest.approx(1.0)
    assert [g for g, _ in prediction.genres][:3] == [g for g, _ in raw.genres][:3]
    evidence = base.taxonomy.evidence({"MSD_musicnn": raw.embeddings["msd.taggram"],
                                       "MTT_musicnn": raw.embeddings["mtt.taggram"]})
    assert trusted.input == base.input and trusted.embedding_space == base.embedding_space
    assert prediction.vectors.keys() == {base.embedding_space}
    expected = trusted.trust.calibration.apply(np.log(evidence))[0]
    assert dict(prediction.genres) == pytest.approx(dict(zip(base.classes, expected, strict=True)))
    decision = trusted.trust.policy.decide(prediction.genres, -np.log(evidence).min())
    # the store's convention: None is an abstention
    assert prediction.decided == (decision.decided or None)
    assert prediction.abstain_reason == decision.reason
    assert (prediction.decided is None) == (decision.reason is not None)
    # the same decision from what the store keeps: the calibrated genres and the vectors
    stored = trusted.decide_stored(prediction.as_records()["genres"], prediction.embeddings)
    assert stored.decided == decision.decided and stored.reason == decision.reason
    # ... and from the stored vectors alone (the runner's path: no audio)
    again = trusted.predict_vectors(prediction.vectors[base.embedding_space])
    assert dict(again.genres) == pytest.approx(dict(prediction.genres))
    assert again.decided == prediction.decided and again.abstain_reason == prediction.abstain_reason


def test_missing_vectors_are_a_model_error(zero_shot):
    from music_reclass.errors import ModelError

    trusted, _ = zero_shot
    with pytest.raises(ModelError):
        trusted.predict_vectors({"msd.taggram": np.full(50, 0.5, np.float32)})


def test_each_abstention_reason_reaches_the_prediction(zero_shot):
    trusted, base = zero_shot
    never = TrustedClassifier(base, synthetic_trust(base.classes, min_confidence=1.0))
    assert never.predict_waveform(tone(5.0)).abstain_reason in {"low-confidence", "ambiguous"}
    strange = TrustedClassifier(base, synthetic_trust(base.classes, oov_threshold=-1.0))
    prediction = strange.predict_waveform(tone(5.0))
    assert prediction.decided is None and prediction.abstain_reason == "out-of-vocabulary"
    assert never.model_id != strange.model_id != trusted.model_id  # parameters are in the id


def test_trusted_classifier_pickles_and_delegates(zero_shot):
    trusted, base = zero_shot
    clone = pickle.loads(pickle.dumps(trusted))
    assert clone.model_id == trusted.model_id
    assert dict(clone.predict_waveform(tone(4.0)).genres) == pytest.approx(
        dict(trusted.predict_waveform(tone(4.0)).genres))
    assert trusted.taxonomy is base.taxonomy and trusted.input.mode == "excerpt"
    with pytest.raises(AttributeError):
        trusted.no_such_attribute  # noqa: B018
    batch = trusted.predict_batch([tone(4.0), tone(6.0, 880.0)])
    assert len(batch) == 2
    assert all((p.decided is None) == (p.abstain_reason is not None) for p in batch)


def test_top_k_applies_after_calibration():
    base = MusicnnTagClassifier("gtzan", nets=stand_in_nets())
    trusted = TrustedClassifier(base, synthetic_trust(base.classes), top_k=3)
    prediction = trusted.predict_waveform(tone(4.0))
    assert len(prediction.genres) == 3


def test_shipped_parameters_apply_to_their_mapping_only():
    for name in ("default", "gtzan"):
        taxonomy = load_taxonomy(name)
        trust = shipped_trust("zeroshot", name, taxonomy.digest)
        assert trust is not None and trust.calibrated and trust.scores == TAXONOMY_EVIDENCE
        assert trust.calibration.classes == taxonomy.genres
        assert {"ece_before", "ece_after_cv"} <= set(trust.calibration.metrics)
        assert trust.policy.target_precision == 0.9
        assert shipped_trust("zeroshot", name, "0" * 64) is None  # an edited mapping


def test_a_custom_mapping_is_passed_through_uncalibrated(tmp_path):
    from importlib import resources

    text = resources.files("music_reclass.taxonomy").joinpath("data", "gtzan.json").read_text()
    document = json.loads(text)
    document["name"] = "mine"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(document))
    classifier = load_trusted_classifier(taxonomy=path)
    assert not classifier.trust.calibrated
    assert classifier.trust.policy.min_confidence == UNCALIBRATED_MIN_CONFIDENCE


def test_load_classifier_is_trusted_by_default():
    assert isinstance(load_classifier(taxonomy="gtzan"), TrustedClassifier)
    raw = load_classifier(taxonomy="gtzan", trusted=False)
    assert isinstance(raw, MusicnnTagClassifier)
    assert load_classifier(taxonomy="gtzan").model_id.startswith(raw.model_id + "/trust@")


# ------------------------------------------------------------------- trained model sidecars
@pytest.fixture
def tiny_model(tmp_path):
    """A logistic head on the cheap gtzan53 features of low and high tones, with its sidecar."""
    from music_reclass.features import get_extractor
    from music_reclass.models import artifact, heads

    extractor = get_extractor("gtzan53")

    def features(freqs, seed):
        return np.stack([extractor.extract_waveform(tone(2.0, f, seed=seed + i, sr=22050), 22050)
                         for i, f in enumerate(freqs)])

    rng = np.random.default_rng(1)
    low, high = rng.uniform(100, 300, size=7), rng.uniform(1500, 3000, size=7)
    X = np.vstack([features(low[:4], 0), features(high[:4], 10)])
    y = np.array(["low"] * 4 + ["high"] * 4)
    head = heads.fit_head(heads.make_head("logreg"), X, y)
    meta = {"name": "tiny", "feature": {"name": extractor.name, "version": extractor.version,
                                        "dim": extractor.dim, "sample_rate": 22050}}
    path = tmp_path / "tiny.safetensors"
    artifact.save_model(artifact.ModelArtifact(head, meta), path)
    held_out = np.vstack([features(low[4:], 20), features(high[4:], 30)])
    return path, head, held_out, np.array(["low"] * 3 + ["high"] * 3)


def test_calibration_is_saved_in_the_sidecar_and_used(tiny_model):
    from music_reclass.models.artifact import load_model, sha256_file

    path, head, X_valid, y_valid = tiny_model
    before = load_trusted_classifier(path)
    assert not before.trust.calibrated and read_trust(path) is None
    # uncalibrated: genres pass through, the cautious policy is in the id
    assert before.model_id.startswith(before.base.model_id + "/trust@")
    assert before.input == before.base.input
    assert before.embedding_space == before.base.embedding_space
    digest = sha256_file(path)
    calibration = fit_calibration(log_scores(head.predict_proba(X_valid)), y_valid,
                                  head.classes_, fitted_on={"data": "held-out tones"})
    trust = TrustModel(LOG_PROBABILITIES, calibration, None, DecisionPolicy(0.6))
    sidecar = write_trust(path, trust)
    assert json.loads(sidecar.read_text())["trust"]["calibration"]["method"] == "temperature"
    assert sha256_file(path) == digest and load_model(path).meta["sha256"] == digest
    assert read_trust(path) == trust
    after = load_trusted_classifier(path)
    assert after.trust == trust and after.model_id != before.model_id
    prediction = after.predict_waveform(tone(4.0, 200.0, seed=99))
    raw = before.base.predict_waveform(tone(4.0, 200.0, seed=99))
    classes = list(after.classes)
    expected = calibration.apply(log_scores([dict(raw.genres)[c] for c in classes]))[0]
    assert dict(prediction.genres) == pytest.approx(dict(zip(classes, expected, strict=True)))
    assert prediction.decided in (None, ["low"], ["high"])
    # from the stored feature vector: the same answer, no audio
    stored = after.predict_vectors(prediction.vectors[after.embedding_space])
    assert dict(stored.genres) == pytest.approx(dict(prediction.genres), rel=1e-5)


def test_a_damaged_trust_entry_is_a_model_error(tiny_model):
    from music_reclass.errors import ModelError

    path = tiny_model[0]
    sidecar = path.with_name(path.name + ".json")
    meta = json.loads(sidecar.read_text())
    meta["trust"] = {"format": "something else"}
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="trust"):
        read_trust(path)

