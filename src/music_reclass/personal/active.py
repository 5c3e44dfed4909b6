"""Active learning: which unlabelled tracks to label next for the largest gain.

A track is worth labelling when the current model is unsure of it (*uncertainty*: a
small margin between its two best genres, or a genre right at its threshold) and when
it is unlike the tracks already labelled and already suggested (*diversity*: the
distance to the nearest of them, in a reduced embedding space). The suggestions are
picked greedily among the most uncertain tracks, each time the track with the best
product of uncertainty and (saturating) distance, so ten suggestions are not ten
versions of one song. With no model yet (fewer than two genres labelled), only
diversity counts and the first pick is the most typical track.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Pick", "nearest_distances", "rank_unlabelled", "reduce", "reduced", "select",
           "uncertainty"]

#: uncertain candidates considered per suggestion asked
POOL_FACTOR = 10
MAX_POOL = 2000
_CHUNK = 512


@dataclass(frozen=True)
class Pick:
    """One suggested track: its row among the candidates and why it was picked."""

    index: int
    uncertainty: float
    novelty: float  # distance to the nearest labelled/picked track / typical spacing
    score: float


def reduce(Xs: np.ndarray, *, dims: int = 32, seed: int = 0, sample: int = 20000
           ) -> np.ndarray:
    """A ``(d, dims)`` projection on the principal axes of standardised embeddings."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(Xs), size=min(sample, len(Xs)), replace=False)
    block = Xs[rows].astype(np.float64)
    block -= block.mean(axis=0)
    covariance = block.T @ block / max(len(block) - 1, 1)
    values, vectors = np.linalg.eigh(covariance)
    return vectors[:, ::-1][:, : min(dims, Xs.shape[1])].astype(np.float32)


def uncertainty(proba: np.ndarray, *, multi_label: bool,
                thresholds: np.ndarray | None = None) -> np.ndarray:
    """0 (sure) .. 1 (torn) for each row of calibrated probabilities.

    Single-label: one minus the margin between the two best genres. Multi-label: how
    close the genre nearest to its threshold is to it.
    """
    if not multi_label:
        if proba.shape[1] < 2:
            return np.zeros(len(proba))
        top2 = -np.sort(-proba, axis=1)[:, :2]
        return 1.0 - (top2[:, 0] - top2[:, 1])
    t = np.full(proba.shape[1], 0.5) if thresholds is None else np.asarray(thresholds)
    span = np.maximum(t, 1.0 - t)
    return np.max(1.0 - np.abs(proba - t) / span, axis=1)


