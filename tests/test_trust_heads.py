"""Calibrated heads: the scikit-learn meta-estimator (with scikit-learn's own estimator
checks), calibrating a saved model file, the JSON linear head, and the gtzan53 features."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from music_reclass.errors import FeatureMismatchError, ParameterError
from music_reclass.models.linear import LinearHead
from music_reclass.trust.calibration import top_label_ece
from music_reclass.trust.heads import TemperatureCalibratedClassifier, calibrate_model_file


@parametrize_with_checks([TemperatureCalibratedClassifier(background=True, cv=3)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def overconfident_data(seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(900, 8))
    y = (X[:, :4] + rng.normal(scale=2.0, size=(900, 4))).argmax(axis=1).astype(str)
    return X, y


def test_calibrated_head_is_better_calibrated_than_the_raw_one():
    X, y = overconfident_data(0)
    raw = LogisticRegression(C=1e4, max_iter=5000)  # barely regularised, over-confident
    groups = np.arange(600) // 20
    model = TemperatureCalibratedClassifier(raw, cv=5).fit(X[:600], y[:600], groups=groups)
    classes = list(model.classes_)
    index = np.array([classes.index(v) for v in y[600:]])
    before = top_label_ece(raw.fit(X[:600], y[:600]).predict_proba(X[600:]), index)
    after = top_label_ece(model.predict_proba(X[600:]), index)
    assert after < before
    assert model.calibration_.metrics["ece_before"] > model.calibration_.metrics[
        "ece_after_in_sample"]
    assert (model.predict(X[600:]) == raw.predict(X[600:])).all()  # ranking unchanged


def test_calibrate_model_file_writes_the_sidecar(tmp_path):
    from music_reclass.models import artifact, heads
    from music_reclass.trust.model import read_trust

    X, y = overconfident_data(1)
    head = heads.fit_head(heads.make_head("logreg", C=1e4), X[:400], y[:400])
    meta = {"name": "synthetic", "feature": {"name": "synthetic8", "version": "1", "dim": 8}}
    path = tmp_path / "m.joblib"
    artifact.save_model(artifact.ModelArtifact(head, meta), path)
    trust = calibrate_model_file(path, X[400:700], y[400:700], groups=np.arange(300) // 10,
                                 X_train=X[:400], y_train=y[:400], data="synthetic valid")
    assert read_trust(path) == trust
    assert trust.calibration.fitted_on["data"] == "synthetic valid"
    assert trust.oov.vector == "features.synthetic8"
    assert np.isfinite(trust.policy.oov_threshold)
    assert trust.calibration.metrics["ece_after_cv"] < trust.calibration.metrics["ece_before"]


def test_linear_head_equals_the_pipeline_it_came_from():
    X, y = overconfident_data(2)
    for labels in (y, np.where(y == "0", "zero", "other")):  # multinomial and binary
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, labels)
        head = LinearHead.from_pipeline(pipeline, {"name": "f", "version": "1"})
        assert np.allclose(head.predict_proba(X[:50]), pipeline.predict_proba(X[:50]), atol=1e-9)
        again = LinearHead.from_dict(json.loads(json.dumps(head.to_dict())))
        assert np.allclose(again.predict_proba(X[:5]), head.predict_proba(X[:5]))
    head.check_feature("f", "1")
    with pytest.raises(FeatureMismatchError):
        head.check_feature("f", "2")
    with pytest.raises(ParameterError):
        head.predict_proba(X[:, :3])
    broken = head.to_dict()
    broken["coef"] = [[0.0]]
    with pytest.raises(ParameterError):
        LinearHead.from_dict(broken)


# ---------------------------------------------------------------------------------- gtzan53
def test_gtzan53_are_the_gtzan58_values_from_one_stft():
    from music_reclass.features import get_extractor
    from music_reclass.features.gtzan58 import gtzan58_features
    from music_reclass.features.gtzan_spectral import GTZAN53_COLUMNS
    from trust_fixtures import tone

    extractor = get_extractor("gtzan53")
    assert extractor.dim == 53 and extractor.feature_names == list(GTZAN53_COLUMNS)
    assert not {"length", "harmony_mean", "perceptr_var"} & set(GTZAN53_COLUMNS)
    rng = np.random.default_rng(3)
    y = tone(6.0, 330.0, sr=22050) + 0.05 * rng.normal(size=6 * 22050).astype(np.float32)
    reference = gtzan58_features(y, 22050)
    values = extractor.extract_waveform(y, 22050)
    expected = np.array([reference[c] for c in GTZAN53_COLUMNS])
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.shared
def test_gtzan53_reproduces_the_published_table(shared_dir):
    import pandas as pd

    from music_reclass.features import get_extractor

    extractor = get_extractor("gtzan53")
    table = pd.read_csv(shared_dir / "gtzan-features" / "features_30_sec.csv").set_index("filename")
    for clip in ("blues/blues.00002.wav", "metal/metal.00003.wav"):
        values = extractor.extract(shared_dir / "audio" / "gtzan-dev" / clip)
        published = table.loc[clip.split("/")[1], extractor.feature_names].to_numpy(float)
        np.testing.assert_allclose(values, published, rtol=1e-4, atol=1e-6)
