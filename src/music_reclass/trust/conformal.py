"""Split-conformal prediction sets over calibrated genre probabilities.

The least-ambiguous set-valued classifier (LAC; Sadinle, Lei & Wasserman, 2019),
as MAPIE's ``SplitConformalClassifier(conformity_score="lac")`` computes it: with
held-out conformity scores ``1 - p_true`` and level ``alpha``, ``qhat`` is their
``ceil((n + 1)(1 - alpha)) / n`` empirical quantile and the set of a new track is
every genre with ``p >= 1 - qhat``. On data exchangeable with the calibration
clips, the set holds the true genre with probability at least ``1 - alpha``.

The decision policy reads the set two ways: more than one genre means the track
is ambiguous at that level; an empty set means even the best genre is less
plausible than almost every right answer was, a sign of music outside the
vocabulary. Only the threshold is stored, so applying the sets needs no library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = ["ConformalSets", "fit_conformal"]


@dataclass(frozen=True)
class ConformalSets:
    """LAC prediction sets at level ``1 - alpha``.

    Attributes
    ----------
    alpha : float
        Tolerated miss rate of the sets.
    qhat : float
        Conformal quantile of ``1 - p_true``; a genre is in the set when ``p >= 1 - qhat``.
    n : int
        Number of held-out examples it was fitted on.
    """

    alpha: float
    qhat: float
    n: int

    @property
    def threshold(self) -> float:
        """Smallest probability a genre needs to be in the set."""
        return 1.0 - self.qhat

    def sets(self, probabilities: np.ndarray) -> np.ndarray:
        """Membership mask ``[n, K]`` (or ``[K]`` for one row)."""
        p = np.asarray(probabilities, dtype=np.float64)
        # the small tolerance keeps a genre whose probability equals the threshold up to
        # float round-off (as MAPIE does), so a set never loses its member to rounding
        return p >= self.threshold - 1e-12

    def members(self, genres: Sequence[tuple[str, float]]) -> list[str]:
        """The genres of one prediction that are in its set, best first."""
        return [label for label, p in genres if p >= self.threshold - 1e-12]

    def to_dict(self) -> dict[str, Any]:
        return {"method": "lac", "alpha": self.alpha, "qhat": self.qhat, "n": self.n}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConformalSets:
        try:
            alpha, qhat, n = float(data["alpha"]), float(data["qhat"]), int(data.get("n", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"invalid conformal sets: {exc!r}") from exc
        if not (0 < alpha < 1 and 0 <= qhat <= 1):
            raise ParameterError(f"invalid conformal sets: alpha={alpha}, qhat={qhat}")
        return cls(alpha, qhat, n)


def fit_conformal(
    probabilities: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    alpha: float = 0.1,
) -> ConformalSets:
    """Fit LAC sets on held-out calibrated probabilities.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, K)]
        Calibrated probabilities of held-out examples.
    labels : sequence of str
        Their true labels; labels that are not classes are left out (the sets are
        about the genres the model can name; out-of-vocabulary music is detected
        separately).
    classes : sequence of str [shape=(K,)]
    alpha : float in (0, 1)

    Returns
    -------
    ConformalSets
        ``qhat = 1`` (every genre in every set) when there are too few examples
        for the level asked.

    Raises
    ------
    ParameterError
        Bad shapes or ``alpha`` outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must be in (0, 1), got {alpha!r}")
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(labels), len(classes)):
        raise ParameterError(f"probabilities must have shape ({len(labels)}, {len(classes)})")
    position = {str(c): i for i, c in enumerate(classes)}
    y = np.array([position.get(str(label), -1) for label in labels], dtype=int)
    known = y >= 0
    scores = 1.0 - p[known, y[known]]
    n = int(known.sum())
    level = math.ceil((n + 1) * (1 - alpha)) / n if n else math.inf
    if level > 1:
        return ConformalSets(float(alpha), 1.0, n)
    qhat = float(np.quantile(scores, level, method="higher"))
    return ConformalSets(float(alpha), qhat, n)
