"""The decision policy: which genre a track gets by default, or why it gets none.

Per track, from its calibrated genre probabilities and an out-of-vocabulary
score, :meth:`DecisionPolicy.decide` returns a :class:`Decision`: ``decided`` (the
genre, or genres, that ``reclass tag`` writes without ``--min-confidence``) or an
abstention with one reason, checked in this order:

``out-of-vocabulary``
    the audio is unlike every genre of the vocabulary: the OOV score is above
    its threshold, or the conformal prediction set is empty;
``ambiguous``
    the conformal prediction set holds more genres than may be written
    (``max_genres``, 1 by default): e.g. "rock or metal";
``low-confidence``
    the calibrated probability of the decided genre(s) is below ``min_confidence``.

The rule is a pure function of the probabilities and the score, so the runner,
the store (recomputing from stored genres and vectors) and ``tag`` all apply the
same one. :func:`fit_policy` fits its thresholds on held-out data for a target
precision; nothing is picked by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.trust.conformal import ConformalSets, fit_conformal

__all__ = [
    "REASONS",
    "Decision",
    "DecisionPolicy",
    "decision_metrics",
    "fit_confidence_threshold",
    "fit_policy",
    "precision_coverage_curve",
]

OUT_OF_VOCABULARY, AMBIGUOUS, LOW_CONFIDENCE = "out-of-vocabulary", "ambiguous", "low-confidence"
REASONS = (OUT_OF_VOCABULARY, AMBIGUOUS, LOW_CONFIDENCE)


@dataclass(frozen=True)
class Decision:
    """The policy's verdict on one track.

    Attributes
    ----------
    decided : list of str
        Genres to write, best first; empty when abstaining.
    reason : str or None
        One of :data:`REASONS` when abstaining, else None.
    confidence : float
        Calibrated probability of the decided genres (of the best genre when abstaining).
    prediction_set : list of str
        The conformal set, best first (all genres when the policy has no sets).
    oov_score : float or None
        The out-of-vocabulary score (None: no detector).
    """

    decided: list[str]
    reason: str | None
    confidence: float
    prediction_set: list[str] = field(default_factory=list)
    oov_score: float | None = None

    @property
    def label(self) -> str | None:
        """The first decided genre, or None when abstaining (the ``"decided"`` of ``--json``)."""
        return self.decided[0] if self.decided else None

    def as_json(self) -> dict[str, Any]:
        return {"decided": self.label, "decided_genres": list(self.decided),
                "abstain_reason": self.reason, "decision_confidence": round(self.confidence, 6),
                "prediction_set": list(self.prediction_set),
                "oov_score": None if self.oov_score is None else round(self.oov_score, 6)}


@dataclass(frozen=True)
class DecisionPolicy:
    """Thresholds of the decision rule (see the module docstring).

    Attributes
    ----------
    min_confidence : float
        Smallest calibrated probability of a decision.
    conformal : ConformalSets or None
        Prediction sets for the ``ambiguous`` and empty-set rules (None: not used).
    oov_threshold : float
        OOV scores above it abstain (``inf``: never).
    max_genres : int
        Most genres one decision may hold.
    target_precision : float or None
        The precision the thresholds were fitted for (documentation).
    fitted_on, metrics : dict
        The held-out data and what was measured on it.
    """

    min_confidence: float = 0.5
    conformal: ConformalSets | None = None
    oov_threshold: float = float("inf")
    max_genres: int = 1
    target_precision: float | None = None
    fitted_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.min_confidence <= 1:
            raise ParameterError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not (isinstance(self.max_genres, int) and self.max_genres >= 1):
            raise ParameterError(f"max_genres must be an integer >= 1, got {self.max_genres!r}")

    def decide(self, genres: Sequence[tuple[str, float]], oov_score: float | None = None) -> Decision:
        """Decide one track.

        Parameters
        ----------
        genres : sequence of (str, float)
            Calibrated ``(genre, probability)`` pairs (any order; all classes for the
            prediction set to be exact).
        oov_score : float or None
            Out-of-vocabulary score (None or NaN: not measured, that rule is skipped).
        """
        ranked = sorted(((str(g), float(p)) for g, p in genres), key=lambda gp: -gp[1])
        if not ranked:
            raise ParameterError("a decision needs at least one genre")
        members = self.conformal.members(ranked) if self.conformal else [g for g, _ in ranked]
        top_confidence = ranked[0][1]
        score = None if oov_score is None or np.isnan(oov_score) else float(oov_score)

        def abstain(reason: str) -> Decision:
            return Decision([], reason, top_confidence, members, score)

        if (score is not None and score > self.oov_threshold) or not members:
            return abstain(OUT_OF_VOCABULARY)
        if self.conformal is not None and len(members) > self.max_genres:
            return abstain(AMBIGUOUS)
        chosen = members[: self.max_genres] if self.conformal is not None else [ranked[0][0]]
        probability = dict(ranked)
        confidence = float(sum(probability[g] for g in chosen))
        if confidence < self.min_confidence:
            return abstain(LOW_CONFIDENCE)
        return Decision(chosen, None, confidence, members, score)

    def decide_many(self, probabilities: np.ndarray, classes: Sequence[str],
                    oov_scores: Sequence[float] | None = None) -> list[Decision]:
        """:meth:`decide` for each row of ``probabilities`` (columns in ``classes`` order)."""
        p = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
        scores = [None] * len(p) if oov_scores is None else list(oov_scores)
        return [self.decide(list(zip(classes, row, strict=True)), s)
                for row, s in zip(p, scores, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_confidence": self.min_confidence,
            "conformal": self.conformal.to_dict() if self.conformal else None,
            "oov_threshold": float(self.oov_threshold) if np.isfinite(self.oov_threshold) else None,
            "max_genres": self.max_genres,
            "target_precision": self.target_precision,
            "fitted_on": dict(self.fitted_on),
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionPolicy:
        try:
            conformal = ConformalSets.from_dict(data["conformal"]) if data.get("conformal") else None
            oov = data.get("oov_threshold")
            return cls(float(data["min_confidence"]), conformal,
                       float("inf") if oov is None else float(oov), int(data.get("max_genres", 1)),
                       data.get("target_precision"), dict(data.get("fitted_on") or {}),
                       dict(data.get("metrics") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"invalid decision policy: {exc!r}") from exc


# ------------------------------------------------------------------------------ measuring
def decision_metrics(decisions: Sequence[Decision], labels: Sequence[str]) -> dict[str, Any]:
    """Precision and coverage of ``decided`` (a decision is right when its first genre is
    the label), with the abstentions counted per reason."""
    n = len(decisions)
    if n != len(labels):
        raise ParameterError(f"{n} decisions for {len(labels)} labels")
    decided = [d for d in decisions if d.decided]
    right = sum(d.decided[0] == str(label) for d, label in zip(decisions, labels, strict=True)
                if d.decided)
    return {
        "n": n,
        "decided": len(decided),
        # None, not NaN, when undefined: these figures go into JSON sidecars
        "coverage": len(decided) / n if n else None,
        "precision": right / len(decided) if decided else None,
        "right": int(right),
        "abstained": {reason: sum(d.reason == reason for d in decisions) for reason in REASONS},
    }


def precision_coverage_curve(confidence: Sequence[float], correct: Sequence[bool]
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and coverage when deciding every track at or above each confidence.

    Returns
    -------
    thresholds, coverage, precision : np.ndarray
        One entry per distinct confidence, highest threshold first.
    """
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    order = np.argsort(-c, kind="stable")
    c, ok = c[order], ok[order]
    cumulative = np.cumsum(ok)
    last = np.r_[np.nonzero(np.diff(c))[0], len(c) - 1]  # last index of each tie group
    count = last + 1
    return c[last], count / len(c), cumulative[last] / count


