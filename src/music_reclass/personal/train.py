"""Learning a personal head from a library's labels and stored embeddings.

:func:`fit_personal` standardises the embeddings, builds artist-grouped folds, computes
out-of-fold scores for every candidate penalty from per-fold statistics (:mod:`.fit`),
keeps the penalty with the best calibrated log-loss, measures the model with
cross-fitted calibration and thresholds (:mod:`.calibrate`, :mod:`.evaluate`), then fits
the final linear map on every labelled track and its calibrator on all the out-of-fold
scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.models.personal import PersonalHead, PlattCalibrator, TemperatureCalibrator
from music_reclass.personal.calibrate import (
    f1_threshold,
    fit_platt,
    fit_temperature,
    precision_threshold,
    uncalibrated,
)
from music_reclass.personal.evaluate import multi_label_report, single_label_report
from music_reclass.personal.fit import (
    RIDGES,
    SHRINKAGES,
    Cancelled,
    fold_stats,
    out_of_fold_scores,
    solve,
    standardise,
)
from music_reclass.personal.folds import MAX_FOLDS, group_folds
from music_reclass.personal.labels import Labelling

__all__ = ["TARGET_PRECISION", "Cancelled", "FitResult", "fit_personal"]

#: the precision a single-label model's decisions must reach in cross-validation
TARGET_PRECISION = 0.9
#: penalties used when there is nothing to cross-validate on
_DEFAULT_PENALTY = {"single-label": 0.2, "multi-label": 0.1}


@dataclass
class FitResult:
    """A fitted personal head and how it measured.

    Attributes
    ----------
    head : PersonalHead
    oof : np.ndarray or None [shape=(n, k)]
        Every labelled track's calibrated probabilities from a model that never saw its
        artist (cross-fitted calibration); None without cross-validation.
    seen : np.ndarray or None [shape=(n, k)]
        Whether genre k was in the training folds of track i.
    evaluation : dict or None
        The cross-validated report (see :mod:`.evaluate`), None without cross-validation.
    cv : dict
        The protocol: folds, groups, the penalty chosen and the candidates.
    calibration : dict
        The final calibrator's description with how it was fitted and measured.
    """

    head: PersonalHead
    oof: np.ndarray | None
    seen: np.ndarray | None
    evaluation: dict[str, Any] | None
    cv: dict[str, Any]
    calibration: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _targets(labelling: Labelling) -> np.ndarray:
    if labelling.multi_label:
        return labelling.Y
    onehot = np.zeros_like(labelling.Y)
    onehot[np.arange(len(onehot)), labelling.primary] = True
    return onehot


def fit_personal(
    X: np.ndarray,
    labelling: Labelling,
    *,
    seed: int = 0,
    target_precision: float = TARGET_PRECISION,
    max_folds: int = MAX_FOLDS,
    copy: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> FitResult:
    """Fit, cross-validate and calibrate a personal head.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        The labelled tracks' embeddings, in ``labelling`` order.
    labelling : Labelling
        Their genres (:func:`~music_reclass.personal.labels.build_labelling`).
    seed : int
        Fold assignment.
    target_precision : float
        Single-label: the decisions' precision to reach in cross-validation.
    max_folds : int
        At most this many folds (fewer artists give fewer folds).
    copy : bool
        False standardises ``X`` in place (saves one copy of the embeddings).
    on_progress : callable, optional
        ``on_progress(done, total)`` over folds.
    cancel : callable, optional
        Polled between folds; True raises :class:`Cancelled`.
    """
    start = time.perf_counter()
    task = labelling.task
    X = np.array(X, dtype=np.float32) if copy else np.asarray(X, dtype=np.float32)
    mean, scale = standardise(X)
    X -= mean
    X /= scale
    Y = _targets(labelling)
    folds = group_folds(labelling.groups, labelling.primary, max_folds=max_folds, seed=seed)
    n_folds = 0 if folds is None else int(folds.max()) + 1
    total_steps, done = (2 * n_folds + 1 if n_folds else 2), [0]

    def step() -> None:
        done[0] += 1
        if on_progress is not None:
            on_progress(done[0], total_steps)
        if cancel is not None and cancel():
            raise Cancelled

    stats = fold_stats(X, Y, folds, max(n_folds, 1), on_fold=step)
    total = stats[0]
    for other in stats[1:]:
        total = total + other
    if folds is None:
        result = _without_cv(task, X, Y, labelling, total, mean, scale)
    else:
        result = _with_cv(task, X, Y, labelling, folds, stats, mean, scale, seed=seed,
                          target_precision=target_precision, step=step, cancel=cancel)
    step()
    result.seconds = time.perf_counter() - start
    return result


def _head(task: str, labelling: Labelling, total: Any, penalty: float, mean: np.ndarray,
          scale: np.ndarray, calibrator: Any, **decision: Any) -> PersonalHead:
    coef, intercept = solve(task, total, penalty)
    return PersonalHead(classes=labelling.classes, task=task, mean=mean, scale=scale, coef=coef,
                        intercept=intercept, calibrator=calibrator, **decision)


def _without_cv(task: str, X: np.ndarray, Y: np.ndarray, labelling: Labelling, total: Any,
                mean: np.ndarray, scale: np.ndarray) -> FitResult:
    """One artist only: a model, but no honest measure, so it never decides."""
    why = ("every labelled track has the same artist: the model could not be evaluated on "
           "another artist, so it never decides (label tracks of other artists)")
    penalty = _DEFAULT_PENALTY[task]
    calibrator = (TemperatureCalibrator(1.0, {"fitted_on": "nothing (no cross-validation)"})
                  if task == "single-label" else
                  PlattCalibrator(*_identity_platt(Y.shape[1]),
                                  info={"fitted_on": "nothing (no cross-validation)"}))
    head = _head(task, labelling, total, penalty, mean, scale, calibrator, never_decides=why)
    cv = {"protocol": "none", "folds": 0, "groups": 1, "penalty": penalty}
    return FitResult(head, None, None, None, cv, calibrator.describe(), [why])


def _identity_platt(k: int) -> tuple[np.ndarray, np.ndarray]:
    # ridge scores estimate P(genre) directly: sigmoid(4 (s - 0.5)) keeps them near it
    return np.full(k, 4.0), np.full(k, -2.0)


def _with_cv(task: str, X: np.ndarray, Y: np.ndarray, labelling: Labelling, folds: np.ndarray,
             stats: list[Any], mean: np.ndarray, scale: np.ndarray, *, seed: int,
             target_precision: float, step: Callable[[], None],
             cancel: Callable[[], bool] | None) -> FitResult:
    penalties = SHRINKAGES if task == "single-label" else RIDGES
    scores = out_of_fold_scores(task, X, folds, stats, penalties, on_fold=step, cancelled=cancel)
    total = stats[0]
    for other in stats[1:]:
        total = total + other
    seen = np.stack([(total - own).genre_counts > 0 for own in stats])[folds]
    losses = np.array([_calibrated_loss(task, s, Y, labelling.primary, seen) for s in scores])
    # no held-out track of a genre its training folds knew: nothing to choose by
    best = (int(np.argmin(losses)) if np.isfinite(losses).any()
            else penalties.index(_DEFAULT_PENALTY[task]))
    oof_scores = scores[best]
    n_folds = len(stats)
    if task == "single-label":
        fitted = _single(oof_scores, labelling, folds, n_folds, target_precision)
    else:
        fitted = _multi(oof_scores, labelling, folds, n_folds, seen)
    calibrator, decision, oof, evaluation, notes = fitted
    head = _head(task, labelling, total, penalties[best], mean, scale, calibrator, **decision)
    groups = len(set(labelling.groups))
    cv = {"protocol": f"artist-grouped {n_folds}-fold cross-validation", "folds": n_folds,
          "groups": groups, "seed": seed,
          "penalty": {"name": "shrinkage" if task == "single-label" else "ridge",
                      "value": penalties[best], "candidates": list(penalties),
                      "chosen_by": "out-of-fold log-loss after calibration"}}
    evaluation = {"protocol": cv["protocol"], "groups": groups, **evaluation}
    lonely = [g.name for g in labelling.genres if g.artists == 1]
    if lonely:
        notes.append("one artist only, so never seen in training when it was tested: "
                     + ", ".join(lonely))
    return FitResult(head, oof, seen, evaluation, cv, calibrator.describe(), notes)


def _calibrated_loss(task: str, scores: np.ndarray, Y: np.ndarray, truth: np.ndarray,
                     seen: np.ndarray) -> float:
    if task == "single-label":
        rows = np.isfinite(scores[np.arange(len(truth)), truth])
        if not rows.any():
            return np.inf
        calibrator = fit_temperature(scores, truth)
        proba = calibrator(scores[rows])
        return float(-np.mean(np.log(np.clip(proba[np.arange(rows.sum()), truth[rows]],
                                             1e-12, 1.0))))
    if not seen.any():
        return np.inf
    proba = np.clip(fit_platt(scores, Y, seen)(scores), 1e-12, 1 - 1e-12)
    loss = np.where(Y, -np.log(proba), -np.log(1 - proba))
    return float(loss[seen].mean())


def _cross_fitted(fit: Callable[[np.ndarray], Any], apply: Callable[[Any, np.ndarray], Any],
                  folds: np.ndarray, n_folds: int, shape: tuple[int, ...], dtype: Any
                  ) -> np.ndarray:
    """``apply(fit(rows of the other folds), rows of fold f)`` for every fold f."""
    out = np.zeros(shape, dtype=dtype)
    for fold in range(n_folds):
        inside = folds == fold
        out[inside] = apply(fit(~inside), inside)
    return out


def _single(scores: np.ndarray, labelling: Labelling, folds: np.ndarray, n_folds: int,
            target: float) -> tuple[Any, dict[str, Any], np.ndarray, dict[str, Any], list[str]]:
    truth = labelling.primary
    proba = _cross_fitted(lambda rows: fit_temperature(scores[rows], truth[rows]),
                          lambda cal, rows: cal(scores[rows]), folds, n_folds, scores.shape,
                          np.float64)
    confidence, correct = proba.max(axis=1), proba.argmax(axis=1) == truth

    def threshold(rows: np.ndarray) -> float:
        found = precision_threshold(confidence[rows], correct[rows], target)
        return np.inf if found is None else found

    decided = _cross_fitted(threshold, lambda t, rows: confidence[rows] >= t, folds, n_folds,
                            truth.shape, bool)
    report = single_label_report(labelling.classes, truth, proba, uncalibrated(
        "single-label", scores), decided, labelling.groups)
    report["decisions"]["target_precision"] = target
    calibrator = fit_temperature(scores, truth)
    final = precision_threshold(confidence, correct, target)
    calibrator.info = {
        "fitted_on": f"out-of-fold scores of {len(truth)} tracks "
                     f"({n_folds}-fold cross-validation, artists kept apart)",
        "ece_before": report["ece_before"], "ece_after": report["ece_after"],
        "ece_after_measured": "cross-fitted: each fold calibrated on the other folds"}
    notes: list[str] = []
    if final is None:
        why = (f"at no confidence did its decisions reach {target:.0%} precision in "
               "cross-validation, so it never decides (label more tracks)")
        notes.append(why)
        decision: dict[str, Any] = {"never_decides": why}
    else:
        decision = {"min_confidence": final}
    report["decisions"]["min_confidence"] = final
    return calibrator, decision, proba, report, notes


def _multi(scores: np.ndarray, labelling: Labelling, folds: np.ndarray, n_folds: int,
           seen: np.ndarray) -> tuple[Any, dict[str, Any], np.ndarray, dict[str, Any], list[str]]:
    Y = labelling.Y
    proba = _cross_fitted(lambda rows: fit_platt(scores[rows], Y[rows], seen[rows]),
                          lambda cal, rows: cal(scores[rows]), folds, n_folds, scores.shape,
                          np.float64)

    def thresholds(rows: np.ndarray) -> np.ndarray:
        return np.array([f1_threshold(proba[rows, k], Y[rows, k]) for k in range(Y.shape[1])])

    chosen = _cross_fitted(thresholds, lambda t, rows: proba[rows] >= t, folds, n_folds,
                           Y.shape, bool)
    report = multi_label_report(labelling.classes, Y, proba, uncalibrated("multi-label", scores),
                                chosen, labelling.groups)
    calibrator = fit_platt(scores, Y, seen)
    calibrator.info = {
        "fitted_on": f"out-of-fold scores of {len(Y)} tracks "
                     f"({n_folds}-fold cross-validation, artists kept apart)",
        "ece_before": report["ece_before"], "ece_after": report["ece_after"],
        "ece": "mean over genres of the calibration error of 'has this genre'",
        "ece_after_measured": "cross-fitted: each fold calibrated on the other folds"}
    final = thresholds(np.ones(len(Y), dtype=bool))
    report["decisions"]["thresholds"] = dict(zip(labelling.classes, final.round(4).tolist(),
                                                 strict=True))
    return calibrator, {"thresholds": final}, proba, report, []
