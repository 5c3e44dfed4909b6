"""Model artifacts: save/load round trip, sidecar content, tamper and feature-mismatch checks."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from music_reclass.errors import FeatureMismatchError, ModelError, ParameterError
from music_reclass.models.artifact import (
    FORMAT_VERSION,
    LibraryVersionWarning,
    ModelArtifact,
    compare_library_versions,
    library_versions,
    load_model,
    save_model,
    sha256_file,
    sidecar_path,
)
from music_reclass.models.heads import fit_head, make_head

FEATURE = {"name": "fma518", "version": "2", "dim": 8, "sample_rate": 44100}


@pytest.fixture
def trained():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-2, 1, (20, 8)), rng.normal(2, 1, (20, 8))])
    y = np.array(["classical"] * 20 + ["metal"] * 20)
    head = fit_head(make_head("logreg"), X, y)
    meta = {"name": "toy", "feature": dict(FEATURE),
            "training": {"dataset": "synthetic", "n_train": 40, "seed": 0},
            "metrics": {"test": {"accuracy": 1.0}}}
    return ModelArtifact(head, meta), X


def test_round_trip_and_sidecar(tmp_path, trained):
    artifact, X = trained
    path = tmp_path / "models" / "toy.joblib"
    side = save_model(artifact, path)
    assert side == sidecar_path(path) == tmp_path / "models" / "toy.joblib.json"
    meta = json.loads(side.read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["classes"] == ["classical", "metal"]
    assert meta["feature"] == FEATURE
    assert meta["sha256"] == sha256_file(path)
    assert meta["training"]["dataset"] == "synthetic"
    assert {"music_reclass", "sklearn", "torch", "xgboost", "numpy"} <= set(meta["versions"])
    assert meta["created_at"].endswith("+00:00")

    loaded = load_model(path)
    assert loaded.classes == ["classical", "metal"]
    assert loaded.feature_extractor == "fma518"
    assert loaded.model_id == f"toy@{meta['sha256'][:12]}"
    np.testing.assert_allclose(loaded.predict_proba(X, feature=("fma518", "2")),
                               artifact.estimator.predict_proba(X))
    assert list(loaded.predict(X[:1])) == ["classical"]


def test_tampered_model_file_is_refused(tmp_path, trained):
    artifact, _ = trained
    path = tmp_path / "toy.joblib"
    save_model(artifact, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its sidecar"):
        load_model(path)


def test_missing_or_broken_sidecar(tmp_path, trained):
    artifact, _ = trained
    path = tmp_path / "toy.joblib"
    save_model(artifact, path)
    side = sidecar_path(path)
    side.write_text("{not json")
    with pytest.raises(ModelError, match="not readable JSON"):
        load_model(path)
    side.write_text(json.dumps({"format_version": FORMAT_VERSION, "name": "toy"}))
    with pytest.raises(ModelError, match="lacks"):
        load_model(path)
    side.unlink()
    with pytest.raises(ModelError, match="sidecar missing"):
        load_model(path)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nothing.joblib")


def test_feature_mismatch_is_refused(tmp_path, trained):
    artifact, X = trained
    path = tmp_path / "toy.joblib"
    save_model(artifact, path)
    model = load_model(path)
    with pytest.raises(FeatureMismatchError, match="trained on fma518 v2 \\(8 dims\\) but got musicnn v1"):
        model.check_features("musicnn", "1", 500)
    with pytest.raises(FeatureMismatchError):
        model.predict_proba(X, feature=("fma518", "3"))  # same name, other version
    with pytest.raises(FeatureMismatchError, match="9 dims"):
        model.predict_proba(np.zeros((2, 9)))  # width checked even without a feature tag
    model.check_features("fma518", "2", 8)  # the right ones pass


def test_save_refuses_bad_input(tmp_path, trained):
    artifact, _ = trained
    with pytest.raises(ParameterError, match="json"):
        save_model(artifact, tmp_path / "model.json")
    with pytest.raises(ParameterError, match="feature"):
        save_model(ModelArtifact(artifact.estimator, {"name": "x"}), tmp_path / "x.joblib")
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("name", ["mlp", "xgboost", "svm"])
def test_other_heads_round_trip(tmp_path, name):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-2, 1, (15, 8)), rng.normal(2, 1, (15, 8))]).astype(np.float32)
    y = np.array(["a"] * 15 + ["b"] * 15)
    params = {"mlp": {"max_epochs": 20, "n_threads": 1}, "xgboost": {"n_estimators": 20, "n_jobs": 1}}
    head = fit_head(make_head(name, **params.get(name, {})), X, y)
    save_model(ModelArtifact(head, {"name": name, "feature": dict(FEATURE)}), tmp_path / f"{name}.joblib")
    loaded = load_model(tmp_path / f"{name}.joblib")
    np.testing.assert_allclose(loaded.predict_proba(X), head.predict_proba(X), atol=1e-7)


def _with_sidecar_versions(path, **versions):
    side = sidecar_path(path)
    meta = json.loads(side.read_text())
    meta["versions"].update(versions)
    side.write_text(json.dumps(meta))


def test_other_library_major_minor_warns(tmp_path, trained):
    artifact, _ = trained
    path = tmp_path / "toy.joblib"
    save_model(artifact, path)
    installed = library_versions()["sklearn"]
    major, minor = installed.split(".")[:2]
    # another patch release of the same major.minor: trusted, no warning
    _with_sidecar_versions(path, sklearn=f"{major}.{minor}.999")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(path).version_mismatches == []
    _with_sidecar_versions(path, sklearn=f"{major}.{int(minor) + 1}.0")
    with pytest.warns(LibraryVersionWarning, match="scikit-learn"):
        loaded = load_model(path)
    assert loaded.version_mismatches == [
        f"scikit-learn {major}.{int(minor) + 1}.0 (model) != {installed} (installed)"]


def test_compare_library_versions():
    assert compare_library_versions({"sklearn": "1.5.2", "xgboost": "2.1.0"},
                                    {"sklearn": "1.5.0", "xgboost": "3.0.1"}) == [
        "xgboost 2.1.0 (model) != 3.0.1 (installed)"]
    # a library unknown on either side is not compared; torch/numpy are not pickled
    assert compare_library_versions({"sklearn": None, "torch": "1.0"},
                                    {"sklearn": "1.5.0", "torch": "2.0"}) == []
