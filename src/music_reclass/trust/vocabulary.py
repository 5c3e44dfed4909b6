"""Out-of-vocabulary detection: is the audio unlike every genre the model can name?

A classifier always names one of its genres, even for a reggae track when it has
no reggae. Two measures, both "higher = further from the vocabulary":

- :class:`EvidenceOOV` (the zero-shot default): minus the best genre's log
  evidence. The evidence of a genre is how strongly the tags that name it fire
  (:meth:`~music_reclass.taxonomy.Taxonomy.evidence`); when no genre's tags fire,
  the music is outside what the mapping can recognise, however the probabilities
  are normalised.
- :class:`PrototypeOOV` (trained heads): the distance, in the standardised
  feature space, to the nearest class prototype (the mean of the class's
  training vectors), in units of that class's typical distance.

A detector only measures; the threshold belongs to the decision policy
(:class:`~music_reclass.trust.policy.DecisionPolicy`), fitted on held-out
*in-vocabulary* examples at a retention rate (the share of in-vocabulary music that
must pass, e.g. 0.95, :func:`retention_threshold`), so no example of
out-of-vocabulary music is needed to fit it; such examples only measure the
detection rate (``metrics``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = [
    "EvidenceOOV",
    "PrototypeOOV",
    "oov_from_dict",
    "retention_threshold",
]


def retention_threshold(in_vocabulary_scores: Sequence[float], retention: float) -> float:
    """The OOV-score threshold that lets ``retention`` of in-vocabulary examples pass.

    The ``retention`` quantile of the held-out in-vocabulary scores (``method="higher"``:
    at least that share scores at or below it).
    """
    scores = np.asarray(in_vocabulary_scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if not 0 < retention <= 1:
        raise ParameterError(f"retention must be in (0, 1], got {retention!r}")
    if scores.size == 0:
        raise ParameterError("no in-vocabulary scores to fit an OOV threshold on")
    return float(np.quantile(scores, retention, method="higher"))


@dataclass(frozen=True)
class EvidenceOOV:
    """OOV score from calibration scores that are log evidence: ``-max_k s_k``.

    Attributes
    ----------
    metrics : dict
        Measured detection figures (documentation).
    """

    metrics: dict[str, Any] = field(default_factory=dict)

    kind = "max-evidence"

    def score(self, scores: np.ndarray, vectors: Mapping[str, np.ndarray] | None = None) -> float:
        """The OOV score of one track (``vectors`` unused: the evidence is in the scores)."""
        return float(-np.max(np.asarray(scores, dtype=np.float64)))

    def scores(self, scores: np.ndarray) -> np.ndarray:
        """OOV scores of many tracks ``[n, K] -> [n]``."""
        return -np.asarray(scores, dtype=np.float64).max(axis=1)

    def with_metrics(self, metrics: Mapping[str, Any]) -> EvidenceOOV:
        return EvidenceOOV(dict(metrics))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metrics": dict(self.metrics)}


@dataclass(frozen=True, eq=False)
class PrototypeOOV:
    """Distance to the nearest class prototype in a standardised feature space.

    Attributes
    ----------
    vector : str
        Name of the track vector it reads (``"features.gtzan53"``...).
    mean, scale : np.ndarray [shape=(d,)]
        Standardisation of the vector (the head's training statistics).
    prototypes : np.ndarray [shape=(K, d)]
        Per-class mean of the standardised training vectors.
    spread : np.ndarray [shape=(K,)]
        Per-class median distance of the training vectors to their prototype: distances
        are divided by it, so a broad class does not look out of vocabulary.
    metrics : dict
        As for :class:`EvidenceOOV`.
    """

    vector: str
    mean: np.ndarray
    scale: np.ndarray
    prototypes: np.ndarray
    spread: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)

    kind = "prototype-distance"

    def __eq__(self, other: object) -> bool:  # the arrays compare element-wise otherwise
        return isinstance(other, PrototypeOOV) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_training(cls, vector: str, X: np.ndarray, y: Sequence[str],
                      classes: Sequence[str]) -> PrototypeOOV:
        """Prototypes from training vectors ``X`` with labels ``y`` (one per class in ``classes``)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray([str(label) for label in y])
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        Z = (X - mean) / scale
        prototypes, spread = [], []
        for c in classes:
            members = Z[y == str(c)]
            if len(members) == 0:
                raise ParameterError(f"no training vector of class {c!r} for its prototype")
            centre = members.mean(axis=0)
            prototypes.append(centre)
            spread.append(max(float(np.median(np.linalg.norm(members - centre, axis=1))), 1e-9))
        return cls(vector, mean, scale, np.array(prototypes), np.array(spread))

    def scores(self, X: np.ndarray) -> np.ndarray:
        """OOV scores of many tracks from their vectors ``[n, d] -> [n]``."""
        return self.distances(X)

    def distances(self, X: np.ndarray) -> np.ndarray:
        """Relative distance to the nearest prototype, one per row of ``X``."""
        Z = (np.atleast_2d(np.asarray(X, dtype=np.float64)) - self.mean) / self.scale
        d = np.linalg.norm(Z[:, None, :] - self.prototypes[None, :, :], axis=2) / self.spread
        return d.min(axis=1)

    def score(self, scores: np.ndarray, vectors: Mapping[str, np.ndarray] | None = None) -> float:
        """The OOV score of one track from its stored vector (NaN when it lacks it)."""
        if not vectors or self.vector not in vectors:
            return float("nan")
        return float(self.distances(np.asarray(vectors[self.vector]))[0])

    def with_metrics(self, metrics: Mapping[str, Any]) -> PrototypeOOV:
        return PrototypeOOV(self.vector, self.mean, self.scale, self.prototypes, self.spread,
                            dict(metrics))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "vector": self.vector, "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "prototypes": self.prototypes.tolist(),
                "spread": self.spread.tolist(), "metrics": dict(self.metrics)}


def oov_from_dict(data: Mapping[str, Any] | None) -> EvidenceOOV | PrototypeOOV | None:
    """Rebuild a detector from its ``to_dict`` form (None stays None).

    Raises
    ------
    ParameterError
        Unknown kind or invalid content.
    """
    if data is None:
        return None
    try:
        kind = data["kind"]
        metrics = dict(data.get("metrics") or {})
        if kind == EvidenceOOV.kind:
            return EvidenceOOV(metrics)
        if kind == PrototypeOOV.kind:
            arrays = {k: np.asarray(data[k], dtype=np.float64)
                      for k in ("mean", "scale", "prototypes", "spread")}
            return PrototypeOOV(str(data["vector"]), arrays["mean"], arrays["scale"],
                                arrays["prototypes"], arrays["spread"], metrics)
    except (KeyError, TypeError, ValueError) as exc:
        raise ParameterError(f"invalid out-of-vocabulary detector: {exc!r}") from exc
    raise ParameterError(f"unknown out-of-vocabulary detector kind {data.get('kind')!r}")
