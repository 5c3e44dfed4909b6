"""A head as one estimator: standardise the features, then classify.

:class:`HeadPipeline` does what ``Pipeline([("scale", StandardScaler()), ("clf", ...)])``
did for our heads, with two differences that matter to us:

- it fits *clones* of its ``scaler`` and ``classifier`` parameters and keeps the fitted
  ones in ``scaler_`` and ``classifier_``. A scikit-learn ``Pipeline`` fits the
  estimators of its ``steps`` parameter in place, so fitting changes its parameters
  (scikit-learn marks its own ``Pipeline`` as failing ``check_estimators_overwrite_params``
  and ``check_dont_overwrite_parameters`` for this reason); a head made once and fitted
  on several folds, or cloned by model selection, must not share fitted state;
- its ``fit`` takes a validation set (``X_valid``, ``y_valid``), scales it like the
  training data and hands it to classifiers whose ``fit`` accepts one (early stopping
  of the MLP and XGBoost heads).

>>> head = HeadPipeline(LogisticRegression())             # doctest: +SKIP
>>> head.fit(X, y).predict_proba(X_new)                    # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

__all__ = ["HeadPipeline", "takes_validation"]


def takes_validation(estimator: Any) -> bool:
    """Whether ``estimator.fit`` accepts ``X_valid=`` and ``y_valid=`` keywords."""
    try:
        params = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):  # a fit without a readable signature
        return False
    return "X_valid" in params and "y_valid" in params


class HeadPipeline(ClassifierMixin, BaseEstimator):
    """Standardise, then classify; fitted on clones, so the parameters stay as given.

    Parameters
    ----------
    classifier : estimator
        Unfitted classifier with ``fit``, ``predict`` and ``predict_proba``.
    scaler : transformer or None
        Unfitted transformer applied first; ``None`` means ``StandardScaler()``.

    Attributes
    ----------
    scaler_ : transformer
        The fitted clone of ``scaler``.
    classifier_ : estimator
        The fitted clone of ``classifier`` (``n_epochs_``, ``loss_curve_``... of the MLP).
    classes_ : np.ndarray
        The labels as given to :meth:`fit` (strings stay strings, integers integers);
        the columns of :meth:`predict_proba` follow them.
    n_features_in_ : int
    """

    def __init__(self, classifier: Any, *, scaler: Any = None) -> None:
        self.classifier = classifier
        self.scaler = scaler

    def fit(self, X, y, *, X_valid=None, y_valid=None) -> HeadPipeline:
        """Fit clones of the scaler and the classifier.

        Parameters
        ----------
        X : array-like [shape=(n, d)]
        y : array-like [shape=(n,)]
        X_valid, y_valid : array-like, optional
            Validation data, scaled like ``X``; passed on only to a classifier that
            takes it (see :func:`takes_validation`), ignored by the others.

        Returns
        -------
        HeadPipeline
            ``self``, fitted.
        """
        scaler = StandardScaler() if self.scaler is None else clone(self.scaler)
        classifier = clone(self.classifier)
        X_scaled = scaler.fit_transform(X)
        kwargs: dict[str, Any] = {}
        if (X_valid is not None and y_valid is not None and len(y_valid) > 0
                and takes_validation(classifier)):
            kwargs = {"X_valid": scaler.transform(X_valid), "y_valid": y_valid}
        classifier.fit(X_scaled, y, **kwargs)
        self.scaler_, self.classifier_ = scaler, classifier
        return self

    # -- what the fitted parts know ------------------------------------------------------
    @property
    def classes_(self) -> np.ndarray:
        """The labels, in the order of :meth:`predict_proba`'s columns."""
        return self.classifier_.classes_

    @property
    def n_features_in_(self) -> int:
        """Number of features seen by :meth:`fit`."""
        return self.scaler_.n_features_in_

    @property
    def feature_names_in_(self) -> np.ndarray:
        """Feature names seen by :meth:`fit` (only when it was given a data frame)."""
        return self.scaler_.feature_names_in_

    # -- prediction -----------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities [shape=(n, len(classes_))], columns in ``classes_`` order."""
        check_is_fitted(self)
        return self.classifier_.predict_proba(self.scaler_.transform(X))

    def predict(self, X) -> np.ndarray:
        """The most probable label of each row."""
        check_is_fitted(self)
        return self.classifier_.predict(self.scaler_.transform(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.classifier)
        # centring refuses sparse input; NaN passes the scaler, so the classifier decides
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.non_deterministic = inner.non_deterministic
        if inner.classifier_tags is not None:
            tags.classifier_tags = inner.classifier_tags
        return tags
