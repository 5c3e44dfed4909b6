"""The heads are scikit-learn estimators in full: scikit-learn's own estimator checks.

Every head estimator and every ``make_head`` pipeline runs the whole legacy suite of
``sklearn.utils.estimator_checks`` (labels kept as given, ``NotFittedError`` before
fit, feature-count checks in predict, refusal of sparse/complex/NaN/empty input,
pickling, parameters left unchanged by fit, determinism with a seed...).

No check is marked as an expected failure: each one applies to our heads and passes.
The sizes below (few trees, few epochs, two calibration folds) only keep the run short;
they are large enough for the checks' accuracy floor (0.83 on ``make_blobs``).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from music_reclass.models.heads import (
    HEADS,
    CalibratedSVMClassifier,
    TorchMLPClassifier,
    XGBLabelClassifier,
    make_head,
)

SMALL = {
    "logreg": {"max_iter": 200},
    "svm": {"cv": 2},
    "xgboost": {"n_estimators": 5, "n_jobs": 1},
    "mlp": {"hidden": (32,), "lr": 1e-2, "max_epochs": 10, "n_threads": 1},
}

ESTIMATORS = [
    CalibratedSVMClassifier(**SMALL["svm"]),
    XGBLabelClassifier(**SMALL["xgboost"]),
    TorchMLPClassifier(**SMALL["mlp"]),
    *(make_head(name, **SMALL[name]) for name in sorted(HEADS)),
]


def test_every_head_is_checked():
    # a head added to HEADS without a size here would silently escape the checks
    assert set(SMALL) == set(HEADS)


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_fit_leaves_the_head_parameters_as_given(name):
    """What ``check_estimators_overwrite_params`` guards, said plainly for our pipelines:
    fitting fits clones, so a head can be fitted twice and cloned without sharing state."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(4 * k, 1, (15, 5)) for k in range(3)])
    y = np.repeat([10, 20, 30], 15)  # integer labels stay integers
    head = make_head(name, **SMALL[name])
    head.fit(X, y)
    assert not hasattr(head.classifier, "classes_")  # the parameter itself is not fitted
    assert head.classifier_ is not head.classifier
    np.testing.assert_array_equal(head.classes_, [10, 20, 30])
    assert head.classes_.dtype.kind == "i"
    assert head.predict(X[:3]).dtype.kind == "i"
