"""Active learning: which unlabelled tracks to label next for the largest gain.

Two phases, because a model fitted on a handful of labels does not know what it does not
know (measured in ``benchmarks/bench_active_learning.py``: ranking by its uncertainty alone
did worse than random picks up to 200 labels):

- *cover* (fewer than 3 labels per genre known, plus 10): the library's tracks are
  clustered (k-means in a reduced embedding space, as many clusters as there will be
  labels); the largest clusters no label covers yet each give their most *typical* track
  (the one in the densest spot), as in TypiClust (Hacohen et al., 2022). Each label then
  speaks for many similar tracks.
- *refine*: a model fitted on the labels ranks the unlabelled tracks by uncertainty (a
  small margin between the two best genres, or a genre right at its threshold) times
  typicality (an unsure outlier teaches little); picks are spread out, each lowering the
  score of the tracks near it, so ten suggestions are not ten versions of one song.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["COVER_PER_GENRE", "Pick", "cover", "rank_unlabelled", "reduce", "reduced",
           "refine", "typicality", "uncertainty"]

#: labels per known genre (plus COVER_EXTRA) under which the cover phase runs
COVER_PER_GENRE = 3
COVER_EXTRA = 10
#: uncertain candidates considered per suggestion asked, in the refine phase
POOL_FACTOR = 10
MAX_POOL = 5000
#: neighbours that measure typicality, and the reference sample they are drawn from
NEIGHBOURS = 20
_REFERENCE = 2000
_CHUNK = 512


@dataclass(frozen=True)
class Pick:
    """One suggested track: its row among the candidates and why it was picked."""

    index: int
    phase: str  # "cover" or "refine"
    uncertainty: float  # 0 sure .. 1 torn (1 in the cover phase: no model asked)
    typicality: float  # 0 .. 1: how dense the spot it sits in is
    score: float


def reduce(Xs: np.ndarray, *, dims: int = 32, seed: int = 0, sample: int = 20000
           ) -> np.ndarray:
    """A ``(d, dims)`` projection on the principal axes of standardised embeddings."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(Xs), size=min(sample, len(Xs)), replace=False)
    block = Xs[rows].astype(np.float64)
    block -= block.mean(axis=0)
    covariance = block.T @ block / max(len(block) - 1, 1)
    _, vectors = np.linalg.eigh(covariance)
    return vectors[:, ::-1][:, : min(dims, Xs.shape[1])].astype(np.float32)


