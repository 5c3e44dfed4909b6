"""The personal head: a linear genre model learnt from a library owner's own labels.

A :class:`PersonalHead` maps a track's embedding (the 500 musicnn values a classify run
stores) to the owner's genres, in the owner's spelling. It is plain numpy (it pickles
without scikit-learn or torch objects) and carries everything a prediction needs:

- the standardisation of the inputs (``mean_``, ``scale_``);
- a linear map to one score per genre (``coef_``, ``intercept_``): shrinkage LDA
  log-posteriors for a *single-label* library (one genre per track), one-vs-rest ridge
  scores for a *multi-label* one (several genres per track);
- a calibrator (:class:`TemperatureCalibrator` for single-label, one Platt sigmoid per
  genre, :class:`PlattCalibrator`, for multi-label) fitted on out-of-fold scores: the
  probabilities it returns are calibrated;
- its decision policy (:meth:`decide`): single-label decides the top genre when its
  calibrated probability reaches ``min_confidence``; multi-label decides every genre
  whose probability reaches that genre's threshold, so a track can get several.

A calibrator is any object with ``__call__(scores) -> probabilities`` and ``describe()``
(a JSON-able summary for the sidecar): a later, shared calibration layer can replace the
one fitted here without retraining the linear map (see :meth:`PersonalHead.recalibrated`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = ["TASKS", "PersonalHead", "PlattCalibrator", "TemperatureCalibrator", "softmax"]

TASKS = ("single-label", "multi-label")


#: the abstention reason, in the words every model uses (:mod:`music_reclass.trust.policy`)
LOW_CONFIDENCE = "low-confidence"


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax; ``-inf`` scores (genres a model never saw) get probability 0."""
    scores = np.asarray(scores, dtype=np.float64)
    top = np.max(scores, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.exp(scores - top)
    total = exp.sum(axis=1, keepdims=True)
    return exp / np.where(total > 0, total, 1.0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


class TemperatureCalibrator:
    """Softmax of scores divided by one temperature (Guo et al., 2017).

    Parameters
    ----------
    temperature : float > 0
        1 leaves the scores' own softmax; above 1 softens over-confident scores.
    info : dict, optional
        How it was fitted (data, ECE before and after), kept for the sidecar.
    """

    method = "temperature"

    def __init__(self, temperature: float = 1.0, info: dict[str, Any] | None = None) -> None:
        if not temperature > 0:
            raise ParameterError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.info = dict(info or {})

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(scores, dtype=np.float64) / self.temperature)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "temperature": self.temperature, **self.info}


class PlattCalibrator:
    """One sigmoid per genre, ``p_k = sigmoid(a_k * score_k + b_k)`` (Platt, 1999).

    Probabilities are per genre (does this track belong to genre k?) and do not sum to 1.
    """

    method = "platt"

    def __init__(self, a: Sequence[float], b: Sequence[float],
                 info: dict[str, Any] | None = None) -> None:
        self.a = np.asarray(a, dtype=np.float64)
        self.b = np.asarray(b, dtype=np.float64)
        if self.a.shape != self.b.shape or self.a.ndim != 1:
            raise ParameterError("Platt slopes and offsets must be two vectors of one length")
        self.info = dict(info or {})

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return _sigmoid(np.asarray(scores, dtype=np.float64) * self.a + self.b)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a.round(6).tolist(),
                "b": self.b.round(6).tolist(), **self.info}


