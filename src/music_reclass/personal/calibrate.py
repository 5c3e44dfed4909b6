"""Calibration and decision thresholds, fitted on out-of-fold scores.

Calibrators are fitted on scores the model gave to tracks it was not trained on (the
out-of-fold scores of the artist-grouped cross-validation). To measure them honestly,
they are *cross-fitted*: the calibration applied to fold f is fitted on the other folds
only, so the ECE "after" and the coverage and precision of the decisions are measured on
tracks the calibrator never saw either.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from music_reclass.models.personal import PlattCalibrator, TemperatureCalibrator, softmax

__all__ = ["binary_ece", "f1_threshold", "fit_platt", "fit_temperature", "precision_threshold",
           "top1_ece"]

_BINS = 10
#: rows a temperature is fitted on at most (a random sample beyond)
_FIT_ROWS = 20000
#: a genre threshold never goes below this probability (longer lists help nobody)
MIN_THRESHOLD = 0.2


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> TemperatureCalibrator:
    """The temperature that minimises the log-loss of ``softmax(scores / T)``.

    Rows whose true genre scores ``-inf`` (the fold's model never saw that genre) say
    nothing about the temperature and are left out.
    """
    rows = np.flatnonzero(np.isfinite(scores[np.arange(len(truth)), truth]))
    if rows.size < 2:
        return TemperatureCalibrator(1.0)
    if rows.size > _FIT_ROWS:  # one parameter: a large random sample fixes it as well
        rows = np.sort(np.random.default_rng(0).choice(rows, _FIT_ROWS, replace=False))
    z, t = scores[rows], truth[rows]
    true_scores = z[np.arange(len(t)), t]
    top = np.max(z, axis=1, keepdims=True)
    shifted = z - top  # <= 0, -inf for genres a fold never saw

    def nll(log_t: float) -> float:
        temperature = float(np.exp(log_t))
        # logsumexp(z / T) = top / T + log(sum(exp((z - top) / T)))
        log_total = np.log(np.exp(shifted / temperature).sum(axis=1))
        return float(np.mean(log_total + (top[:, 0] - true_scores) / temperature))

    found = minimize_scalar(nll, bounds=(np.log(0.01), np.log(1e5)), method="bounded",
                            options={"xatol": 1e-3})
    return TemperatureCalibrator(float(np.exp(found.x)))


def _platt_one(scores: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid fit (with his smoothed targets) by Newton's method."""
    positives = float(target.sum())
    negatives = float(len(target) - positives)
    hi, lo = (positives + 1) / (positives + 2), 1 / (negatives + 2)
    if positives == 0 or negatives == 0:
        prior = hi if negatives == 0 else lo
        return 0.0, float(np.log(prior / (1 - prior)))
    t = np.where(target, hi, lo)
    a, b = 1.0, float(np.log((positives + 1) / (negatives + 1)))
    spread = float(np.std(scores)) or 1.0
    s = scores / spread  # conditioning; undone below
    for _ in range(100):
        p = 0.5 * (1 + np.tanh(0.5 * (a * s + b)))
        w = np.maximum(p * (1 - p), 1e-12)
        g = np.array([np.dot(p - t, s), np.sum(p - t)]) + 1e-6 * np.array([a, b])
        h = np.array([[np.dot(w, s * s), np.dot(w, s)], [np.dot(w, s), w.sum()]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.max(np.abs(step)) < 1e-7:
            break
    return a / spread, b


def fit_platt(scores: np.ndarray, Y: np.ndarray, seen: np.ndarray | None = None
              ) -> PlattCalibrator:
    """One sigmoid per genre; ``seen[i, k]`` False leaves track i out of genre k's fit."""
    a, b = np.zeros(Y.shape[1]), np.zeros(Y.shape[1])
    for k in range(Y.shape[1]):
        rows = slice(None) if seen is None else seen[:, k]
        a[k], b[k] = _platt_one(scores[rows, k], Y[rows, k])
    return PlattCalibrator(a, b)


def top1_ece(proba: np.ndarray, truth: np.ndarray, n_bins: int = _BINS) -> float:
    """Expected calibration error of the top genre's probability."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    return _ece(confidence, correct, n_bins)


def binary_ece(proba: np.ndarray, Y: np.ndarray, n_bins: int = _BINS) -> float:
    """Mean over genres of the calibration error of "has genre k" probabilities."""
    return float(np.mean([_ece(proba[:, k], Y[:, k], n_bins) for k in range(Y.shape[1])]))


def _ece(confidence: np.ndarray, outcome: np.ndarray, n_bins: int) -> float:
    if len(confidence) == 0:
        return float("nan")
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            total += members.sum() * abs(outcome[members].mean() - confidence[members].mean())
    return float(total / len(confidence))


def precision_threshold(confidence: np.ndarray, correct: np.ndarray, target: float, *,
                        least: int = 3) -> float | None:
    """The lowest confidence whose decisions (confidence >= it) reach ``target`` precision.

    Among the thresholds where the running precision of the most confident decisions is
    at least ``target`` (over at least ``least`` tracks), the one covering the most
    tracks; None when no threshold reaches it.
    """
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    counts = np.arange(1, len(order) + 1)
    # a threshold must take every track of equal confidence: only the last of a tie counts
    sorted_conf = confidence[order]
    last_of_tie = np.append(sorted_conf[1:] < sorted_conf[:-1], True)
    good = (hits / counts >= target) & (counts >= least) & last_of_tie
    if not good.any():
        return None
    return float(sorted_conf[np.flatnonzero(good)[-1]])


def f1_threshold(proba: np.ndarray, target: np.ndarray) -> float:
    """The probability threshold with the best F1 for one genre (at least 0.2)."""
    positives = int(target.sum())
    if positives == 0:
        return 0.5
    order = np.argsort(-proba, kind="stable")
    hits = np.cumsum(target[order])
    predicted = np.arange(1, len(order) + 1)
    f1 = 2 * hits / (predicted + positives)
    best = int(np.argmax(f1))
    return float(max(proba[order][best], MIN_THRESHOLD))


def calibrated(calibrator: TemperatureCalibrator | PlattCalibrator, scores: np.ndarray
               ) -> np.ndarray:
    """``calibrator(scores)``; softmax for a temperature, sigmoids for Platt."""
    return calibrator(scores)


def uncalibrated(task: str, scores: np.ndarray) -> np.ndarray:
    """The scores' own probabilities: softmax (single-label), or clipped 0/1 targets."""
    if task == "single-label":
        return softmax(scores)
    return np.clip(scores, 0.0, 1.0)
