"""Calibrating trained heads: a scikit-learn meta-estimator, and the sidecar of a model file.

- :class:`TemperatureCalibratedClassifier` wraps any classifier with ``predict_proba``:
  its calibration is fitted on out-of-fold probabilities (grouped folds when groups,
  e.g. artists, are given), then the classifier is refitted on everything. Like
  scikit-learn's ``CalibratedClassifierCV(method="temperature", ensemble=False)``, plus
  the optional background level, and with the parameters exposed as a
  :class:`~.calibration.Calibration` that can be stored as JSON.
- :func:`calibrate_model_file` fits the trust parameters of a saved model
  (:mod:`music_reclass.models.artifact`) on held-out features and writes them into its
  sidecar, where :func:`~.classifier.load_trusted_classifier` finds them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from music_reclass.trust.calibration import fit_calibration, log_scores
from music_reclass.trust.fitting import HeldOut, TrustSettings, fit_trust
from music_reclass.trust.model import LOG_PROBABILITIES, TrustModel, write_trust
from music_reclass.trust.vocabulary import PrototypeOOV

__all__ = ["TemperatureCalibratedClassifier", "calibrate_model_file"]


class TemperatureCalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier with temperature-scaled (optionally background-levelled) probabilities.

    Parameters
    ----------
    estimator : classifier, default LogisticRegression()
        Anything with ``fit`` and ``predict_proba``.
    background : bool
        Fit a background level too (see :mod:`.calibration`).
    cv : int
        Folds for the out-of-fold probabilities (fewer when a class has fewer examples).

    Attributes
    ----------
    estimator_ : classifier
        Fitted on all the data.
    calibration_ : Calibration
        Fitted on the out-of-fold probabilities.
    classes_ : np.ndarray
    """

    def __init__(self, estimator: Any = None, *, background: bool = False, cv: int = 5) -> None:
        self.estimator = estimator
        self.background = background
        self.cv = cv

    def fit(self, X, y, groups: Sequence[Any] | None = None) -> TemperatureCalibratedClassifier:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_predict

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        base = clone(self.estimator if self.estimator is not None else LogisticRegression())
        smallest = int(np.unique(y, return_counts=True)[1].min())
        folds = min(int(self.cv), smallest) if groups is None else min(int(self.cv),
                                                                       len(set(groups)))
        if len(self.classes_) < 2:
            raise ValueError("y has only one class: calibration needs at least 2 classes")
        if folds < 2:
            raise ValueError("calibration needs at least 2 examples (or groups) of each class")
        splitter = (GroupKFold(n_splits=folds) if groups is not None
                    else StratifiedKFold(n_splits=folds, shuffle=True, random_state=0))
        out_of_fold = cross_val_predict(base, X, y, cv=splitter, groups=groups,
                                        method="predict_proba")
        self.calibration_ = fit_calibration(log_scores(out_of_fold), [str(v) for v in y],
                                            [str(c) for c in self.classes_],
                                            background=self.background,
                                            reference_probabilities=out_of_fold)
        self.estimator_ = base.fit(X, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "calibration_")
        X = validate_data(self, X, reset=False)
        return self.calibration_.apply(log_scores(self.estimator_.predict_proba(X)))

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "calibration_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def calibrate_model_file(
    path: str | os.PathLike,
    X_valid: np.ndarray,
    y_valid: Sequence[str],
    *,
    groups: Sequence[Any] | None = None,
    X_train: np.ndarray | None = None,
    y_train: Sequence[str] | None = None,
    settings: TrustSettings = TrustSettings(objective="nll", alpha=0.1, oov_retention=0.95),
    data: str = "",
) -> TrustModel:
    """Fit a saved model's trust parameters on held-out features and store them in its sidecar.

    Parameters
    ----------
    path : path-like
        The model file (its sidecar gets a ``"trust"`` entry; the model file is untouched).
    X_valid, y_valid : held-out features and labels (never trained on)
    groups : sequence, optional
        Artist (or other) group of each held-out example: the policy's thresholds are then
        fitted on leave-one-group-out probabilities. Default: each example its own group.
    X_train, y_train : optional
        The training features: class prototypes for out-of-vocabulary detection
        (distance threshold at ``settings.oov_retention`` of the held-out examples).
    settings : TrustSettings
    data : str
        Description of the held-out data, stored in the sidecar.

    Returns
    -------
    TrustModel
        As written.
    """
    from music_reclass.models.artifact import load_model

    artifact = load_model(path)
    classes = artifact.classes
    X_valid = np.asarray(X_valid)
    labels = [str(v) for v in y_valid]
    groups = [str(g) for g in (groups if groups is not None else range(len(labels)))]
    known = np.array([label in classes for label in labels], dtype=bool)
    dropped = int((~known).sum()) if settings.objective == "nll" else 0
    if dropped:  # the head cannot name them: no likelihood
        X_valid = X_valid[known]
        labels = [label for label, k in zip(labels, known, strict=True) if k]
        groups = [group for group, k in zip(groups, known, strict=True) if k]
    probabilities = artifact.predict_proba(X_valid)
    oov, oov_scores = None, None
    if X_train is not None and y_train is not None:
        vector = f"features.{artifact.feature_extractor}"
        oov = PrototypeOOV.from_training(vector, X_train, y_train, classes)
        oov_scores = oov.distances(X_valid)
    held = HeldOut(log_scores(probabilities), labels, groups, oov_scores, probabilities)
    trust = fit_trust(held, classes, score_kind=LOG_PROBABILITIES, oov=oov, settings=settings,
                      fitted_on={"data": data or "held-out features", "n": len(labels),
                                 "n_left_out_unknown_class": dropped})
    write_trust(path, trust)
    return trust
