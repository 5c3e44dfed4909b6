"""Fit a model's trust parameters on held-out data, and measure them honestly.

:func:`fit_trust` fits the calibration (by :func:`~.calibration.fit_calibration`), then
the decision policy on *cross-validated* calibrated probabilities (leave one group
out: each group's probabilities come from a calibration that never saw it), so the
policy's thresholds are fitted on what unseen music looks like.

:func:`cross_validate_trust` measures the whole procedure the same way, one level up:
each group (an artist) is decided by trust parameters fitted without it. Its
figures are the ones to quote for "music by artists not in the calibration data".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.trust.calibration import (
    cross_validated_probabilities,
    fit_calibration,
    top_label_ece,
)
from music_reclass.trust.model import TrustModel
from music_reclass.trust.policy import Decision, decision_metrics, fit_policy
from music_reclass.trust.selection import select_rule

__all__ = ["HeldOut", "TrustCV", "TrustSettings", "cross_validate_trust", "fit_trust",
           "oov_auroc"]


@dataclass(frozen=True)
class TrustSettings:
    """How trust parameters are fitted (see :func:`fit_trust`)."""

    background: bool = True
    objective: str = "top-label"
    target_precision: float = 0.9
    alpha: float | None = 0.1
    oov_retention: float | None = 0.95
    max_genres: int = 1
    min_support: int = 5
    #: also require the calibration's expected precision to reach the target
    expected_precision: bool = True
    #: choose ``alpha`` and ``expected_precision`` on held-out groups of the fitting data
    #: (:func:`~.selection.select_rule`); the two fields above are then ignored
    select_rule: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class HeldOut:
    """Held-out examples: the model's raw scores, true labels, and a group per example.

    Attributes
    ----------
    scores : np.ndarray [shape=(n, K)]
    labels : list of str
        May include labels that are not classes (out-of-vocabulary examples).
    groups : list of str
        One per example (the artist): examples of a group are held out together.
    oov_scores : np.ndarray [shape=(n,)] or None
    reference : np.ndarray [shape=(n, K)] or None
        The uncalibrated model's probabilities (for "ECE before").
    """

    scores: np.ndarray
    labels: list[str]
    groups: list[str]
    oov_scores: np.ndarray | None = None
    reference: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.scores)
        if len(self.labels) != n or len(self.groups) != n:
            raise ParameterError("scores, labels and groups must have one entry per example")
        for name in ("oov_scores", "reference"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ParameterError(f"{name} must have one entry per example")

    def subset(self, mask: np.ndarray) -> HeldOut:
        index = np.nonzero(mask)[0]
        return HeldOut(
            np.asarray(self.scores)[index],
            [self.labels[i] for i in index],
            [self.groups[i] for i in index],
            None if self.oov_scores is None else np.asarray(self.oov_scores)[index],
            None if self.reference is None else np.asarray(self.reference)[index],
        )


def fit_trust(
    data: HeldOut,
    classes: Sequence[str],
    *,
    score_kind: str,
    oov: Any = None,
    settings: TrustSettings = TrustSettings(),
    fitted_on: Mapping[str, Any] | None = None,
    taxonomy: Mapping[str, str] | None = None,
) -> TrustModel:
    """Calibration + policy fitted on held-out data.

    Parameters
    ----------
    data : HeldOut
    classes : sequence of str
        Column order of ``data.scores``.
    score_kind : str
        ``"log-probabilities"`` or ``"taxonomy-evidence"`` (see :class:`TrustModel`).
    oov : EvidenceOOV, PrototypeOOV or None
        The detector whose scores are ``data.oov_scores`` (None: no OOV rule).
    settings : TrustSettings
    fitted_on : mapping, optional
        Description of the data (stored in the sidecar).
    taxonomy : mapping, optional
        ``{"name", "digest"}`` for taxonomy-evidence scores.
    """
    classes = [str(c) for c in classes]
    calibration = fit_calibration(
        data.scores, data.labels, classes, background=settings.background,
        objective=settings.objective, reference_probabilities=data.reference,
        fitted_on={**dict(fitted_on or {}), "n_groups": len(set(data.groups))})
    y = np.array([classes.index(label) if label in classes else -1 for label in data.labels])
    held_out = cross_validated_probabilities(
        data.scores, y, data.groups, objective=settings.objective, background=settings.background)
    calibration = replace(calibration, metrics={
        **calibration.metrics, "ece_after_cv": top_label_ece(held_out, y),
        "cv": "leave-one-group-out"})
    use_oov = oov is not None and data.oov_scores is not None and settings.oov_retention
    oov_scores = data.oov_scores if use_oov else None
    retention = settings.oov_retention if use_oov else None
    alpha, expected, described = settings.alpha, settings.expected_precision, {}
    if settings.select_rule:
        alpha, expected, selection = select_rule(
            held_out, data.labels, data.groups, classes, oov_scores=oov_scores,
            oov_retention=retention, target_precision=settings.target_precision,
            max_genres=settings.max_genres, min_support=settings.min_support)
        described = {"rule_selection": selection}
    policy = fit_policy(
        held_out, data.labels, classes, oov_scores=oov_scores,
        target_precision=settings.target_precision, alpha=alpha, oov_retention=retention,
        max_genres=settings.max_genres, min_support=settings.min_support,
        expected_precision=expected,
        fitted_on={**dict(fitted_on or {}), "probabilities": "leave-one-group-out calibrated",
                   "settings": settings.as_dict(), **described})
    if use_oov:
        oov = oov.with_metrics(oov_auroc(data.oov_scores, data.labels, classes))
    return TrustModel(score_kind, calibration, oov if use_oov else None, policy,
                      dict(taxonomy) if taxonomy else None)


def oov_auroc(oov_scores: Sequence[float], labels: Sequence[str], classes: Sequence[str]
              ) -> dict[str, Any]:
    """How well the OOV scores separate examples whose label is not a class (AUROC)."""
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(oov_scores, dtype=np.float64)
    outside = np.array([str(label) not in set(map(str, classes)) for label in labels])
    out: dict[str, Any] = {"n_in_vocabulary": int((~outside).sum()),
                           "n_out_of_vocabulary": int(outside.sum())}
    if outside.any() and (~outside).any():
        out["auroc"] = float(roc_auc_score(outside, scores))
        out["out_of_vocabulary_labels"] = sorted({str(label) for label, o in
                                                  zip(labels, outside, strict=True) if o})
    return out


@dataclass
class TrustCV:
    """Per-example results of :func:`cross_validate_trust` and their summary."""

    probabilities: np.ndarray
    decisions: list[Decision]
    labels: list[str]
    classes: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1)

    @property
    def correct(self) -> np.ndarray:
        predicted = np.asarray(self.classes)[self.probabilities.argmax(axis=1)]
        return predicted == np.asarray(self.labels)


def cross_validate_trust(
    data: HeldOut,
    classes: Sequence[str],
    *,
    fit: Callable[[HeldOut], TrustModel] | None = None,
    score_kind: str = "log-probabilities",
    oov: Any = None,
    settings: TrustSettings = TrustSettings(),
) -> TrustCV:
    """Nested leave-one-group-out: each group decided by trust fitted without it.

    Parameters
    ----------
    data : HeldOut
    classes : sequence of str
    fit : callable, optional
        ``fit(training_part) -> TrustModel``; default :func:`fit_trust` with
        ``score_kind``, ``oov`` and ``settings``.

    Returns
    -------
    TrustCV
        ``metrics``: ``ece_before``, ``ece_after``, ``accuracy``, ``mean_confidence``
        and the precision/coverage of ``decided`` (:func:`decision_metrics`).
    """
    classes = [str(c) for c in classes]
    if fit is None:
        def fit(part: HeldOut) -> TrustModel:
            return fit_trust(part, classes, score_kind=score_kind, oov=oov, settings=settings)
    groups = np.asarray(data.groups)
    probabilities = np.zeros(np.shape(data.scores), dtype=np.float64)
    decisions: list[Decision | None] = [None] * len(groups)
    for group in dict.fromkeys(data.groups):
        held = groups == group
        trust = fit(data.subset(~held))
        p = trust.calibration.apply(np.asarray(data.scores)[held])
        probabilities[held] = p
        oov_scores = None if data.oov_scores is None else np.asarray(data.oov_scores)[held]
        for i, decision in zip(np.nonzero(held)[0],
                               trust.policy.decide_many(p, classes, oov_scores), strict=True):
            decisions[i] = decision
    y = np.array([classes.index(label) if label in classes else -1 for label in data.labels])
    metrics: dict[str, Any] = {
        "n": len(y), "n_groups": len(set(data.groups)),
        "accuracy": float((probabilities.argmax(axis=1) == y).mean()),
        "mean_confidence": float(probabilities.max(axis=1).mean()),
        "ece_after": top_label_ece(probabilities, y),
        "decided": decision_metrics(decisions, data.labels),
    }
    if data.reference is not None:
        metrics["ece_before"] = top_label_ece(np.asarray(data.reference), y)
        metrics["mean_confidence_before"] = float(np.asarray(data.reference).max(axis=1).mean())
    return TrustCV(probabilities, decisions, list(data.labels), classes, metrics)
