"""Inconsistent labels: tracks whose genre disagrees with their audio and their neighbours.

Two independent witnesses must both disagree with a track's label before it is listed:

- *the audio*: the model trained without the track's artist (its out-of-fold prediction
  in the artist-grouped cross-validation) gives the track's own genres a low calibrated
  probability and prefers another genre;
- *the library*: few of the track's nearest labelled tracks (in the reduced embedding
  space, any artist) share any of its genres.

The score is ``(1 - p(own genres)) * (1 - neighbour agreement)``. Nothing is changed: the
findings are evidence for the owner to look at.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["Finding", "find_inconsistencies"]

_CHUNK = 256


@dataclass(frozen=True)
class Finding:
    """One track whose label looks wrong, with the evidence."""

    row: int  # the track's row in the labelling
    labels: list[str]
    own_probability: float  # the model's best probability among the track's genres
    predicted: list[tuple[str, float]]  # the model's best genres (without this artist)
    neighbours: list[int]  # rows of its nearest labelled tracks, nearest first
    agreement: float  # share of those neighbours sharing one of its genres
    neighbour_genre: tuple[str, float]  # the neighbours' most common genre and its share
    score: float


def _nearest(Z: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other rows of ``Z`` for each of ``rows``."""
    sq_all = np.einsum("ij,ij->i", Z, Z)
    out = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        sq = sq_all[chunk][:, None] + sq_all[None, :] - 2.0 * Z[chunk] @ Z.T
        sq[np.arange(len(chunk)), chunk] = np.inf  # not itself
        part = np.argpartition(sq, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(sq, part, axis=1), axis=1)
        out[start : start + len(chunk)] = np.take_along_axis(part, order, axis=1)
    return out


def find_inconsistencies(Z: np.ndarray, Y: np.ndarray, classes: list[str], oof: np.ndarray,
                         *, k: int = 10, max_probability: float = 0.2,
                         max_agreement: float = 0.3, exclude: np.ndarray | None = None,
                         ) -> list[Finding]:
    """The labelled tracks both witnesses disagree with, most inconsistent first.

    Parameters
    ----------
    Z : np.ndarray [shape=(n, r)]
        The labelled tracks' reduced embeddings.
    Y : np.ndarray [shape=(n, c)] of bool
        Their genres.
    classes : list of str
    oof : np.ndarray [shape=(n, c)]
        Out-of-fold calibrated probabilities (a model that never saw the artist).
    k : int
        Neighbours consulted.
    max_probability : float
        At most this probability for the track's own genres.
    max_agreement : float
        At most this share of neighbours sharing one of its genres.
    exclude : np.ndarray [shape=(n,)] of bool, optional
        Tracks never listed (the owner's corrections: already their considered word).
    """
    n = len(Y)
    k = min(k, n - 1)
    if k < 1:
        return []
    own = np.where(Y, oof, -np.inf).max(axis=1)
    best = oof.argmax(axis=1)
    doubtful = (own < max_probability) & ~Y[np.arange(n), best]
    if exclude is not None:
        doubtful &= ~exclude
    rows = np.flatnonzero(doubtful)
    if rows.size == 0:
        return []
    neighbours = _nearest(Z.astype(np.float64), rows, k)
    findings = []
    for row, near in zip(rows, neighbours, strict=True):
        agreement = float((Y[near] & Y[row]).any(axis=1).mean())
        if agreement > max_agreement:
            continue
        counts = Counter(classes[j] for i in near for j in np.flatnonzero(Y[i]))
        genre, count = counts.most_common(1)[0] if counts else ("", 0)
        order = np.argsort(-oof[row])[:3]
        findings.append(Finding(
            int(row), [classes[j] for j in np.flatnonzero(Y[row])], float(own[row]),
            [(classes[j], float(oof[row, j])) for j in order], [int(i) for i in near],
            agreement, (genre, count / len(near)),
            float((1.0 - own[row]) * (1.0 - agreement))))
    findings.sort(key=lambda f: -f.score)
    return findings
