"""Data checks shared by the head estimators, done with scikit-learn's own helpers.

``fit`` of every head validates ``X`` and ``y`` the same way (2-D, finite, dense, real,
not empty; labels a classification target, kept as given) and takes the validation rows
it can score; :mod:`music_reclass.models.heads` and :mod:`music_reclass.models.torch_mlp`
use these two functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

__all__ = ["fit_data", "validation_rows"]


def fit_data(estimator: BaseEstimator, X, y, **check: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``X``, ``y`` for ``fit``; sets ``n_features_in_``, ``encoder_``, ``classes_``.

    The labels are kept as given: ``classes_`` has the dtype of ``y``.
    """
    X, y = validate_data(estimator, X, y, **check)
    check_classification_targets(y)
    estimator.encoder_ = LabelEncoder().fit(y)
    estimator.classes_ = estimator.encoder_.classes_
    return X, y


def validation_rows(estimator: BaseEstimator, X_valid, y_valid,
                    **check: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The validation rows of classes seen in training, with encoded labels; else ``None``.

    Rows of classes the estimator was not trained on cannot be scored and are left out.
    """
    if X_valid is None or y_valid is None or len(y_valid) == 0:
        return None
    X_valid = validate_data(estimator, X_valid, reset=False, **check)
    y_valid = column_or_1d(y_valid)
    if len(X_valid) != len(y_valid):
        raise ValueError(f"X_valid has {len(X_valid)} rows but y_valid {len(y_valid)} labels")
    known = np.isin(y_valid, estimator.classes_)
    if not known.any():
        return None
    return X_valid[known], estimator.encoder_.transform(y_valid[known])
