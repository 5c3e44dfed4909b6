"""Trainable classification heads on fixed-length feature vectors.

Every head is a :class:`~music_reclass.models.head_pipeline.HeadPipeline`
``StandardScaler -> estimator`` whose ``classes_`` hold the labels it was trained on,
as given (strings stay strings), and whose ``predict_proba`` columns follow
``classes_``. Each estimator is a scikit-learn estimator in full: it validates its
input with scikit-learn's helpers, raises ``NotFittedError`` before ``fit``, checks
the number of features when predicting, and passes scikit-learn's estimator checks
(``tests/test_heads_estimator_checks.py``):

==========  ===============================================================
``logreg``  multinomial logistic regression (L2)
``svm``     RBF support-vector machine, probabilities from Platt scaling on
            cross-validated decision values (:class:`CalibratedSVMClassifier`)
``xgboost`` gradient-boosted trees, labels of any type encoded inside
            (:class:`XGBLabelClassifier`)
``mlp``     PyTorch multilayer perceptron with early stopping
            (:class:`~music_reclass.models.torch_mlp.TorchMLPClassifier`)
==========  ===============================================================

>>> head = make_head("logreg", seed=0)                       # doctest: +SKIP
>>> fit_head(head, X_train, y_train, X_valid=X_valid, y_valid=y_valid)  # doctest: +SKIP
>>> head.predict_proba(X_test).sum(axis=1)                   # doctest: +SKIP
array([1., 1., ...])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from music_reclass.errors import ParameterError
from music_reclass.models.head_data import fit_data, validation_rows
from music_reclass.models.head_pipeline import HeadPipeline
from music_reclass.models.torch_mlp import TorchMLPClassifier

__all__ = [
    "HEADS",
    "CalibratedSVMClassifier",
    "HeadPipeline",
    "TorchMLPClassifier",
    "XGBLabelClassifier",
    "fit_head",
    "make_head",
]


# --------------------------------------------------------------------------- xgboost
class XGBLabelClassifier(ClassifierMixin, BaseEstimator):
    """:class:`xgboost.XGBClassifier` that accepts labels of any type (strings...).

    XGBoost wants labels ``0..K-1``; this wrapper encodes them on ``fit`` and
    exposes the original labels, as given, in ``classes_``. Validation rows whose
    label was not seen in training are left out of early stopping.

    Parameters
    ----------
    n_estimators, max_depth, learning_rate, subsample, colsample_bytree
        Passed to XGBoost.
    early_stopping_rounds : int
        Used only when :meth:`fit` receives a validation set.
    n_jobs : int
        XGBoost threads.
    seed : int
        ``random_state`` of XGBoost.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        subsample: float = 0.9,
        colsample_bytree: float = 0.5,
        early_stopping_rounds: int = 20,
        n_jobs: int = 1,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(self, X, y, *, X_valid=None, y_valid=None) -> XGBLabelClassifier:
        """Fit on ``X``, ``y``; stop early on the validation rows of known classes.

        Returns
        -------
        XGBLabelClassifier
            ``self``, fitted; ``classes_`` holds the labels as given.
        """
        from xgboost import XGBClassifier

        X, y = fit_data(self, X, y)
        valid = validation_rows(self, X_valid, y_valid)
        self.booster_ = XGBClassifier(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            learning_rate=self.learning_rate,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            tree_method="hist",
            n_jobs=self.n_jobs,
            random_state=self.seed,
            early_stopping_rounds=self.early_stopping_rounds if valid is not None else None,
            # a single-class training set would make XGBoost switch to binary mode
            objective="multi:softprob",
            num_class=max(2, len(self.classes_)),
        )
        fit_kwargs: dict[str, Any] = {"verbose": False}
        if valid is not None:
            fit_kwargs["eval_set"] = [valid]
        self.booster_.fit(X, self.encoder_.transform(y), **fit_kwargs)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities [shape=(n, len(classes_))], columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        if len(self.classes_) == 1:  # XGBClassifier mis-shapes its output after one class
            return np.ones((len(X), 1))
        proba = self.booster_.predict_proba(X)[:, : len(self.classes_)]
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """The most probable label of each row."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]


# ------------------------------------------------------------------------------- svm
class CalibratedSVMClassifier(ClassifierMixin, BaseEstimator):
    """RBF :class:`~sklearn.svm.SVC` with Platt-scaled probabilities.

    ``CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False)``: the
    sigmoid is fitted on cross-validated decision values, then one SVC is
    refitted on all the data. The number of folds adapts to the smallest class
    (at most ``cv``, at least 2); with a class of a single example the sigmoid is
    fitted on the training decision values (over-confident, but usable).

    Parameters
    ----------
    C, gamma, kernel
        Passed to SVC.
    cv : int
        Maximum number of calibration folds.
    seed : int
    """

    def __init__(self, *, C: float = 10.0, gamma: str | float = "scale", kernel: str = "rbf",
                 cv: int = 5, seed: int = 0) -> None:
        self.C = C
        self.gamma = gamma
        self.kernel = kernel
        self.cv = cv
        self.seed = seed

    def fit(self, X, y) -> CalibratedSVMClassifier:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        svc = SVC(C=self.C, gamma=self.gamma, kernel=self.kernel, random_state=self.seed)
        smallest = int(np.unique(y, return_counts=True)[1].min())
        if smallest >= 2:
            folds = StratifiedKFold(min(self.cv, smallest), shuffle=True, random_state=self.seed)
            self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False)
        else:
            from sklearn.frozen import FrozenEstimator

            self.calibrated_ = CalibratedClassifierCV(FrozenEstimator(svc.fit(X, y)), method="sigmoid")
        with warnings.catch_warnings():  # "least populated class" when a class has one example
            warnings.simplefilter("ignore", UserWarning)
            self.calibrated_.fit(X, y)
        self.classes_ = self.calibrated_.classes_
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities [shape=(n, len(classes_))], columns in ``classes_`` order."""
        check_is_fitted(self)
        return self.calibrated_.predict_proba(validate_data(self, X, reset=False))

    def predict(self, X) -> np.ndarray:
        """The most probable label of each row."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]


# ---------------------------------------------------------------------------- factory
def _logreg(seed: int, **params: Any):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{"C": 1.0, "max_iter": 3000, "random_state": seed, **params})


def _svm(seed: int, **params: Any):
    return CalibratedSVMClassifier(seed=seed, **params)


def _xgboost(seed: int, **params: Any):
    return XGBLabelClassifier(seed=seed, **params)


def _mlp(seed: int, **params: Any):
    return TorchMLPClassifier(seed=seed, **params)


#: head name -> factory(seed, **params) of the final estimator
HEADS: dict[str, Callable[..., Any]] = {
    "logreg": _logreg,
    "svm": _svm,
    "xgboost": _xgboost,
    "mlp": _mlp,
}


def make_head(name: str, *, seed: int = 0, **params: Any) -> HeadPipeline:
    """A new, unfitted classification head.

    Parameters
    ----------
    name : {"logreg", "svm", "xgboost", "mlp"}
    seed : int
        Random seed of the estimator (results are reproducible for a given seed).
    **params
        Passed to the estimator (``C=...`` for logreg/svm, ``n_estimators=...`` for
        xgboost, ``hidden=(512, 128)``, ``n_threads=1``... for mlp).

    Returns
    -------
    HeadPipeline
        ``StandardScaler()`` then the estimator; fitting it leaves these parameters as
        they are (the fitted parts are ``scaler_`` and ``classifier_``).

    Raises
    ------
    ParameterError
        Unknown head name or parameter.
    """
    if name not in HEADS:
        raise ParameterError(f"unknown model {name!r}; use one of {', '.join(HEADS)}")
    try:
        estimator = HEADS[name](seed, **params)
    except TypeError as exc:
        raise ParameterError(f"bad parameter for {name}: {exc}") from exc
    return HeadPipeline(estimator)


def fit_head(head: HeadPipeline, X, y, *, X_valid=None, y_valid=None) -> HeadPipeline:
    """Fit a head; its validation data (if any) is scaled like the training data.

    Heads that can use a validation set (``mlp`` for early stopping, ``xgboost``
    for early stopping) receive it; the others ignore it.

    Parameters
    ----------
    head : HeadPipeline
        From :func:`make_head`.
    X : np.ndarray [shape=(n, d)]
    y : array-like [shape=(n,)]
        Labels (strings or integers), kept as given in ``head.classes_``.
    X_valid, y_valid : optional
        Validation data.

    Returns
    -------
    HeadPipeline
        ``head``, fitted.

    Raises
    ------
    ParameterError
        ``X`` is not 2-D with one row per label, has fewer than two classes, or holds
        NaN or infinite values.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ParameterError(f"X must be 2-D with one row per label, got {X.shape} and {len(y)} labels")
    if len(np.unique(y)) < 2:
        raise ParameterError("training needs at least two classes")
    if not np.all(np.isfinite(X)):
        raise ParameterError("X contains NaN or infinite values")
    return head.fit(X, y, X_valid=X_valid, y_valid=y_valid)
