"""Classification metrics: accuracy, balanced accuracy, macro-F1, per-class scores,
confusion matrix and expected calibration error (ECE).

>>> m = classification_metrics(y_true, y_pred, proba=proba, classes=classes)  # doctest: +SKIP
>>> m["accuracy"], m["macro_f1"], m["ece"]                                     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = ["calibration_bins", "classification_metrics", "expected_calibration_error"]


def calibration_bins(
    y_true: Sequence[str],
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    n_bins: int = 10,
) -> list[dict[str, float]]:
    """Top-1 confidence vs accuracy in equal-width confidence bins.

    Parameters
    ----------
    y_true : sequence of str [shape=(n,)]
    proba : np.ndarray [shape=(n, k)]
        Probabilities, columns in ``classes`` order.
    classes : sequence of str [shape=(k,)]
    n_bins : int > 0
        Bins of equal width over [0, 1]; bin ``i`` holds confidences in
        ``(i/n, (i+1)/n]`` (the first also holds 0).

    Returns
    -------
    list of dict
        One per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean top-1
        probability), ``accuracy`` (share of top-1 predictions that are right);
        the last two are ``None`` for empty bins.
    """
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true).astype(str)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(classes)):
        raise ParameterError(f"proba must have shape ({len(y_true)}, {len(classes)}), got {proba.shape}")
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ParameterError(f"n_bins must be a positive integer, got {n_bins!r}")
    confidence = proba.max(axis=1) if len(proba) else np.zeros(0)
    correct = np.asarray(classes).astype(str)[proba.argmax(axis=1)] == y_true if len(proba) else np.zeros(0, bool)
    # bin i = (i/n, (i+1)/n]; a confidence of exactly 0 goes to bin 0
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    bins = []
    for i in range(n_bins):
        members = index == i
        count = int(members.sum())
        bins.append({
            "lower": i / n_bins,
            "upper": (i + 1) / n_bins,
            "count": count,
            "confidence": float(confidence[members].mean()) if count else None,
            "accuracy": float(correct[members].mean()) if count else None,
        })
    return bins


def expected_calibration_error(
    y_true: Sequence[str],
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    n_bins: int = 10,
) -> float:
    """ECE: ``sum_b |B|/n * |accuracy(B) - confidence(B)|`` over top-1 confidence bins.

    0 for a perfectly calibrated classifier (in each bin, the share of right
    answers equals the mean confidence); see :func:`calibration_bins`.
    """
    bins = calibration_bins(y_true, proba, classes, n_bins=n_bins)
    n = sum(b["count"] for b in bins)
    if n == 0:
        return float("nan")
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]) / n)


def classification_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str] | None = None,
    *,
    proba: np.ndarray | None = None,
    classes: Sequence[str] | None = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """All the metrics of one evaluation, JSON-ready.

    Parameters
    ----------
    y_true : sequence of str
        True labels.
    y_pred : sequence of str, optional
        Predicted labels; default the argmax of ``proba``.
    proba : np.ndarray [shape=(n, k)], optional
        Probabilities (columns in ``classes`` order) for the calibration metrics.
    classes : sequence of str, optional
        The model's classes; default the sorted union of true and predicted labels.
        Rows and columns of the confusion matrix follow :data:`labels` (the
        classes plus any true label the model does not know).
    n_bins : int
        Calibration bins.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``balanced_accuracy`` (mean recall over the true
        classes), ``macro_f1`` (mean F1 over the classes present in ``y_true``:
        classes never seen in the test set would count as 0 otherwise),
        ``per_class`` {label: precision, recall, f1, support}, ``labels``,
        ``confusion`` (rows true, columns predicted), and with ``proba``:
        ``ece``, ``calibration`` (bins), ``mean_confidence``.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    y_true = np.asarray(y_true).astype(str)
    if len(y_true) == 0:
        raise ParameterError("no examples to evaluate")
    if y_pred is None:
        if proba is None or classes is None:
            raise ParameterError("give y_pred, or proba and classes")
        y_pred = np.asarray(classes).astype(str)[np.asarray(proba).argmax(axis=1)]
    y_pred = np.asarray(y_pred).astype(str)
    if len(y_pred) != len(y_true):
        raise ParameterError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    known = [str(c) for c in classes] if classes is not None else sorted(set(y_true) | set(y_pred))
    labels = known + sorted((set(y_true) | set(y_pred)) - set(known))
    present = sorted(set(y_true))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    out: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(balanced_accuracy_score, y_true, y_pred),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "labels": labels,
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    if proba is not None:
        if classes is None:
            raise ParameterError("proba needs classes (its column labels)")
        proba = np.asarray(proba, dtype=np.float64)
        out["ece"] = expected_calibration_error(y_true, proba, known, n_bins=n_bins)
        out["calibration"] = calibration_bins(y_true, proba, known, n_bins=n_bins)
        out["mean_confidence"] = float(proba.max(axis=1).mean())
    return out


def _balanced_accuracy(score, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    import warnings

    with warnings.catch_warnings():  # predictions of classes absent from y_true are fine
        warnings.simplefilter("ignore", UserWarning)
        return float(score(y_true, y_pred))