def fit_confidence_threshold(confidence: Sequence[float], correct: Sequence[bool], *,
                             target_precision: float, min_support: int = 5,
                             expected_precision: bool = True) -> tuple[float, bool]:
    """The lowest confidence threshold whose held-out decisions reach the target precision.

    On held-out calibrated confidences: the observed precision of every threshold at or
    above it (with at least ``min_support`` decisions) reaches the target. Requiring
    every higher threshold to hold as well avoids picking a lucky dip in a noisy curve.
    With ``expected_precision`` (the default), the precision the calibration expects
    (the mean confidence of the decided tracks) must reach the target too: a guard
    against a noisy observed curve on a few dozen held-out tracks, where a threshold
    fitted for exactly the target tends to fall short of it on new music
    (``benchmarks/bench_trust.py`` compares the rules).

    Returns
    -------
    threshold : float
        In [0, 1]; 1.0 when the target is never reached (decide only certainties).
    reached : bool
        Whether the target was reached on the held-out data.
    """
    c = np.asarray(confidence, dtype=np.float64)
    thresholds, coverage, precision = precision_coverage_curve(c, correct)
    counts = np.rint(coverage * len(c)).astype(int)
    expected = np.array([c[c >= t].mean() for t in thresholds])
    ok = precision >= target_precision
    if expected_precision:
        ok &= expected >= target_precision
    ok |= counts < min_support  # too few decisions to judge: do not block lower thresholds
    best = None
    for i in range(len(thresholds)):  # highest threshold first
        if not ok[i]:
            break
        if counts[i] >= min_support:
            best = float(thresholds[i])
    if best is None:
        return 1.0, False
    return best, True


