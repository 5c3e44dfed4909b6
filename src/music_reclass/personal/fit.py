"""Fitting a personal head from sufficient statistics: fast at any library size.

Both models are linear maps solved in closed form from the same statistics of the
standardised embeddings (per fold: the count, the sum, the Gram matrix ``X'X``, the
per-genre sums ``Y'X`` and counts):

- *single-label*: linear discriminant analysis with the within-genre covariance shrunk
  towards its diagonal (``alpha`` chosen by cross-validation). Its scores are the
  log-posteriors, with the library's genre frequencies as priors.
- *multi-label*: one-vs-rest ridge regression on 0/1 targets, the penalty a multiple
  ``gamma`` of each input's variance (chosen by cross-validation).

A fold's training statistics are the total minus the fold's own, so k-fold
cross-validation costs one pass over the data (``O(n d^2)``) plus ``k`` solves of a
``d x d`` system per candidate penalty: 100,000 tracks of 500 values take seconds.
Both penalties (shrinkage towards the diagonal, ridge proportional to the variances)
make a fold's model independent of the global standardisation, so standardising once
with all labelled tracks leaks nothing into the folds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from threadpoolctl import ThreadpoolController

__all__ = ["RIDGES", "SHRINKAGES", "Stats", "fold_stats", "lda", "ridge", "solve", "standardise"]

SHRINKAGES = (0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 0.9)
RIDGES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: rows per block when accumulating statistics (bounded extra memory)
_BLOCK = 8192


@dataclass
class Stats:
    """Sufficient statistics of some tracks (standardised inputs)."""

    n: float
    total: np.ndarray  # (d,) sum of inputs
    gram: np.ndarray  # (d, d) sum of outer products
    genre_sums: np.ndarray  # (k, d) sum of inputs per genre
    genre_counts: np.ndarray  # (k,) tracks per genre

    def __sub__(self, other: Stats) -> Stats:
        return Stats(self.n - other.n, self.total - other.total, self.gram - other.gram,
                     self.genre_sums - other.genre_sums, self.genre_counts - other.genre_counts)

    def __add__(self, other: Stats) -> Stats:
        return Stats(self.n + other.n, self.total + other.total, self.gram + other.gram,
                     self.genre_sums + other.genre_sums, self.genre_counts + other.genre_counts)


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` of the columns of ``X`` (scale 1 for constant columns)."""
    mean = X.mean(axis=0, dtype=np.float64)
    var = np.zeros(X.shape[1])
    for start in range(0, len(X), _BLOCK):
        block = X[start : start + _BLOCK].astype(np.float64) - mean
        var += (block * block).sum(axis=0)
    scale = np.sqrt(var / max(len(X), 1))
    scale[~(scale > 1e-12)] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def _stats(Xs: np.ndarray, Y: np.ndarray) -> Stats:
    d, k = Xs.shape[1], Y.shape[1]
    gram = np.zeros((d, d))
    genre_sums = np.zeros((k, d))
    for start in range(0, len(Xs), _BLOCK):
        block = Xs[start : start + _BLOCK]
        gram += (block.T @ block).astype(np.float64)
        genre_sums += (Y[start : start + _BLOCK].T.astype(np.float32) @ block).astype(np.float64)
    return Stats(float(len(Xs)), Xs.sum(axis=0, dtype=np.float64), gram, genre_sums,
                 Y.sum(axis=0).astype(np.float64))


def fold_stats(Xs: np.ndarray, Y: np.ndarray, folds: np.ndarray | None, n_folds: int,
               *, on_fold: Callable[[], None] | None = None) -> list[Stats]:
    """The statistics of each fold (one entry, all tracks, when ``folds`` is None)."""
    if folds is None:
        return [_stats(Xs, Y)]
    out = []
    for fold in range(n_folds):
        rows = np.flatnonzero(folds == fold)
        out.append(_stats(Xs[rows], Y[rows]))
        if on_fold is not None:
            on_fold()
    return out


@functools.cache
def _blas() -> ThreadpoolController:
    """The loaded BLAS libraries (found once: looking them up costs 15 ms)."""
    return ThreadpoolController()


def _solve_spd(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``matrix^-1 rhs`` for a symmetric positive (semi)definite matrix, robustly.

    One BLAS thread: a 500 x 500 factorisation gains nothing from more, and threads that
    spin on a busy machine made it 25 times slower.
    """
    scale = float(np.mean(np.diag(matrix))) or 1.0
    with _blas().limit(limits=1, user_api="blas"):
        for jitter in (1e-8, 1e-6, 1e-4, 1e-2):
            try:
                return cho_solve(cho_factor(matrix + jitter * scale * np.eye(len(matrix))), rhs)
            except LinAlgError:
                continue
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def lda(stats: Stats, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Shrinkage LDA: ``(coef (d, k), intercept (k,))``; genres without tracks score -inf."""
    present = stats.genre_counts > 0
    d, k = stats.gram.shape[0], len(present)
    sums, counts = stats.genre_sums[present], stats.genre_counts[present]
    means = sums / counts[:, None]
    within = stats.gram - (sums.T / counts) @ sums
    covariance = within / max(stats.n - int(present.sum()), 1.0)
    diagonal = np.maximum(np.diag(covariance), 1e-9)
    shrunk = (1.0 - alpha) * covariance
    shrunk[np.diag_indices(d)] += alpha * diagonal
    weights = _solve_spd(shrunk, means.T)
    coef = np.zeros((d, k))
    coef[:, present] = weights
    intercept = np.full(k, -np.inf)
    intercept[present] = (-0.5 * np.sum(means.T * weights, axis=0)
                          + np.log(counts / max(stats.n, 1.0)))
    return coef, intercept


def ridge(stats: Stats, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest ridge on 0/1 targets: ``(coef (d, k), intercept (k,))``."""
    n = max(stats.n, 1.0)
    mean = stats.total / n
    centred = stats.gram - n * np.outer(mean, mean)
    cross = stats.genre_sums.T - np.outer(mean, stats.genre_counts)
    penalised = centred.copy()
    penalised[np.diag_indices(len(mean))] += gamma * np.maximum(np.diag(centred), 1e-9)
    coef = _solve_spd(penalised, cross)
    intercept = stats.genre_counts / n - mean @ coef
    return coef, intercept


def solve(task: str, stats: Stats, penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """The linear map of ``task`` (``single-label``: LDA, ``multi-label``: ridge)."""
    return (lda if task == "single-label" else ridge)(stats, penalty)


def out_of_fold_scores(task: str, Xs: np.ndarray, folds: np.ndarray, stats: Sequence[Stats],
                       penalties: Sequence[float], *,
                       on_fold: Callable[[], None] | None = None,
                       cancelled: Callable[[], bool] | None = None) -> list[np.ndarray]:
    """For each penalty, every track's scores from the model of the other folds."""
    total = stats[0]
    for other in stats[1:]:
        total = total + other
    k = total.genre_counts.shape[0]
    scores = [np.empty((len(Xs), k)) for _ in penalties]
    for fold, own in enumerate(stats):
        if cancelled is not None and cancelled():
            raise Cancelled
        rows = np.flatnonzero(folds == fold)
        X_fold = Xs[rows]
        for out, penalty in zip(scores, penalties, strict=True):
            coef, intercept = solve(task, total - own, penalty)
            # float32 products (twice as fast); the scores need no more precision
            out[rows] = (X_fold @ coef.astype(np.float32)).astype(np.float64) + intercept
        if on_fold is not None:
            on_fold()
    return scores


class Cancelled(Exception):
    """The caller's cancel check said stop (nothing was written)."""
