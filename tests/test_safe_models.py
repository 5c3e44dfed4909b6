"""Loading a model never runs code from the file: heads are data (safetensors + JSON);
old pickles load only when trusted explicitly, with a warning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from music_reclass.errors import ModelError
from music_reclass.models.artifact import (
    TRUST_PICKLE_ENV,
    ModelArtifact,
    PickleTrustWarning,
    load_model,
    save_model,
    sha256_file,
    sidecar_path,
)
from music_reclass.models.headio import FORMAT, load_head
from music_reclass.models.heads import fit_head, make_head

FEATURE = {"name": "fma518", "version": "2", "dim": 8, "sample_rate": 44100}


class _Exploit:
    """Pickled, it runs code while it loads: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def _crafted_pickle(tmp_path: Path) -> tuple[Path, Path]:
    """A hostile joblib model with a sidecar whose sha256 matches it (the issue's case)."""
    import joblib

    marker = tmp_path / "pwned"
    model = tmp_path / "evil.joblib"
    joblib.dump(_Exploit(marker), model)
    sidecar_path(model).write_text(json.dumps({
        "format_version": 1, "name": "evil", "classes": ["a", "b"], "feature": FEATURE,
        "serialization": "joblib", "sha256": sha256_file(model)}))
    return model, marker


def test_a_crafted_pickle_is_never_loaded_by_default(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(TRUST_PICKLE_ENV, raising=False)
    model, marker = _crafted_pickle(tmp_path)
    with pytest.raises(ModelError, match=f"is a pickle.*{TRUST_PICKLE_ENV}=1"):
        load_model(model)
    assert not marker.exists()


def test_a_trusted_pickle_loads_with_a_warning(tmp_path: Path, monkeypatch):
    model, marker = _crafted_pickle(tmp_path)
    monkeypatch.setenv(TRUST_PICKLE_ENV, "1")
    with pytest.warns(PickleTrustWarning, match="can run code"), pytest.raises(ModelError):
        load_model(model)  # the "model" is no estimator: refused after loading
    assert marker.read_text() == "code ran"  # what trusting a pickle means


def test_classify_with_a_crafted_pickle_is_a_one_line_error(tmp_path: Path, monkeypatch):
    from music_reclass.cli.main import app
    from test_scan import tone

    monkeypatch.delenv(TRUST_PICKLE_ENV, raising=False)
    model, marker = _crafted_pickle(tmp_path)
    tone(tmp_path / "music" / "a.wav", 300.0)
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "music"), "--model",
                                      str(model), "--db", str(tmp_path / "lib.sqlite")])
    assert result.exit_code == 2, result.output
    assert "is a pickle" in result.output and "Traceback" not in result.output
    assert not marker.exists()


def _head_file(tmp_path: Path, structure) -> Path:
    from safetensors.numpy import save_file

    path = tmp_path / "crafted.safetensors"
    save_file({"a0": np.zeros(2)}, str(path),
              metadata={"format": FORMAT, "structure": json.dumps(structure)})
    return path


@pytest.mark.parametrize("name", ["builtins.eval", "os.system", "subprocess.Popen",
                                  "pathlib.Path", "sklearn.pipeline.FunctionTransformer"])
def test_a_head_file_naming_another_type_is_refused(tmp_path: Path, name: str):
    path = _head_file(tmp_path, {"__object__": name, "state": {"__dict__": {}}})
    with pytest.raises(ModelError, match="not a type a head is made of"):
        load_head(path)


@pytest.mark.parametrize("structure", [
    {"__array__": "missing"}, {"__object__": "sklearn.svm._classes.SVC", "state": [1]},
    {"__weird__": 1}, "[" * 10, {"__tuple__": [{"__float__": "nan"}]},
])
def test_damaged_head_files_are_one_line_errors(tmp_path: Path, structure):
    path = _head_file(tmp_path, structure)
    try:
        load_head(path)
    except ModelError as exc:
        assert "\n" not in str(exc)