class PersonalHead:
    """A fitted linear head over embeddings, with its calibration and decision policy.

    Parameters
    ----------
    classes : sequence of str
        The owner's genres, in score-column order.
    task : {"single-label", "multi-label"}
    mean, scale : np.ndarray [shape=(d,)]
        Input standardisation: ``(x - mean) / scale``.
    coef : np.ndarray [shape=(d, k)]
    intercept : np.ndarray [shape=(k,)]
    calibrator : callable
        Scores -> calibrated probabilities (see the module docstring).
    min_confidence : float or None
        Single-label: decide the top genre at or above this probability.
    thresholds : sequence of float, optional
        Multi-label: one probability threshold per genre.
    never_decides : str, optional
        Why this head never decides (it could not be evaluated, or no threshold reaches
        the precision asked for): every track is left to the owner, with this reason.
    """

    def __init__(self, *, classes: Sequence[str], task: str, mean: np.ndarray,
                 scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 calibrator: Any, min_confidence: float | None = None,
                 thresholds: Sequence[float] | None = None,
                 never_decides: str | None = None) -> None:
        if task not in TASKS:
            raise ParameterError(f"task must be one of {TASKS}, not {task!r}")
        self.classes_ = np.asarray([str(c) for c in classes])
        self.task = task
        self.mean_ = np.asarray(mean, dtype=np.float32)
        self.scale_ = np.asarray(scale, dtype=np.float32)
        self.coef_ = np.asarray(coef, dtype=np.float32)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.calibrator = calibrator
        self.min_confidence = None if min_confidence is None else float(min_confidence)
        self.never_decides = never_decides
        if never_decides is None and task == "single-label" and min_confidence is None:
            raise ParameterError("a single-label head needs min_confidence or never_decides")
        k = len(self.classes_)
        self.thresholds_ = (np.full(k, 0.5) if thresholds is None
                            else np.asarray(thresholds, dtype=np.float64))
        if self.coef_.shape != (self.mean_.size, k) or self.intercept_.shape != (k,):
            raise ParameterError(f"coef {self.coef_.shape} and intercept {self.intercept_.shape}"
                                 f" do not fit {self.mean_.size} inputs and {k} genres")
        self.n_features_in_ = int(self.mean_.size)

    def __repr__(self) -> str:
        return (f"PersonalHead({self.task}, {len(self.classes_)} genres, "
                f"{self.n_features_in_} inputs, {self.calibrator.method} calibration)")

    @property
    def multi_label(self) -> bool:
        return self.task == "multi-label"

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated scores, one column per genre."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 1:
            X = X[None, :]
        if X.shape[1] != self.n_features_in_:
            raise ParameterError(f"expected {self.n_features_in_} inputs, got {X.shape[1]}")
        standard = (X - self.mean_) / self.scale_
        return standard.astype(np.float64) @ self.coef_.astype(np.float64) + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: a distribution over the genres (single-label), or
        one independent probability per genre (multi-label)."""
        return self.calibrator(self.scores(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable genre of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def decide(self, proba: np.ndarray) -> tuple[list[str] | None, str | None]:
        """The genres this head commits to for one track, or ``(None, reason)``.

        Parameters
        ----------
        proba : np.ndarray [shape=(k,)]
            The track's calibrated probabilities, in :attr:`classes_` order.
        """
        proba = np.asarray(proba, dtype=np.float64).reshape(-1)
        order = np.argsort(-proba, kind="stable")
        if self.never_decides is not None:
            return None, self.never_decides
        if self.multi_label:
            chosen = [int(i) for i in order if proba[i] >= self.thresholds_[i]]
            if not chosen:  # no genre reached its own threshold
                return None, LOW_CONFIDENCE
            return [str(self.classes_[i]) for i in chosen], None
        best = int(order[0])
        if proba[best] < self.min_confidence:
            return None, LOW_CONFIDENCE
        return [str(self.classes_[best])], None

    def decision(self) -> dict[str, Any]:
        """The decision policy, JSON-able (for the sidecar)."""
        if self.never_decides is not None:
            return {"rule": "never decides", "reason": self.never_decides}
        if self.multi_label:
            return {"rule": "every genre at or above its own threshold",
                    "thresholds": dict(zip(self.classes_.tolist(),
                                           self.thresholds_.round(4).tolist(), strict=True))}
        return {"rule": "the top genre at or above min_confidence",
                "min_confidence": self.min_confidence}

    def recalibrated(self, calibrator: Any, *, min_confidence: float | None = None,
                     thresholds: Sequence[float] | None = None,
                     never_decides: str | None = None) -> PersonalHead:
        """The same linear map with another calibrator and decision policy."""
        return PersonalHead(classes=self.classes_, task=self.task, mean=self.mean_,
                            scale=self.scale_, coef=self.coef_, intercept=self.intercept_,
                            calibrator=calibrator, min_confidence=min_confidence,
                            thresholds=thresholds, never_decides=never_decides)
