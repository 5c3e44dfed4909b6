"""Choosing the decision rule itself on held-out folds, never by hand.

The decision policy has two structural choices besides its thresholds: the level of the
conformal sets behind the ``ambiguous`` reason (``alpha``, or no sets), and whether the
confidence threshold must also reach the target in *expected* precision (the mean
calibrated confidence of the decided tracks), a stricter guard. Which is best depends
on the model and on how much data the thresholds are fitted on: on the zero-shot
default (right on little more than half of the clips) the stricter rules decide far
fewer tracks, and the looser ones can miss the target.

:func:`select_rule` chooses among :data:`RULE_CANDIDATES` by leave-one-group-out
*within the fitting data*: each group (an artist, or a fold of artists) is decided by
thresholds fitted on the other groups, for each candidate; the candidate that decides
the most held-out tracks while its held-out precision reaches the target wins (ties and
no winner: the most conservative). The evaluation data are never looked at: a nested
cross-validation of the whole fitting (``benchmarks/bench_trust.py``) measures the
chosen rule on artists it never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from music_reclass.trust.policy import decision_metrics, fit_policy

__all__ = ["RULE_CANDIDATES", "select_rule"]

#: ``(alpha, expected_precision)``, most conservative first: the expected-precision guard,
#: then smaller ``alpha`` (larger sets, more "ambiguous"), then no sets
RULE_CANDIDATES: tuple[tuple[float | None, bool], ...] = tuple(
    (alpha, expected) for expected in (True, False) for alpha in (0.1, 0.2, 0.3, None))


def select_rule(
    probabilities: np.ndarray,
    labels: Sequence[str],
    groups: Sequence[Any],
    classes: Sequence[str],
    *,
    oov_scores: Sequence[float] | None = None,
    oov_retention: float | None = 0.95,
    target_precision: float = 0.9,
    max_genres: int = 1,
    min_support: int = 5,
    candidates: Sequence[tuple[float | None, bool]] = RULE_CANDIDATES,
) -> tuple[float | None, bool, dict[str, Any]]:
    """The decision rule (``alpha``, ``expected_precision``) chosen on held-out groups.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, K)]
        Held-out calibrated probabilities (as :func:`~.policy.fit_policy` takes them).
    labels, groups : sequence [shape=(n,)]
        True labels and the group of each example (held out together).
    classes : sequence of str
    oov_scores, oov_retention, target_precision, max_genres, min_support
        As for :func:`~.policy.fit_policy`.
    candidates : sequence of (alpha, expected_precision)
        Most conservative first.

    Returns
    -------
    alpha : float or None
    expected_precision : bool
    report : dict
        Held-out precision and coverage of every candidate, and the choice.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    labels = [str(label) for label in labels]
    groups_array = np.asarray([str(g) for g in groups])
    scores = None if oov_scores is None else np.asarray(oov_scores, dtype=np.float64)
    measured = []
    for alpha, expected in candidates:
        decisions: list[Any] = [None] * len(labels)
        for group in dict.fromkeys(groups_array):
            held = groups_array == group
            rest = np.nonzero(~held)[0]
            policy = fit_policy(
                p[rest], [labels[i] for i in rest], classes,
                oov_scores=None if scores is None else scores[rest],
                target_precision=target_precision, alpha=alpha,
                oov_retention=oov_retention if scores is not None else None,
                max_genres=max_genres, min_support=min_support, expected_precision=expected)
            index = np.nonzero(held)[0]
            for i, decision in zip(index, policy.decide_many(
                    p[index], classes, None if scores is None else scores[index]), strict=True):
                decisions[i] = decision
        metrics = decision_metrics(decisions, labels)
        measured.append({"alpha": alpha, "expected_precision": expected,
                         "precision": metrics["precision"], "coverage": metrics["coverage"],
                         "decided": metrics["decided"]})
    eligible = [i for i, m in enumerate(measured)
                if m["decided"] >= min_support and (m["precision"] or 0.0) >= target_precision]
    # most decided among those that held the target; ties: the more conservative (first)
    chosen = max(eligible, key=lambda i: (measured[i]["decided"], -i)) if eligible else 0
    report = {"method": "leave-one-group-out within the fitting data",
              "n_groups": len(set(groups_array.tolist())), "candidates": measured,
              "chosen": {"alpha": measured[chosen]["alpha"],
                         "expected_precision": measured[chosen]["expected_precision"]},
              "target_reached": bool(eligible)}
    alpha, expected = candidates[chosen]
    return alpha, expected, report