def test_not_a_head_file(tmp_path: Path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a readable head file"):
        load_head(path)


@pytest.mark.parametrize("name", ["logreg", "svm", "mlp", "xgboost"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_every_head_round_trips_as_data(tmp_path: Path, name: str, n_classes: int):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(3 * k, 1, (12, 8)) for k in range(n_classes)])
    y = np.repeat([f"g{k}" for k in range(n_classes)], 12)
    params = {"mlp": {"max_epochs": 15, "n_threads": 1},
              "xgboost": {"n_estimators": 15, "n_jobs": 1}}.get(name, {})
    head = fit_head(make_head(name, **params), X, y)
    path = tmp_path / f"{name}.safetensors"
    save_model(ModelArtifact(head, {"name": name, "feature": dict(FEATURE)}), path)
    meta = json.loads(sidecar_path(path).read_text())
    assert (meta["kind"], meta["serialization"]) == ("head", "safetensors")
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), head.predict_proba(X))


def test_svm_with_a_class_of_one_example_round_trips(tmp_path: Path):
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(0, 1, (10, 8)), rng.normal(4, 1, (10, 8)), np.full((1, 8), 9.0)])
    y = np.array(["a"] * 10 + ["b"] * 10 + ["c"])
    head = fit_head(make_head("svm"), X, y)
    path = tmp_path / "svm.safetensors"
    save_model(ModelArtifact(head, {"name": "svm", "feature": dict(FEATURE)}), path)
    np.testing.assert_array_equal(load_model(path).predict_proba(X), head.predict_proba(X))


@pytest.mark.parametrize("name", ["logreg", "svm", "mlp", "xgboost"])
def test_labels_keep_their_type_through_a_head_file(tmp_path: Path, name: str):
    from music_reclass.models.headio import save_head

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(3 * k, 1, (12, 8)) for k in range(3)])
    y = np.repeat([7, 8, 9], 12)  # integer labels: classes_ stays integer after loading
    params = {"mlp": {"max_epochs": 5, "n_threads": 1},
              "xgboost": {"n_estimators": 5, "n_jobs": 1}}.get(name, {})
    head = fit_head(make_head(name, **params), X, y)
    save_head(head, tmp_path / "h.safetensors")
    loaded = load_head(tmp_path / "h.safetensors")
    assert type(loaded) is type(head)
    assert loaded.classes_.dtype == head.classes_.dtype and list(loaded.classes_) == [7, 8, 9]
    assert loaded.n_features_in_ == 8
    np.testing.assert_array_equal(loaded.predict(X), head.predict(X))
    with pytest.raises(ValueError, match="features"):  # the feature count is checked
        loaded.predict(X[:, :5])


def test_a_head_file_written_before_the_mlp_moved_still_loads(tmp_path: Path):
    """Files saved as a scikit-learn Pipeline naming ``...heads.TorchMLPClassifier``."""
    from safetensors import safe_open
    from safetensors.numpy import save_file
    from sklearn.pipeline import Pipeline

    from music_reclass.models.headio import save_head

    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(3 * k, 1, (12, 8)) for k in range(2)])
    y = np.repeat(["a", "b"], 12)
    head = fit_head(make_head("mlp", max_epochs=5, n_threads=1), X, y)
    old_style = Pipeline([("scale", head.scaler_), ("clf", head.classifier_)])
    save_head(old_style, tmp_path / "new.safetensors")
    with safe_open(str(tmp_path / "new.safetensors"), framework="np") as handle:
        metadata = handle.metadata()
        arrays = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    moved = "music_reclass.models.torch_mlp.TorchMLPClassifier"
    assert moved in metadata["structure"]
    metadata["structure"] = metadata["structure"].replace(
        moved, "music_reclass.models.heads.TorchMLPClassifier")
    save_file(arrays, str(tmp_path / "old.safetensors"), metadata=metadata)
    loaded = load_head(tmp_path / "old.safetensors")
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.predict_proba(X), head.predict_proba(X))