def fit_policy(
    probabilities: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    oov_scores: Sequence[float] | None = None,
    target_precision: float = 0.9,
    alpha: float | None = 0.1,
    oov_retention: float | None = 0.95,
    max_genres: int = 1,
    min_support: int = 5,
    expected_precision: bool = True,
    fitted_on: Mapping[str, Any] | None = None,
) -> DecisionPolicy:
    """Fit the policy's thresholds on held-out calibrated probabilities.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, K)]
        Held-out *calibrated* probabilities (e.g. cross-validated).
    labels : sequence of str
        True labels; labels that are not classes are out-of-vocabulary examples.
    classes : sequence of str
    oov_scores : sequence of float, optional
        Held-out OOV scores; the threshold lets ``oov_retention`` of the
        in-vocabulary examples pass.
    target_precision : float
        Precision the confidence threshold is fitted for.
    alpha : float or None
        Level of the conformal sets (None: no sets, no ``ambiguous`` rule).
    oov_retention : float or None
        None: no OOV rule.
    max_genres, min_support, expected_precision
        See :class:`DecisionPolicy` and :func:`fit_confidence_threshold`.

    Returns
    -------
    DecisionPolicy
        ``metrics`` holds the held-out precision and coverage of its decisions
        (in-sample for these thresholds: use cross-validation for honest figures).
    """
    from music_reclass.trust.vocabulary import retention_threshold

    classes = [str(c) for c in classes]
    p = np.asarray(probabilities, dtype=np.float64)
    labels = [str(label) for label in labels]
    known = np.array([label in classes for label in labels])
    conformal = fit_conformal(p, labels, classes, alpha=alpha) if alpha is not None else None
    oov_threshold = float("inf")
    if oov_scores is not None and oov_retention is not None:
        oov_threshold = retention_threshold(np.asarray(oov_scores)[known], oov_retention)
    # the confidence threshold is fitted on the tracks that pass the other rules
    probe = DecisionPolicy(0.0, conformal, oov_threshold, max_genres)
    decisions = probe.decide_many(p, classes, oov_scores)
    passing = [i for i, d in enumerate(decisions) if d.decided]
    confidence = [decisions[i].confidence for i in passing]
    correct = [decisions[i].decided[0] == labels[i] for i in passing]
    threshold, reached = (fit_confidence_threshold(confidence, correct,
                                                   target_precision=target_precision,
                                                   min_support=min_support,
                                                   expected_precision=expected_precision)
                          if passing else (1.0, False))
    policy = DecisionPolicy(threshold, conformal, oov_threshold, max_genres, target_precision,
                            {**dict(fitted_on or {}), "n": len(labels)})
    measured = decision_metrics(policy.decide_many(p, classes, oov_scores), labels)
    return DecisionPolicy(threshold, conformal, oov_threshold, max_genres, target_precision,
                          policy.fitted_on, {"in_sample": measured, "target_reached": reached})
