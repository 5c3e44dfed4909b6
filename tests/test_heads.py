"""Trainable heads: fit, beat chance, probabilities, string classes, determinism, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from music_reclass.errors import ParameterError
from music_reclass.models.heads import HEADS, TorchMLPClassifier, fit_head, make_head

CLASSES = np.array(["blues", "jazz", "rock"])


def separable(n_per_class: int = 40, dim: int = 12, seed: int = 0):
    """Three Gaussian blobs far apart in a few dimensions, noise in the rest."""
    centres = np.random.default_rng(12345).normal(0, 4, size=(len(CLASSES), dim))
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + rng.normal(0, 1, size=(n_per_class, dim)) for c in centres])
    y = np.repeat(CLASSES, n_per_class)
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order]


FAST = {"xgboost": {"n_estimators": 40, "n_jobs": 1}, "mlp": {"max_epochs": 60, "n_threads": 1}}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_head_fits_and_beats_chance(name):
    X, y = separable()
    X_test, y_test = separable(seed=1)
    head = fit_head(make_head(name, seed=0, **FAST.get(name, {})), X, y)
    assert list(head.classes_) == list(CLASSES)
    accuracy = float(np.mean(head.predict(X_test) == y_test))
    assert accuracy > 0.8  # chance is 1/3
    proba = head.predict_proba(X_test)
    assert proba.shape == (len(y_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(proba >= 0)
    # columns follow classes_: the argmax is the predicted label
    np.testing.assert_array_equal(head.classes_[proba.argmax(axis=1)], head.predict(X_test))


@pytest.mark.parametrize("name", ["mlp", "xgboost"])
def test_heads_use_validation_data(name):
    X, y = separable()
    X_valid, y_valid = separable(n_per_class=10, seed=2)
    head = fit_head(make_head(name, **FAST[name]), X, y, X_valid=X_valid, y_valid=y_valid)
    assert np.mean(head.predict(X_valid) == y_valid) > 0.8


def test_mlp_early_stopping_and_determinism():
    # random labels: the held-out loss can only get worse as the net memorises
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 12)).astype(np.float32)
    y = rng.choice(CLASSES, size=120)
    a = fit_head(make_head("mlp", seed=3, max_epochs=300, patience=5, n_threads=1), X, y)
    b = fit_head(make_head("mlp", seed=3, max_epochs=300, patience=5, n_threads=1), X, y)
    mlp = a.classifier_
    assert mlp.n_epochs_ < 300  # stopped early on its held-out slice
    assert len(mlp.validation_curve_) == mlp.n_epochs_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_mlp_respects_thread_setting():
    import torch

    before = torch.get_num_threads()
    X, y = separable(n_per_class=10)
    TorchMLPClassifier(max_epochs=2, n_threads=1).fit(X, y)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("name", sorted(HEADS))
def test_heads_pickle_round_trip(name):
    X, y = separable(n_per_class=15)
    head = fit_head(make_head(name, **FAST.get(name, {})), X, y)
    clone = pickle.loads(pickle.dumps(head))
    np.testing.assert_allclose(clone.predict_proba(X), head.predict_proba(X), atol=1e-7)


def test_mlp_pickle_holds_no_torch_objects():
    X, y = separable(n_per_class=10)
    mlp = TorchMLPClassifier(max_epochs=3).fit(X, y)
    state = mlp.__getstate__()
    assert "net_" not in state
    assert all(isinstance(v, np.ndarray) for v in state["_weights"].values())


def test_svm_with_a_class_of_one():
    X, y = separable(n_per_class=10)
    y = y.copy()
    y[0] = "pop"  # a class with a single example cannot be cross-validated
    head = fit_head(make_head("svm"), X, y)
    assert "pop" in head.classes_
    np.testing.assert_allclose(head.predict_proba(X).sum(axis=1), 1.0, atol=1e-6)


def test_unknown_head_and_parameter():
    with pytest.raises(ParameterError, match="unknown model"):
        make_head("forest")
    with pytest.raises(ParameterError, match="bad parameter"):
        make_head("mlp", widths=3)


def test_fit_head_rejects_bad_data():
    X, y = separable(n_per_class=5)
    with pytest.raises(ParameterError, match="two classes"):
        fit_head(make_head("logreg"), X, np.full(len(y), "rock"))
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        fit_head(make_head("logreg"), X_bad, y)


@pytest.mark.parametrize("name", ["mlp", "xgboost"])
def test_validation_rows_of_unseen_classes_are_left_out(name):
    X, y = separable()
    X_valid, y_valid = separable(n_per_class=10, seed=2)
    y_valid = y_valid.copy()
    y_valid[:5] = "pop"  # not a training class: cannot be scored, the other rows are used
    head = fit_head(make_head(name, **FAST[name]), X, y, X_valid=X_valid, y_valid=y_valid)
    inner = head.classifier_
    if name == "mlp":
        assert len(inner.validation_curve_) == inner.n_epochs_ > 0
    else:  # early stopping ran on the given rows
        assert inner.booster_.best_iteration < FAST[name]["n_estimators"]
    assert "pop" not in head.classes_


def test_validation_data_must_match_the_training_features():
    X, y = separable()
    with pytest.raises(ValueError, match="features"):
        fit_head(make_head("mlp", **FAST["mlp"]), X, y, X_valid=X[:, :5], y_valid=y)