def reduced(X: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Standardised embeddings projected on their 32 principal axes (``X`` is consumed)."""
    from music_reclass.personal.fit import standardise

    mean, scale = standardise(X)
    X -= mean
    X /= scale
    return X @ reduce(X, seed=seed)


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


def _knn_mean_distance(Z: np.ndarray, reference: np.ndarray, k: int,
                       same: bool) -> np.ndarray:
    """Mean distance from each row of ``Z`` to its ``k`` nearest rows of ``reference``."""
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    out = np.empty(len(Z))
    k = max(1, min(k, len(reference) - (1 if same else 0)))
    for start in range(0, len(Z), _CHUNK):
        block = Z[start : start + _CHUNK]
        sq = np.einsum("ij,ij->i", block, block)[:, None] + ref_sq[None, :] - 2 * block @ reference.T
        sq = np.maximum(sq, 0.0)
        if same:  # a row is not its own neighbour
            sq[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        nearest = np.partition(sq, k - 1, axis=1)[:, :k]
        out[start : start + len(block)] = np.sqrt(nearest).mean(axis=1)
    return out


def typicality(Z: np.ndarray, reference: np.ndarray | None = None, *, k: int = NEIGHBOURS,
               seed: int = 0) -> np.ndarray:
    """How typical each row of ``Z`` is: 1 / mean distance to its ``k`` nearest neighbours
    among ``reference`` (default: ``Z`` itself, sampled down to 2,000 rows), scaled to a
    maximum of 1."""
    if len(Z) == 0:
        return np.zeros(0)
    same = reference is None and len(Z) <= _REFERENCE
    if reference is None:
        rng = np.random.default_rng(seed)
        reference = Z if same else Z[rng.choice(len(Z), _REFERENCE, replace=False)]
    if len(reference) < 2:
        return np.ones(len(Z))
    inverse = 1.0 / (_knn_mean_distance(Z, reference, k, same) + 1e-9)
    return inverse / inverse.max()


def _clusters(Z: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    k = max(1, min(k, len(Z)))
    if len(Z) > 20000:
        model = MiniBatchKMeans(k, batch_size=4096, n_init=1, random_state=seed)
    else:
        model = KMeans(k, n_init=1, random_state=seed)
    return model.fit(Z).labels_


def cover(Z_labelled: np.ndarray, Z_candidates: np.ndarray, n: int, *, seed: int = 0
          ) -> list[Pick]:
    """The most typical track of each of the largest clusters no label covers yet."""
    Z = np.concatenate([Z_labelled, Z_candidates])
    labelled = np.arange(len(Z)) < len(Z_labelled)
    clusters = _clusters(Z, len(Z_labelled) + n, seed)
    covered = set(clusters[labelled].tolist())
    sizes = np.bincount(clusters)
    picks: list[Pick] = []
    taken = np.zeros(len(Z), dtype=bool)
    # uncovered clusters first, the largest first; then clusters with the fewest labels
    # per track, so the picks keep spreading when every cluster holds a label
    labels_in = np.bincount(clusters[labelled], minlength=len(sizes))
    order = sorted(range(len(sizes)), key=lambda c: (c in covered, labels_in[c] / sizes[c],
                                                     -sizes[c]))
    typical: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    wanted = min(n, len(Z_candidates))
    while len(picks) < wanted:
        for cluster in order:
            if cluster not in typical:
                inside = np.flatnonzero(clusters == cluster)
                typical[cluster] = (inside, typicality(Z[inside], seed=seed))
            inside, scores = typical[cluster]
            free = ~labelled[inside] & ~taken[inside]
            if not free.any():
                continue
            j = int(np.argmax(np.where(free, scores, -np.inf)))
            taken[inside[j]] = True
            picks.append(Pick(int(inside[j]) - len(Z_labelled), "cover", 1.0, float(scores[j]),
                              float(sizes[cluster] / len(Z))))
            if len(picks) == wanted:
                break
    return picks


def refine(Z_candidates: np.ndarray, unsure: np.ndarray, n: int, *, seed: int = 0
           ) -> list[Pick]:
    """Uncertain and typical candidates, spread out (see the module docstring)."""
    pool = np.argsort(-unsure, kind="stable")[: min(len(unsure), max(n * POOL_FACTOR, 200),
                                                    MAX_POOL)]
    Z = Z_candidates[pool]
    typical = typicality(Z, _reference(Z_candidates, seed), seed=seed)
    score = unsure[pool] * typical
    spacing = float(np.median(_knn_mean_distance(Z, Z, 1, True))) if len(Z) > 1 else 1.0
    nearest_pick = np.full(len(pool), np.inf)
    picks: list[Pick] = []
    for _ in range(min(n, len(pool))):
        spread = 1.0 - np.exp(-((nearest_pick / (2 * spacing + 1e-12)) ** 2))
        current = np.where(np.isfinite(nearest_pick), score * spread, score)
        current[[p.index for p in picks]] = -np.inf
        best = int(np.argmax(current))
        picks.append(Pick(best, "refine", float(unsure[pool[best]]), float(typical[best]),
                          float(current[best])))
        nearest_pick = np.minimum(nearest_pick, np.linalg.norm(Z - Z[best], axis=1))
    return [Pick(int(pool[p.index]), p.phase, p.uncertainty, p.typicality, p.score)
            for p in picks]


def _reference(Z: np.ndarray, seed: int) -> np.ndarray:
    if len(Z) <= _REFERENCE:
        return Z
    return Z[np.random.default_rng(seed).choice(len(Z), _REFERENCE, replace=False)]


def in_cover_phase(labelling: Any) -> bool:
    """Whether the labels are still too few for a model's uncertainty to be worth much."""
    known = len(labelling.classes)
    return known < 2 or len(labelling.content_hashes) < COVER_PER_GENRE * known + COVER_EXTRA


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
        two genres labelled).
    """
    from music_reclass.personal.train import fit_personal

    if not len(X_unlabelled) or n <= 0:
        return [], None
    proba = head = None
    if len(labelling.classes) >= 2:
        head = fit_personal(X_labelled, labelling, seed=seed).head
        proba = head.predict_proba(X_unlabelled)
    Z = reduced(np.concatenate([X_labelled, X_unlabelled]).astype(np.float32), seed=seed)
    Z_labelled, Z_new = Z[: len(X_labelled)], Z[len(X_labelled):]
    if head is None or in_cover_phase(labelling):
        return cover(Z_labelled, Z_new, n, seed=seed), proba
    unsure = uncertainty(proba, multi_label=labelling.multi_label, thresholds=head.thresholds_)
    return refine(Z_new, unsure, n, seed=seed), proba
