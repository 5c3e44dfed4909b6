"""The cross-validated report of a personal model: overall, per genre, calibration, decisions.

Every figure comes from out-of-fold predictions of the artist-grouped cross-validation
(no artist on both sides of a split), with cross-fitted calibration and thresholds (see
:mod:`.calibrate`): they estimate how the model does on artists it has not met.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from music_reclass.evaluation.metrics import classification_metrics
from music_reclass.personal.calibrate import binary_ece, top1_ece

__all__ = ["multi_label_report", "single_label_report"]


def _artists(groups: Sequence[str], members: np.ndarray) -> int:
    return len({groups[i] for i in np.flatnonzero(members)})


def single_label_report(classes: Sequence[str], truth: np.ndarray, proba: np.ndarray,
                        raw_proba: np.ndarray, decided: np.ndarray, groups: Sequence[str],
                        ) -> dict[str, Any]:
    """Accuracy, per-genre scores, calibration and decisions of a single-label model.

    Parameters
    ----------
    classes : sequence of str
    truth : np.ndarray [shape=(n,)] of int
        Each track's genre (column of ``classes``).
    proba, raw_proba : np.ndarray [shape=(n, k)]
        Calibrated and uncalibrated out-of-fold probabilities.
    decided : np.ndarray [shape=(n,)] of bool
        Whether the decision policy committed for the track.
    groups : sequence of str
        Each track's artist group.
    """
    names = np.asarray(classes)
    metrics = classification_metrics(names[truth], proba=proba, classes=list(names))
    correct = proba.argmax(axis=1) == truth
    true_proba = np.clip(proba[np.arange(len(truth)), truth], 1e-12, 1.0)
    per_genre = {}
    for k, name in enumerate(names):
        scores = metrics["per_class"].get(str(name), {})
        per_genre[str(name)] = {**scores, "artists": _artists(groups, truth == k)}
    return {
        "tracks": int(len(truth)),
        "accuracy": metrics["accuracy"],
        "balanced_accuracy": metrics["balanced_accuracy"],
        "macro_f1": metrics["macro_f1"],
        "log_loss": float(-np.mean(np.log(true_proba))),
        "ece_before": top1_ece(raw_proba, truth),
        "ece_after": top1_ece(proba, truth),
        "mean_confidence": float(proba.max(axis=1).mean()),
        "per_genre": per_genre,
        "labels": metrics["labels"],
        "confusion": metrics["confusion"],
        "decisions": _decisions(decided, correct),
    }


def _decisions(decided: np.ndarray, correct: np.ndarray) -> dict[str, Any]:
    covered = int(decided.sum())
    return {"coverage": float(covered / max(len(decided), 1)),
            "precision": float(correct[decided].mean()) if covered else None,
            "decided": covered}


def multi_label_report(classes: Sequence[str], Y: np.ndarray, proba: np.ndarray,
                       raw_proba: np.ndarray, chosen: np.ndarray, groups: Sequence[str],
                       ) -> dict[str, Any]:
    """Per-genre precision, recall and F1 at the thresholds, and set-level scores.

    ``chosen[i, k]`` says the decision policy gave track i genre k.
    """
    hits = (chosen & Y).sum(axis=0)
    predicted = chosen.sum(axis=0)
    support = Y.sum(axis=0)
    per_genre = {}
    for k, name in enumerate(classes):
        precision = hits[k] / predicted[k] if predicted[k] else 0.0
        recall = hits[k] / support[k] if support[k] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_genre[str(name)] = {"precision": float(precision), "recall": float(recall),
                                "f1": float(f1), "support": int(support[k]),
                                "artists": _artists(groups, Y[:, k])}
    micro_p = hits.sum() / max(predicted.sum(), 1)
    micro_r = hits.sum() / max(support.sum(), 1)
    top = proba.argmax(axis=1)
    clipped = np.clip(proba, 1e-12, 1 - 1e-12)
    any_decided = chosen.any(axis=1)
    return {
        "tracks": int(len(Y)),
        "top1_accuracy": float(Y[np.arange(len(Y)), top].mean()),
        "exact_match": float((chosen == Y).all(axis=1).mean()),
        "micro_f1": float(2 * micro_p * micro_r / (micro_p + micro_r)) if micro_p + micro_r else 0.0,
        "macro_f1": float(np.mean([g["f1"] for g in per_genre.values()])),
        "log_loss": float(-np.mean(np.where(Y, np.log(clipped), np.log(1 - clipped)))),
        "ece_before": binary_ece(raw_proba, Y),
        "ece_after": binary_ece(proba, Y),
        "per_genre": per_genre,
        "decisions": {"coverage": float(any_decided.mean()),
                      "precision": float(micro_p) if predicted.sum() else None,
                      "decided": int(any_decided.sum()),
                      "genres_per_decided_track": float(chosen[any_decided].sum(axis=1).mean())
                      if any_decided.any() else 0.0},
    }