def nearest_distances(Z: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance from each row of ``Z`` to its nearest row of ``reference`` (inf: none)."""
    out = np.full(len(Z), np.inf)
    if len(reference) == 0:
        return out
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    for start in range(0, len(Z), _CHUNK):
        block = Z[start : start + _CHUNK]
        sq = (np.einsum("ij,ij->i", block, block)[:, None] + ref_sq[None, :]
              - 2.0 * block @ reference.T)
        out[start : start + _CHUNK] = np.sqrt(np.maximum(sq.min(axis=1), 0.0))
    return out


def _spacing(Z: np.ndarray, seed: int) -> float:
    """The typical distance between a track and its nearest other track."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(Z), size=min(len(Z), 500), replace=False)
    sample = Z[rows]
    sq = (np.einsum("ij,ij->i", sample, sample)[:, None]
          + np.einsum("ij,ij->i", sample, sample)[None, :] - 2.0 * sample @ sample.T)
    np.fill_diagonal(sq, np.inf)
    nearest = np.sqrt(np.maximum(sq.min(axis=1), 0.0))
    finite = nearest[np.isfinite(nearest)]
    return float(np.median(finite)) if finite.size and np.median(finite) > 0 else 1.0


def select(Z_candidates: np.ndarray, Z_labelled: np.ndarray, unsure: np.ndarray | None,
           n: int, *, seed: int = 0) -> list[Pick]:
    """Pick ``n`` candidates by uncertainty and diversity.

    Parameters
    ----------
    Z_candidates : np.ndarray [shape=(m, r)]
        The unlabelled tracks, reduced (see :func:`reduce`).
    Z_labelled : np.ndarray [shape=(l, r)]
        The labelled tracks, reduced (may be empty).
    unsure : np.ndarray [shape=(m,)] or None
        :func:`uncertainty` of each candidate; None: no model yet, diversity only.
    n : int
        How many to pick (fewer when there are fewer candidates).
    """
    m = len(Z_candidates)
    if m == 0 or n <= 0:
        return []
    unsure = np.ones(m) if unsure is None else np.asarray(unsure, dtype=np.float64)
    pool = np.argsort(-unsure, kind="stable")[: min(m, max(n * POOL_FACTOR, 100), MAX_POOL)]
    Z = Z_candidates[pool]
    spacing = _spacing(np.concatenate([Z, Z_labelled]) if len(Z_labelled) else Z, seed)
    distance = nearest_distances(Z, Z_labelled)
    picks: list[Pick] = []
    if not np.isfinite(distance).any():  # nothing labelled: start from the most typical
        first = int(np.argmin(np.linalg.norm(Z - Z.mean(axis=0), axis=1)))
        picks.append(Pick(int(pool[first]), float(unsure[pool[first]]), float("inf"),
                          float(unsure[pool[first]])))
        distance = nearest_distances(Z, Z[first : first + 1])
        distance[first] = -1.0
    while len(picks) < min(n, len(pool)):
        novelty = distance / spacing
        score = unsure[pool] * novelty / (novelty + 1.0)
        score[distance < 0] = -np.inf
        best = int(np.argmax(score))
        if not np.isfinite(score[best]):
            break
        picks.append(Pick(int(pool[best]), float(unsure[pool[best]]), float(novelty[best]),
                          float(score[best])))
        distance = np.minimum(distance, nearest_distances(Z, Z[best : best + 1]))
        distance[best] = -1.0
    return picks


def reduced(X: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Standardised embeddings projected on their 32 principal axes (``X`` is consumed)."""
    from music_reclass.personal.fit import standardise

    mean, scale = standardise(X)
    X -= mean
    X /= scale
    return X @ reduce(X, seed=seed)


def rank_unlabelled(X_labelled: np.ndarray, labelling: Any, X_unlabelled: np.ndarray, n: int,
                    *, seed: int = 0) -> tuple[list[Pick], np.ndarray | None]:
    """The ``n`` unlabelled tracks to label next, and the current model's probabilities.

    Parameters
    ----------
    X_labelled : np.ndarray [shape=(l, d)]
        The labelled tracks' embeddings, in ``labelling`` order.
    labelling : Labelling
        Their genres.
    X_unlabelled : np.ndarray [shape=(m, d)]
    n : int

    Returns
    -------
    picks : list of Pick
        ``Pick.index`` is a row of ``X_unlabelled``.
    proba : np.ndarray [shape=(m, k)] or None
        The calibrated probabilities of a model fitted on the labels (None: fewer than
        two genres, diversity alone ranked them).
    """
    from music_reclass.personal.train import fit_personal

    proba = unsure = None
    if len(labelling.classes) >= 2 and len(X_unlabelled):
        head = fit_personal(X_labelled, labelling, seed=seed).head
        proba = head.predict_proba(X_unlabelled)
        unsure = uncertainty(proba, multi_label=labelling.multi_label,
                             thresholds=head.thresholds_)
    if not len(X_unlabelled):
        return [], proba
    Z = reduced(np.concatenate([X_labelled, X_unlabelled]).astype(np.float32), seed=seed)
    picks = select(Z[len(X_labelled):], Z[: len(X_labelled)], unsure, n, seed=seed)
    return picks, proba
